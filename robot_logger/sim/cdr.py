"""Fast CDR for fixed-layout messages: serialize one sample (core.messages), then patch bytes.

A JointState with fixed joint names, a JointTrajectory with fixed joints and points, a
WrenchStamped, a Float64, an Image of fixed size or a PointCloud2 with a fixed point count always
has the same byte layout, so thousands of messages a second cost a numpy copy each instead of a
full serialization. The templates are checked against the real serializer in tests.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from robot_logger.core.messages import (
    FLOAT64,
    IMAGE,
    JOINT_STATE,
    JOINT_TRAJECTORY,
    POINTCLOUD2,
    WRENCH_STAMPED,
    header,
    image,
    joint_state,
    pointcloud2,
    serialize,
    typestore,
)

__all__ = ["ColumnTemplate", "JointStateTemplate", "PayloadTemplate", "image_template",
           "pointcloud_template", "trajectory_template", "wrench_template", "float64_template",
           "fixed_template", "duration"]

# header.stamp (int32 sec, uint32 nanosec) right after the 4-byte encapsulation header
STAMP_SLICE = slice(4, 12)


def _stamp_bytes(stamp_ns: np.ndarray) -> np.ndarray:
    """(N, 8) uint8: little-endian int32 sec + uint32 nanosec per stamp."""
    sec, nanosec = np.divmod(np.asarray(stamp_ns, np.int64), 1_000_000_000)
    out = np.empty((len(sec), 2), "<u4")
    out[:, 0] = sec.astype("<i4").view("<u4")
    out[:, 1] = nanosec
    return out.view(np.uint8)


class ColumnTemplate:
    """A message whose float64 arrays are the only thing that changes (besides header.stamp).

    Built from the message serialized with distinct probe arrays; `batch` writes each column
    (N, width) at its probe's offset and the stamps into header.stamp (when `stamped`).
    """

    def __init__(self, raw: bytes, probes: list[np.ndarray], stamped: bool = True) -> None:
        self.raw = np.frombuffer(raw, np.uint8)
        self.spans = []
        for probe in probes:
            pattern = np.asarray(probe, "<f8").tobytes()
            offset = raw.index(pattern)
            if raw.find(pattern, offset + 1) != -1:
                raise ValueError("probe values are not unique in the serialized message")
            self.spans.append((offset, len(pattern)))
        self.stamped = stamped

    def batch(self, stamp_ns: np.ndarray, *columns: np.ndarray) -> np.ndarray:
        """(N, L) uint8: one CDR message per row; columns in the order of the probes."""
        out = np.repeat(self.raw[None, :], len(stamp_ns), axis=0)
        if self.stamped:
            out[:, STAMP_SLICE] = _stamp_bytes(stamp_ns)
        for (offset, width), values in zip(self.spans, columns):
            column = np.ascontiguousarray(values, "<f8").reshape(len(stamp_ns), -1)
            out[:, offset : offset + width] = column.view(np.uint8)
        return out


def _probes(*widths: int) -> list[np.ndarray]:
    """Distinct float64 probe arrays of these widths (values never produced by chance)."""
    return [np.arange(width) + 100.0 * k + 0.125 for k, width in enumerate(widths)]


class JointStateTemplate(ColumnTemplate):
    """JointState CDR for one arm's joint names; `batch(stamps, pos, vel, eff)`."""

    def __init__(self, names: list[str], frame_id: str = "") -> None:
        pos, vel, eff = _probes(len(names), len(names), len(names))
        super().__init__(serialize(joint_state(0, names, pos, vel, eff, frame_id), JOINT_STATE),
                         [pos, vel, eff])


def duration(ns: int) -> Any:
    """builtin_interfaces/Duration of `ns` nanoseconds."""
    sec, nanosec = divmod(int(ns), 1_000_000_000)
    return typestore().types["builtin_interfaces/msg/Duration"](sec=sec, nanosec=nanosec)


def trajectory_template(names: list[str], times_from_start_ns: list[int],
                        frame_id: str = "") -> ColumnTemplate:
    """JointTrajectory of `names` with one point per time_from_start, each with positions and
    velocities (no accelerations or efforts); `batch(stamps, pos_0, vel_0, pos_1, vel_1, ...)`."""
    types = typestore().types
    probes = _probes(*[len(names)] * (2 * len(times_from_start_ns)))
    points = [types["trajectory_msgs/msg/JointTrajectoryPoint"](
        positions=probes[2 * k], velocities=probes[2 * k + 1],
        accelerations=np.empty(0), effort=np.empty(0), time_from_start=duration(ns))
        for k, ns in enumerate(times_from_start_ns)]
    msg = types[JOINT_TRAJECTORY](header=header(0, frame_id), joint_names=list(names),
                                  points=points)
    return ColumnTemplate(serialize(msg, JOINT_TRAJECTORY), probes)


def wrench_template(frame_id: str) -> ColumnTemplate:
    """WrenchStamped; `batch(stamps, force (N, 3), torque (N, 3))`."""
    types = typestore().types
    force, torque = _probes(3, 3)
    vector = types["geometry_msgs/msg/Vector3"]
    msg = types[WRENCH_STAMPED](header=header(0, frame_id), wrench=types[
        "geometry_msgs/msg/Wrench"](force=vector(*force), torque=vector(*torque)))
    return ColumnTemplate(serialize(msg, WRENCH_STAMPED), [force, torque])


def float64_template() -> ColumnTemplate:
    """std_msgs/Float64 (no header); `batch(stamps_ignored, values (N,))`."""
    (probe,) = _probes(1)
    raw = serialize(typestore().types[FLOAT64](data=float(probe[0])), FLOAT64)
    return ColumnTemplate(raw, [probe], stamped=False)


class PayloadTemplate:
    """A message whose sequence<uint8> `data` has a fixed size: prefix + payload + suffix."""

    def __init__(self, raw: bytes, payload_size: int, payload_offset: int) -> None:
        self.prefix = bytearray(raw[:payload_offset])
        self.suffix = bytes(raw[payload_offset + payload_size :])
        self.payload_size = payload_size

    def encode(self, stamp_ns: int, payload: memoryview | bytes) -> bytes:
        """CDR bytes with header.stamp = stamp_ns around `payload` (exactly payload_size bytes)."""
        self.prefix[STAMP_SLICE] = _stamp_bytes(np.array([stamp_ns]))[0].tobytes()
        return b"".join((self.prefix, payload, self.suffix))


def image_template(height: int, width: int, frame_id: str,
                   encoding: str = "rgb8") -> PayloadTemplate:
    """rgb8 (or 16UC1: little-endian uint16) Image of height x width."""
    probe = np.zeros((height, width), np.uint16) if encoding == "16UC1" \
        else np.zeros((height, width, 3), np.uint8)
    raw = serialize(image(0, probe, encoding, frame_id), IMAGE)
    return PayloadTemplate(raw, probe.nbytes, len(raw) - probe.nbytes)


def fixed_template(raw: bytes) -> PayloadTemplate:
    """A stamped message whose only change is header.stamp (CameraInfo): `encode(stamp, b"")`."""
    return PayloadTemplate(raw, 0, len(raw))


def pointcloud_template(points: int, frame_id: str) -> PayloadTemplate:
    """PointCloud2 of `points` x,y,z,intensity float32 points (is_dense follows the data)."""
    probe = np.full((points, 4), 7.0, np.float32)
    raw = serialize(pointcloud2(0, probe, frame_id), POINTCLOUD2)
    size = probe.nbytes
    return PayloadTemplate(raw, size, raw.index(probe.tobytes()))

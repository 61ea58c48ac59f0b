"""Fast CDR for fixed-layout messages: serialize one sample (core.messages), then patch bytes.

A JointState with fixed joint names, an Image of fixed size or a PointCloud2 with a fixed point
count always has the same byte layout, so thousands of messages a second cost a numpy copy each
instead of a full serialization. The templates are checked against the real serializer in tests.
"""

from __future__ import annotations

import numpy as np

from robot_logger.core.messages import (
    IMAGE,
    JOINT_STATE,
    POINTCLOUD2,
    image,
    joint_state,
    pointcloud2,
    serialize,
)

__all__ = ["JointStateTemplate", "PayloadTemplate", "image_template", "pointcloud_template"]

# header.stamp (int32 sec, uint32 nanosec) right after the 4-byte encapsulation header
STAMP_SLICE = slice(4, 12)


def _stamp_bytes(stamp_ns: np.ndarray) -> np.ndarray:
    """(N, 8) uint8: little-endian int32 sec + uint32 nanosec per stamp."""
    sec, nanosec = np.divmod(np.asarray(stamp_ns, np.int64), 1_000_000_000)
    out = np.empty((len(sec), 2), "<u4")
    out[:, 0] = sec.astype("<i4").view("<u4")
    out[:, 1] = nanosec
    return out.view(np.uint8)


class JointStateTemplate:
    """JointState CDR for one arm's joint names; `batch` encodes many samples at once."""

    def __init__(self, names: list[str], frame_id: str = "") -> None:
        count = len(names)
        probes = [np.arange(count) + base for base in (0.125, 100.125, 200.125)]
        raw = serialize(joint_state(0, names, *probes, frame_id), JOINT_STATE)
        self.raw = np.frombuffer(raw, np.uint8)
        self.offsets = [raw.index(p.astype("<f8").tobytes()) for p in probes]
        self.width = 8 * count

    def batch(
        self, stamp_ns: np.ndarray, pos: np.ndarray, vel: np.ndarray, eff: np.ndarray
    ) -> np.ndarray:
        """(N, L) uint8: one CDR message per row."""
        out = np.repeat(self.raw[None, :], len(stamp_ns), axis=0)
        out[:, STAMP_SLICE] = _stamp_bytes(stamp_ns)
        for offset, values in zip(self.offsets, (pos, vel, eff)):
            out[:, offset : offset + self.width] = np.ascontiguousarray(values, "<f8").view(
                np.uint8
            )
        return out


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


def image_template(height: int, width: int, frame_id: str) -> PayloadTemplate:
    """rgb8 Image of height x width."""
    probe = np.zeros((height, width, 3), np.uint8)
    raw = serialize(image(0, probe, "rgb8", frame_id), IMAGE)
    return PayloadTemplate(raw, probe.size, len(raw) - probe.size)


def pointcloud_template(points: int, frame_id: str) -> PayloadTemplate:
    """PointCloud2 of `points` x,y,z,intensity float32 points (is_dense follows the data)."""
    probe = np.full((points, 4), 7.0, np.float32)
    raw = serialize(pointcloud2(0, probe, frame_id), POINTCLOUD2)
    size = probe.nbytes
    return PayloadTemplate(raw, size, raw.index(probe.tobytes()))

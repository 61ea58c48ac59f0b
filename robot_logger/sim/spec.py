"""What a simulated cell is made of (CellSpec), its topic names, and the episode ground truth."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import NamedTuple

from robot_logger.core.messages import (
    CAMERA_INFO,
    EVENTS_TOPIC,
    FLOAT64,
    IMAGE,
    JOINT_STATE,
    JOINT_TRAJECTORY,
    POINTCLOUD2,
    STRING,
    TF_MESSAGE,
    TF_STATIC_TOPIC,
    WRENCH_STAMPED,
)
from robot_logger.errors import ConfigError

__all__ = ["CellSpec", "EpisodeTruth", "joint_topic", "camera_topic", "command_topic",
           "gripper_topic", "wrench_topic", "depth_topic", "camera_info_topic", "LIDAR_TOPIC",
           "SENSORS", "NOMINAL_CYCLE_S", "MIN_CYCLE_S"]

LIDAR_TOPIC = "/cell/lidar/points"
NOMINAL_CYCLE_S = 8.0   # length of one work cycle when CellSpec.episodes is None
MIN_CYCLE_S = 0.1       # shortest work cycle we accept (phases of a few ms still plan cleanly)
MAX_ARMS = 8
MAX_CAMERAS = 8


def joint_topic(arm: int) -> str:
    """JointState topic of arm `arm` (1-based)."""
    return f"/cell/arm{arm}/joint_states"


def camera_topic(camera: int) -> str:
    """Image topic of camera `camera` (1-based)."""
    return f"/cell/cam{camera}/image_raw"


def command_topic(arm: int) -> str:
    """JointTrajectory command topic of arm `arm` (ros2_control's joint_trajectory_controller)."""
    return f"/cell/arm{arm}/joint_trajectory_controller/joint_trajectory"


def gripper_topic(arm: int, what: str) -> str:
    """Gripper Float64 topic of arm `arm`: what = "position" (measured) or "command"."""
    return f"/cell/arm{arm}/gripper/{what}"


def wrench_topic(arm: int) -> str:
    """WrenchStamped topic of arm `arm`'s wrist force/torque sensor."""
    return f"/cell/arm{arm}/ft"


def depth_topic(camera: int) -> str:
    """16UC1 depth Image topic of camera `camera` (registered to its colour image)."""
    return f"/cell/cam{camera}/depth/image_raw"


def camera_info_topic(image_topic: str) -> str:
    """The CameraInfo topic beside an image topic (`<ns>/image_raw` -> `<ns>/camera_info`)."""
    return image_topic.rsplit("/", 1)[0] + "/camera_info"


# CellSpec flags of the optional streams (`sim --sensors`), each off by default so the default
# cell (and every bag and dataset built from it) stays what it was before they existed.
SENSORS = ("commands", "gripper", "wrench", "depth", "camera_info", "tf_static")


class EpisodeTruth(NamedTuple):
    """One work cycle as the simulator planned it (what the events on /robot_logger/events say)."""

    start_ns: int
    end_ns: int
    task: str
    outcome: str
    phases: tuple[tuple[str, int, int], ...]   # (name, start_ns, end_ns)


@dataclass(frozen=True)
class CellSpec:
    """A robot cell: N six-joint arms, cameras, an optional LiDAR, and how long to run it.

    `episodes=None` fits as many work cycles of about NOMINAL_CYCLE_S as the duration holds (at
    least one); a number squeezes exactly that many cycles into the duration.

    Optional streams (all off by default): `commands` a JointTrajectory per arm (100 Hz),
    `gripper` its measured and commanded opening (Float64, 100 Hz), `wrench` a wrist F/T sensor
    (WrenchStamped, 250 Hz), `depth` a 16UC1 depth image beside every colour camera (15 Hz),
    `camera_info` a CameraInfo beside every image topic (same stamps as the images), `tf_static`
    the static transforms of every sensor frame (once, transient-local).
    """

    arms: int = 2
    cameras: int = 2
    lidar: bool = True
    duration_s: float = 60.0
    episodes: int | None = None
    seed: int = 0
    joint_rate_hz: float = 500.0
    camera_rate_hz: float = 30.0
    lidar_rate_hz: float = 10.0
    image_height: int = 480
    image_width: int = 640
    lidar_points: int = 30000
    start_ns: int = 1_700_000_000_000_000_000
    commands: bool = False
    gripper: bool = False
    wrench: bool = False
    depth: bool = False
    camera_info: bool = False
    tf_static: bool = False
    command_rate_hz: float = 100.0
    gripper_rate_hz: float = 100.0
    wrench_rate_hz: float = 250.0
    depth_rate_hz: float = 15.0

    def __post_init__(self) -> None:
        _check_int(self, "arms", 1, MAX_ARMS)
        _check_int(self, "cameras", 0, MAX_CAMERAS)
        _check_int(self, "seed", 0, 2**63 - 1)
        _check_int(self, "image_height", 16, 4096)
        _check_int(self, "image_width", 16, 4096)
        _check_int(self, "lidar_points", 64, 10_000_000)
        _check_int(self, "start_ns", 0, 2**62)
        for name in ("lidar",) + SENSORS:
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, not {getattr(self, name)!r}")
        for name in ("duration_s", "joint_rate_hz", "camera_rate_hz", "lidar_rate_hz",
                     "command_rate_hz", "gripper_rate_hz", "wrench_rate_hz", "depth_rate_hz"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value <= 0:
                raise ConfigError(f"{name} must be a positive number, not {value!r}")
        if self.episodes is not None:
            _check_int(self, "episodes", 1, 10**7)
        if self.duration_s / self.episode_count < MIN_CYCLE_S:
            raise ConfigError(
                f"episodes: {self.episode_count} work cycles do not fit in"
                f" duration_s={self.duration_s:g} (each needs at least {MIN_CYCLE_S:g} s);"
                " use fewer episodes or a longer duration")

    @property
    def duration_ns(self) -> int:
        """Duration in ns."""
        return int(round(self.duration_s * 1e9))

    @property
    def episode_count(self) -> int:
        """Number of work cycles the cell runs."""
        if self.episodes is not None:
            return self.episodes
        return max(1, int(self.duration_s // NOMINAL_CYCLE_S))

    def topics(self) -> dict[str, str]:
        """Topic -> message type, in a fixed order: arms, cameras, LiDAR, events, then the
        optional streams (appended, so turning them on leaves the other topics' bytes as they
        were: each topic's random draws are keyed by its position here)."""
        arms, cams = range(1, self.arms + 1), range(1, self.cameras + 1)
        out = {joint_topic(i): JOINT_STATE for i in arms}
        out.update({camera_topic(i): IMAGE for i in cams})
        if self.lidar:
            out[LIDAR_TOPIC] = POINTCLOUD2
        out[EVENTS_TOPIC] = STRING
        for i in arms:
            if self.commands:
                out[command_topic(i)] = JOINT_TRAJECTORY
            if self.gripper:
                out[gripper_topic(i, "position")] = FLOAT64
                out[gripper_topic(i, "command")] = FLOAT64
            if self.wrench:
                out[wrench_topic(i)] = WRENCH_STAMPED
        for i in cams:
            if self.camera_info:
                out[camera_info_topic(camera_topic(i))] = CAMERA_INFO
            if self.depth:
                out[depth_topic(i)] = IMAGE
                if self.camera_info:
                    out[camera_info_topic(depth_topic(i))] = CAMERA_INFO
        if self.tf_static:
            out[TF_STATIC_TOPIC] = TF_MESSAGE
        return out

    def describe(self) -> dict[str, object]:
        """All fields as a plain dict (for JSON summaries)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _check_int(spec: CellSpec, name: str, low: int, high: int) -> None:
    value = getattr(spec, name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name} must be an integer from {low} to {high}, not {value!r}")

"""What a simulated cell is made of (CellSpec), its topic names, and the episode ground truth."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import NamedTuple

from robot_logger.core.messages import EVENTS_TOPIC, IMAGE, JOINT_STATE, POINTCLOUD2, STRING
from robot_logger.errors import ConfigError

__all__ = ["CellSpec", "EpisodeTruth", "joint_topic", "camera_topic", "LIDAR_TOPIC",
           "NOMINAL_CYCLE_S", "MIN_CYCLE_S"]

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

    def __post_init__(self) -> None:
        _check_int(self, "arms", 1, MAX_ARMS)
        _check_int(self, "cameras", 0, MAX_CAMERAS)
        _check_int(self, "seed", 0, 2**63 - 1)
        _check_int(self, "image_height", 16, 4096)
        _check_int(self, "image_width", 16, 4096)
        _check_int(self, "lidar_points", 64, 10_000_000)
        _check_int(self, "start_ns", 0, 2**62)
        if not isinstance(self.lidar, bool):
            raise ConfigError(f"lidar must be true or false, not {self.lidar!r}")
        for name in ("duration_s", "joint_rate_hz", "camera_rate_hz", "lidar_rate_hz"):
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
        """Topic -> message type, in a fixed order: arms, cameras, LiDAR, events."""
        out = {joint_topic(i): JOINT_STATE for i in range(1, self.arms + 1)}
        out.update({camera_topic(i): IMAGE for i in range(1, self.cameras + 1)})
        if self.lidar:
            out[LIDAR_TOPIC] = POINTCLOUD2
        out[EVENTS_TOPIC] = STRING
        return out

    def describe(self) -> dict[str, object]:
        """All fields as a plain dict (for JSON summaries)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _check_int(spec: CellSpec, name: str, low: int, high: int) -> None:
    value = getattr(spec, name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name} must be an integer from {low} to {high}, not {value!r}")

"""The HDF5 layout contract (docs/dataset-format.md) and the dataset's vocabulary, defined once:
build, read, validate and export use it.

robomimic-compatible superset (format 1.1; 1.0 files, which lack the 1.1 members, stay readable):
/data/demo_<i>/{timestamps, obs/<stream>, next_obs/<low-dim stream>, actions, rewards, dones,
                valid/<s>, valid/actions, age_ns/<s>, labels/phase}
/mask/{train,valid,<by outcome>,<by task>}, /meta/stats/<key>/{mean,std,min,max,q01,q99},
/meta/joint_names/<stream>, /meta/action_names, /meta/cameras/<stream>, /meta/frames,
/meta/extrinsics/<stream>, /meta/clocks/<stream>.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import Enum

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "DATA",
    "MASK",
    "STATS",
    "JOINT_NAMES",
    "STAT_NAMES",
    "DEMO_PREFIX",
    "demo_name",
    "demo_index",
    "sorted_demos",
    "demo_paths",
    "depth_shaped",
    "StreamKind",
    "AlignMethod",
    "TimeSource",
    "ClockMethod",
]


class _Vocabulary(str, Enum):
    """A string enum whose str() and format() are its value (as in YAML, JSON and HDF5)."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class StreamKind(_Vocabulary):
    """What an output stream holds; decided from its topic's type (and an image's encoding)."""

    LOWDIM = "lowdim"    # float32 (T, D): joints by name, or numeric fields of any message
    IMAGE = "image"      # uint8 (T, H, W, C)
    DEPTH = "depth"      # uint16 mm or float32 m (T, H, W)
    LIDAR = "lidar"      # float32 (T, P, 4) + point mask (T, P)


class AlignMethod(_Vocabulary):
    """How samples are put on the reference clock (dataset.ops.align)."""

    INTERPOLATE = "interpolate"   # linear between the samples around the frame (low-dim only)
    NEAREST = "nearest"           # closest sample, the earlier on a tie
    PREVIOUS = "previous"         # latest sample at or before the frame (never from the future)


class TimeSource(_Vocabulary):
    """Which time of a message places it on the clock."""

    HEADER = "header"   # header.stamp (log time where the stamp is 0 or there is no header)
    LOG = "log"         # receive time in the bag


class ClockMethod(_Vocabulary):
    """How a stream's device clock was corrected (/meta/clocks/<stream> attr `method`)."""

    NONE = "none"     # stamps used as they are
    FIXED = "fixed"   # a configured offset (clock_offset_ms: <number>)
    AUTO = "auto"     # offset and drift fitted on the lower envelope of log - header

FORMAT = "robot_logger.dataset"
FORMAT_VERSION = "1.1"
READABLE_VERSIONS = ("1.0", "1.1")

DATA = "data"
MASK = "mask"
STATS = "meta/stats"
JOINT_NAMES = "meta/joint_names"
ACTION_NAMES = "meta/action_names"
CAMERAS = "meta/cameras"           # /<stream>: attrs width, height, distortion_model, frame_id;
                                   # datasets K (3,3), D (n,), R (3,3), P (3,4)
CAMERA_ATTRS = ("width", "height", "distortion_model", "frame_id")
FRAMES = "meta/frames"             # static transforms: parent, child (S), xyz (n,3), xyzw (n,4)
EXTRINSICS = "meta/extrinsics"     # /<stream>: (4,4) float64 sensor-to-base, attrs base, frame_id
CLOCKS = "meta/clocks"             # /<stream>: attrs offset_ns, drift_ppm, method, t0_ns,
                                   # time_source, per_bag; one per obs stream (method none:
                                   # uncorrected), only corrected streams in older files
CLOCK_ATTRS = ("offset_ns", "drift_ppm", "method", "t0_ns")
CLOCK_TIME_SOURCE = "time_source"  # header | log; absent in files from before it was written
STAT_NAMES = ("mean", "std", "min", "max", "q01", "q99")

# Root attrs.
ATTR_FORMAT = "format"
ATTR_FORMAT_VERSION = "format_version"
ATTR_CREATED_BY = "created_by"
ATTR_BUILD_CONFIG = "build_config"
ATTR_SOURCE_BAGS = "source_bags"
# /data attrs.
ATTR_TOTAL = "total"
ATTR_ENV_ARGS = "env_args"
ATTR_RATE_HZ = "rate_hz"
# /data/demo_<i> attrs.
DEMO_ATTRS = ("num_samples", "source_bag", "t_start_ns", "t_end_ns", "task", "outcome")

# Keys inside one demo.
TIMESTAMPS = "timestamps"
OBS = "obs"
NEXT_OBS = "next_obs"             # low-dim obs shifted by one frame, the last frame held
ACTIONS = "actions"
REWARDS = "rewards"
DONES = "dones"
VALID = "valid"
ACTIONS_VALID = "valid/actions"   # (T,) bool: every source of the action row was valid
AGE_NS = "age_ns"
PHASE = "labels/phase"
PHASE_NAMES_ATTR = "names"
POINT_MASK_SUFFIX = "_mask"

DEMO_PREFIX = "demo_"
_DEMO_RE = re.compile(r"^demo_(\d+)$")


def demo_name(index: int) -> str:
    """Episode group name for an index (`demo_0`, `demo_1`, …)."""
    return f"{DEMO_PREFIX}{index}"


def demo_index(name: str) -> int:
    """Index of an episode group name; ValueError when the name is not `demo_<int>`."""
    match = _DEMO_RE.match(name)
    if match is None:
        raise ValueError(f"not an episode name: {name!r}")
    return int(match.group(1))


def sorted_demos(names: Iterable[str]) -> list[str]:
    """Episode names in numeric order (`demo_2` before `demo_10`); other names are dropped."""
    return sorted((n for n in names if _DEMO_RE.match(n)), key=demo_index)


def demo_paths(demo: str) -> dict[str, str]:
    """Absolute HDF5 paths of the fixed members of one episode."""
    base = f"/{DATA}/{demo}"
    return {
        key: f"{base}/{key}"
        for key in (TIMESTAMPS, OBS, ACTIONS, REWARDS, DONES, VALID, AGE_NS, PHASE)
    }


# Validation rules (dataset/validate.py), one place: dtype and rank of every member.
SPLITS = ("train", "valid")
ROOT_ATTRS = (
    ATTR_FORMAT,
    ATTR_FORMAT_VERSION,
    ATTR_CREATED_BY,
    ATTR_BUILD_CONFIG,
    ATTR_SOURCE_BAGS,
)
DATA_ATTRS = (ATTR_TOTAL, ATTR_ENV_ARGS, ATTR_RATE_HZ)
# Fixed members of a demo: key -> (dtype, rank); leading dimension T.
DEMO_MEMBERS = {
    TIMESTAMPS: ("int64", 1),
    ACTIONS: ("float32", 2),
    REWARDS: ("float32", 1),
    DONES: ("uint8", 1),
    PHASE: ("int16", 1),
}
# Per-stream quality arrays: group -> (dtype, rank); one entry per obs stream (not per point mask).
STREAM_MEMBERS = {VALID: ("bool", 1), AGE_NS: ("int64", 1)}
# obs/<stream> kinds: (dtype, rank, fixed trailing dim or None); told apart by dtype and rank.
# A float32 rank-3 array is LiDAR when its last dimension is 4 (x, y, z, intensity), else
# metric depth; uint16 rank 3 is depth in millimetres.
OBS_KINDS = {
    StreamKind.LOWDIM: ("float32", 2, None),  # (T, D)
    StreamKind.IMAGE: ("uint8", 4, None),  # (T, H, W, C), chunks (1, H, W, C)
    StreamKind.LIDAR: ("float32", 3, 4),  # (T, P, 4) x, y, z, intensity + obs/<s>_mask (T, P)
}
DEPTH_DTYPES = ("uint16", "float32")  # (T, H, W), chunks (1, H, W): millimetres or metres
POINT_MASK = ("bool", 2)
LOWDIM_KINDS = (StreamKind.LOWDIM,)  # keys with /meta/stats, next_obs and /meta/joint_names


def depth_shaped(dtype: str, shape: tuple[int, ...]) -> bool:
    """Whether a rank-3 obs array is depth, not LiDAR: uint16 always (millimetres), any other
    dtype when its last dimension is not LiDAR's 4 (x, y, z, intensity)."""
    return len(shape) == 3 and (dtype == "uint16" or shape[-1] != OBS_KINDS[StreamKind.LIDAR][2])

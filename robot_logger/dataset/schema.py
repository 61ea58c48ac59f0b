"""The HDF5 layout contract (docs/dataset-format.md), defined once: writer, readers, validate.

robomimic-compatible superset:
/data/demo_<i>/{timestamps, obs/<stream>, actions, rewards, dones, valid/<s>, age_ns/<s>,
               labels/phase}
/mask/{train,valid}, /meta/stats/<key>/{mean,std,min,max,q01,q99}, /meta/joint_names/<stream>.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

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
]

FORMAT = "robot_logger.dataset"
FORMAT_VERSION = "1.0"

DATA = "data"
MASK = "mask"
STATS = "meta/stats"
JOINT_NAMES = "meta/joint_names"
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
ACTIONS = "actions"
REWARDS = "rewards"
DONES = "dones"
VALID = "valid"
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
OBS_KINDS = {
    "joint": ("float32", 2, None),  # (T, J)
    "image": ("uint8", 4, None),  # (T, H, W, C), chunks (1, H, W, C)
    "lidar": ("float32", 3, 4),  # (T, P, 4) x, y, z, intensity + obs/<stream>_mask (T, P) bool
}
POINT_MASK = ("bool", 2)
LOWDIM_KINDS = ("joint",)  # keys with /meta/stats (plus actions) and /meta/joint_names

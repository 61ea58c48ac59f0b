"""Per-frame label arrays of an episode: the phase index at each frame, rewards and dones.

Episodes and phases come from `robot_logger.core.events` (events topic) or
`robot_logger.dataset.build.labels_file` (a labels file); this module only turns them into arrays.
"""

from __future__ import annotations

import numpy as np

from robot_logger.core.events import OUTCOMES, Episode
from robot_logger.errors import DatasetError

__all__ = ["phase_labels", "rewards_dones"]


def phase_labels(ref_ns: np.ndarray, episode: Episode, names: list[str]) -> np.ndarray:
    """(T,) int16 index into `names` of the phase holding at each reference time, -1 for none.

    Phases are half-open [start, end), except that a phase ending at the episode end also holds
    at that instant. DatasetError when a phase name is not in `names`.
    """
    ref = np.asarray(ref_ns, np.int64)
    labels = np.full(ref.shape, -1, np.int16)
    if not episode.phases:
        return labels
    index = {name: i for i, name in enumerate(names)}
    missing = [p.name for p in episode.phases if p.name not in index]
    if missing:
        raise DatasetError(f"phase {missing[0]!r} is not among the phase names {names}")
    starts = np.array([p.start_ns for p in episode.phases], np.int64)
    ends = np.array([p.end_ns for p in episode.phases], np.int64)
    codes = np.array([index[p.name] for p in episode.phases], np.int16)
    which = np.searchsorted(starts, ref, side="right") - 1
    safe = np.maximum(which, 0)
    inside = (which >= 0) & ((ref < ends[safe]) | ((ref == ends[safe]) & (ref == episode.end_ns)))
    labels[inside] = codes[safe[inside]]
    return labels


def rewards_dones(n: int, outcome: str) -> tuple[np.ndarray, np.ndarray]:
    """(n,) float32 rewards (1 on the last frame of a successful episode) and uint8 dones."""
    if outcome not in OUTCOMES:
        raise DatasetError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    rewards = np.zeros(n, np.float32)
    dones = np.zeros(n, np.uint8)
    if n > 0:
        dones[-1] = 1
        rewards[-1] = 1.0 if outcome == "success" else 0.0
    return rewards, dones

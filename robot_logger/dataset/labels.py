"""Episodes and phase labels: from the events topic or a labels file, and per-frame arrays.

Events (`robot_logger.events`): `episode_start` opens an episode, `phase` starts a phase that
holds until the next phase or the episode end, `episode_end` closes it with an outcome.
A labels file (`labels.yaml`) says the same offline and wins over the events:

    episodes:                      # or the list itself at the top level
      - start: 1.5                 # seconds from bag start (a number), or absolute ns:
        end: 12.0                  #   an integer >= 1e15 is absolute time in ns
        task: weld seam A3         # optional, default ""
        outcome: success           # optional: success | failure | aborted | unknown (default)
        phases:                    # optional; in time order, not overlapping, inside the episode
          - {name: approach, start: 1.5, end: 4.0}
          - {name: weld, start: 4.0, end: 12.0}

Episodes must be listed in time order and not overlap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from robot_logger.errors import ConfigError, DatasetError
from robot_logger.yamlfile import load_yaml
from robot_logger.events import OUTCOMES, Event

__all__ = [
    "ABSOLUTE_NS_MIN",
    "Phase",
    "Episode",
    "episodes_from_events",
    "load_labels_file",
    "phase_labels",
    "rewards_dones",
]

# A labels-file time that is an integer at least this large is absolute ns (1e15 ns is 11.6 days
# after the epoch, 1e15 s is 31 million years), anything else is seconds from the bag start.
ABSOLUTE_NS_MIN = 10**15
EPISODE_KEYS = ("start", "end", "task", "outcome", "phases")
PHASE_KEYS = ("name", "start", "end")


@dataclass(frozen=True)
class Phase:
    """A named part of an episode over [start_ns, end_ns)."""

    name: str
    start_ns: int
    end_ns: int


@dataclass(frozen=True)
class Episode:
    """One labelled episode over [start_ns, end_ns], its phases in time order."""

    start_ns: int
    end_ns: int
    task: str
    outcome: str
    phases: tuple[Phase, ...] = ()


def episodes_from_events(events: Sequence[tuple[int, Event]], bag_start_ns: int,
                         bag_end_ns: int) -> list[Episode]:
    """Episodes described by (log time ns, Event) pairs.

    An episode left open ends at the next `episode_start` or at the bag end, with outcome
    "unknown"; phase and end events outside an episode are ignored, and so is an event equal to
    the one before it (a redelivered message). When the events describe no episode at all, the
    whole bag is one episode with outcome "unknown".
    """
    episodes: list[Episode] = []
    current: tuple[int, str] | None = None  # (start_ns, task) of the open episode
    phases: list[tuple[str, int]] = []  # (name, start_ns) of its phases so far
    previous: Event | None = None
    for stamp_ns, event in sorted(events, key=lambda pair: pair[0]):
        if event == previous:
            continue
        previous = event
        if event.type == "episode_start":
            if current is not None:
                episodes.append(_closed(*current, phases, stamp_ns, "unknown"))
            current, phases = (stamp_ns, event.task), []
        elif current is None:
            continue
        elif event.type == "phase":
            phases.append((event.name, stamp_ns))
        elif event.type == "episode_end":
            episodes.append(_closed(*current, phases, stamp_ns, event.outcome))
            current = None
    if current is not None:
        episodes.append(_closed(*current, phases, max(bag_end_ns, current[0]), "unknown"))
    return episodes or [Episode(bag_start_ns, bag_end_ns, "", "unknown")]


def _closed(start_ns: int, task: str, phases: list[tuple[str, int]], end_ns: int,
            outcome: str) -> Episode:
    """An episode whose phases each hold until the next one starts or the episode ends."""
    bounds = [start for _, start in phases] + [end_ns]
    return Episode(start_ns, end_ns, task, outcome, tuple(
        Phase(name, start, bounds[i + 1]) for i, (name, start) in enumerate(phases)))


def load_labels_file(path: str | Path, bag_start_ns: int) -> list[Episode]:
    """Episodes of a labels file (module docstring); ConfigError naming the file and key path."""
    path = Path(path)
    document = load_yaml(path, "labels file")
    return _LabelsParser(path, bag_start_ns).episodes(document)


class _LabelsParser:
    """Validates a parsed labels document, naming the file and key path of the first problem."""

    def __init__(self, path: Path, bag_start_ns: int) -> None:
        self.path = path
        self.bag_start_ns = bag_start_ns

    def fail(self, where: str, message: str) -> ConfigError:
        return ConfigError(f"{self.path}: {where}: {message}")

    def episodes(self, document: Any) -> list[Episode]:
        if isinstance(document, dict):
            self.keys(document, "", ("episodes",), ("episodes",))
            document = document["episodes"]
        if not isinstance(document, list) or not document:
            raise self.fail("episodes", "must be a non-empty list of episodes")
        episodes = [self.episode(item, f"episodes[{i}]") for i, item in enumerate(document)]
        for i in range(1, len(episodes)):
            if episodes[i].start_ns < episodes[i - 1].end_ns:
                raise self.fail(f"episodes[{i}].start", f"overlaps episodes[{i - 1}] (episodes "
                                "must be in time order and not overlap)")
        return episodes

    def episode(self, item: Any, where: str) -> Episode:
        self.keys(item, where, EPISODE_KEYS, ("start", "end"))
        start_ns, end_ns = self.span(item, where)
        task = self.string(item.get("task", ""), f"{where}.task")
        outcome = item.get("outcome", "unknown")
        if outcome not in OUTCOMES:
            raise self.fail(f"{where}.outcome", f"must be one of {', '.join(OUTCOMES)}, "
                            f"not {outcome!r}")
        raw_phases = item.get("phases", [])
        if not isinstance(raw_phases, list):
            raise self.fail(f"{where}.phases", "must be a list of {name, start, end}")
        phases = tuple(self.phase(p, f"{where}.phases[{j}]") for j, p in enumerate(raw_phases))
        for j, phase in enumerate(phases):
            if phase.start_ns < start_ns or phase.end_ns > end_ns:
                raise self.fail(f"{where}.phases[{j}]", "lies outside its episode")
            if j and phase.start_ns < phases[j - 1].end_ns:
                raise self.fail(f"{where}.phases[{j}].start", f"overlaps phases[{j - 1}] (phases "
                                "must be in time order and not overlap)")
        return Episode(start_ns, end_ns, task, outcome, phases)

    def phase(self, item: Any, where: str) -> Phase:
        self.keys(item, where, PHASE_KEYS, PHASE_KEYS)
        name = self.string(item["name"], f"{where}.name")
        if not name:
            raise self.fail(f"{where}.name", "must not be empty")
        return Phase(name, *self.span(item, where))

    def keys(self, item: Any, where: str, allowed: tuple[str, ...],
             required: tuple[str, ...]) -> None:
        prefix = f"{where}." if where else ""
        if not isinstance(item, dict):
            raise self.fail(where or "top level", f"must be a mapping with keys "
                            f"{', '.join(allowed)}, not {type(item).__name__}")
        for key in item:
            if key not in allowed:
                raise self.fail(f"{prefix}{key}", f"unknown key (expected {', '.join(allowed)})")
        for key in required:
            if key not in item:
                raise self.fail(f"{prefix}{key}", "required key is missing")

    def span(self, item: dict, where: str) -> tuple[int, int]:
        start_ns = self.time_ns(item["start"], f"{where}.start")
        end_ns = self.time_ns(item["end"], f"{where}.end")
        if end_ns < start_ns:
            raise self.fail(f"{where}.end", "must be ≥ start")
        return start_ns, end_ns

    def time_ns(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(where, f"must be seconds from bag start or absolute ns, "
                            f"not {value!r}")
        if isinstance(value, int) and value >= ABSOLUTE_NS_MIN:
            return value
        if not math.isfinite(value) or value < 0 or value >= ABSOLUTE_NS_MIN:
            raise self.fail(where, f"{value!r} is not a time: use seconds from bag start (≥ 0) "
                            f"or absolute ns as an integer ≥ {ABSOLUTE_NS_MIN:.0e}")
        return self.bag_start_ns + round(value * 1e9)

    def string(self, value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise self.fail(where, f"must be a string, not {value!r}")
        return value


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

"""Labels files: the episodes of a bag said offline (they win over the events topic).

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
from pathlib import Path
from typing import Any

from robot_logger.core.events import OUTCOMES, Episode, Phase
from robot_logger.core.yamlfile import YamlMap, load_yaml
from robot_logger.errors import ConfigError

__all__ = ["ABSOLUTE_NS_MIN", "load_labels_file"]

# A labels-file time that is an integer at least this large is absolute ns (1e15 ns is 11.6 days
# after the epoch, 1e15 s is 31 million years), anything else is seconds from the bag start.
ABSOLUTE_NS_MIN = 10**15
EPISODE_KEYS = ("start", "end", "task", "outcome", "phases")
PHASE_KEYS = ("name", "start", "end")


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
            YamlMap(document, self.path).check_known(("episodes",), required=("episodes",))
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
        YamlMap(item, self.path, where).check_known(EPISODE_KEYS, required=("start", "end"))
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
        YamlMap(item, self.path, where).check_known(PHASE_KEYS, required=PHASE_KEYS)
        name = self.string(item["name"], f"{where}.name")
        if not name:
            raise self.fail(f"{where}.name", "must not be empty")
        return Phase(name, *self.span(item, where))

    def span(self, item: dict[str, Any], where: str) -> tuple[int, int]:
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

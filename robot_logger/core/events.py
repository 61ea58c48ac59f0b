"""The episode-event vocabulary on `/robot_logger/events` (std_msgs/String, JSON payload).

Shared by the simulator, the recorder's episode control, `info` and the dataset labeller.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "OUTCOMES",
    "Episode",
    "Event",
    "EventTally",
    "Phase",
    "decode",
    "encode",
    "episode_end",
    "episode_start",
    "episodes_from_events",
    "phase",
]

OUTCOMES = ("success", "failure", "aborted", "unknown")
EVENT_TYPES = ("episode_start", "phase", "episode_end")


@dataclass(frozen=True)
class Event:
    """One decoded event: `type` plus `task` (start), `name` (phase) or `outcome` (end)."""

    type: str
    task: str = ""
    name: str = ""
    outcome: str = "unknown"


def episode_start(task: str) -> str:
    """JSON payload that opens an episode."""
    return encode(Event("episode_start", task=task))


def phase(name: str) -> str:
    """JSON payload that starts a phase (it holds until the next phase or the episode end)."""
    return encode(Event("phase", name=name))


def episode_end(outcome: str) -> str:
    """JSON payload that closes an episode with an outcome from OUTCOMES."""
    return encode(Event("episode_end", outcome=outcome))


def encode(event: Event) -> str:
    """Event -> JSON text, with only the keys its type uses."""
    body: dict[str, str] = {"type": event.type}
    if event.type == "episode_start":
        body["task"] = event.task
    elif event.type == "phase":
        body["name"] = event.name
    elif event.type == "episode_end":
        if event.outcome not in OUTCOMES:
            raise ValueError(
                f"outcome must be one of {', '.join(OUTCOMES)}, not {event.outcome!r}"
            )
        body["outcome"] = event.outcome
    else:
        raise ValueError(f"event type must be one of {', '.join(EVENT_TYPES)}, not {event.type!r}")
    return json.dumps(body)


def decode(text: str) -> Event | None:
    """JSON text -> Event, or None when the payload is not a well-formed event.

    An outcome outside OUTCOMES becomes "unknown"; `EventTally.decode` also counts both cases.
    """
    event, _given = _decode(text)
    return event


def _decode(text: str) -> tuple[Event | None, str]:
    """(Event or None, the outcome as given)."""
    try:
        body = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return None, ""
    if not isinstance(body, dict) or body.get("type") not in EVENT_TYPES:
        return None, ""
    outcome = str(body.get("outcome", "unknown"))
    event = Event(
        type=body["type"],
        task=str(body.get("task", "")),
        name=str(body.get("name", "")),
        outcome=outcome if outcome in OUTCOMES else "unknown",
    )
    return event, outcome


@dataclass
class EventTally:
    """Decodes events and counts what would otherwise be dropped or relabelled without a word:
    malformed payloads (skipped) and unknown outcomes (labelled "unknown"; a typo such as
    "succeeded" would otherwise give reward 0 silently)."""

    malformed: int = 0
    first_malformed: str = ""
    unknown_outcomes: dict[str, int] = field(default_factory=dict)

    def decode(self, text: str) -> Event | None:
        """`decode`, counting the problems."""
        event, given = _decode(text)
        if event is None:
            self.malformed += 1
            self.first_malformed = self.first_malformed or str(text)[:60]
        elif event.type == "episode_end" and given not in OUTCOMES:
            self.unknown_outcomes[given] = self.unknown_outcomes.get(given, 0) + 1
        return event

    def warnings(self, topic: str) -> list[str]:
        """One line per kind of problem, naming the topic; empty when there was none."""
        out = []
        if self.malformed:
            out.append(f"{topic}: {self.malformed} malformed events skipped (not JSON or no "
                       f"type among {', '.join(EVENT_TYPES)}; first: {self.first_malformed!r})")
        for given, count in sorted(self.unknown_outcomes.items()):
            out.append(f"{topic}: {count} episode_end events with outcome {given!r}, not one of "
                       f"{', '.join(OUTCOMES)}; labelled unknown")
        return out


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


def episodes_from_events(
    events: Sequence[tuple[int, Event]], bag_start_ns: int, bag_end_ns: int
) -> list[Episode]:
    """Episodes described by (log time ns, Event) pairs.

    An episode left open ends 1 ns before the next `episode_start` (episodes are closed
    intervals: the frame at the new start belongs to the new episode only) or at the bag end,
    with outcome "unknown"; phase and end events outside an episode are ignored, and so is an
    event equal to the one before it (a redelivered message). When the events describe no
    episode at all, the whole bag is one episode with outcome "unknown".
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
                end_ns = max(stamp_ns - 1, current[0])
                episodes.append(_closed(*current, phases, end_ns, "unknown"))
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


def _closed(
    start_ns: int, task: str, phases: list[tuple[str, int]], end_ns: int, outcome: str
) -> Episode:
    """An episode whose phases each hold until the next one starts or the episode ends."""
    bounds = [start for _, start in phases] + [end_ns]
    return Episode(
        start_ns,
        end_ns,
        task,
        outcome,
        tuple(Phase(name, start, bounds[i + 1]) for i, (name, start) in enumerate(phases)),
    )

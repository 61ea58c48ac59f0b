"""The episode-event vocabulary on `/robot_logger/events` (std_msgs/String, JSON payload).

Shared by the simulator, the recorder's episode control, `info` and the dataset labeller.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = ["OUTCOMES", "Event", "encode", "decode", "episode_start", "phase", "episode_end"]

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
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {event.outcome!r}")
        body["outcome"] = event.outcome
    else:
        raise ValueError(f"event type must be one of {', '.join(EVENT_TYPES)}, not {event.type!r}")
    return json.dumps(body)


def decode(text: str) -> Event | None:
    """JSON text -> Event, or None when the payload is not a well-formed event."""
    try:
        body = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return None
    if not isinstance(body, dict) or body.get("type") not in EVENT_TYPES:
        return None
    outcome = str(body.get("outcome", "unknown"))
    return Event(
        type=body["type"], task=str(body.get("task", "")), name=str(body.get("name", "")),
        outcome=outcome if outcome in OUTCOMES else "unknown",
    )

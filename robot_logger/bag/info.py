"""`robot-logger info` as a library call: stream a bag once and report what is in it.

Per topic it keeps two int64 stamps a message (log time, header stamp read from the raw CDR)
and no payloads, so memory stays small and flat in the payload size; `streamstats` turns the
stamps into rate, period, gap, latency and disorder figures. Episode events are decoded with
`robot_logger.core.events`.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from robot_logger.bag.reader import BagReader, Storage, open_bag
from robot_logger.bag.streamstats import StreamStats, stream_stats
from robot_logger.core import events, messages
from robot_logger.core.clockfit import unsynchronised
from robot_logger.core.events import Episode, episodes_from_events
from robot_logger.errors import BagError

__all__ = ["TopicReport", "EpisodeSummary", "BagInfo", "inspect_bag"]

PROGRESS_EVERY = 4096
CLOCK_MISMATCH_NS = 60 * 1_000_000_000   # |latency| above this: header and log clocks differ


@dataclass(frozen=True)
class TopicReport:
    """One topic: its type, whether we can decode it, and its timing statistics."""

    topic: str
    msgtype: str
    decodable: bool
    stats: StreamStats


@dataclass(frozen=True)
class EpisodeSummary:
    """Episodes announced on /robot_logger/events (none: a build uses the whole bag as one)."""

    episodes: list[Episode] = field(default_factory=list)
    bad_events: int = 0             # event payloads that are not well-formed events

    @property
    def outcomes(self) -> dict[str, int]:
        """How many episodes ended each way ("unknown" includes unterminated ones)."""
        return dict(sorted(Counter(e.outcome for e in self.episodes).items()))

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict."""
        return {"count": len(self.episodes), "outcomes": self.outcomes,
                "bad_events": self.bad_events,
                "episodes": [{"start_ns": e.start_ns, "end_ns": e.end_ns, "task": e.task,
                              "outcome": e.outcome, "phases": [p.name for p in e.phases]}
                             for e in self.episodes]}


@dataclass(frozen=True)
class BagInfo:
    """Everything `info` prints. Times in ns, sizes in bytes."""

    path: str
    storage: Storage
    size_bytes: int
    start_ns: int
    end_ns: int
    message_count: int
    topics: list[TopicReport]
    episodes: EpisodeSummary
    warnings: list[str]

    @property
    def duration_ns(self) -> int:
        """Log time from the first to the last message (0 for an empty bag)."""
        return self.end_ns - self.start_ns if self.message_count else 0

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict."""
        return {
            "path": self.path, "storage": self.storage, "size_bytes": self.size_bytes,
            "start_ns": self.start_ns, "end_ns": self.end_ns, "duration_ns": self.duration_ns,
            "message_count": self.message_count,
            "topics": {t.topic: {"type": t.msgtype, "decodable": t.decodable, **t.stats.to_dict()}
                       for t in self.topics},
            "episodes": self.episodes.to_dict(), "warnings": self.warnings,
        }


class _Stamps:
    """Growing int64 buffers of one topic's log times and header stamps."""

    def __init__(self, with_header: bool) -> None:
        self.log_ns = array("q")
        self.stamp_ns: array[int] | None = array("q") if with_header else None


def inspect_bag(path: str | Path, *, progress: Callable[[int], None] | None = None) -> BagInfo:
    """Read every message once (raw, no deserialization except events) and summarise the bag.

    `progress(n)` is called with the number of messages read since the last call.
    """
    with open_bag(path) as bag:
        stamps = {t: _Stamps(bag.has_header(info.msgtype)) for t, info in bag.topics.items()}
        event_log: list[tuple[int, events.Event | None]] = []
        tally = events.EventTally()
        done = 0
        for topic, msgtype, log_ns, raw in bag.messages():
            buf = stamps[topic]
            buf.log_ns.append(log_ns)
            if buf.stamp_ns is not None:
                buf.stamp_ns.append(messages.header_stamp_ns(raw))
            if topic == messages.EVENTS_TOPIC and msgtype == messages.STRING:
                event_log.append((log_ns, _event(bag, raw, tally)))
            done += 1
            if progress is not None and done % PROGRESS_EVERY == 0:
                progress(PROGRESS_EVERY)
        if progress is not None:
            progress(done % PROGRESS_EVERY)
        return _report(bag, stamps, event_log, done, tally)


def _event(bag: BagReader, raw: bytes | memoryview,
           tally: events.EventTally) -> events.Event | None:
    try:
        text = bag.deserialize(raw, messages.STRING).data
    except BagError:
        text = bytes(raw[:60]).hex()
    return tally.decode(text)


def _report(bag: BagReader, stamps: dict[str, _Stamps],
            event_log: list[tuple[int, events.Event | None]], read: int,
            tally: events.EventTally) -> BagInfo:
    warnings = list(bag.warnings) + tally.warnings(messages.EVENTS_TOPIC)
    topics = []
    log_first, log_last = [], []
    for topic, info in sorted(bag.topics.items()):
        buf = stamps[topic]
        log_ns = np.frombuffer(buf.log_ns, np.int64)
        stamp_ns = None if buf.stamp_ns is None else np.frombuffer(buf.stamp_ns, np.int64)
        if log_ns.size != info.count:
            warnings.append(f"{topic}: the storage index says {info.count} messages, "
                            f"{log_ns.size} were read")
        if stamp_ns is not None and (zero := int(np.count_nonzero(stamp_ns == 0))):
            warnings.append(f"{topic}: {zero} messages have no header stamp (0); "
                            "its timing uses log times")
        if log_ns.size:
            log_first.append(int(log_ns.min()))
            log_last.append(int(log_ns.max()))
        stats = stream_stats(log_ns, stamp_ns)
        if stats.latency_p50_ns is not None and abs(stats.latency_p50_ns) > CLOCK_MISMATCH_NS:
            warnings.append(f"{topic}: header stamps are {stats.latency_p50_ns / 1e9:.0f} s "
                            "from log times (sim time or an unsynchronised clock?)")
        elif stats.clock_offset_ns is not None and unsynchronised(stats.clock_offset_ns / 1e6):
            warnings.append(f"{topic}: header stamps look like an unsynchronised device clock "
                            f"(log time minus header stamp, lower envelope: "
                            f"{stats.clock_offset_ns / 1e6:.1f} ms); a build corrects it with "
                            "clock_offset_ms: auto on its stream")
        topics.append(TopicReport(topic, info.msgtype, bag.can_decode(info.msgtype), stats))
    start_ns, end_ns = min(log_first, default=0), max(log_last, default=0)
    good = [(ns, e) for ns, e in event_log if e is not None]
    announced = any(e.type == "episode_start" for _, e in good)
    episodes = episodes_from_events(good, start_ns, end_ns) if announced else []
    return BagInfo(
        path=str(bag.path), storage=bag.storage, size_bytes=_size(bag.path),
        start_ns=start_ns, end_ns=end_ns, message_count=read, topics=topics,
        episodes=EpisodeSummary(episodes, len(event_log) - len(good)), warnings=warnings,
    )


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file())

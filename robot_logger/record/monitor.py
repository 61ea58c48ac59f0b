"""Sync monitor: per-topic rate, inferred drops, header-vs-receive latency, warnings. Pure logic.

Feed it what the recorder receives, `feed(topic, stamps_ns, recv_ns, nbytes)`, and ask for a
`status(now_ns, problems)` once a second: a MonitorStatus of TopicStatus records and warnings. The
recorder adds its writer and discovery facts to make a RecorderStatus, whose `to_json()` is the
`/robot_logger/status` message and whose fields the terminal table and the node's log read.
Drops are inferred from header-stamp gaps: a stamp k expected periods past the newest one seen
means k - 1 missing, and a late stamp (behind the newest: it arrived out of order) fills one of
them again. A stamp RESET_NS or more behind the newest is a restarted device clock: measuring goes
on from it. The expected period is the configured rate, else the median of the first stamp
intervals seen. A topic with several publishers (`set_publishers`) interleaves their stamps, so no
drop is inferred on it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "MonitorLimits",
    "MonitorStatus",
    "RecorderStatus",
    "SyncMonitor",
    "TopicProblems",
    "TopicStatus",
]

NS = 1_000_000_000
PERIOD_SAMPLES = 20  # stamp intervals used to estimate a topic's period when no rate is given
RESET_NS = NS  # a stamp this far behind the newest is a restarted clock, not a late message
# TopicProblems fields (topic -> reason) and how their warnings read
TOPIC_PROBLEMS = {
    "unmatched": "never matched",
    "skipped": "not recorded",
    "absent": "not published",
}


@dataclass(frozen=True)
class TopicStatus:
    """One topic's health: totals since the start, rate and latency over the last window."""

    count: int  # messages received
    bytes: int  # payload bytes received
    rate_hz: float  # in the last status window
    expected_hz: float | None  # configured, else estimated from stamps; None: not known yet
    drops: int  # inferred from header-stamp gaps
    latency_ms_mean: float | None  # receive time minus header stamp; None: no stamps
    latency_ms_max: float | None


@dataclass(frozen=True)
class TopicProblems:
    """Topics the recorder cannot record, each with the reason (they become warnings)."""

    unmatched: Mapping[str, str] = field(default_factory=dict)  # no QoS-compatible match
    skipped: Mapping[str, str] = field(default_factory=dict)  # not recordable (unknown type)
    absent: Mapping[str, str] = field(default_factory=dict)  # asked for, nobody publishes


class MonitorStatus(NamedTuple):
    """What the monitor says at one moment."""

    time_ns: int
    elapsed_s: float
    topics: dict[str, TopicStatus]
    warnings: tuple[str, ...]


FINAL_ONLY = ("stop_reason", "dropped_at_stop")  # RecorderStatus fields of the final status


@dataclass(frozen=True)
class RecorderStatus:
    """The recorder's health: monitor, writer and discovery facts (`/robot_logger/status`).

    `to_json()` is the wire format (keys as the fields, `topics` as objects, `stop_reason` and
    `dropped_at_stop` only in the final status); `from_json` reads it back, for tools that
    subscribe to the topic.
    """

    time_ns: int
    elapsed_s: float
    topics: Mapping[str, TopicStatus]
    warnings: tuple[str, ...]
    queue_messages: int
    queue_bytes: int
    bytes_written: int
    disk_free_bytes: int
    written: Mapping[str, int]  # messages per topic
    dropped_queue: Mapping[str, int]  # writer-queue overflow per topic
    unmatched: Mapping[str, str]
    skipped: Mapping[str, str]
    absent: Mapping[str, str]
    bags: tuple[str, ...]
    transport: str
    domain_id: int
    stop_reason: str | None = None  # set on the final status only
    # final status only: per topic, what still arrived when the stop's drain ran out of time
    dropped_at_stop: Mapping[str, int] | None = None

    @property
    def messages_written(self) -> int:
        """Messages written so far, all topics."""
        return sum(self.written.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the wire format)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "topics":
                value = {t: vars(s).copy() for t, s in value.items()}
            elif isinstance(value, Mapping):
                value = dict(value)
            elif isinstance(value, tuple):
                value = list(value)
            if f.name not in FINAL_ONLY or value is not None:
                out[f.name] = value
        return out

    def to_json(self) -> str:
        """The `/robot_logger/status` message text."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> RecorderStatus:
        """A status from its wire format (ValueError/KeyError/TypeError when it is not one)."""
        data = json.loads(text)
        data["topics"] = {t: TopicStatus(**s) for t, s in data["topics"].items()}
        for name in ("warnings", "bags"):
            data[name] = tuple(data[name])
        return cls(**data)


@dataclass(frozen=True)
class MonitorLimits:
    """When a topic earns a warning."""

    silent_after_s: float = 3.0  # subscribed, nothing received this long after start
    stale_periods: float = 10.0  # nothing for this many periods (at least stale_min_s)
    stale_min_s: float = 1.0
    late_ms: float = 100.0  # mean header-to-receive latency above this
    low_rate_ratio: float = 0.8  # window rate below this fraction of expected


@dataclass
class _Topic:
    expected_hz: float | None
    count: int = 0
    nbytes: int = 0
    drops: int = 0
    window_drops: int = 0   # of `drops`, found since the last status
    first_recv_ns: int = 0
    last_recv_ns: int = 0
    newest_stamp_ns: int = 0
    publishers: int = 1
    intervals: list[int] = field(default_factory=list)
    window_count: int = 0
    window_latency_ns: list[float] = field(default_factory=list)
    median_ns: float | None = None   # of `intervals`, which stop growing once this is set

    def period_ns(self) -> float | None:
        """The expected period, else the median of the first intervals: computed once, not per
        batch (np.median on every batch was 19 % of the recorder's main thread at 20k msg/s)."""
        if self.expected_hz:
            return NS / self.expected_hz
        if self.median_ns is None and len(self.intervals) >= PERIOD_SAMPLES:
            self.median_ns = float(np.median(self.intervals))
        return self.median_ns


def _advances(newest_ns: int, stamps: np.ndarray) -> tuple[np.ndarray, int, int]:
    """How far the stamps move the topic's newest stamp forward (>= 0 each), how many are late
    (behind the newest by less than RESET_NS: out of order), and the newest afterwards. A stamp
    RESET_NS or more behind restarts the chain there (it becomes the newest). In order, the usual
    case, this is one np.diff: it runs per batch on the recorder's main thread."""
    chain = np.concatenate(([newest_ns], stamps)) if newest_ns else stamps
    steps = np.diff(chain)
    if not len(steps) or steps.min() >= 0:
        return steps, 0, int(stamps[-1])
    parts, late = [], 0
    while len(stamps):
        prior = np.maximum.accumulate(np.concatenate(([newest_ns or stamps[0]], stamps[:-1])))
        restart = np.flatnonzero(prior - stamps >= RESET_NS)
        cut = int(restart[0]) if len(restart) else len(stamps)
        step = stamps[:cut] - prior[:cut]
        parts.append(np.maximum(step, 0))
        late += int((step < 0).sum())
        if cut:
            newest_ns = int(max(prior[cut - 1], stamps[cut - 1]))
        if cut == len(stamps):
            break
        newest_ns, stamps = int(stamps[cut]), stamps[cut + 1:]
    return np.concatenate(parts), late, newest_ns


class SyncMonitor:
    """Accumulates per-topic statistics between status reports."""

    def __init__(
        self,
        expected_hz: dict[str, float] | None = None,
        limits: MonitorLimits = MonitorLimits(),
        start_ns: int = 0,
        irregular: frozenset[str] = frozenset(),
    ) -> None:
        """`irregular`: topics that publish when something happens (episode events): counted,
        never warned about for silence or rate."""
        self._expected = dict(expected_hz or {})
        self._irregular = irregular
        self._limits = limits
        self._topics: dict[str, _Topic] = {}
        self._start_ns = start_ns
        self._window_start_ns = start_ns

    def add_topic(self, topic: str) -> None:
        """Watch a subscribed topic (so a silent one is reported)."""
        self._topics.setdefault(topic, _Topic(self._expected.get(topic)))

    def feed(
        self, topic: str, stamps_ns: np.ndarray | list[int], recv_ns: int, nbytes: int
    ) -> None:
        """Account one batch of a topic: header stamps (0 = no header) received at `recv_ns`."""
        self.add_topic(topic)
        state = self._topics[topic]
        stamps = np.asarray(stamps_ns, dtype=np.int64)
        state.count += len(stamps)
        state.nbytes += nbytes
        state.window_count += len(stamps)
        state.first_recv_ns = state.first_recv_ns or recv_ns
        state.last_recv_ns = recv_ns
        stamps = stamps[stamps > 0]
        if not len(stamps):
            return
        state.window_latency_ns.extend((recv_ns - stamps).tolist())
        advances, late, state.newest_stamp_ns = _advances(state.newest_stamp_ns, stamps)
        if state.publishers > 1:
            return
        if len(state.intervals) < PERIOD_SAMPLES and not state.expected_hz:
            state.intervals.extend(int(g) for g in advances[advances > 0][:PERIOD_SAMPLES])
        period = state.period_ns()
        if period:
            missing = np.rint(advances / period) - 1
            found = int(missing[advances > 1.5 * period].sum())
            if late:                                  # each refills a gap counted before
                found = max(found - late, -state.window_drops)
            state.drops += found
            state.window_drops += found

    def set_publishers(self, topic: str, count: int) -> None:
        """How many publishers the topic has now (the recorder asks discovery): with more than
        one, their stamps interleave and gaps between them are no losses."""
        self.add_topic(topic)
        self._topics[topic].publishers = count

    def status(self, now_ns: int, problems: TopicProblems = TopicProblems()) -> MonitorStatus:
        """Status since the last call: per-topic records and warnings, `problems` among them."""
        topics: dict[str, TopicStatus] = {}
        warnings: list[str] = []
        window_s = max((now_ns - self._window_start_ns) / NS, 1e-3)
        for name, state in sorted(self._topics.items()):
            topics[name] = self._topic_status(state, window_s)
            if name not in self._irregular:
                started = state.first_recv_ns > self._window_start_ns  # rate not yet meaningful
                warnings.extend(
                    f"{name}: {w}"
                    for w in self._warnings(state, topics[name], now_ns, started, window_s)
                )
            state.window_count = 0
            state.window_drops = 0
            state.window_latency_ns = []
        for key, label in TOPIC_PROBLEMS.items():
            found: Mapping[str, str] = getattr(problems, key)
            warnings.extend(
                f"{topic}: {label}: {reason}" for topic, reason in sorted(found.items())
            )
        self._window_start_ns = now_ns
        elapsed_s = round((now_ns - self._start_ns) / NS, 3)
        return MonitorStatus(now_ns, elapsed_s, topics, tuple(warnings))

    @staticmethod
    def _topic_status(state: _Topic, window_s: float) -> TopicStatus:
        period = state.period_ns()
        latency = np.asarray(state.window_latency_ns) / 1e6
        return TopicStatus(
            count=state.count,
            bytes=state.nbytes,
            rate_hz=round(state.window_count / window_s, 2),
            expected_hz=round(NS / period, 2) if period else None,
            drops=state.drops,
            latency_ms_mean=round(float(latency.mean()), 3) if len(latency) else None,
            latency_ms_max=round(float(latency.max()), 3) if len(latency) else None,
        )

    def _warnings(
        self, state: _Topic, status: TopicStatus, now_ns: int, started: bool, window_s: float
    ) -> list[str]:
        lim = self._limits
        if not state.count:
            silent_s = (now_ns - self._start_ns) / NS
            return (
                [f"silent: nothing received for {silent_s:.0f} s"]
                if silent_s >= lim.silent_after_s
                else []
            )
        found = []
        period = state.period_ns()
        stale_ns = max(lim.stale_min_s * NS, lim.stale_periods * (period or 0))
        age_ns = now_ns - state.last_recv_ns
        if age_ns > stale_ns:
            found.append(f"stale: last message {age_ns / NS:.1f} s ago")
        elif period and not started and status.rate_hz < lim.low_rate_ratio * NS / period:
            found.append(f"low rate: {status.rate_hz} Hz, expected {NS / period:.1f} Hz")
        if state.window_drops:
            found.append(f"dropping: {state.window_drops} missing in the last {window_s:.1f} s "
                         f"(header-stamp gaps; {state.drops} since the start)")
        mean = status.latency_ms_mean
        if mean is not None and mean > lim.late_ms:
            found.append(f"late: header stamps {mean:.0f} ms behind receive time")
        return found

"""Sync monitor: per-topic rate, inferred drops, header-vs-receive latency, warnings. Pure logic.

Feed it what the recorder receives, `feed(topic, stamps_ns, recv_ns, nbytes)`, and ask for a
`status(now_ns, ...)` dict once a second (the `/robot_logger/status` JSON and the terminal table).
Drops are inferred from header-stamp gaps: a gap of k expected periods means k - 1 messages
missing.
The expected period is the configured rate, else the median of the first stamp intervals seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["MonitorLimits", "SyncMonitor"]

NS = 1_000_000_000
PERIOD_SAMPLES = 20  # stamp intervals used to estimate a topic's period when no rate is given
# status extras that map topic -> reason, and how their warnings read
TOPIC_PROBLEMS = {
    "unmatched": "never matched",
    "skipped": "not recorded",
    "absent": "not published",
}


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
    first_recv_ns: int = 0
    last_recv_ns: int = 0
    last_stamp_ns: int = 0
    intervals: list[int] = field(default_factory=list)
    window_count: int = 0
    window_latency_ns: list[float] = field(default_factory=list)

    def period_ns(self) -> float | None:
        if self.expected_hz:
            return NS / self.expected_hz
        if len(self.intervals) >= PERIOD_SAMPLES:
            return float(np.median(self.intervals))
        return None


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
        chain = np.concatenate(([state.last_stamp_ns], stamps)) if state.last_stamp_ns else stamps
        gaps = np.diff(chain)
        state.last_stamp_ns = int(stamps[-1])
        if len(state.intervals) < PERIOD_SAMPLES and not state.expected_hz:
            state.intervals.extend(int(g) for g in gaps[gaps > 0][:PERIOD_SAMPLES])
        period = state.period_ns()
        if period:
            missing = np.rint(gaps / period) - 1
            state.drops += int(missing[gaps > 1.5 * period].sum())

    def status(self, now_ns: int, **extra: object) -> dict[str, object]:
        """Status since the last call: per-topic dicts plus `warnings`; `extra` is merged in
        (queue depth, bytes written, disk free, ...); its TOPIC_PROBLEMS entries (topic -> reason)
        become warnings too."""
        topics, warnings = {}, []
        window_s = max((now_ns - self._window_start_ns) / NS, 1e-3)
        for name, state in sorted(self._topics.items()):
            topics[name] = self._topic_status(state, window_s)
            if name not in self._irregular:
                started = state.first_recv_ns > self._window_start_ns  # rate not yet meaningful
                warnings.extend(
                    f"{name}: {w}" for w in self._warnings(state, topics[name], now_ns, started)
                )
            state.window_count = 0
            state.window_latency_ns = []
        for key, label in TOPIC_PROBLEMS.items():
            problems = dict(extra.get(key) or {})
            warnings.extend(
                f"{topic}: {label}: {reason}" for topic, reason in sorted(problems.items())
            )
        self._window_start_ns = now_ns
        return {
            "time_ns": now_ns,
            "elapsed_s": round((now_ns - self._start_ns) / NS, 3),
            "topics": topics,
            "warnings": warnings,
            **extra,
        }

    @staticmethod
    def _topic_status(state: _Topic, window_s: float) -> dict[str, object]:
        period = state.period_ns()
        latency = np.asarray(state.window_latency_ns) / 1e6
        return {
            "count": state.count,
            "bytes": state.nbytes,
            "rate_hz": round(state.window_count / window_s, 2),
            "expected_hz": round(NS / period, 2) if period else None,
            "drops": state.drops,
            "latency_ms_mean": round(float(latency.mean()), 3) if len(latency) else None,
            "latency_ms_max": round(float(latency.max()), 3) if len(latency) else None,
        }

    def _warnings(
        self, state: _Topic, status: dict[str, object], now_ns: int, started: bool
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
        elif period and not started and status["rate_hz"] < lim.low_rate_ratio * NS / period:
            found.append(f"low rate: {status['rate_hz']} Hz, expected {NS / period:.1f} Hz")
        mean = status["latency_ms_mean"]
        if mean is not None and mean > lim.late_ms:
            found.append(f"late: header stamps {mean:.0f} ms behind receive time")
        return found

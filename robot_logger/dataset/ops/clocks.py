"""Device clocks: estimate a stream's clock offset and drift from its own messages, correct stamps.

    fix = fit_lower_envelope(header_ns, log_ns)        # ClockFix(offset_ns, drift_ppm, t0_ns)
    corrected = fix.apply(header_ns)                    # on the recorder's (log) clock

A device that stamps with its own unsynchronised clock (a USB camera, a PLC) has
log - header = offset + drift (header - t0) + latency, with latency >= 0 and, over many messages,
often close to its minimum. The classic one-way clock-sync estimate is the line under every
point that lies as high as possible: the lower convex hull edge over the middle of the time
range (maximising the line's mean over the samples subject to it staying below all of them).
It cannot tell the minimum latency from the offset, so corrected stamps are the times the
fastest messages would have been logged: for a camera, a few ms after the synchronised stamp.
Points are first reduced to the minimum of each 1 s bin (vectorised), so a 60 s stream of any
rate needs a hull of 60 points.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from robot_logger.dataset.schema import ClockMethod

__all__ = ["ClockFix", "NO_FIX", "fixed_offset", "fit_lower_envelope", "offset_stats",
           "OffsetStats"]

BIN_NS = 1_000_000_000


class ClockFix(NamedTuple):
    """corrected = header + offset_ns + drift_ppm * 1e-6 * (header - t0_ns)."""

    offset_ns: int = 0
    drift_ppm: float = 0.0
    t0_ns: int = 0
    method: ClockMethod = ClockMethod.NONE

    def apply(self, header_ns: np.ndarray) -> np.ndarray:
        """Corrected stamps (int64 ns); zero stamps (unset) stay zero."""
        header_ns = np.asarray(header_ns, np.int64)
        if self.method == ClockMethod.NONE:
            return header_ns
        drift = np.round((header_ns - self.t0_ns) * (self.drift_ppm * 1e-6)).astype(np.int64)
        return np.where(header_ns > 0, header_ns + self.offset_ns + drift, 0)

    def apply_one(self, header_ns: int) -> int:
        """`apply` for one stamp."""
        if self.method == ClockMethod.NONE or header_ns <= 0:
            return header_ns
        return header_ns + self.offset_ns + round((header_ns - self.t0_ns) * self.drift_ppm * 1e-6)


NO_FIX = ClockFix()


def fixed_offset(offset_ms: float) -> ClockFix:
    """A configured constant offset (clock_offset_ms: <number>)."""
    return ClockFix(int(round(offset_ms * 1e6)), 0.0, 0, ClockMethod.FIXED)


def fit_lower_envelope(header_ns: np.ndarray, log_ns: np.ndarray) -> ClockFix | None:
    """Offset and drift of the line under all (header, log - header) points, highest on
    average (module docstring); None with fewer than 2 stamped messages."""
    header_ns = np.asarray(header_ns, np.int64)
    log_ns = np.asarray(log_ns, np.int64)
    keep = header_ns > 0
    header_ns, log_ns = header_ns[keep], log_ns[keep]
    if len(header_ns) < 2:
        return None
    t0 = int(header_ns.min())
    x = header_ns - t0
    y = log_ns - header_ns
    bins = x // BIN_NS
    order = np.lexsort((y, bins))
    first = np.ones(len(order), bool)
    first[1:] = bins[order][1:] != bins[order][:-1]
    xs = x[order][first].astype(np.float64)
    ys = y[order][first].astype(np.float64)
    if len(xs) == 1 or xs[-1] == xs[0]:
        return ClockFix(int(ys.min()), 0.0, t0, ClockMethod.AUTO)
    hull = _lower_hull(xs, ys)
    mean_x = float(x.mean())
    # the hull edge spanning the mean time maximises the line's mean subject to staying below
    for a, b in zip(hull[:-1], hull[1:]):
        if xs[a] <= mean_x <= xs[b]:
            break
    slope = (ys[b] - ys[a]) / (xs[b] - xs[a])
    offset = ys[a] - slope * xs[a]
    return ClockFix(int(round(offset)), float(slope * 1e6), t0, ClockMethod.AUTO)


def _lower_hull(xs: np.ndarray, ys: np.ndarray) -> list[int]:
    """Indices of the lower convex hull of points sorted by x (Andrew's monotone chain)."""
    hull: list[int] = []
    for i in range(len(xs)):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            cross = (xs[b] - xs[a]) * (ys[i] - ys[a]) - (ys[b] - ys[a]) * (xs[i] - xs[a])
            if cross > 0:
                break
            hull.pop()
        hull.append(i)
    return hull


class OffsetStats(NamedTuple):
    """log - header of a topic's stamped messages: count, sum, min, max (ns); merge with `+`."""

    n: int = 0
    total_ns: int = 0
    min_ns: int = 0
    max_ns: int = 0

    def merge(self, other: OffsetStats) -> OffsetStats:
        if not self.n:
            return other
        if not other.n:
            return self
        return OffsetStats(self.n + other.n, self.total_ns + other.total_ns,
                           min(self.min_ns, other.min_ns), max(self.max_ns, other.max_ns))

    @property
    def mean_ns(self) -> float:
        return self.total_ns / self.n if self.n else 0.0


def offset_stats(header_ns: np.ndarray, log_ns: np.ndarray) -> OffsetStats:
    """OffsetStats of the messages with a set stamp."""
    header_ns = np.asarray(header_ns, np.int64)
    delta = (np.asarray(log_ns, np.int64) - header_ns)[header_ns > 0]
    if len(delta) == 0:
        return OffsetStats()
    return OffsetStats(len(delta), int(delta.sum()), int(delta.min()), int(delta.max()))

"""The one-way clock-sync estimate: the line under every (header stamp, log − header) point.

A device that stamps with its own unsynchronised clock (a USB camera, a PLC) has
log − header = offset + drift (header − t0) + latency, with latency ≥ 0 and, over many messages,
often close to its minimum. The classic one-way estimate is the line under every point that lies
as high as possible: the lower convex hull edge over the middle of the time range (maximising the
line's mean over the samples subject to it staying below all of them). It cannot tell the minimum
latency from the offset. Points are first reduced to the minimum of each 1 s bin (vectorised), so
a 60 s stream of any rate needs a hull of 60 points.

Used by `info` (per topic, on the bag side) and by the build's `clock_offset_ms: auto`; it lives in
core because both layers need it and neither may import the other.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["BIN_NS", "CLOCK_AHEAD_MS", "CLOCK_SUSPECT_MS", "EnvelopeLine", "fit_lower_envelope",
           "unsynchronised"]

BIN_NS = 1_000_000_000
CLOCK_SUSPECT_MS = 100.0   # the smallest log - header of a synchronised sensor is a few ms to
                           # a few tens of ms (camera pipelines 5-40 ms); 100 ms is a device clock
CLOCK_AHEAD_MS = -5.0      # a message logged before it was stamped: the device clock runs ahead


def unsynchronised(min_offset_ms: float) -> bool:
    """Whether a stream's smallest log - header says its stamps come from another clock."""
    return not CLOCK_AHEAD_MS <= min_offset_ms <= CLOCK_SUSPECT_MS


class EnvelopeLine(NamedTuple):
    """log − header ≈ offset_ns + drift_ppm · 1e-6 · (header − t0_ns), from below."""

    offset_ns: int
    drift_ppm: float
    t0_ns: int


def fit_lower_envelope(header_ns: np.ndarray, log_ns: np.ndarray) -> EnvelopeLine | None:
    """Offset and drift of the line under all (header, log − header) points, highest on
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
        return EnvelopeLine(int(ys.min()), 0.0, t0)
    hull = _lower_hull(xs, ys)
    mean_x = float(x.mean())
    # the hull edge spanning the mean time maximises the line's mean subject to staying below
    for a, b in zip(hull[:-1], hull[1:]):
        if xs[a] <= mean_x <= xs[b]:
            break
    slope = (ys[b] - ys[a]) / (xs[b] - xs[a])
    offset = ys[a] - slope * xs[a]
    return EnvelopeLine(int(round(offset)), float(slope * 1e6), t0)


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

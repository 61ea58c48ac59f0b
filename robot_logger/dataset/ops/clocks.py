"""Device clocks: estimate a stream's clock offset and drift from its own messages, correct stamps.

    fix = fit_lower_envelope(header_ns, log_ns)        # ClockFix(offset_ns, drift_ppm, t0_ns)
    corrected = fix.apply(header_ns)                    # on the recorder's (log) clock

A device that stamps with its own unsynchronised clock (a USB camera, a PLC) is corrected
either by a configured constant offset or by the lower-envelope fit of `core.clockfit`
(`auto`): corrected stamps are the times the fastest messages would have been logged.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from robot_logger.core import clockfit
from robot_logger.dataset.schema import ClockMethod

__all__ = ["ClockFix", "NO_FIX", "fixed_offset", "fit_lower_envelope", "offset_stats",
           "OffsetStats"]

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
    """The `auto` correction: `core.clockfit`'s lower-envelope line as a ClockFix; None with
    fewer than 2 stamped messages."""
    line = clockfit.fit_lower_envelope(header_ns, log_ns)
    if line is None:
        return None
    return ClockFix(line.offset_ns, line.drift_ppm, line.t0_ns, ClockMethod.AUTO)


class OffsetStats(NamedTuple):
    """log - header of a topic's stamped messages: count, sum, min, max (ns); `merge` sums two."""

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
    """OffsetStats of the messages with a set stamp. The sum is exact: a stream on sim time (header
    stamps seconds after the sim started, log times on the wall clock, as in a real Gazebo bag)
    has offsets near 1.7e18 ns, and 6 of them already pass int64's 9.2e18, so the int64 sum is
    taken of the high and low 32 bits apart (each fits for up to 2**31 messages)."""
    header_ns = np.asarray(header_ns, np.int64)
    delta = (np.asarray(log_ns, np.int64) - header_ns)[header_ns > 0]
    if len(delta) == 0:
        return OffsetStats()
    total = (int((delta >> 32).sum()) << 32) + int((delta & 0xFFFFFFFF).sum())
    return OffsetStats(len(delta), total, int(delta.min()), int(delta.max()))

"""Device-clock fit: the lower-envelope line of (log - header) against a known offset and drift."""

from __future__ import annotations

import numpy as np

from robot_logger.dataset.ops.clocks import (
    NO_FIX,
    OffsetStats,
    fit_lower_envelope,
    fixed_offset,
    offset_stats,
)
from robot_logger.dataset.schema import ClockMethod

T0 = 1_700_000_000_000_000_000
MS = 1_000_000


def test_the_envelope_recovers_offset_and_drift_with_one_way_latency() -> None:
    rng = np.random.default_rng(1)
    sample = T0 + np.arange(600) * 100 * MS                      # 10 Hz, 60 s
    header = sample + 350 * MS + np.round((sample - T0) * 50e-6).astype(np.int64)
    latency = (2 + rng.exponential(8, len(sample))) * MS        # >= 2 ms, often near it
    log = sample + latency.astype(np.int64)
    fix = fit_lower_envelope(header, log)
    assert fix is not None and fix.method == ClockMethod.AUTO
    corrected = fix.apply(header)
    # one way: corrected = sample + the smallest latency, to within the envelope's noise
    error = corrected - (sample + 2 * MS)
    assert np.abs(error).max() < 1 * MS, np.abs(error).max()
    assert abs(fix.drift_ppm + 50) < 5


def test_fixed_and_no_correction_and_offset_stats() -> None:
    header = np.array([0, T0, T0 + 10 * MS])
    np.testing.assert_array_equal(fixed_offset(-2.5).apply(header),
                                  [0, T0 - 2_500_000, T0 + 7_500_000])
    np.testing.assert_array_equal(NO_FIX.apply(header), header)
    assert fit_lower_envelope(header[:2], header[:2]) is None
    stats = offset_stats(header, header + 5 * MS).merge(OffsetStats())
    assert stats == OffsetStats(2, 10 * MS, 5 * MS, 5 * MS) and stats.mean_ns == 5 * MS


def test_offset_stats_mean_of_sim_time_stamps_does_not_overflow() -> None:
    # A real `ros2 bag record` of a Gazebo sim (tests/data/real-bags/tb3_walker_gazebo_humble):
    # header stamps on sim time (seconds since the sim started), log times on the wall clock, so
    # log - header is ~1.7e18 ns; 598 of them sum past int64 (9.2e18), which wrapped the mean
    # below the minimum in the build summary.
    header = (100 + np.arange(598) * 34) * MS
    log = T0 + header + 2 * MS
    stats = offset_stats(header, log)
    assert stats.min_ns == stats.max_ns == T0 + 2 * MS
    assert stats.total_ns == 598 * (T0 + 2 * MS)
    assert stats.mean_ns == float(T0 + 2 * MS)

"""robot_logger.bag.streamstats: timing figures of one stream from its stamps."""

from __future__ import annotations

import numpy as np

from robot_logger.bag.streamstats import GAP_FACTOR, stream_stats

MS = 1_000_000


def test_regular_stream_with_header_stamps():
    stamp = 10**18 + np.arange(101, dtype=np.int64) * 2 * MS
    s = stream_stats(stamp + 3 * MS, stamp)
    assert (s.count, s.clock, s.first_ns) == (101, "header", 10**18)
    assert s.rate_hz == 500.0
    assert s.period_p50_ns == s.period_p99_ns == 2 * MS
    assert (s.gap_count, s.gap_total_ns, s.gaps) == (0, 0, [])
    assert s.latency_p50_ns == s.latency_p99_ns == 3 * MS
    assert (s.backwards, s.duplicates, s.zero_stamps) == (0, 0, 0)


def test_gaps_are_periods_longer_than_three_median_periods():
    stamp = np.arange(100, dtype=np.int64) * 10 * MS
    stamp[50:] += 45 * MS            # one 55 ms period: a gap (> 30 ms)
    stamp[80:] += 15 * MS            # one 25 ms period: not a gap
    s = stream_stats(stamp, stamp)
    assert GAP_FACTOR == 3.0
    assert s.gap_count == 1
    assert s.gaps == [(int(stamp[49]), 55 * MS)]
    assert s.gap_total_ns == 45 * MS


def test_out_of_order_and_duplicated_stamps_are_counted():
    stamp = 10**9 + np.arange(20, dtype=np.int64) * 10 * MS
    disordered = np.concatenate([stamp[:5], stamp[6:7], stamp[5:6], stamp[7:], stamp[10:12]])
    s = stream_stats(np.arange(disordered.size) * MS, disordered)
    assert s.backwards == 2          # 5 after 6, and 10 after 19
    assert s.duplicates == 2
    assert s.period_p50_ns == 10 * MS     # measured on the sorted distinct stamps


def test_zero_header_stamps_fall_back_to_log_time():
    log = np.arange(10, dtype=np.int64) * 100 * MS
    s = stream_stats(log, np.zeros(10, np.int64))
    assert (s.clock, s.zero_stamps, s.rate_hz) == ("log", 10, 10.0)
    assert s.latency_p50_ns is None and s.backwards is None and s.duplicates is None


def test_empty_single_and_zero_duration_streams_do_not_divide_by_zero():
    empty = stream_stats(np.empty(0, np.int64), np.empty(0, np.int64))
    assert (empty.count, empty.rate_hz, empty.period_p50_ns) == (0, None, None)
    assert empty.first_ns is None
    one = stream_stats(np.array([5], np.int64))
    assert (one.count, one.rate_hz, one.gap_count) == (1, None, 0)
    same = stream_stats(np.full(4, 7, np.int64), np.full(4, 7, np.int64))
    assert (same.rate_hz, same.duplicates, same.period_p50_ns) == (None, 3, None)


def test_to_dict_is_json_ready():
    s = stream_stats(np.array([0, 10, 20, 30, 130], np.int64) * MS)
    d = s.to_dict()
    assert d["gaps"] == [[30 * MS, 100 * MS]] and d["clock"] == "log"

"""Property tests of the reference clock and of every frame's choice, against brute force.

Random episode boundaries, rates from 1 to 120 Hz (integer, decimal and NTSC-like fractions),
tolerances and streams with gaps. The oracle below is written from the rules in
docs/build-config.md with exact rational arithmetic and plain loops; it shares no code with `align`
or `FrameSelector`. Bounded (short episodes, few samples, few examples) so the file runs in a few
seconds.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robot_logger.dataset.ops.align import align, reference_times
from robot_logger.dataset.ops.frames import FrameSelector

MS = 1_000_000
SECOND = 10**9
DENOMINATORS = (1, 2, 3, 4, 7, 10, 100, 1001)


@st.composite
def rates(draw: st.DrawFn) -> Fraction:
    """A rate in [1, 120] Hz as an exact fraction: 7, 12.5, 29.97, 30000/1001, 13/7, ..."""
    den = draw(st.sampled_from(DENOMINATORS))
    num = draw(st.integers(den, 120 * den))
    return Fraction(num, den)


def oracle_count(start_ns: int, end_ns: int, rate: Fraction) -> int:
    """floor((end - start) * rate) + 1 frames, (end - start) in s, all in integers."""
    return (end_ns - start_ns) * rate.numerator // (SECOND * rate.denominator) + 1


def oracle_time(start_ns: int, k: int, rate: Fraction) -> int:
    """Frame k at start + k / rate, rounded to the nearest ns, halves up."""
    return start_ns + math.floor(Fraction(k * SECOND) / rate + Fraction(1, 2))


def oracle_nearest(ref: int, stamps: list[int]) -> int:
    best = 0
    for i, stamp in enumerate(stamps):
        if abs(stamp - ref) < abs(stamps[best] - ref):   # strict: the earlier one wins a tie
            best = i
    return best


def oracle_previous(ref: int, stamps: list[int]) -> int | None:
    found = None
    for i, stamp in enumerate(stamps):
        if stamp <= ref:
            found = i
    return found


def oracle_frame(ref: int, stamps: list[int], values: list[float], method: str,
                 tol: int) -> tuple[int, bool, float]:
    """(index of the sample shown as the choice, valid, value) for one reference time."""
    near = oracle_nearest(ref, stamps)
    if method == "nearest":
        return near, abs(stamps[near] - ref) <= tol, values[near]
    if method == "previous":
        prev = oracle_previous(ref, stamps)
        if prev is None:                                  # never from the future
            return 0, False, values[0]
        return prev, ref - stamps[prev] <= tol, values[prev]
    for i, stamp in enumerate(stamps):                   # interpolate
        if stamp == ref:
            return near, True, values[i]
    for i in range(len(stamps) - 1):
        lo, hi = stamps[i], stamps[i + 1]
        if lo < ref < hi and ref - lo <= tol and hi - ref <= tol:
            weight = (ref - lo) / (hi - lo)
            return near, True, values[i] + (values[i + 1] - values[i]) * weight
    return near, False, values[near]


def spans(most_s: int) -> st.SearchStrategy[int]:
    """Episode lengths (ns): whole s or ms (where float quotients lost the last frame), any ns."""
    return st.one_of(st.integers(0, most_s).map(lambda s: s * SECOND),
                     st.integers(0, most_s * 1000).map(lambda ms: ms * MS),
                     st.integers(0, most_s * SECOND))


@st.composite
def streams(draw: st.DrawFn, start_ns: int, end_ns: int) -> list[int]:
    """Sorted unique stamps around [start, end]: a steady rate with jitter, gaps and outliers."""
    span = end_ns - start_ns
    period = draw(st.integers(2 * MS, 400 * MS))
    jitter = draw(st.integers(0, period // 3))
    first = start_ns - draw(st.integers(0, 500 * MS))
    base = np.arange(first, end_ns + 500 * MS, period, dtype=np.int64)[:80]
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    stamps = base + rng.integers(-jitter, jitter + 1, len(base))
    for _ in range(draw(st.integers(0, 3))):              # outages of up to a second
        gap_start = start_ns + draw(st.integers(-100 * MS, max(span, 0) + 100 * MS))
        gap_len = draw(st.integers(0, SECOND))
        stamps = stamps[(stamps < gap_start) | (stamps >= gap_start + gap_len)]
    extra = draw(st.lists(st.integers(start_ns - SECOND, end_ns + SECOND), max_size=5))
    stamps = np.unique(np.concatenate([stamps, np.asarray(extra, np.int64)]))
    if len(stamps) == 0:
        stamps = np.array([start_ns + draw(st.integers(-SECOND, SECOND))], np.int64)
    return [int(s) for s in stamps]


@settings(max_examples=300, deadline=None)
@given(start_ns=st.integers(0, 2 * 10**18), span_ns=spans(3600),
       rate=rates(), data=st.data())
def test_reference_times_count_and_times_are_exact(start_ns: int, span_ns: int, rate: Fraction,
                                                   data: st.DataObject) -> None:
    end_ns = start_ns + span_ns
    ref = reference_times(start_ns, end_ns, float(rate))
    count = oracle_count(start_ns, end_ns, rate)
    assert len(ref) == count
    assert ref.dtype == np.int64 and ref[0] == start_ns and ref[-1] <= end_ns
    for k in {0, count - 1, data.draw(st.integers(0, count - 1))}:
        assert int(ref[k]) == oracle_time(start_ns, k, rate)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start_ns=st.integers(0, 2 * 10**18), span_ns=spans(4), rate=rates(),
       tol_ms=st.integers(0, 300), method=st.sampled_from(["nearest", "previous", "interpolate"]),
       data=st.data())
def test_every_frame_choice_equals_the_brute_force_oracle(
        start_ns: int, span_ns: int, rate: Fraction, tol_ms: int, method: str,
        data: st.DataObject) -> None:
    end_ns = start_ns + span_ns
    stamps = data.draw(streams(start_ns, end_ns))
    values = [float(i * i % 17) - 0.25 * i for i in range(len(stamps))]
    tol = tol_ms * MS
    ref = reference_times(start_ns, end_ns, float(rate))
    assert len(ref) == oracle_count(start_ns, end_ns, rate)
    out = align(ref, np.asarray(stamps, np.int64), np.asarray(values), method=method,
                tolerance_ns=tol)
    expected = [oracle_frame(oracle_time(start_ns, k, rate), stamps, values, method, tol)
                for k in range(len(ref))]
    assert out.valid.tolist() == [valid for _i, valid, _v in expected]
    np.testing.assert_allclose(out.values, [value for _i, _valid, value in expected],
                               rtol=1e-9, atol=1e-9)
    if method == "interpolate":
        return
    # the streaming selector sees the same stamps arrive late and out of order
    latency = data.draw(st.lists(st.integers(0, 60 * MS), min_size=len(stamps),
                                 max_size=len(stamps)))
    arrivals = sorted(zip(stamps, (s + lat for s, lat in zip(stamps, latency))),
                      key=lambda a: a[1])
    selector = FrameSelector(ref, method=method, tolerance_ns=tol, margin_ns=60 * MS)
    chosen: dict[int, int] = {}
    for stamp, log in arrivals:
        chosen.update((i, raw) for i, _key, raw in selector.add(stamp, log, stamp))
    chosen.update((i, raw) for i, _key, raw in selector.flush())
    assert [chosen[k] for k in range(len(ref))] == [stamps[i] for i, _v, _x in expected]
    assert selector.valid.tolist() == out.valid.tolist()

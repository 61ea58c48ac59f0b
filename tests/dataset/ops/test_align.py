"""Time alignment (pure numpy) and streaming frame selection, against brute-force definitions."""

from __future__ import annotations

import numpy as np
import pytest

from robot_logger.dataset.ops.align import (
    align,
    align_joints,
    choose,
    clean_order,
    effective_stamps,
    reference_times,
)
from robot_logger.dataset.ops.clocks import fixed_offset
from robot_logger.dataset.ops.frames import FrameSelector
from robot_logger.dataset.schema import TimeSource

MS = 1_000_000


def brute_nearest(ref: int, stamps: np.ndarray) -> int:
    """Index of the nearest stamp; the earlier one on a tie."""
    return min(range(len(stamps)), key=lambda i: (abs(int(stamps[i]) - ref), stamps[i]))


def brute_previous(ref: int, stamps: np.ndarray) -> int | None:
    before = [i for i in range(len(stamps)) if stamps[i] <= ref]
    return max(before, key=lambda i: stamps[i]) if before else None


def test_reference_times_cover_the_episode() -> None:
    ref = reference_times(1_000, 1_000 + 1_000 * MS, 10)
    assert ref[0] == 1_000 and ref[-1] == 1_000 + 1_000 * MS and len(ref) == 11
    assert np.all(np.diff(ref) == 100 * MS)
    thirty = reference_times(0, 10**9, 30)
    assert len(thirty) == 31 and thirty[-1] == 10**9  # no drift from a rounded period
    assert len(reference_times(5, 4, 10)) == 0


def test_clean_order_sorts_and_drops_duplicate_stamps() -> None:
    stamps = np.array([30, 10, 20, 10, 40, 30])
    order = clean_order(stamps)
    assert stamps[order].tolist() == [10, 20, 30, 40]
    assert order.tolist() == [1, 2, 0, 4]  # first arrival of each duplicate kept


def test_effective_stamps_fall_back_to_log_time_for_zero_stamps() -> None:
    assert effective_stamps(np.array([0, 5, 0]), np.array([7, 8, 9])).tolist() == [7, 5, 9]


def test_effective_stamps_correct_the_clock_and_fall_back_where_the_result_is_not_a_time() -> None:
    """A stamp the correction puts at or before 0 is no time either: log time, as for unset."""
    header, log = np.array([0, 2 * MS, 3 * MS, 9 * MS]), np.array([7, 8, 9, 10]) * MS
    fix = fixed_offset(-3.0)
    assert effective_stamps(header, log, fix).tolist() == [7 * MS, 8 * MS, 9 * MS, 6 * MS]
    assert effective_stamps(header, log, fix, TimeSource.LOG).tolist() == log.tolist()


@pytest.mark.parametrize("seed", range(5))
def test_choose_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    stamps = np.unique(rng.integers(0, 1000, 40))
    ref = rng.integers(-50, 1050, 60)
    tol = 15
    idx, valid, age = choose(ref, stamps, "nearest", tol)
    for r, i, v, a in zip(ref, idx, valid, age):
        assert i == brute_nearest(int(r), stamps)
        assert a == stamps[i] - r and v == (abs(a) <= tol)
    idx, valid, age = choose(ref, stamps, "previous", tol)
    for r, i, v, a in zip(ref, idx, valid, age):
        expected = brute_previous(int(r), stamps)
        if expected is None:  # nothing before: hold the first sample, marked invalid
            assert i == 0 and not v and a > 0
        else:
            assert i == expected and a <= 0 and v == (-a <= tol)


def test_nearest_tie_takes_the_earlier_sample() -> None:
    idx, _, _ = choose(np.array([15]), np.array([10, 20]), "nearest", 100)
    assert idx.tolist() == [0]


def test_interpolate_is_exact_on_linear_signals_and_invalid_across_gaps() -> None:
    stamps = np.array([0, 10, 20, 30, 100, 110]) * MS
    values = np.stack([stamps / MS * 0.5, -stamps / MS], axis=1)
    ref = np.array([0, 5, 25, 40, 65, 95, 105, 120]) * MS
    out = align(ref, stamps, values, method="interpolate", tolerance_ns=20 * MS)
    assert out.valid.tolist() == [True, True, True, False, False, False, True, False]
    good = out.valid
    np.testing.assert_allclose(out.values[good, 0], ref[good] / MS * 0.5)
    np.testing.assert_allclose(out.values[good, 1], -ref[good] / MS)
    # invalid frames hold the nearest sample's value, never NaN
    assert out.values[3, 0] == values[3, 0] and out.values[5, 0] == values[4, 0]
    assert out.values[7, 0] == values[5, 0] and np.isfinite(out.values).all()
    assert out.age_ns.tolist() == [0, -5 * MS, -5 * MS, -10 * MS, -35 * MS, 5 * MS, -5 * MS,
                                   -10 * MS]


def test_interpolate_exact_hit_needs_no_neighbour() -> None:
    out = align(np.array([100]), np.array([0, 100]), np.array([[1.0], [2.0]]),
                method="interpolate", tolerance_ns=10)
    assert out.valid.tolist() == [True] and out.values[0, 0] == 2.0


def test_align_without_samples_is_zero_and_invalid() -> None:
    out = align(np.array([1, 2]), np.zeros(0, np.int64), np.zeros((0, 3)), method="nearest",
                tolerance_ns=5)
    assert out.values.shape == (2, 3) and not out.valid.any() and not out.values.any()


def test_align_joints_sampled_at_different_times() -> None:
    ref = np.array([10, 20, 30]) * MS
    j1 = (np.array([0, 10, 20, 30, 40]) * MS, np.array([0.0, 1, 2, 3, 4]))
    # joint 2 arrives out of order, duplicated, and stops after 15 ms
    j2 = (np.array([15, 5, 5]) * MS, np.array([1.5, 0.5, 9.9]))
    out = align_joints(ref, [j1, j2], method="interpolate", tolerance_ns=8 * MS)
    np.testing.assert_allclose(out.values[:, 0], [1, 2, 3])
    np.testing.assert_allclose(out.values[0, 1], 1.0)      # between 5 ms (0.5) and 15 ms (1.5)
    assert out.valid.tolist() == [True, False, False]
    assert out.age_ns.tolist() == [-5 * MS, -5 * MS, -15 * MS]
    assert np.isfinite(out.values).all()


def run_selector(ref: np.ndarray, arrivals: list[tuple[int, int]], method: str, tol: int,
                 margin: int) -> tuple[dict[int, int], FrameSelector]:
    chosen: dict[int, int] = {}
    selector = FrameSelector(ref, method=method, tolerance_ns=tol, margin_ns=margin)
    for stamp, log in arrivals:
        final = selector.add(stamp, log, stamp)   # the "raw message" is its own stamp
        chosen.update((i, raw) for i, _key, raw in final)
    chosen.update((i, raw) for i, _key, raw in selector.flush())
    return chosen, selector


@pytest.mark.parametrize("method", ["nearest", "previous"])
@pytest.mark.parametrize("seed", range(4))
def test_streaming_selection_equals_choose_on_all_candidates(method: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    stamps = np.sort(rng.choice(np.arange(0, 3000), 90, replace=False)) * MS
    stamps = stamps[(stamps < 1000 * MS) | (stamps > 1400 * MS)]          # an outage
    latency = rng.integers(1, 40, len(stamps)) * MS
    arrivals = sorted(zip(stamps.tolist(), (stamps + latency).tolist()), key=lambda a: a[1])
    arrivals.insert(10, arrivals[10])                                     # a duplicate
    ref = reference_times(100 * MS, 2900 * MS, 10)
    chosen, selector = run_selector(ref, arrivals, method, 30 * MS, margin=50 * MS)
    idx, valid, age = choose(ref, stamps, method, 30 * MS)
    assert [chosen[i] for i in range(len(ref))] == stamps[idx].tolist()
    assert selector.valid.tolist() == valid.tolist() and selector.age_ns.tolist() == age.tolist()
    assert not valid.all()


def test_selector_emits_frames_while_streaming_and_keeps_a_small_buffer() -> None:
    ref = reference_times(0, 10_000 * MS, 10)
    stamps = np.arange(0, 10_000 * MS, 33 * MS)
    emitted: list[int] = []
    selector = FrameSelector(ref, method="nearest", tolerance_ns=20 * MS, margin_ns=100 * MS)
    largest = 0
    for stamp in stamps.tolist():
        emitted += [i for i, _key, _raw in selector.add(stamp, stamp + 5 * MS, stamp)]
        largest = max(largest, len(selector._stamps))
    assert len(emitted) > len(ref) - 3        # all but the last few final before the flush
    assert largest <= 8                       # ~ (tolerance + margin) / period frames buffered
    emitted += [i for i, _key, _raw in selector.flush()]
    assert emitted == list(range(len(ref)))


@pytest.mark.parametrize(("rate_hz", "seconds"), [(7, 9), (13, 5), (14, 3), (45, 7), (90, 11)])
def test_reference_times_keep_the_last_frame_of_whole_second_episodes(
        rate_hz: int, seconds: int) -> None:
    # 7 Hz over 9 s: 9e9 / (1e9 / 7) is 62.999... in float64, which dropped the frame at the end
    ref = reference_times(0, seconds * 10**9, rate_hz)
    assert len(ref) == rate_hz * seconds + 1
    assert ref[-1] == seconds * 10**9

"""RunningStats: exact moments, bounded quantile error, merge = one pass, state round trip."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_logger.dataset.ops.stats import RunningStats
from robot_logger.errors import DatasetError


def _stats_of(*chunks: np.ndarray, bins: int = 1024) -> RunningStats:
    stats = RunningStats(bins)
    for chunk in chunks:
        stats.update(chunk)
    return stats


def _bin_width_bound(values: np.ndarray, bins: int) -> np.ndarray:
    span = values.max(axis=0) - values.min(axis=0)
    return 2 * span / (bins - 1) + 1e-12


def test_moments_match_numpy() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(3.0, 2.0, size=(5000, 2, 3))
    result = _stats_of(values[:1234], values[1234:]).to_dict()
    np.testing.assert_allclose(result["mean"], values.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(result["std"], values.std(axis=0), rtol=1e-5)
    np.testing.assert_array_equal(result["min"], values.min(axis=0).astype(np.float32))
    np.testing.assert_array_equal(result["max"], values.max(axis=0).astype(np.float32))
    assert all(v.dtype == np.float32 and v.shape == (2, 3) for v in result.values())


@pytest.mark.parametrize("bins", [16, 1024])
def test_quantiles_within_documented_bound(bins: int) -> None:
    rng = np.random.default_rng(1)
    values = np.column_stack([rng.normal(0, 1, 20000), rng.exponential(5.0, 20000),
                              rng.uniform(-1e3, 1e3, 20000), rng.integers(0, 4, 20000)])
    stats = _stats_of(*np.array_split(values, 7), bins=bins)
    bound = _bin_width_bound(values, bins)
    for name, q in (("q01", 0.01), ("q99", 0.99)):
        error = np.abs(stats.to_dict()[name] - np.quantile(values, q, axis=0))
        assert np.all(error <= bound + 1e-5 * np.abs(values).max(axis=0)), (name, error, bound)


def test_constant_feature_is_exact() -> None:
    values = np.full((100, 2), 7.25)
    result = _stats_of(values).to_dict()
    for name in ("mean", "min", "max", "q01", "q99"):
        np.testing.assert_array_equal(result[name], np.float32(7.25))
    np.testing.assert_array_equal(result["std"], 0.0)


def test_non_finite_values_are_skipped() -> None:
    values = np.array([[1.0, np.nan], [3.0, 2.0], [np.inf, 4.0]])
    result = _stats_of(values).to_dict()
    np.testing.assert_allclose(result["mean"], [2.0, 3.0])
    np.testing.assert_allclose(result["max"], [3.0, 4.0])


def test_feature_never_finite_reports_nan() -> None:
    result = _stats_of(np.array([[1.0, np.nan], [2.0, np.nan]])).to_dict()
    assert np.isfinite(result["mean"][0]) and np.isnan(result["mean"][1])
    assert np.isnan(result["q99"][1])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.floats(-1e6, 1e6), min_size=0, max_size=30), min_size=1, max_size=6),
       st.randoms(use_true_random=False))
def test_merge_in_any_order_equals_one_pass(chunks: list[list[float]], rnd) -> None:
    arrays = [np.asarray(c, np.float64).reshape(-1, 1) for c in chunks]
    one_pass = _stats_of(np.concatenate(arrays), bins=32)
    parts = [_stats_of(a, bins=32) for a in arrays]
    rnd.shuffle(parts)
    merged = RunningStats(32)
    for part in parts:
        merged.merge(RunningStats.from_state(part.state()))
    if one_pass.count == 0:
        assert merged.count == 0
        return
    # The histogram and extremes are a function of the multiset of values, not of the order.
    for key in ("count", "min", "max", "hist_exp", "hist"):
        np.testing.assert_array_equal(merged.state()[key], one_pass.state()[key])
    np.testing.assert_allclose(merged.state()["mean"], one_pass.state()["mean"], atol=1e-6)
    np.testing.assert_allclose(merged.state()["m2"], one_pass.state()["m2"], rtol=1e-6, atol=1e-3)


def test_state_round_trip_and_same_input_same_output() -> None:
    values = np.random.default_rng(2).normal(size=(300, 4)).astype(np.float32)
    first, second = _stats_of(values[:100], values[100:]), _stats_of(values[:100], values[100:])
    restored = RunningStats.from_state(first.state())
    for key, array in first.state().items():
        np.testing.assert_array_equal(array, second.state()[key])
        np.testing.assert_array_equal(array, restored.state()[key])
    assert all(isinstance(v, np.ndarray) for v in first.state().values())


def test_empty_stats_merge_and_report() -> None:
    empty = RunningStats.from_state(RunningStats(64).state())
    assert empty.count == 0
    full = _stats_of(np.arange(10.0).reshape(-1, 1), bins=64)
    full.merge(empty)
    empty.merge(full)
    np.testing.assert_array_equal(empty.state()["hist"], full.state()["hist"])
    with pytest.raises(DatasetError, match="no values"):
        RunningStats().to_dict()


def test_mismatches_are_dataset_errors() -> None:
    with pytest.raises(DatasetError, match="shape"):
        _stats_of(np.zeros((2, 3))).update(np.zeros((2, 4)))
    with pytest.raises(DatasetError, match="bins"):
        RunningStats(8).merge(RunningStats(16))
    with pytest.raises(DatasetError, match="incomplete"):
        RunningStats.from_state({"bins": np.array(8), "shape": np.array([2])})

"""Mergeable per-feature statistics of array streams, for `/meta/stats` and sharded builds.

`RunningStats` accumulates, over axis 0 of `(N, ...)` arrays, the sufficient statistics of
every feature (each element of the trailing shape): finite-value count, mean and sum of squared
deviations (Welford/Chan, numerically stable), min, max, and a quantile sketch for q01/q99.
Non-finite values are skipped. Two accumulators merge as if one had seen both inputs (counts,
extremes and sketch exactly; mean and std up to float rounding), so a sharded build can store
`state()` per shard and combine the shards with `from_state()` + `merge()`.

The quantile sketch is a histogram with a fixed number of bins `B` on a power-of-two grid: bin
`j` holds values in `[j * 2**k, (j + 1) * 2**k)`, and `k` is the smallest exponent for which
`[min, max]` spans fewer than `B` bins (never finer than 2**-50 of the largest magnitude).
Coarsening the grid (k -> k+1) merges bins pairwise without loss, so the sketch is a pure
function of the multiset of values seen: independent of batch sizes and merge order.
Error bound: a quantile lies within one bin width of the `np.quantile` value (linear
interpolation), i.e. within `2 * (max - min) / (B - 1)`: 0.2 % of the range for B = 1024.

    stats = RunningStats()
    for chunk in chunks:
        stats.update(chunk)                # (N, 6) float
    stats.to_dict()["q99"]                 # (6,) float32
"""

from __future__ import annotations

import numpy as np

from robot_logger.errors import DatasetError

__all__ = ["RunningStats", "DEFAULT_BINS"]

DEFAULT_BINS = 1024
_MANTISSA_BITS = 50  # finest bin: 2**-50 of the largest magnitude; keeps bin indices in int64
_QUANTILES = {"q01": 0.01, "q99": 0.99}


def _grid_exponent(lo: np.ndarray, hi: np.ndarray, floor_k: np.ndarray, bins: int) -> np.ndarray:
    """Smallest k >= floor_k with floor(hi / 2**k) - floor(lo / 2**k) < bins, per feature."""
    magnitude = np.maximum(np.abs(lo), np.abs(hi))
    k: np.ndarray = np.maximum(floor_k, np.frexp(magnitude)[1].astype(np.int64) - _MANTISSA_BITS)
    span = hi - lo
    with np.errstate(divide="ignore"):
        guess = np.floor(np.log2(np.where(span > 0, span, 1.0) / bins)).astype(np.int64) - 1
    k = np.maximum(k, np.where(span > 0, guess, k))
    while True:
        too_wide = (np.floor(np.ldexp(hi, -k)) - np.floor(np.ldexp(lo, -k))) >= bins
        if not too_wide.any():
            return k
        k = k + too_wide


class RunningStats:
    """Count, mean, std, min, max and q01/q99 per feature over axis 0; mergeable, deterministic."""

    def __init__(self, bins: int = DEFAULT_BINS) -> None:
        if bins < 2:
            raise ValueError(f"a quantile sketch needs at least 2 bins, got {bins}")
        self.bins = int(bins)
        self.shape: tuple[int, ...] | None = None  # trailing shape, fixed by the first update

    @property
    def count(self) -> int:
        """Number of rows seen (the largest finite-value count over features)."""
        return 0 if self.shape is None else int(self._n.max(initial=0))

    def _init(self, shape: tuple[int, ...]) -> None:
        features = int(np.prod(shape, dtype=np.int64))
        self.shape = shape
        self._n = np.zeros(features, np.int64)
        self._mean = np.zeros(features, np.float64)
        self._m2 = np.zeros(features, np.float64)
        self._min = np.full(features, np.inf)
        self._max = np.full(features, -np.inf)
        self._exp = np.full(features, np.iinfo(np.int32).min, np.int64)
        self._hist = np.zeros((features, self.bins), np.int64)

    def _check_shape(self, shape: tuple[int, ...]) -> None:
        if self.shape is None:
            self._init(shape)
        elif shape != self.shape:
            raise DatasetError(f"statistics over shape {shape} cannot join those over "
                               f"{self.shape}")

    def update(self, values: np.ndarray) -> None:
        """Add the rows of a `(N, ...)` array (N may be 0); non-finite values are skipped."""
        values = np.asarray(values, dtype=np.float64)
        if values.ndim == 0:
            raise ValueError("RunningStats.update needs an (N, ...) array, got a scalar")
        self._check_shape(values.shape[1:])
        flat = values.reshape(len(values), self._n.size)
        finite = np.isfinite(flat)
        n = finite.sum(axis=0)
        if not n.any():
            return
        safe = np.where(finite, flat, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n > 0, safe.sum(axis=0) / np.maximum(n, 1), 0.0)
        m2 = (np.where(finite, flat - mean, 0.0) ** 2).sum(axis=0)
        lo = np.where(finite, flat, np.inf).min(axis=0)
        hi = np.where(finite, flat, -np.inf).max(axis=0)
        self._combine(n, mean, m2, lo, hi)
        rows, cols = np.nonzero(finite)
        self._add_to_histogram(cols, flat[rows, cols])

    def merge(self, other: RunningStats) -> None:
        """Add everything `other` has seen, exactly as if its inputs had been given to `update`."""
        if other.bins != self.bins:
            raise DatasetError(f"cannot merge statistics with {other.bins} and {self.bins} bins")
        if other.shape is None:
            return
        self._check_shape(other.shape)
        self._combine(other._n, other._mean, other._m2, other._min, other._max)
        # The union's grid is at least as coarse as either side's, so `other` regrids losslessly.
        other_hist = _regridded(other._hist, other._exp, other._min, self._exp, self._min)
        self._hist += other_hist

    def _combine(self, n: np.ndarray, mean: np.ndarray, m2: np.ndarray,
                 lo: np.ndarray, hi: np.ndarray) -> None:
        """Chan et al. parallel update of count/mean/M2, then widen the histogram grid."""
        total = self._n + n
        safe_total = np.maximum(total, 1)
        delta = mean - self._mean
        self._mean = self._mean + delta * n / safe_total
        self._m2 = self._m2 + m2 + delta**2 * self._n * n / safe_total
        self._n = total
        old_min = self._min.copy()
        old_exp = self._exp.copy()
        self._min = np.minimum(self._min, lo)
        self._max = np.maximum(self._max, hi)
        self._regrid(old_exp, old_min)

    def _regrid(self, old_exp: np.ndarray, old_min: np.ndarray) -> None:
        """Coarsen the histogram to the grid that the current [min, max] needs."""
        seen = self._n > 0
        new_exp = self._exp.copy()
        new_exp[seen] = _grid_exponent(self._min[seen], self._max[seen], self._exp[seen],
                                       self.bins)
        self._hist = _regridded(self._hist, old_exp, old_min, new_exp, self._min)
        self._exp = new_exp

    def _add_to_histogram(self, features: np.ndarray, values: np.ndarray) -> None:
        exp = self._exp[features]
        base = np.floor(np.ldexp(self._min[features], -exp)).astype(np.int64)
        index = np.floor(np.ldexp(values, -exp)).astype(np.int64) - base
        flat = np.bincount(features * self.bins + index, minlength=self._hist.size)
        self._hist += flat.reshape(self._hist.shape)

    def to_dict(self) -> dict[str, np.ndarray]:
        """mean, std (population), min, max, q01, q99 as float32 arrays of the trailing shape."""
        if self.shape is None:
            raise DatasetError("no values were seen: statistics are undefined")
        with np.errstate(invalid="ignore", divide="ignore"):
            empty = self._n == 0
            result = {
                "mean": np.where(empty, np.nan, self._mean),
                "std": np.where(empty, np.nan, np.sqrt(self._m2 / np.maximum(self._n, 1))),
                "min": np.where(empty, np.nan, self._min),
                "max": np.where(empty, np.nan, self._max),
            }
        for name, q in _QUANTILES.items():
            result[name] = self.quantile(q)
        return {k: v.astype(np.float32).reshape(self.shape) for k, v in result.items()}

    def quantile(self, q: float) -> np.ndarray:
        """Per-feature quantile (float64, flat), within one bin width of `np.quantile(..., q)`."""
        if self.shape is None or not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile {q} of {'empty ' if self.shape is None else ''}statistics")
        rank = q * (self._n - 1)
        lower = _order_statistic(self._hist, np.floor(rank), self._exp, self._min)
        upper = _order_statistic(self._hist, np.ceil(rank), self._exp, self._min)
        value = lower + (rank - np.floor(rank)) * (upper - lower)
        return np.where(self._n > 0, np.clip(value, self._min, self._max), np.nan)

    def state(self) -> dict[str, np.ndarray]:
        """Sufficient statistics as plain numpy arrays (e.g. one HDF5 group per shard)."""
        if self.shape is None:
            return {"bins": np.array(self.bins, np.int64)}
        return {
            "bins": np.array(self.bins, np.int64),
            "shape": np.array(self.shape, np.int64),
            "count": self._n.copy(),
            "mean": self._mean.copy(),
            "m2": self._m2.copy(),
            "min": self._min.copy(),
            "max": self._max.copy(),
            "hist_exp": self._exp.copy(),
            "hist": self._hist.copy(),
        }

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> RunningStats:
        """Rebuild an accumulator from `state()`; DatasetError on missing or mismatched arrays."""
        try:
            stats = cls(int(np.asarray(state["bins"])))
            if "shape" not in state:
                return stats
            stats._init(tuple(int(d) for d in np.asarray(state["shape"]).reshape(-1)))
            features = stats._n.size
            for name, attr, dtype in (("count", "_n", np.int64), ("mean", "_mean", np.float64),
                                      ("m2", "_m2", np.float64), ("min", "_min", np.float64),
                                      ("max", "_max", np.float64), ("hist_exp", "_exp", np.int64)):
                setattr(stats, attr, np.asarray(state[name], dtype).reshape(features))
            stats._hist = np.asarray(state["hist"], np.int64).reshape(features, stats.bins)
        except (KeyError, ValueError, TypeError) as err:
            raise DatasetError(f"statistics state is incomplete or inconsistent: {err}") from err
        return stats


def _regridded(hist: np.ndarray, old_exp: np.ndarray, old_min: np.ndarray,
               new_exp: np.ndarray, new_min: np.ndarray) -> np.ndarray:
    """Move counts from grid (old_exp, origin floor(old_min)) to the coarser (new_exp, new_min)."""
    moved = (old_exp != new_exp) | (old_min != new_min)
    if not moved.any():
        return hist
    features, bins = hist.shape
    out: np.ndarray = hist.copy()
    rows = np.nonzero(moved & np.isfinite(old_min))[0]
    out[moved] = 0
    if rows.size:
        old_base = np.floor(np.ldexp(old_min[rows], -old_exp[rows])).astype(np.int64)
        new_base = np.floor(np.ldexp(new_min[rows], -new_exp[rows])).astype(np.int64)
        absolute = old_base[:, None] + np.arange(bins)
        target = (absolute >> (new_exp[rows] - old_exp[rows])[:, None]) - new_base[:, None]
        target = np.minimum(target, bins - 1)  # only empty bins lie beyond the new range
        flat = (np.arange(rows.size)[:, None] * bins + target).ravel()
        summed = np.bincount(flat, weights=hist[rows].ravel(), minlength=rows.size * bins)
        out[rows] = np.rint(summed).astype(np.int64).reshape(rows.size, bins)
    return out


def _order_statistic(hist: np.ndarray, rank: np.ndarray, exp: np.ndarray,
                     lo: np.ndarray) -> np.ndarray:
    """Value of the rank-th smallest sample (0-based), placed inside its bin by its rank there."""
    cumulative = np.cumsum(hist, axis=1)
    rank = np.maximum(rank, 0)
    index = np.minimum((cumulative <= rank[:, None]).sum(axis=1), hist.shape[1] - 1)
    rows = np.arange(hist.shape[0])
    before = cumulative[rows, index] - hist[rows, index]
    inside = hist[rows, index]
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(inside > 0, (rank - before + 0.5) / np.maximum(inside, 1), 0.5)
    width = np.ldexp(1.0, exp)
    base = np.floor(np.ldexp(np.where(np.isfinite(lo), lo, 0.0), -exp))
    value: np.ndarray = (base + index + fraction) * width
    return value

"""Time alignment: put samples of one stream on the reference clock (pure, vectorised numpy).

    ref_ns = reference_times(start_ns, end_ns, rate_hz=10)
    order = clean_order(stamps_ns)                      # sort by stamp, drop duplicate stamps
    out = align(ref_ns, stamps_ns[order], values[order], method="interpolate",
                tolerance_ns=20_000_000)
    out.values, out.valid, out.age_ns

Rules (docs/build-config.md): `nearest` takes the sample closest in time (the earlier one on a
tie); `previous` the latest sample at or before the reference time (sample-and-hold, never from the
future); `interpolate` is linear between the two samples around the reference time. A frame is
valid when the sample(s) it uses lie within the tolerance; an invalid frame holds the nearest
sample's value, so arrays stay dense and NaN-free. `age_ns` is sample time minus reference time
(for interpolate: of the nearer of the two samples used).
"""

from __future__ import annotations

from fractions import Fraction
from typing import NamedTuple

import numpy as np

from robot_logger.dataset.ops.clocks import NO_FIX, ClockFix
from robot_logger.dataset.schema import TimeSource

__all__ = ["Aligned", "rate_fraction", "reference_times", "effective_stamps", "clean_order",
           "choose", "align", "align_joints", "best_valid_share", "tolerance_for_every_frame"]


class Aligned(NamedTuple):
    """One stream on the reference clock: values (T, ...), valid (T,) bool, age_ns (T,) int64."""

    values: np.ndarray
    valid: np.ndarray
    age_ns: np.ndarray


def rate_fraction(rate_hz: float) -> Fraction:
    """The rate as an exact fraction: the nearest one with a denominator <= 10**6.

    That recovers every decimal rate with up to 6 digits after the point (7, 29.97, 12.5) and
    NTSC's 30000/1001 from their float64 values, so frame times are exact integers of ns.
    """
    if not rate_hz > 0:
        raise ValueError(f"rate must be > 0 Hz, got {rate_hz}")
    return Fraction(rate_hz).limit_denominator(10**6)


def reference_times(start_ns: int, end_ns: int, rate_hz: float) -> np.ndarray:
    """Reference clock start, start + 1/rate, ... up to and including end (int64 ns).

    Integer arithmetic only: the count is floor((end - start) * rate) + 1 and frame k lies at
    start + k * 1e9 / rate rounded to the nearest ns (halves up). A float64 quotient loses the
    last frame: 9e9 / (1e9 / 7) is 62.99999999999999, so 7 Hz over 9 s gave 63 frames, not 64.
    """
    if end_ns < start_ns:
        return np.zeros(0, np.int64)
    rate = rate_fraction(rate_hz)
    num, den = rate.numerator, rate.denominator
    count = (int(end_ns) - int(start_ns)) * num // (10**9 * den) + 1
    # period = 1e9 * den / num = whole + part / num; split so no product leaves int64 range
    whole, part = divmod(10**9 * den, num)
    k = np.arange(count, dtype=np.int64)
    return int(start_ns) + k * whole + (2 * k * part + num) // (2 * num)


def effective_stamps(header_ns: np.ndarray, log_ns: np.ndarray, fix: ClockFix = NO_FIX,
                     source: TimeSource = TimeSource.HEADER) -> np.ndarray:
    """Where messages lie on the reference (log) clock: header stamps corrected by `fix` (the
    stream's device clock), falling back to the log time where a corrected stamp is <= 0 (unset,
    or corrected to before the epoch: not a time); all log times with `source` log.

    The one rule for the reference stream's clock (build/plan.py) and the low-dim streams placed
    on it (build/episode.py); frame streams apply it a message at a time as they stream past.
    """
    log_ns = np.asarray(log_ns, np.int64)
    if source == TimeSource.LOG:
        return log_ns
    fixed = fix.apply(header_ns)
    return np.where(fixed > 0, fixed, log_ns)


def clean_order(stamps_ns: np.ndarray) -> np.ndarray:
    """Indices that sort samples by stamp (stable) and keep the first of duplicated stamps."""
    order = np.argsort(stamps_ns, kind="stable")
    ordered = np.asarray(stamps_ns)[order]
    keep = np.ones(len(order), bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    return order[keep]


def choose(ref_ns: np.ndarray, sample_ns: np.ndarray, method: str,
           tolerance_ns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample index, valid and age_ns per reference time for `nearest`/`previous`.

    `sample_ns` must be sorted and non-empty. `previous` falls back to the first sample after the
    reference time (marked invalid) when there is none at or before it.
    """
    count = len(sample_ns)
    if method == "previous":
        idx = np.searchsorted(sample_ns, ref_ns, side="right") - 1
        future = idx < 0
        idx = np.maximum(idx, 0)
    else:
        after = np.minimum(np.searchsorted(sample_ns, ref_ns, side="left"), count - 1)
        before = np.maximum(after - 1, 0)
        take_before = np.abs(ref_ns - sample_ns[before]) <= np.abs(sample_ns[after] - ref_ns)
        idx = np.where(take_before, before, after)
        future = np.zeros(len(ref_ns), bool)
    age = sample_ns[idx] - ref_ns
    valid = (np.abs(age) <= tolerance_ns) & ~future
    return idx, valid, age


def align(ref_ns: np.ndarray, sample_ns: np.ndarray, values: np.ndarray, *, method: str,
          tolerance_ns: int) -> Aligned:
    """Values (N, ...) at sorted unique `sample_ns` -> values (T, ...) at `ref_ns` (float64 in)."""
    ref_ns = np.asarray(ref_ns, np.int64)
    sample_ns = np.asarray(sample_ns, np.int64)
    values = np.asarray(values)
    if len(sample_ns) == 0:
        shape = (len(ref_ns),) + values.shape[1:]
        return Aligned(np.zeros(shape, values.dtype), np.zeros(len(ref_ns), bool),
                       np.zeros(len(ref_ns), np.int64))
    if method != "interpolate":
        idx, valid, age = choose(ref_ns, sample_ns, method, tolerance_ns)
        return Aligned(values[idx], valid, age)
    nearest, _, near_age = choose(ref_ns, sample_ns, "nearest", tolerance_ns)
    hi = np.minimum(np.searchsorted(sample_ns, ref_ns, side="left"), len(sample_ns) - 1)
    lo = np.maximum(hi - 1, 0)
    inside = (sample_ns[lo] <= ref_ns) & (ref_ns <= sample_ns[hi])
    span = (sample_ns[hi] - sample_ns[lo]).astype(np.float64)
    weight = np.where(span > 0, (ref_ns - sample_ns[lo]) / np.where(span > 0, span, 1.0), 0.0)
    weight = weight.reshape((-1,) + (1,) * (values.ndim - 1))
    mixed = values[lo] + (values[hi] - values[lo]) * weight
    exact = sample_ns[hi] == ref_ns
    valid = exact | (inside & (ref_ns - sample_ns[lo] <= tolerance_ns)
                     & (sample_ns[hi] - ref_ns <= tolerance_ns))
    out = np.where(valid.reshape(weight.shape), mixed, values[nearest])
    return Aligned(out, valid, near_age)


def best_valid_share(interval_ns: float, tolerance_ns: float, method: str) -> float:
    """The largest share of frames that can be valid on a stream sampled every `interval_ns`.

    Frame times are taken to fall evenly over the interval between two samples (a reference
    clock unrelated to the stream's); d is a frame's distance after the earlier sample, P the
    interval, tau the tolerance. From the rules of `choose` and `align`:
    `previous` uses the earlier sample, valid for d <= tau: share min(1, tau / P).
    `nearest` uses the closer one, valid for d <= tau or P - d <= tau: share min(1, 2 tau / P).
    `interpolate` needs both, d <= tau and P - d <= tau: share clip(2 tau / P - 1, 0, 1) -- so
    none at P >= 2 tau, and every frame only at P <= tau (a 29 Hz stream, P 34.5 ms, with the
    default 20 ms: 16 %). A frame landing exactly on a sample (measure zero here) is also valid.
    """
    ratio = tolerance_ns / interval_ns
    if method == "previous":
        return min(1.0, ratio)
    if method == "nearest":
        return min(1.0, 2.0 * ratio)
    return min(1.0, max(0.0, 2.0 * ratio - 1.0))


def tolerance_for_every_frame(interval_ns: float, method: str) -> float:
    """The smallest tolerance (ns) at which `best_valid_share` is 1: P / 2 for `nearest`, P for
    `previous` and `interpolate`."""
    return interval_ns / 2.0 if method == "nearest" else float(interval_ns)


def align_joints(ref_ns: np.ndarray, per_joint: list[tuple[np.ndarray, np.ndarray]], *,
                 method: str, tolerance_ns: int) -> Aligned:
    """Align joints that may be sampled at different times (arms publishing subsets).

    `per_joint[j]` is (stamps_ns, values) of joint j, in any order with duplicates. Returns values
    (T, J); a frame is valid when every joint is, and age_ns is the largest |age| over joints
    (with its sign). A joint with no sample at all is zero and invalid.
    """
    columns, valids, ages = [], [], []
    for stamps, vals in per_joint:
        order = clean_order(stamps)
        aligned = align(ref_ns, np.asarray(stamps)[order], np.asarray(vals, np.float64)[order],
                        method=method, tolerance_ns=tolerance_ns)
        columns.append(aligned.values)
        valids.append(aligned.valid)
        ages.append(aligned.age_ns)
    count = len(ref_ns)
    if not columns:
        return Aligned(np.zeros((count, 0)), np.zeros(count, bool), np.zeros(count, np.int64))
    age = np.stack(ages, axis=1)
    worst = np.take_along_axis(age, np.argmax(np.abs(age), axis=1)[:, None], axis=1)[:, 0]
    return Aligned(np.stack(columns, axis=1), np.logical_and.reduce(valids), worst)

"""Timing statistics of one message stream from its stamps: rate, period, gaps, latency, disorder.

Pure numpy over int64 ns arrays, so `robot-logger info` (and tests) can compute them for any
topic after streaming a bag once. A stream is judged on its header stamps (the sample times)
when it has them, else on its log times (when the recorder received each message).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from robot_logger.core.clockfit import fit_lower_envelope

__all__ = ["GAP_FACTOR", "MAX_GAPS_LISTED", "StreamStats", "stream_stats"]

GAP_FACTOR = 3.0        # a period longer than this many median periods is a gap
MAX_GAPS_LISTED = 5     # the longest gaps are listed; all are counted


@dataclass(frozen=True)
class StreamStats:
    """What `info` reports per topic. Times in ns; None where a value is undefined."""

    count: int
    clock: str                      # "header" (header.stamp) or "log" (receive time)
    first_ns: int | None            # earliest stamp on that clock
    rate_hz: float | None           # (count - 1) / span; None with < 2 distinct stamps
    period_p50_ns: int | None
    period_p99_ns: int | None
    gap_count: int                  # periods > GAP_FACTOR x median period
    gap_total_ns: int               # time lost in those gaps beyond one median period each
    gaps: list[tuple[int, int]]     # the longest gaps: (start stamp ns, length ns)
    latency_p50_ns: int | None      # log time - header stamp; None without header stamps
    latency_p99_ns: int | None
    clock_offset_ns: int | None     # lower-envelope fit of log - header (core.clockfit): a
    clock_drift_ppm: float | None   # device clock's offset and drift; the drift needs minutes
                                    # of data (12 s gives +-100 ppm of noise), so only --json
    backwards: int | None           # stamps smaller than the one before (out of order)
    duplicates: int | None          # messages repeating an earlier header stamp
    zero_stamps: int                # header stamps left at 0 (the log clock is used then)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict (gaps as [start_ns, length_ns] lists)."""
        out = asdict(self)
        out["gaps"] = [list(g) for g in self.gaps]
        return out


def _pct(values: np.ndarray, q: float) -> int | None:
    return int(round(float(np.percentile(values, q)))) if values.size else None


def stream_stats(log_ns: np.ndarray, stamp_ns: np.ndarray | None = None) -> StreamStats:
    """Stats of one stream from its log times and (if the type has a header) its header stamps.

    Arrays are in bag order (log-time order). Header stamps are used when every message has
    one; a stream where any stamp is 0 falls back to log times (and counts the zeros).
    """
    log_ns = np.asarray(log_ns, np.int64)
    zero = 0
    header: np.ndarray | None = None  # the header stamps, when they are the stream's clock
    if stamp_ns is not None and len(stamp_ns) == len(log_ns):
        stamps = np.asarray(stamp_ns, np.int64)
        zero = int(np.count_nonzero(stamps == 0))
        if zero == 0 and stamps.size > 0:
            header = stamps
    use_header = header is not None
    times = header if header is not None else log_ns
    distinct = np.unique(times)
    periods = np.diff(distinct)
    span = int(distinct[-1] - distinct[0]) if distinct.size else 0
    median = float(np.median(periods)) if periods.size else 0.0
    gap_mask = periods > GAP_FACTOR * median if median > 0 else np.zeros(periods.shape, bool)
    gap_len = periods[gap_mask]
    longest = np.argsort(gap_len, kind="stable")[::-1][:MAX_GAPS_LISTED]
    gap_start = distinct[:-1][gap_mask]
    latency = log_ns - header if header is not None else np.empty(0, np.int64)
    line = fit_lower_envelope(header, log_ns) if header is not None else None
    return StreamStats(
        count=int(log_ns.size),
        clock="header" if use_header else "log",
        first_ns=int(distinct[0]) if distinct.size else None,
        rate_hz=(distinct.size - 1) * 1e9 / span if span > 0 else None,
        period_p50_ns=_pct(periods, 50),
        period_p99_ns=_pct(periods, 99),
        gap_count=int(gap_len.size),
        gap_total_ns=int(np.sum(gap_len - int(round(median)))) if gap_len.size else 0,
        gaps=sorted((int(gap_start[i]), int(gap_len[i])) for i in longest),
        latency_p50_ns=_pct(latency, 50),
        latency_p99_ns=_pct(latency, 99),
        clock_offset_ns=line.offset_ns if line is not None else None,
        clock_drift_ppm=round(line.drift_ppm, 3) if line is not None else None,
        backwards=int(np.count_nonzero(np.diff(times) < 0)) if use_header else None,
        duplicates=int(times.size - distinct.size) if use_header else None,
        zero_stamps=zero,
    )

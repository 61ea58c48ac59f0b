"""Streaming choice of image / point-cloud frames for known reference times.

Candidates (stamp, raw bytes) arrive in log-time order, a few out of order at most. A reference
time is final once no later message can beat its chosen candidate: every future message has a
stamp >= (log time now - latency margin). Final frames are returned at once (the caller decodes
and writes them), and candidates no longer needed are dropped: memory stays at a few frames.
Returning frames instead of calling back keeps the selector free of reference cycles, so an
episode's raw messages are freed as soon as it ends.
The choice is exactly `align.choose` on all candidates the episode window saw.
"""

from __future__ import annotations

import bisect
from typing import Any

import numpy as np

from robot_logger.dataset.ops.align import choose

__all__ = ["FrameSelector", "Final"]

Final = tuple[int, int, Any]   # (frame index, candidate key, raw message)


class FrameSelector:
    """Chooses one candidate per reference time (`nearest` or `previous`) while streaming.

    `add` and `flush` return the frames that became final: (frame_index, candidate_key, raw), each
    reference time once and in order; the same candidate_key means the same raw message.
    """

    def __init__(self, ref_ns: np.ndarray, *, method: str, tolerance_ns: int, margin_ns: int,
                 ) -> None:
        self.ref_ns = np.asarray(ref_ns, np.int64)
        self.method = method
        self.tolerance_ns = tolerance_ns
        self.margin_ns = margin_ns
        self.valid = np.zeros(len(self.ref_ns), bool)
        self.age_ns = np.zeros(len(self.ref_ns), np.int64)
        self.candidates = 0
        self.repeated = 0                    # candidates whose stamp an earlier one has
        self._next = 0                       # first reference time not yet final
        self._stamps: list[int] = []         # sorted candidate stamps in the buffer
        self._raws: list[Any] = []
        self._keys: list[int] = []           # candidate serial numbers (decode cache key)

    def add(self, stamp_ns: int, log_ns: int, raw: Any) -> list[Final]:
        """Offer a candidate; returns the frames it makes final."""
        pos = bisect.bisect_left(self._stamps, stamp_ns)
        if pos < len(self._stamps) and self._stamps[pos] == stamp_ns:
            self.repeated += 1               # duplicate stamp: the first one wins
            return []
        self._stamps.insert(pos, stamp_ns)
        self._raws.insert(pos, raw)
        self._keys.insert(pos, self.candidates)
        self.candidates += 1
        if self._next < len(self.ref_ns) and log_ns - self.margin_ns >= self.ref_ns[self._next]:
            return self._finalize(log_ns - self.margin_ns)
        return []

    def flush(self) -> list[Final]:
        """End of the episode window: every remaining reference time is final."""
        final = self._finalize(None)
        del self._stamps[:], self._raws[:], self._keys[:]
        return final

    @property
    def done(self) -> bool:
        """True when every reference time has been emitted."""
        return self._next >= len(self.ref_ns)

    def _finalize(self, lower_bound_ns: int | None) -> list[Final]:
        if self.done or not self._stamps:
            return []
        stop = len(self.ref_ns) if lower_bound_ns is None else \
            int(np.searchsorted(self.ref_ns, lower_bound_ns, side="right"))
        refs = self.ref_ns[self._next:stop]
        if len(refs) == 0:
            return []
        stamps = np.asarray(self._stamps, np.int64)
        idx, valid, age = choose(refs, stamps, self.method, self.tolerance_ns)
        if lower_bound_ns is not None:
            reach = lower_bound_ns - refs   # how far past the ref time every future stamp lies
            final = reach >= np.abs(age)
            if self.method == "previous":
                final |= (age <= 0) & (reach > 0)
            count = int(np.argmin(final)) if not final.all() else len(refs)
        else:
            count = len(refs)
        final = [(self._next + offset, self._keys[int(j)], self._raws[int(j)])
                 for offset, j in enumerate(idx[:count])]
        frames = slice(self._next, self._next + count)
        self.valid[frames], self.age_ns[frames] = valid[:count], age[:count]
        self._next += count
        self._drop_unneeded()
        return final

    def _drop_unneeded(self) -> None:
        """Keep the last candidate at or before the next reference time and all after it."""
        if self.done:
            keep = len(self._stamps)
        else:
            keep = max(bisect.bisect_right(self._stamps, int(self.ref_ns[self._next])) - 1, 0)
        del self._stamps[:keep], self._raws[:keep], self._keys[:keep]

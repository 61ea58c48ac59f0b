"""Many JointState messages at once, read from raw CDR with numpy (no per-message deserialize).

A recorder's JointState messages nearly always share one layout: the same frame_id, joint names
and array lengths, so every message has the same bytes except stamp and values. `parse_uniform`
finds the first message's layout, checks the others share it on the stacked bytes
(ops.cdr.uniform_rows, the check of any type's fast path too) and reads stamps and arrays as
strided views; messages that differ (names changing order, subsets, big-endian CDR) return None
and take the deserialize path.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from robot_logger.dataset.ops.cdr import header_stamps, uniform_rows

__all__ = ["JointBatch", "parse_uniform"]

FIELDS = ("position", "velocity", "effort")
_BODY = 4            # CDR encapsulation header; alignment counts from the body start
_U32 = struct.Struct("<I")


class JointBatch(NamedTuple):
    """Joint names, header stamps (N,) int64, field -> (N, J) float64 arrays (J or 0 columns)."""

    names: list[str]
    stamps_ns: np.ndarray
    fields: dict[str, np.ndarray]


def _layout(raw: bytes) -> tuple[list[str], list[tuple[int, int]]] | None:
    """Names and (count offset, count) of each array in one little-endian JointState message."""
    if len(raw) < 16 or raw[1] != 1:
        return None
    pos = _BODY + 8                              # after stamp.sec, stamp.nanosec

    def u32(at: int) -> tuple[int, int]:
        at = _BODY + ((at - _BODY + 3) & ~3)
        return _U32.unpack_from(raw, at)[0], at + 4

    try:
        length, pos = u32(pos)                   # frame_id
        pos += length
        count, pos = u32(pos)
        names = []
        for _ in range(count):
            length, pos = u32(pos)
            names.append(bytes(raw[pos:pos + length - 1]).decode())
            pos += length
        arrays = []
        for _ in FIELDS:
            start = _BODY + ((pos - _BODY + 3) & ~3)
            size, pos = u32(pos)
            if size:
                pos = _BODY + ((pos - _BODY + 7) & ~7) + 8 * size
            arrays.append((start, size))
    except (struct.error, UnicodeDecodeError):
        return None
    return (names, arrays) if pos == len(raw) else None


def parse_uniform(raws: Sequence[bytes]) -> JointBatch | None:
    """Parse messages sharing one layout; None when they do not (use deserialize instead)."""
    layout = _layout(raws[0]) if raws else None
    if layout is None:
        return None
    names, arrays = layout
    fields = {name: (_BODY + ((count_at + 4 - _BODY + 7) & ~7), size)   # values, 8-aligned
              for name, (count_at, size) in zip(FIELDS, arrays) if size}
    rows = uniform_rows(raws, [(start, start + 8 * size) for start, size in fields.values()],
                        header=True)
    if rows is None:
        return None
    out = {}
    for name in FIELDS:
        start, size = fields.get(name, (0, 0))
        out[name] = rows[:, start:start + 8 * size].copy().view("<f8") if size == len(names) \
            else np.zeros((len(raws), 0))
    return JointBatch(names, header_stamps(rows), out)

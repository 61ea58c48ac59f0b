"""glibc malloc tuning for a process that allocates and frees many large frames per second.

Every received image is a fresh multi-MB bytes object. With glibc's defaults, each one is an mmap
and munmap (and a page-fault storm); raising the mmap and trim thresholds keeps them in the heap,
which measured cut a 1080p recorder's CPU from ~75 % to ~30 % of a core
(notes/ros2-wire-over-cyclonedds.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["tune_malloc"]

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 << 20  # glibc's maximum on 64-bit: a 1080p rgb8 frame is ~6 MB
TRIM_THRESHOLD_BYTES = 256 << 20


def tune_malloc() -> bool:
    """Raise glibc's mmap/trim thresholds for this process; False where that is not glibc."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )

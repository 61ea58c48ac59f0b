"""Stop on SIGINT or SIGTERM: both end a recording (or a live publish) cleanly, closing the bag."""

from __future__ import annotations

import signal
import threading

__all__ = ["stop_on_signals"]


def stop_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM (so both end a recording or publishing cleanly)."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop

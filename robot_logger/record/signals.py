"""Stop on SIGINT or SIGTERM: both end a recording (or a live publish) cleanly, closing the bag.

The Python-level handler does nothing: Python's C-level handler writes the signal's number to a
wakeup pipe (`signal.set_wakeup_fd`), and a watcher thread sets the stop event. Setting the event
in the handler itself (the first version) can deadlock: the handler runs on the main thread
between two bytecodes, possibly while that thread holds the very lock `Event.set` needs (inside
`Event.wait`'s reacquire) — seen as a `sim --publish` hung for an hour after Ctrl-C, and as a
RecursionError under a burst of signals.
"""

from __future__ import annotations

import os
import signal
import threading

__all__ = ["STOP_SIGNALS", "stop_on_signals"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_OUR_WRITE_FDS: set[int] = set()   # the wakeup pipe this module installed (never someone else's)


def stop_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM (so both end a recording or publishing cleanly).

    Call from the main thread (Python delivers signals there). A later call replaces the
    earlier one's pipe: the earlier write end is closed, so its watcher reads end-of-file, closes
    its read end and exits (no thread or file descriptors left behind per call).
    """
    stop = threading.Event()
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)   # the C handler must never block on a full pipe

    def watch() -> None:
        stopping = {int(s) for s in STOP_SIGNALS}
        while True:
            try:
                data = os.read(read_fd, 64)
            except OSError:
                return
            if not data:
                os.close(read_fd)
                return
            if stopping & set(data):
                stop.set()

    threading.Thread(target=watch, name="stop-on-signal", daemon=True).start()
    previous = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    if previous in _OUR_WRITE_FDS:
        _OUR_WRITE_FDS.discard(previous)
        os.close(previous)
    _OUR_WRITE_FDS.add(write_fd)
    for sig in STOP_SIGNALS:
        signal.signal(sig, _ignore)
    return stop


def _ignore(_signum: int, _frame: object) -> None:
    """The Python-level handler: nothing (the wakeup pipe carries the signal to the watcher)."""

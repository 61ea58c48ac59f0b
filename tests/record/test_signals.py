"""SIGINT/SIGTERM stop the recorder and the publisher without ever hanging the main thread."""

from __future__ import annotations

import subprocess
import sys

from tests.support.paths import REPO

# The main thread waits on the stop event with short timeouts (as the recorder's and the
# publisher's loops do) while a thread sends SIGTERM every 50 µs. Setting the event from inside
# the handler deadlocked or recursed here (RecursionError within a second); the wakeup-pipe
# handler keeps the main thread free.
BURST = """
import os, signal, sys, threading, time
from robot_logger.record.signals import stop_on_signals
stop = stop_on_signals()
done = threading.Event()
def pound():
    while not done.is_set():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.00005)
threading.Thread(target=pound, daemon=True).start()
end, stops = time.monotonic() + 2.0, 0
while time.monotonic() < end:
    if stop.wait(0.0001):
        stops += 1
        stop.clear()
done.set()
print(stops)
"""

# Exactly the deadlock: the main thread holds the lock `Event.set` takes (as it does while
# `Event.wait` reacquires it) when the handler runs. The old handler called `stop.set()` and
# blocked forever on that lock; the handler must return at once whatever the main thread holds.
HELD = """
import signal, threading
from robot_logger.record.signals import stop_on_signals
stop = stop_on_signals()
handler = signal.getsignal(signal.SIGTERM)
result = []
with stop._cond:
    handler(signal.SIGTERM, None)      # what Python does between two bytecodes of this thread
    result.append("returned")
print(result[0])
"""

ONE = """
import os, signal, sys, time
from robot_logger.record.signals import stop_on_signals
stop = stop_on_signals()
os.kill(os.getpid(), signal.SIG{name})
print(stop.wait(5.0))
"""


def test_a_burst_of_signals_never_hangs_or_recurses():
    done = subprocess.run([sys.executable, "-c", BURST], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout) > 10   # the stop event kept being set


def test_the_handler_returns_while_the_main_thread_holds_the_event_lock():
    assert _run_with_deadline(HELD, 20.0) == "returned"


def _run_with_deadline(code: str, seconds: float) -> str:
    """stdout of `code` in a fresh interpreter, or "hung" when it is still running after
    `seconds` (killed)."""
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return "hung"
    assert proc.returncode == 0, err[-2000:]
    return out.strip()


def test_sigint_and_sigterm_each_set_the_stop_event():
    for name in ("INT", "TERM"):
        done = subprocess.run([sys.executable, "-c", ONE.format(name=name)], cwd=REPO,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and done.stdout.strip() == "True", (name, done.stderr)


REPEATED = """
import os, signal, threading
from robot_logger.record.signals import stop_on_signals
before_fds, before_threads = len(os.listdir("/proc/self/fd")), threading.active_count()
for _ in range(50):
    stop = stop_on_signals()
deadline = __import__("time").monotonic() + 5
while threading.active_count() > before_threads + 1 and __import__("time").monotonic() < deadline:
    __import__("time").sleep(0.01)
os.kill(os.getpid(), signal.SIGTERM)
print(len(os.listdir("/proc/self/fd")) - before_fds, threading.active_count() - before_threads,
      stop.wait(5.0))
"""


def test_calling_it_again_leaves_one_pipe_and_one_watcher():
    assert _run_with_deadline(REPEATED, 30.0) == "2 1 True"

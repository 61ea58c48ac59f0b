"""Run `ros2 ...` commands as forks of one warm process: `ForkServer` (the test side, used by
tests/support/ros2.py) starts this file as a script with ROS 2's own Python and environment.

A `ros2` command spends ~0.5 s (2 cores, idle; 1-1.5 s under load) importing ros2cli, rclpy,
numpy and the verb modules before it does anything (`ros2 topic info`: 1.3 s as a program,
0.65 s as a fork, 0.5 s of which is its own discovery spin). The server imports them once;
each request then forks a child that calls ros2cli's `main()` -- what the `ros2` console script
calls -- with the request's argv, environment and working directory, stdout/stderr into the
given files, in a session of its own (so `killpg` stops it and what it starts, as for `ros2`
started with `start_new_session`). Nothing is initialised before the fork: no rclpy context, no
DDS participant, no thread (checked); the child makes those as the `ros2` program would.

Protocol, one JSON document a line: on stdin {"argv": [...], "env": {...}, "cwd": str|null,
"stdout": path, "stderr": path}; on stdout {"pid": N} for each request, then {"exit": N,
"code": rc} when that child ends (rc as subprocess reports it: -signal when killed by one).
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import queue
import select
import signal
import subprocess
import sys
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["ForkServer", "Forked"]

START_TIMEOUT_S = 120   # for the server's imports (~1 s idle)
# Imported once by the server before any fork: numpy is the biggest part (ROS message modules
# import it), then rclpy, ros2cli and the verbs the tests run.
WARM = ("numpy", "rclpy", "rclpy.executors", "ros2cli.cli", "ros2cli.node.daemon",
        "ros2cli.node.direct", "ros2cli.node.strategy", "ros2topic.verb.info",
        "ros2topic.verb.pub", "ros2topic.verb.echo", "ros2bag.verb.info", "ros2bag.verb.play",
        "ros2bag.verb.record", "std_msgs.msg", "rosbag2_py")


class Forked:
    """The part of `subprocess.Popen` the tests use, for a child of the fork server."""

    def __init__(self, server: ForkServer, pid: int, args: Sequence[str]) -> None:
        self.pid = pid
        self.args = list(args)
        self.returncode: int | None = None
        self._server = server

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._server.exit_code(self.pid, 0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.returncode = self._server.exit_code(self.pid, timeout)
            if self.returncode is None:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ForkServer:
    """The test side: one server process per distro (its environment and interpreter), and
    `spawn` to run a `ros2` command line in a fork of it."""

    def __init__(self, python: str, env: dict[str, str]) -> None:
        self._proc = subprocess.Popen(
            [python, __file__],
            env={**env, "OPENBLAS_NUM_THREADS": "1"},   # numpy's BLAS: no threads to fork past
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._stdin, self._stdout = self._proc.stdin, self._proc.stdout
        started = select.select([self._stdout], [], [], START_TIMEOUT_S)[0]
        if not started or json.loads(self._stdout.readline() or "{}").get("ready") is not True:
            self._proc.kill()
            self._proc.wait(30)
            self._stdin.close()
            self._stdout.close()
            raise RuntimeError(f"the ros2 fork server did not start ({self._proc.returncode})")
        self._request = threading.Lock()
        self._pids: queue.Queue[int] = queue.Queue()
        self._exits: dict[int, int] = {}
        self._changed = threading.Condition()
        self._ended = False
        threading.Thread(target=self._read, name="ros2-forkserver", daemon=True).start()

    def _read(self) -> None:
        for line in self._stdout:
            message = json.loads(line)
            if "pid" in message:
                with self._changed:   # a pid used again: its old child's exit came before
                    self._exits.pop(message["pid"], None)
                self._pids.put(message["pid"])
                continue
            with self._changed:
                self._exits[message["exit"]] = message["code"]
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def spawn(self, argv: Sequence[str], env: dict[str, str], cwd: Path | None, stdout: Path,
              stderr: Path) -> Forked:
        """Fork `argv` (a `ros2 ...` command line) with this environment and output files."""
        request = {"argv": list(argv), "env": env, "cwd": str(cwd) if cwd else None,
                   "stdout": str(stdout), "stderr": str(stderr)}
        with self._request:
            self._stdin.write(json.dumps(request) + "\n")
            self._stdin.flush()
            pid = self._pids.get(timeout=60)
        return Forked(self, pid, argv)

    def exit_code(self, pid: int, timeout: float | None) -> int | None:
        """The child's exit status once it ended (waiting up to `timeout`), else None."""
        with self._changed:
            self._changed.wait_for(lambda: pid in self._exits or self._ended, timeout)
            if pid in self._exits:
                return self._exits[pid]
            if self._ended:
                raise RuntimeError(f"the ros2 fork server ended before its child {pid}")
            return None

    def close(self) -> None:
        self._stdin.close()
        try:
            self._proc.wait(30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def start_server(python: str, env: dict[str, str]) -> ForkServer | None:
    """A fork server, or None (with a warning) where it cannot run: `ros2` then runs as a
    program, only slower."""
    try:
        return ForkServer(python, env)
    except (OSError, RuntimeError) as err:
        warnings.warn(f"ros2 commands run as programs: {err}", stacklevel=2)
        return None


def _child(request: dict[str, Any]) -> None:
    """In the fork: become `ros2 ARGS` and exit with its status (never returns)."""
    code = 1
    try:
        os.setsid()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        if request.get("cwd"):
            os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(out, fd)
            os.close(out)
        os.close(null)
        # the streams a program started this way would have: stdout block-buffered on a file
        # (ros2cli makes it line-buffered itself), stderr line-buffered
        sys.stdin = open(0, closefd=False)
        sys.stdout = open(1, "w", closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        sys.argv = list(request["argv"])
        try:
            sys.exit(importlib.import_module("ros2cli.cli").main())
        except SystemExit as done:
            if done.code is None:
                code = 0
            elif isinstance(done.code, int):
                code = done.code
            else:
                print(done.code, file=sys.stderr)
                code = 1
        atexit._run_exitfuncs()
    except BaseException:   # report anything, as the interpreter would
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:   # exiting anyway
                pass
        os._exit(code)


def serve() -> None:
    """Serve requests until stdin closes. Single-threaded (a fork copies only the calling
    thread): SIGCHLD wakes the loop through a pipe, and every ended child is reported."""
    for name in WARM:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:
        raise SystemExit(f"ros2_forkserver: {threads} threads after the imports; forks unsafe")
    reply = os.fdopen(os.dup(1), "w", buffering=1)
    reply.write(json.dumps({"ready": True}) + "\n")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # nothing else may write into the reply pipe
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    pending = b""
    while True:
        ready, _, _ = select.select([0, wake_r], [], [])
        if wake_r in ready:
            os.read(wake_r, 4096)
        while True:   # reap every ended child
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            reply.write(json.dumps({"exit": pid, "code": os.waitstatus_to_exitcode(status)})
                        + "\n")
        if 0 not in ready:
            continue
        chunk = os.read(0, 65536)
        if not chunk:
            return
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.strip():
                pid = os.fork()
                if pid == 0:
                    signal.set_wakeup_fd(-1)
                    os.close(wake_r)
                    os.close(wake_w)
                    reply.close()
                    _child(json.loads(line))
                reply.write(json.dumps({"pid": pid}) + "\n")


if __name__ == "__main__":
    serve()

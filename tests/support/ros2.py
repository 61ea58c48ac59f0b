"""Real ROS 2 Humble and Jazzy as pytest fixtures (tests marked `ros2`).

Each distro is a source build shipped as `ros2-<distro>-*.tar.zst`. The session-scoped fixture
unpacks it once into `$ROBOT_LOGGER_ROS2_CACHE` (default
`${XDG_CACHE_HOME:-~/.cache}/robot_logger/ros2/<distro>`, outside the repository), sources its
`setup.bash` once to learn the environment it sets, and hands each test a `Ros2` with that
environment plus RMW_IMPLEMENTATION=rmw_cyclonedds_cpp, a ROS_DOMAIN_ID of its own and the
loopback Cyclone configuration, so parallel runs do not hear each other.

Where the tarballs are: `$ROBOT_LOGGER_ROS2_TARBALLS` (a folder), else the folder `shared/ros2`
beside the repository (or beside the main checkout when this is a git worktree). When a tarball,
`zstd`, or a run-time library or Python module it needs is missing, the test is skipped with a
reason naming the missing thing and the fix (`bash tools/ros2_deps.sh`).

    @pytest.mark.ros2
    def test_bag_info(ros2: Ros2, tmp_path: Path) -> None:
        out = ros2.run(["ros2", "bag", "info", str(bag)])
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from robot_logger.bag.reader import open_bag
from robot_logger.transport.dds import LOOPBACK_CONFIG
from robot_logger.transport.dds_raw import pad4
from tests.support.paths import REPO
from tests.support.ros2_forkserver import Forked, ForkServer, start_server

__all__ = ["DISTROS", "RECORD", "Ros2", "Ros2Install", "bag_payloads", "final_status",
           "find_tarball", "install", "ros2", "ros2_install", "start_recorder", "wait_recorder"]

DISTROS = ("humble", "jazzy")
RECORD = [sys.executable, "-c", "from robot_logger.cli import main; main()", "record", "--json"]
TARBALLS_ENV = "ROBOT_LOGGER_ROS2_TARBALLS"
CACHE_ENV = "ROBOT_LOGGER_ROS2_CACHE"
# Variables a sourced setup.bash sets or extends; taken from the sourced shell, never inherited.
ROS_VARS = (
    "AMENT_PREFIX_PATH",
    "CMAKE_PREFIX_PATH",
    "COLCON_PREFIX_PATH",
    "LD_LIBRARY_PATH",
    "PATH",
    "PKG_CONFIG_PATH",
    "PYTHONPATH",
    "ROS_DISTRO",
    "ROS_PYTHON_VERSION",
    "ROS_VERSION",
    "ROS_LOCALHOST_ONLY",
    "ROS_AUTOMATIC_DISCOVERY_RANGE",
    "ROS_STATIC_PEERS",
)
SMOKE = "import rosbag2_py; from rclpy.impl.implementation_singleton import rclpy_implementation"


def _tarball_dirs() -> list[Path]:
    """Folders that may hold the tarballs, in the order they are tried."""
    if os.environ.get(TARBALLS_ENV):
        return [Path(os.environ[TARBALLS_ENV]).expanduser()]
    dirs = [REPO.parent / "shared" / "ros2"]
    gitfile = REPO / ".git"
    if gitfile.is_file():  # a worktree: .git names <main>/.git/worktrees/<name>
        gitdir = Path(gitfile.read_text().partition("gitdir:")[2].strip())
        main = gitdir.parents[2] if gitdir.parent.name == "worktrees" else None
        if main is not None:
            dirs.append(main.parent / "shared" / "ros2")
    return dirs


def find_tarball(distro: str) -> Path | None:
    """The newest `ros2-<distro>-*.tar.zst` in the tarball folders, or None."""
    for folder in _tarball_dirs():
        found = sorted(folder.glob(f"ros2-{distro}-*.tar.zst"))
        if found:
            return found[-1]
    return None


def cache_root() -> Path:
    """Where distros are unpacked: $ROBOT_LOGGER_ROS2_CACHE or the XDG cache."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "robot_logger" / "ros2"


@dataclass(frozen=True)
class Ros2Install:
    """One unpacked distro and the environment its setup.bash produces."""

    distro: str
    prefix: Path
    env: dict[str, str]


def _unpack(tarball: Path, distro: str) -> Path:
    """Unpack `tarball` into the cache once (a stamp names the tarball's size and mtime; a lock
    keeps two sessions from unpacking at the same time); returns the distro's prefix."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    prefix = root / distro
    stat = tarball.stat()
    stamp = f"{tarball.name} {stat.st_size} {int(stat.st_mtime)}\n"
    stamp_file = root / f"{distro}.stamp"
    with open(root / f"{distro}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (
            stamp_file.exists()
            and stamp_file.read_text() == stamp
            and (prefix / "setup.bash").exists()
        ):
            return prefix
        tmp = Path(tempfile.mkdtemp(prefix=f".{distro}-", dir=root))
        try:
            zstd = subprocess.Popen(
                ["zstd", "-dc", "--long=27", str(tarball)], stdout=subprocess.PIPE
            )
            untar = subprocess.run(
                ["tar", "-x", "-C", str(tmp)], stdin=zstd.stdout, capture_output=True, text=True
            )
            if zstd.wait() != 0 or untar.returncode != 0:
                raise RuntimeError(f"cannot unpack {tarball}: {untar.stderr.strip()}")
            if not (tmp / distro / "setup.bash").exists():
                raise RuntimeError(f"{tarball} holds no {distro}/setup.bash")
            shutil.rmtree(prefix, ignore_errors=True)
            (tmp / distro).rename(prefix)
            stamp_file.write_text(stamp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return prefix


def _sourced_env(prefix: Path) -> dict[str, str]:
    """The environment after `source setup.bash` on top of this process's (ROS variables from an
    outer sourced ROS are dropped first so the two distros never mix)."""
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("AMENT_PREFIX_PATH", "CMAKE_PREFIX_PATH", "COLCON_PREFIX_PATH", "ROS_DISTRO")
    }
    out = subprocess.run(
        ["bash", "-c", f"source {prefix}/setup.bash && env -0"],
        env=base,
        capture_output=True,
        check=True,
    )
    env = dict(item.split("=", 1) for item in out.stdout.decode().split("\0") if "=" in item)
    env["RMW_IMPLEMENTATION"] = "rmw_cyclonedds_cpp"
    env["CYCLONEDDS_URI"] = LOOPBACK_CONFIG  # loopback, no multicast: all processes of a test
    env.pop("ROS_LOCALHOST_ONLY", None)
    env.pop("ROS_AUTOMATIC_DISCOVERY_RANGE", None)
    env.pop("ROS_STATIC_PEERS", None)
    return env


def install(distro: str) -> Ros2Install:
    """Unpack and check one distro; pytest.skip with the reason when this machine cannot run it."""
    tarball = find_tarball(distro)
    if tarball is None:
        where = ", ".join(str(d) for d in _tarball_dirs())
        pytest.skip(
            f"ROS 2 {distro} is not on this machine: no ros2-{distro}-*.tar.zst in {where} "
            f"(set {TARBALLS_ENV} to the folder that holds it)"
        )
    if shutil.which("zstd") is None:
        pytest.skip("ROS 2 tarballs need the zstd program: run `bash tools/ros2_deps.sh`")
    prefix = _unpack(tarball, distro)
    env = _sourced_env(prefix)
    smoke = subprocess.run(
        ["python3", "-c", SMOKE], env=env, capture_output=True, text=True, timeout=60
    )
    if smoke.returncode != 0:
        last = (smoke.stderr.strip().splitlines() or ["(no message)"])[-1]
        pytest.skip(
            f"ROS 2 {distro} does not load on this machine ({last}): run `bash tools/ros2_deps.sh`"
        )
    return Ros2Install(distro, prefix, env)


def bag_payloads(bag: Path) -> dict[str, list[bytes]]:
    """Per topic, a bag's payloads in order, zero-padded to 4 bytes as DDS sends CDR (the
    padding is not part of the message: rosbags writes none, rmw_cyclonedds always adds it)."""
    out: dict[str, list[bytes]] = {}
    with open_bag(bag) as reader:
        for topic, _type, _ns, raw in reader.messages():
            out.setdefault(topic, []).append(pad4(bytes(raw)))
    return out


_DOMAINS_USED: set[int] = set()


def _fresh_domain() -> int:
    """A ROS_DOMAIN_ID not used before in this session, in 116..232 (the plain-DDS tests of
    tests/support/dds_env.py take 1..115, so their `--all` recordings never see our nodes)."""
    free = [d for d in range(116, 233) if d not in _DOMAINS_USED]
    domain = random.choice(free or list(range(116, 233)))
    _DOMAINS_USED.add(domain)
    return domain


Process = subprocess.Popen[str] | Forked


@dataclass
class Ros2:
    """A sourced ROS 2 environment on a private domain; runs commands in subprocesses. With
    `forks` (the `ros2` fixture's), a `ros2 ...` command line in this environment runs as a fork
    of a warm ROS 2 Python (tests/support/ros2_forkserver.py): the same ros2cli `main()` with
    the same argv and environment, ~0.6 s sooner a command."""

    distro: str
    prefix: Path
    env: dict[str, str]
    domain_id: int
    forks: ForkServer | None = None
    _started: list[tuple[Process, Path]] = field(default_factory=list)

    def _forked(self, args: Sequence[str], env: dict[str, str] | None) -> bool:
        return self.forks is not None and args[0] == "ros2" and not env

    def run(
        self,
        args: Sequence[str],
        *,
        timeout: float = 60,
        check: bool = True,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run to completion; `check` fails the test with the output on a non-zero exit."""
        if self._forked(args, env):
            done = self._run_forked(args, timeout, cwd)
        else:
            done = subprocess.run(
                list(args),
                env={**self.env, **(env or {})},
                cwd=cwd,
                text=True,
                capture_output=True,
                timeout=timeout,
            )
        if check and done.returncode != 0:
            pytest.fail(
                f"{' '.join(args)} exited {done.returncode} on {self.distro}:\n"
                f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        return done

    def _run_forked(
        self, args: Sequence[str], timeout: float, cwd: Path | None
    ) -> subprocess.CompletedProcess[str]:
        """`subprocess.run(capture_output=True)` for a forked `ros2` command."""
        assert self.forks is not None
        out, err = (Path(tempfile.mkstemp(prefix="ros2-", suffix=s)[1]) for s in (".out", ".err"))
        try:
            proc = self.forks.spawn(args, self.env, cwd, out, err)
            try:
                rc = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise
            return subprocess.CompletedProcess(
                list(args), rc, out.read_text(errors="replace"), err.read_text(errors="replace")
            )
        finally:
            out.unlink(missing_ok=True)
            err.unlink(missing_ok=True)

    def start(
        self, args: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None
    ) -> Process:
        """Start in its own process group (so `stop` can SIGINT `ros2 run`/`launch` and children);
        output goes to a temporary file (read by `stop`), never to a pipe that could fill."""
        log = Path(tempfile.mkstemp(prefix="ros2-", suffix=".log")[1])
        proc: Process
        if self._forked(args, env):
            assert self.forks is not None
            proc = self.forks.spawn(args, self.env, cwd, log, log)
        else:
            with open(log, "w") as out:
                proc = subprocess.Popen(
                    list(args),
                    env={**self.env, **(env or {})},
                    cwd=cwd,
                    text=True,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        self._started.append((proc, log))
        return proc

    def stop(self, proc: Process, timeout: float = 15) -> tuple[int, str]:
        """SIGINT the process group, wait, escalate to SIGTERM/SIGKILL; returns (exit, output)."""
        for sig, wait_s in ((signal.SIGINT, timeout), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            if proc.poll() is not None:
                break
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(wait_s)
            except subprocess.TimeoutExpired:
                continue
        rc = proc.wait()
        return rc, self.output(proc)

    def output(self, proc: Process) -> str:
        """What a started process printed so far."""
        for started, log in self._started:
            if started is proc:
                return log.read_text(errors="replace")
        raise KeyError("not started by this Ros2")

    def wait_for_output(self, proc: Process, text: str, timeout_s: float = 20) -> bool:
        """Poll a started process's output until `text` appears (False on timeout or exit)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if text in self.output(proc):
                return True
            if proc.poll() is not None:
                return text in self.output(proc)
            time.sleep(0.1)
        return False

    def endpoint(self, topic: str, kind: str = "PUBLISHER", timeout_s: float = 20) -> str:
        """The first `kind` (PUBLISHER/SUBSCRIPTION) endpoint block of `ros2 topic info -v`,
        polled until one exists; fails the test naming what was seen."""
        deadline = time.monotonic() + timeout_s
        marker = f"Endpoint type: {kind}"
        while True:
            out = self.run(["ros2", "topic", "info", "-v", topic, "--no-daemon"], check=False)
            text = out.stdout + out.stderr
            if marker in text or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        if marker not in text:
            pytest.fail(f"no {kind} of {topic} seen on {self.distro}:\n{text}")
        head, _, rest = text.partition(marker)
        return head.rsplit("Node name:", 1)[-1] + marker + rest.split("Node name:", 1)[0]

    def wait_for_message(self, topic: str, msgtype: str, timeout_s: float = 60) -> None:
        """Block until one message on `topic` arrives (e.g. a recorder's first status)."""
        self.run(["ros2", "topic", "echo", "--once", topic, msgtype], timeout=timeout_s)

    def close(self) -> None:
        """Stop everything still running and remove the logs."""
        for proc, log in self._started:
            if proc.poll() is None:
                self.stop(proc, timeout=5)
            log.unlink(missing_ok=True)
        self._started.clear()


def start_recorder(ros2: Ros2, out: Path, *args: str, wait: bool = True) -> Process:
    """Start `robot-logger record --json -o OUT ARGS` and (`wait`) `wait_recorder` for it."""
    proc = ros2.start([*RECORD, "-o", str(out), *args])
    if wait:
        wait_recorder(ros2, proc)
    return proc


def wait_recorder(ros2: Ros2, recorder: Process) -> None:
    """Until the recorder's first status line (stderr, once a second): its transport is up, its
    status is published, it is in its discovery loop. That line comes ~1.5 s sooner than a
    `ros2 topic echo --once` of the status (a second ROS process, its imports and discovery),
    which is what the tests waited for before."""
    if not ros2.wait_for_output(recorder, " written="):
        pytest.fail(f"the recorder printed no status on {ros2.distro}:\n{ros2.output(recorder)}")


def final_status(output: str) -> dict:
    """The JSON a `record --json` run prints last (its status lines come before it)."""
    return json.loads(output[output.index("\n{") + 1 if not output.startswith("{") else 0:])


_FORK_SERVERS: dict[str, ForkServer | None] = {}


def _ros2_python(env: dict[str, str]) -> str:
    """The interpreter the distro's `ros2` program names in its #! line (else `python3`)."""
    program = shutil.which("ros2", path=env.get("PATH"))
    if program is None:
        return "python3"
    with open(program) as script:
        line = script.readline()
    return line.removeprefix("#!").strip() if line.startswith("#!/") else "python3"


@pytest.fixture(scope="session", params=DISTROS)
def ros2_install(request: pytest.FixtureRequest) -> Iterator[Ros2Install]:
    """Each distro, unpacked once per session (skips with the reason where it cannot run); its
    fork server, if one was started, stops with it."""
    yield install(request.param)
    server = _FORK_SERVERS.pop(request.param, None)
    if server is not None:
        server.close()


@pytest.fixture
def ros2(ros2_install: Ros2Install) -> Iterator[Ros2]:
    """A sourced ROS 2 (humble, jazzy) on a domain of this test's own; `ros2` commands run as
    forks of the distro's fork server (one a session)."""
    domain = _fresh_domain()
    env = {**ros2_install.env, "ROS_DOMAIN_ID": str(domain)}
    distro = ros2_install.distro
    if distro not in _FORK_SERVERS:
        _FORK_SERVERS[distro] = start_server(_ros2_python(ros2_install.env), ros2_install.env)
    session = Ros2(distro, ros2_install.prefix, env, domain, _FORK_SERVERS[distro])
    yield session
    session.close()
    if _daemon_running(domain):
        subprocess.run(
            ["ros2", "daemon", "stop"], env=env, capture_output=True, timeout=30, check=False
        )


def _daemon_running(domain: int) -> bool:
    """True when a `ros2` daemon for `domain` runs (a verb without --no-daemon started one). Its
    command line is `python3 -c "from ros2cli.daemon.daemonize import main; main()" --name
    ros2-daemon --ros-domain-id N ...` on Humble and Jazzy."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"ros2cli.daemon.daemonize" in b" ".join(args[:3]) and any(
            flag == b"--ros-domain-id" and value == str(domain).encode()
            for flag, value in zip(args, args[1:])
        ):
            return True
    return False

"""A full disk: the recorder stops before it and closes the bag; `build` removes its temp file
and exits 2; neither ever corrupts a bag or dataset already on the disk (checksums before/after).

The disk is a real tiny filesystem (`mount -t tmpfs -o size=…`), so ENOSPC comes from the kernel.
Mounting needs root: elsewhere these tests skip, saying why.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from robot_logger.bag.reader import open_bag
from robot_logger.bag.repair.recover import repair_bag
from robot_logger.cli import main
from robot_logger.record.bagsink import BagSink, SinkOptions
from robot_logger.sim import Cell, CellSpec, write_bag
from tests.support.dds_env import private_domain
from tests.support.fault_log import cli_outcome, log_fault

MIB = 1 << 20
CLI = [sys.executable, "-c", "from robot_logger.cli import main; main()"]
# 2 arms at 500 Hz, 2 cameras of 160x120 rgb8 at 30 Hz, 2000-point LiDAR at 10 Hz: ~3.8 MB/s
CELL = CellSpec(duration_s=6.0, image_height=120, image_width=160, lidar_points=2000, seed=5)


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def checksums(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Callable[[int], Path]]:
    """tiny_fs(size_mib) -> a fresh tmpfs of that size (unmounted after the test)."""
    mounted: list[Path] = []

    def mount(size_mib: int) -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a tiny tmpfs needs root")
        where = tmp_path / f"fs{len(mounted)}"
        where.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs",
                               str(where)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], check=False)


def feed(sink: BagSink, cell: Cell, pause_every_ns: int = 0) -> int:
    """Put the cell's messages into the sink: at once (a burst far beyond the free space), or
    pausing 10 ms per `pause_every_ns` of cell time so the writer flushes in between."""
    for topic, msgtype in cell.topics().items():
        sink.add_topic(topic, msgtype)
    offered, paused_ns = 0, 0
    for msg in cell.messages():
        if sink.stopped:
            break
        sink.put(msg.topic, msg.log_ns, [(msg.data, msg.stamp_ns)])
        offered += 1
        if pause_every_ns and msg.log_ns - paused_ns >= pause_every_ns:
            time.sleep(0.01)
            paused_ns = msg.log_ns
    return offered


def put_bag(folder: Path, name: str, storage: str) -> Path:
    """A complete, closed bag already on the disk before it fills."""
    path = folder / name
    sink = BagSink(path, SinkOptions(storage=storage, min_free_bytes=0))
    feed(sink, Cell(CellSpec(duration_s=0.5, image_height=24, image_width=32, lidar_points=64)))
    sink.close()
    return path


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_recorder_stops_before_a_tiny_disk_is_full(tiny_fs, storage):
    disk = tiny_fs(12)
    old = put_bag(disk, "old", storage)
    before = checksums(old)
    sink = BagSink(disk / "bag", SinkOptions(storage=storage, min_free_bytes=3 * MIB))
    offered = feed(sink, Cell(CELL))
    stats = sink.close()
    free = shutil.disk_usage(disk).free
    outcome = f"stopped at {free / MIB:.1f} MiB free: {sink.stop_reason}"
    log_fault(f"tiny disk (12 MiB tmpfs), record {storage}", outcome.split(":")[0],
              offered=offered, written=sum(stats.written.values()))
    assert (sink.stop_reason or "").startswith("disk nearly full"), outcome
    assert "closed cleanly" in sink.stop_reason
    assert free > 0
    with open_bag(disk / "bag") as bag:                     # closed: readable without repair
        counts = {t: info.count for t, info in bag.topics.items()}
        assert sum(1 for _ in bag.messages()) == sum(counts.values())
    assert counts == {t: n for t, n in stats.written.items() if n}
    assert sum(counts.values()) > 0
    assert checksums(old) == before


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_a_disk_that_really_fills_stops_the_recorder_with_a_repairable_bag(
        tiny_fs, tmp_path, storage):
    """min_free 0: the kernel's ENOSPC ends the recording; the message says so, the old bag is
    intact, and `repair` (to another disk) recovers what reached the disk."""
    disk = tiny_fs(6)
    old = put_bag(disk, "old", storage)
    before = checksums(old)
    sink = BagSink(disk / "bag", SinkOptions(storage=storage, min_free_bytes=0,
                                             flush_interval_s=0.1))
    feed(sink, Cell(CELL), pause_every_ns=50_000_000)
    sink.close()
    reason = sink.stop_reason or ""
    log_fault(f"disk really full (6 MiB tmpfs, --min-free 0), record {storage}",
              "stopped: " + reason.replace(str(disk / "bag"), "BAG") if reason else "not stopped")
    assert "No space left on device" in reason or "database or disk is full" in reason, reason
    assert checksums(old) == before
    repaired = repair_bag(disk / "bag", tmp_path / "repaired")
    assert repaired.message_count > 0
    with open_bag(tmp_path / "repaired") as bag:
        assert sum(1 for _ in bag.messages()) == repaired.message_count


@pytest.fixture(scope="module")
def source_bag(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("src") / "bag"
    write_bag(path, Cell(CellSpec(duration_s=4.0, image_height=120, image_width=160,
                                  lidar_points=500, seed=2)))
    return path


def test_build_on_a_full_disk_exits_2_and_leaves_no_temp_file(tiny_fs, source_bag):
    disk = tiny_fs(3)
    old = disk / "old.h5"
    assert cli_outcome(run("build", source_bag, "-o", old, "--rate", "2", "--quiet")) == "ok"
    before = checksums(disk)
    result = run("build", source_bag, "-o", disk / "new.h5", "--rate", "30", "--quiet")
    log_fault("tiny disk (3 MiB tmpfs), build", cli_outcome(result), message=result.stderr.strip())
    assert cli_outcome(result) == "error", result.output
    assert "disk full" in result.stderr or "No space left" in result.stderr, result.stderr
    assert sorted(p.name for p in disk.iterdir()) == ["old.h5"]   # no partial, no shards
    assert checksums(disk) == before                               # the old dataset untouched
    replace = run("build", source_bag, "-o", old, "--rate", "30", "--quiet", "--overwrite")
    assert cli_outcome(replace) == "error", replace.output       # replacing it fails the same way
    assert checksums(disk) == before
    assert cli_outcome(run("validate", old)) == "ok"


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_repair_onto_a_full_disk_names_the_disk_and_keeps_nothing(tiny_fs, tmp_path, storage):
    source = tmp_path / "bag"
    sink = BagSink(source, SinkOptions(storage=storage, min_free_bytes=0))
    feed(sink, Cell(CELL))
    sink.close()
    before = checksums(source)
    disk = tiny_fs(2)
    result = run("repair", source, "-o", disk / "repaired")
    log_fault(f"tiny disk (2 MiB tmpfs), repair {storage} onto it", cli_outcome(result))
    assert cli_outcome(result) == "error", result.output
    assert f"{disk}: disk full while writing the repaired copy" in result.stderr, result.stderr
    assert not any(disk.iterdir())                     # no partial copy left behind
    assert checksums(source) == before


@pytest.mark.slow
def test_live_record_on_a_tiny_disk_stops_with_a_clear_error(tiny_fs, monkeypatch):
    """`robot-logger record` (a real process, real DDS) onto a 24 MiB tmpfs holding another bag."""
    env = private_domain(monkeypatch)
    disk = tiny_fs(24)
    old = put_bag(disk, "old", "mcap")
    before = checksums(old)
    recorder = subprocess.Popen(CLI + ["record", "--transport", "dds", "-o", str(disk / "bag"),
                                       "--all", "--min-free", "8", "--json", "--quiet"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    publisher = subprocess.Popen(CLI + ["sim", "--publish", "--transport", "dds", "--duration",
                                        "30", "--wait-subscribers", "30", "--image-size",
                                        "320x240", "--lidar-points", "2000"],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        out, err = recorder.communicate(timeout=120)
    finally:
        publisher.send_signal(signal.SIGINT)
        publisher.communicate(timeout=60)
    last = err.strip().splitlines()[-1]
    stopped = last.startswith("error: disk nearly full")
    log_fault("tiny disk (24 MiB tmpfs), live `robot-logger record` process",
              f"exit {recorder.returncode}, " + ("error: disk nearly full ...; bag closed"
                                                 if stopped else last[:80]))
    assert recorder.returncode == 2 and last.startswith("error: disk nearly full"), err
    assert "Traceback" not in err
    written = {t: n for t, n in json.loads(out)["written"].items() if n}
    with open_bag(disk / "bag") as bag:
        assert {t: info.count for t, info in bag.topics.items()} == written
    assert shutil.disk_usage(disk).free > 0
    assert checksums(old) == before

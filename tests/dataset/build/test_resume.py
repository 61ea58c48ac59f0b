"""Resumable builds: unchanged reruns do nothing, changes rebuild only their shards, a killed
worker's half-written shard is redone, bag fingerprints follow content."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml
from click.testing import CliRunner

from robot_logger.cli import main
from robot_logger.dataset.build.executors import WorkerLost
from robot_logger.dataset.build.fingerprint import bag_fingerprint
from robot_logger.dataset.build.pipeline import build_dataset
from robot_logger.dataset.build.shards import CRASH_ONCE_ENV, shards_dir
from robot_logger.dataset.read.validate import validate_dataset
from robot_logger.errors import DatasetError
from tests.support.dataset_compare import assert_same_dataset
from tests.support.paths import package_sources

SMALL = {"duration_s": 1.5, "episodes": 1, "cameras": 1, "image_height": 24, "image_width": 32,
         "lidar_points": 256}


def make_bags(make_bag, root: Path, count: int) -> Path:
    for i in range(count):
        make_bag(root / "bags" / f"bag_{i}", seed=i, **SMALL)
    return root / "bags"


def stamps(output: Path) -> dict[str, int]:
    """mtime of the output and of every file beside it in its shard folder."""
    files = [output, *sorted(shards_dir(output).glob("*"))] if shards_dir(output).exists() \
        else [output]
    return {p.name: p.stat().st_mtime_ns for p in files}


def test_an_unchanged_rerun_does_no_work(make_bag, tmp_path: Path) -> None:
    bags = make_bags(make_bag, tmp_path, 2)
    for inputs, shards in (([bags], 2), ([bags / "bag_0"], 1)):
        out = tmp_path / f"out_{shards}.h5"
        first = build_dataset(inputs, out, rate_hz=10)
        before = stamps(out)
        again = build_dataset(inputs, out, rate_hz=10)          # no --overwrite needed
        assert (first.shards_built, first.shards_reused) == (shards, 0)
        assert (again.shards_built, again.shards_reused) == (0, shards)
        assert stamps(out) == before                             # nothing was written
        assert (again.episodes, again.frames, again.valid_share, again.offsets_ms) == (
            first.episodes, first.frames, first.valid_share, first.offsets_ms)
    result = CliRunner().invoke(main, ["build", str(bags), "-o", str(tmp_path / "out_2.h5"),
                                       "--rate", "10", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["shards_built"], summary["shards_reused"]) == (0, 2)


def test_a_rerun_by_changed_program_code_rebuilds_its_shards(make_bag, tmp_path: Path) -> None:
    """The package's version string stays 0.1.0 from fix to fix: a rerun after an upgrade that
    changes how shards are built (a fixed offset mean, a wider episode range) reused the stale
    shards. The key now holds a digest of the program's code, so the rerun rebuilds them."""
    bags = make_bags(make_bag, tmp_path, 1)
    source = package_sources(tmp_path / "program")
    out = tmp_path / "out.h5"

    def build(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", "from robot_logger.cli import main; main()",
                               "build", str(bags), "-o", str(out), "--rate", "10", "--json",
                               *extra], env={**os.environ, "PYTHONPATH": str(source)},
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)

    def shards(done: subprocess.CompletedProcess) -> tuple[int, int]:
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        return summary["shards_built"], summary["shards_reused"]

    assert shards(build()) == (1, 0)
    assert shards(build()) == (0, 1)
    module = source / "robot_logger" / "dataset" / "ops" / "images.py"
    module.write_text(module.read_text().replace('"""', '"""An upgraded program. ', 1))
    refused = build()                        # as after a config change: the old output stays
    assert refused.returncode == 2 and "exists; pass --overwrite" in refused.stderr
    assert shards(build("--overwrite")) == (1, 0)


def test_a_changed_bag_rebuilds_only_its_shard(make_bag, tmp_path: Path) -> None:
    bags = make_bags(make_bag, tmp_path, 3)
    out = tmp_path / "out.h5"
    build_dataset([bags], out, rate_hz=10)
    shutil.rmtree(bags / "bag_1")
    # another recording of the same kind of work (seed 3 welds like seed 1): the phase
    # vocabulary, which every shard's labels index into, stays the same
    make_bag(bags / "bag_1", **{**SMALL, "seed": 3})
    with pytest.raises(DatasetError, match="exists; pass --overwrite"):
        build_dataset([bags], out, rate_hz=10)
    summary = build_dataset([bags], out, rate_hz=10, overwrite=True)
    assert (summary.shards_built, summary.shards_reused) == (1, 2)
    build_dataset([bags], tmp_path / "fresh.h5", rate_hz=10)
    assert assert_same_dataset(out, tmp_path / "fresh.h5") > 20


def test_a_new_split_reuses_the_shards_and_a_new_rate_does_not(make_bag, tmp_path: Path) -> None:
    bags = make_bags(make_bag, tmp_path, 3)
    out = tmp_path / "out.h5"
    config = tmp_path / "split.yaml"
    streams = {"arm1_pos": {"topic": "/cell/arm1/joint_states", "field": "position"},
               "cam1": {"topic": "/cell/cam1/image_raw"}}
    config.write_text(yaml.safe_dump({"streams": streams,
                                      "split": {"valid_fraction": 0.3, "seed": 0}}))
    build_dataset([bags], out, config_path=config)
    config.write_text(yaml.safe_dump({"streams": streams,
                                      "split": {"valid_fraction": 0.3, "seed": 5}}))
    summary = build_dataset([bags], out, config_path=config, overwrite=True)
    assert (summary.shards_built, summary.shards_reused) == (0, 3)
    build_dataset([bags], tmp_path / "fresh.h5", config_path=config)
    assert_same_dataset(out, tmp_path / "fresh.h5")
    summary = build_dataset([bags], out, config_path=config, rate_hz=5, overwrite=True)
    assert (summary.shards_built, summary.shards_reused) == (3, 0)


def test_a_killed_worker_is_redone_on_the_rerun(make_bag, tmp_path: Path, monkeypatch) -> None:
    bags = make_bags(make_bag, tmp_path, 4)
    out = tmp_path / "out.h5"
    marker = tmp_path / "crashed"
    monkeypatch.setenv(CRASH_ONCE_ENV, str(marker))
    with pytest.raises(WorkerLost, match="run the same command again"):
        build_dataset([bags], out, rate_hz=10, workers=2)
    assert marker.exists() and not out.exists()
    left = sorted(p.name for p in shards_dir(out).iterdir())
    assert any(name.endswith(".partial") for name in left), left   # killed mid-shard
    summary = build_dataset([bags], out, rate_hz=10, workers=2)   # the marker disarms the hook
    assert summary.shards_built >= 1 and summary.shards_built + summary.shards_reused == 4
    assert summary.shards_reused == sum(not name.endswith(".partial") for name in left)
    assert not list(shards_dir(out).glob("*.partial"))
    assert validate_dataset(out).ok
    monkeypatch.delenv(CRASH_ONCE_ENV)
    build_dataset([bags], tmp_path / "clean.h5", rate_hz=10, workers=1)
    assert assert_same_dataset(out, tmp_path / "clean.h5") > 40


def test_bag_fingerprint_follows_content_not_location(make_bag, tmp_path: Path) -> None:
    bag, _ = make_bag("bag", **SMALL)
    print_ = bag_fingerprint(bag)
    copy = tmp_path / "copy"
    shutil.copytree(bag, copy)
    assert bag_fingerprint(copy) == print_
    storage = next(copy.glob("*.mcap"))
    data = bytearray(storage.read_bytes())
    data[-1] ^= 0xFF                         # the tail is always sampled
    storage.write_bytes(bytes(data))
    changed = bag_fingerprint(copy)
    with storage.open("ab") as handle:       # one more byte: a new size
        handle.write(b"\0")
    assert len({print_, changed, bag_fingerprint(copy)}) == 3


def test_kill_9_of_the_build_leaves_no_worker_and_the_rerun_finishes_it(make_bag,
                                                                        tmp_path: Path) -> None:
    bags = make_bags(make_bag, tmp_path, 6)
    out = tmp_path / "out.h5"
    command = [sys.executable, "-c", "from robot_logger.cli import main; main()", "build",
               str(bags), "-o", str(out), "--rate", "10", "--workers", "2", "--quiet"]
    build = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not list(shards_dir(out).glob("*.partial")) and time.monotonic() < deadline:
        time.sleep(0.02)
    workers = psutil.Process(build.pid).children(recursive=True)
    assert build.poll() is None, "the build ended before it could be killed"
    build.kill()
    build.wait()
    _, alive = psutil.wait_procs(workers, timeout=10)
    for process in alive:              # leave nothing behind, even when the test fails
        process.kill()
    assert not alive, "pool processes outlived the build"
    assert not out.exists()
    summary = build_dataset([bags], out, rate_hz=10, workers=2)
    assert summary.shards_built >= 1 and summary.shards_built + summary.shards_reused == 6
    build_dataset([bags], tmp_path / "clean.h5", rate_hz=10)
    assert assert_same_dataset(out, tmp_path / "clean.h5") > 60

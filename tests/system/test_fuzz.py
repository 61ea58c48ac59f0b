"""Property-based fuzzing (hypothesis) of `info`, `repair` and `build`: damaged bags (flipped
bytes, truncations, garbage metadata.yaml) and random build configs and labels files.

The property: every run ends in bounded time (CASE_TIMEOUT_S, a SIGALRM per command) with one of
the documented outcomes -- success, or one `error: …` line with exit 2 -- never a traceback, never
a hang; and a dataset `build` reports as written must pass `validate` (a build that succeeds and
writes an invalid file is a failure, the worst kind: wrong data without a word). Commands run
in-process through click's CliRunner, so an escaping exception is seen as such. The fast run
tries FAST_EXAMPLES (60 cases), the slow one SLOW_EXAMPLES (600 cases); a bag case runs info,
repair and build (+ validate), a config case build (+ validate).
"""

from __future__ import annotations

import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robot_logger.cli import main
from robot_logger.sim import Cell, CellSpec, write_bag
from tests.support.fault_log import cli_outcome, log_fault

CASE_TIMEOUT_S = 30
FAST_EXAMPLES = {"flips": 6, "truncation": 6, "metadata": 6, "config": 42}       # 60 cases
SLOW_EXAMPLES = {"flips": 150, "truncation": 150, "metadata": 150, "config": 150}  # 600 cases
STORAGES = ("mcap", "sqlite3")
OUTCOMES = ("ok", "error")
SPEC = CellSpec(duration_s=1.0, arms=1, cameras=1, image_height=24, image_width=32,
                lidar_points=64, seed=1, episodes=1)


class CaseTimeout(Exception):
    """A command ran longer than CASE_TIMEOUT_S (a hang, for this suite)."""


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    def expire(_signum: int, _frame: Any) -> None:
        raise CaseTimeout(f"no result after {seconds} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run(outcomes: dict[str, str], *args: object) -> str:
    """Run one command with a time limit; record its outcome under the command's name."""
    with time_limit(CASE_TIMEOUT_S):
        result = CliRunner().invoke(main, [str(a) for a in args])
    outcomes[str(args[0])] = cli_outcome(result)
    return outcomes[str(args[0])]


def judge(fault: str, outcomes: dict[str, str]) -> None:
    """Log the case for the fault table, then require documented outcomes only: ok or one error
    line for each command, and `validate` ok on whatever `build` wrote."""
    bad = {cmd: what for cmd, what in outcomes.items()
           if what not in OUTCOMES or (cmd == "validate" and what != "ok")}
    log_fault(f"fuzz: {fault}", "FAILED" if bad else "documented outcomes only",
              **{cmd: what.split(":")[0] for cmd, what in outcomes.items()},
              **({"reason": str(bad)[:300]} if bad else {}))
    assert not bad, f"{fault}: {bad}"


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    """One small simulated bag per storage, the originals every case damages a copy of."""
    root = tmp_path_factory.mktemp("fuzz_sources")
    out = {}
    for storage in STORAGES:
        out[storage] = root / storage
        write_bag(out[storage], Cell(SPEC), storage=storage)
    return out


def storage_file(bag: Path) -> Path:
    return next(p for p in bag.iterdir() if p.suffix in (".mcap", ".db3"))


def check_bag(fault: str, bag: Path, work: Path) -> None:
    """info, repair and build on a damaged bag: documented outcomes only, never a hang."""
    outcomes: dict[str, str] = {}
    run(outcomes, "info", bag)
    run(outcomes, "repair", bag, "-o", work / "repaired")
    if run(outcomes, "build", bag, "-o", work / "out.h5", "--rate", "10", "--quiet") == "ok":
        run(outcomes, "validate", work / "out.h5")
    judge(fault, outcomes)
    assert not list(work.glob("*.partial")) and not (work / "repaired.partial").exists()


def fuzz_settings(examples: int):
    return settings(max_examples=examples, deadline=None, database=None, derandomize=False,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


@contextmanager
def damaged_copy(source: Path) -> Iterator[tuple[Path, Path]]:
    work = Path(tempfile.mkdtemp(prefix="fuzz_"))
    try:
        bag = work / "bag"
        shutil.copytree(source, bag)
        yield bag, work
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---- strategies ------------------------------------------------------------------------------
REGIONS = st.sampled_from(["anywhere", "head", "tail"])
flips = st.lists(st.tuples(REGIONS, st.floats(0, 1, exclude_max=True), st.integers(1, 255)),
                 min_size=1, max_size=12)
yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                         st.floats(allow_nan=True), st.text(max_size=12))
yaml_leaves = st.one_of(yaml_scalars, st.just([]), st.just({}))
yaml_values = st.recursive(yaml_leaves, lambda inner: st.one_of(
    st.lists(inner, min_size=1, max_size=4),
    st.dictionaries(st.text(max_size=10), inner, min_size=1, max_size=4)), max_leaves=12)


def flip_bytes(path: Path, changes: list[tuple[str, float, int]]) -> None:
    data = bytearray(path.read_bytes())
    span = min(4096, len(data))
    for region, where, xor in changes:
        offset = {"anywhere": int(where * len(data)), "head": int(where * span),
                  "tail": len(data) - 1 - int(where * span)}[region]
        data[offset] ^= xor
    path.write_bytes(bytes(data))


def mutate_metadata(text: str, how: str, value: Any, line: float) -> str:
    lines = text.splitlines()
    if how == "document":
        return yaml.safe_dump(value)
    if how == "line":
        at = int(line * len(lines))
        key = lines[at].split(":")[0]
        lines[at] = f"{key}: {yaml.safe_dump(value, default_flow_style=True).strip()}"
        return "\n".join(lines) + "\n"
    return "\n".join(lines[:int(line * len(lines))]) + "\n"          # "cut"


# ---- bag fuzzing -----------------------------------------------------------------------------
def flipped(sources: dict[str, Path], storage: str, changes: list) -> None:
    fault = f"flipped bytes ({storage})"
    with damaged_copy(sources[storage]) as (bag, work):
        flip_bytes(storage_file(bag), changes)
        check_bag(fault, bag, work)


def truncated(sources: dict[str, Path], storage: str, keep: float, metadata: bool) -> None:
    fault = f"truncated storage file ({storage})"
    with damaged_copy(sources[storage]) as (bag, work):
        file = storage_file(bag)
        data = file.read_bytes()
        file.write_bytes(data[:int(keep * len(data))])
        if not metadata:
            (bag / "metadata.yaml").unlink()
        check_bag(fault, bag, work)


def garbage_metadata(sources: dict[str, Path], storage: str, how: str, value: Any,
                     line: float) -> None:
    fault = f"garbage metadata.yaml ({storage})"
    with damaged_copy(sources[storage]) as (bag, work):
        meta = bag / "metadata.yaml"
        meta.write_text(mutate_metadata(meta.read_text(), how, value, line))
        check_bag(fault, bag, work)


# ---- config and labels fuzzing ---------------------------------------------------------------
TOPICS = ["/cell/arm1/joint_states", "/cell/cam1/image_raw", "/cell/lidar/points",
          "/robot_logger/events", "/nope"]
stream_bodies = st.fixed_dictionaries({"topic": st.sampled_from(TOPICS)}, optional={
    "field": st.one_of(st.sampled_from(["position", "velocity", "effort"]), yaml_scalars),
    "align": st.one_of(st.sampled_from(["interpolate", "nearest", "previous"]), yaml_scalars),
    "tolerance_ms": st.one_of(st.floats(-10, 500), yaml_scalars),
    "joints": st.one_of(st.lists(st.sampled_from(["arm1_joint1", "arm1_joint3", "x"]),
                                 max_size=3), yaml_values),
    "resize": st.one_of(st.lists(st.integers(-2, 40), max_size=3), yaml_values),
    "points": st.one_of(st.integers(-5, 300), yaml_scalars),
    "voxel_size": st.one_of(st.floats(-1, 1), yaml_scalars),
    "crop": st.one_of(st.lists(st.lists(st.floats(-5, 5), min_size=3, max_size=3),
                               min_size=2, max_size=2), yaml_values),
    "time_source": st.one_of(st.sampled_from(["header", "log"]), yaml_scalars),
    "clock_offset_ms": st.one_of(st.floats(-500, 500), st.just("auto"), yaml_scalars),
    "colour": yaml_scalars,
})
build_configs = st.fixed_dictionaries(
    {"streams": st.one_of(st.dictionaries(st.sampled_from(["arm", "cam", "lidar", "9x", "a b"]),
                                          stream_bodies, max_size=3), yaml_values)},
    optional={
        "rate_hz": st.one_of(st.floats(-1, 200), yaml_scalars),
        "reference": st.one_of(st.sampled_from(["arm", "cam", "lidar"]), yaml_scalars),
        "time_source": st.one_of(st.sampled_from(["header", "log"]), yaml_scalars),
        "latency_margin_ms": st.one_of(st.floats(-5, 1000), yaml_scalars),
        "actions": st.one_of(st.fixed_dictionaries({}, optional={
            "stream": st.one_of(st.sampled_from(["arm", "cam"]), yaml_values),
            "shift": st.one_of(st.integers(-2, 5), yaml_scalars),
            "topic": st.sampled_from(TOPICS), "field": yaml_scalars}), yaml_values),
        "episodes": st.one_of(st.fixed_dictionaries({}, optional={
            "events_topic": st.one_of(st.sampled_from(TOPICS), yaml_scalars),
            "labels_file": st.sampled_from(["labels.yaml", "missing.yaml"])}), yaml_values),
        "split": st.one_of(st.fixed_dictionaries({}, optional={
            "valid_fraction": st.one_of(st.floats(-0.5, 1.5), yaml_scalars),
            "seed": yaml_scalars}), yaml_values),
        "compression": st.one_of(st.fixed_dictionaries({}, optional={
            "images": st.sampled_from(["gzip", "lzf", "none", "blosc", "zip"]),
            "lidar": st.sampled_from(["gzip", "lzf", "none", "zip"]),
            "level": st.one_of(st.integers(-2, 12), yaml_scalars)}), yaml_values),
        "extra": yaml_values,
    })
seconds = st.one_of(st.floats(-1, 3), st.integers(0, 2 * 10**18), yaml_scalars)
phases = st.lists(st.fixed_dictionaries({"name": st.one_of(st.text(max_size=6), yaml_scalars),
                                         "start": seconds, "end": seconds}), max_size=3)
labels_files = st.one_of(
    st.lists(st.fixed_dictionaries({"start": seconds, "end": seconds}, optional={
        "task": st.one_of(st.text(max_size=8), yaml_scalars),
        "outcome": st.one_of(st.sampled_from(["success", "failure", "aborted", "unknown"]),
                             yaml_scalars),
        "phases": st.one_of(phases, yaml_values)}), max_size=3),
    yaml_values)


def build_config_case(source: Path, config: Any, labels: Any) -> None:
    fault = "random build config + labels file"
    work = Path(tempfile.mkdtemp(prefix="fuzz_cfg_"))
    try:
        (work / "labels.yaml").write_text(yaml.safe_dump(labels))
        (work / "build.yaml").write_text(yaml.safe_dump(config))
        outcomes: dict[str, str] = {}
        if run(outcomes, "build", source, "-o", work / "out.h5", "--config",
               work / "build.yaml", "--quiet") == "ok":
            run(outcomes, "validate", work / "out.h5")
        judge(fault, outcomes)
        assert not list(work.glob("*.partial"))
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---- the tests: a fast handful and the slow >= 500 -------------------------------------------
def bag_tests(examples: dict[str, int]):
    storages = st.sampled_from(STORAGES)

    @fuzz_settings(examples["flips"])
    @given(storage=storages, changes=flips)
    def flipped_bytes(sources, storage, changes):
        flipped(sources, storage, changes)

    @fuzz_settings(examples["truncation"])
    @given(storage=storages, keep=st.floats(0, 1), metadata=st.booleans())
    def truncation(sources, storage, keep, metadata):
        truncated(sources, storage, keep, metadata)

    @fuzz_settings(examples["metadata"])
    @given(storage=storages, how=st.sampled_from(["document", "line", "cut"]), value=yaml_values,
           line=st.floats(0, 1, exclude_max=True))
    def metadata(sources, storage, how, value, line):
        garbage_metadata(sources, storage, how, value, line)

    @fuzz_settings(examples["config"])
    @given(config=build_configs, labels=labels_files)
    def config(sources, config, labels):
        build_config_case(sources["mcap"], config, labels)

    return flipped_bytes, truncation, metadata, config


(test_flipped_bytes, test_truncation, test_garbage_metadata,
 test_random_build_config) = bag_tests(FAST_EXAMPLES)
_slow = [pytest.mark.slow(t) for t in bag_tests(SLOW_EXAMPLES)]
(test_flipped_bytes_slow, test_truncation_slow, test_garbage_metadata_slow,
 test_random_build_config_slow) = _slow


def test_a_build_that_writes_an_invalid_dataset_fails_the_case(monkeypatch) -> None:
    """The judge itself: 'build ok, then validate says invalid' used to count as documented."""
    monkeypatch.delenv("ROBOT_LOGGER_FAULT_LOG", raising=False)
    with pytest.raises(AssertionError, match="validate"):
        judge("a case", {"build": "ok", "validate": "invalid"})
    judge("a case", {"info": "error", "build": "ok", "validate": "ok"})

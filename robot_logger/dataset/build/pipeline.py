"""Bags -> one HDF5 dataset: plan episodes, stream each bag once, write, summarize.

    summary = build_dataset(["cell_bag"], "cell.h5", config_path="config/dataset.yaml", workers=2)

1. Plan (main process): open every bag (sorted by path), resolve the config against its topics,
   read only the events topic (tiny) to get episodes (a labels file wins), and the reference
   stream's stamps if the clock is a stream; number episodes by bag path and time; split.
2. Tasks: one per bag, or a bag's episodes cut into contiguous groups when there are fewer bags
   than workers. A task reads its bag once (`episode_builder`), writing episodes as they end.
3. Each task writes one shard (`shards.py`), run by an executor (`executors.py`: here, a local
   process pool, or Ray); shards whose inputs did not change since an earlier run are reused.
   Several shards are joined by an index file of external links; one shard is the output itself.
   Stats are merged per episode in index order, so the result does not depend on N.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from robot_logger import __version__
from robot_logger.bag.reader import STORAGE_SUFFIXES, open_bag, storage_files
from robot_logger.core.messages import header_stamp_ns
from robot_logger.dataset import schema
from robot_logger.core.events import episodes_from_events
from robot_logger.dataset.build.labels_file import load_labels_file
from robot_logger.dataset.ops.align import clean_order, reference_times
from robot_logger.dataset.build.config import BuildConfig, config_json, discover_config, \
    load_config, resolve_streams
from robot_logger.dataset.build.episode import STATS_VALUES, EpisodeBuilder, EpisodePlan, \
    EpisodeResult, TaskContext
from robot_logger.dataset.build.executors import ExecutorSpec
from robot_logger.dataset.build.shards import ShardedBuild, dataset_bytes
from robot_logger.dataset.ops.stats import RunningStats
from robot_logger.dataset.build.writer import DatasetWriter, json_attr
from robot_logger.errors import BagError, DatasetError
from robot_logger.core.events import EventTally

__all__ = ["BuildSummary", "find_bags", "build_dataset"]

Progress = Callable[[float], None]   # called with bag seconds done since the last call


@dataclass(frozen=True)
class BagPlan:
    """One bag's part of the build."""

    path: Path
    topic_types: dict[str, str]
    kinds: dict[str, str]
    episodes: list[EpisodePlan]


@dataclass(frozen=True)
class Task:
    """Episodes of one bag that one worker builds in one pass."""

    bag: BagPlan
    episodes: list[EpisodePlan]
    config: BuildConfig
    phase_names: list[str]


@dataclass
class BuildSummary:
    """What `build` reports: counts, per-stream valid share, header-vs-log offsets, size, time."""

    output: str
    bags: list[str]
    episodes: int
    frames: int
    valid_share: dict[str, float]
    offsets_ms: dict[str, dict[str, float]]
    size_bytes: int
    seconds: float
    bag_seconds: float
    warnings: list[str] = field(default_factory=list)
    shards_built: int = 0      # shards (tasks) built by this run
    shards_reused: int = 0     # shards found complete and unchanged from an earlier run


def find_bags(inputs: Iterable[str | Path]) -> list[Path]:
    """Bag paths from arguments: a bag (folder or file) as is; other folders searched for bags.

    In a search, a folder with metadata.yaml is one bag (its storage files belong to it) and a
    .mcap/.db3 file anywhere else is a bag of its own, as `info` reads it. A folder without
    metadata.yaml whose files are named `<folder>_<N>` is a recording whose recorder was killed:
    it stays one bag, so opening it says to run `repair` instead of building part of it.
    """
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if not path.exists():
            raise BagError(f"{path}: no such file or directory")
        if path.is_file() or _is_bag_dir(path) or _unfinished_recording(path):
            found.append(path)
            continue
        inside = _search(path)
        if not inside:
            raise BagError(f"{path}: no rosbag2 bag (metadata.yaml, .mcap or .db3) inside")
        found.extend(inside)
    return sorted(set(found), key=lambda p: str(p))


def _search(root: Path) -> list[Path]:
    """Bags under a folder that is not one itself (see `find_bags`)."""
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs.sort()
        if here != root and (_is_bag_dir(here) or _unfinished_recording(here)):
            found.append(here)
            dirs.clear()
            continue
        found.extend(here / name for name in sorted(files)
                     if Path(name).suffix in STORAGE_SUFFIXES)
    return found


def _is_bag_dir(path: Path) -> bool:
    return path.is_dir() and (path / "metadata.yaml").is_file()


def _unfinished_recording(path: Path) -> bool:
    if not path.is_dir() or _is_bag_dir(path):
        return False
    files = storage_files(path)
    split = re.compile(rf"{re.escape(path.name)}_\d+")
    return bool(files) and all(split.fullmatch(f.stem) for f in files)


def _read_plan(path: Path, config: BuildConfig) -> tuple[BagPlan, list[str]]:
    """Resolve the config for one bag and find its episodes and reference clocks."""
    with open_bag(path) as bag:
        topic_types = {t: info.msgtype for t, info in bag.topics.items()}
        if bag.message_count == 0:
            raise BagError(f"{path}: the bag has no messages to build from")
        kinds = resolve_streams(config, topic_types, str(path))
        events_topic = config.episodes.events_topic
        wanted = [t for t in (events_topic, _reference_topic(config)) if t in topic_types]
        events, ref_stamps, tally = [], [], EventTally()
        for topic, msgtype, log_ns, raw in bag.messages(wanted):
            if topic == events_topic and config.episodes.labels_file is None:
                event = tally.decode(str(bag.deserialize(raw, msgtype).data))
                if event is not None:
                    events.append((log_ns, event))
            if topic == _reference_topic(config):
                stamp = header_stamp_ns(raw) if config.time_source == "header" else 0
                ref_stamps.append(stamp if stamp > 0 else log_ns)
        if config.episodes.labels_file is not None:
            episodes = load_labels_file(config.episodes.labels_file, bag.start_ns)
        else:
            episodes = episodes_from_events(events, bag.start_ns, bag.end_ns)
        warnings = [f"{path}: {w}" for w in bag.warnings + tally.warnings(str(events_topic))]
    stamps = np.asarray(ref_stamps, np.int64)
    stamps = stamps[clean_order(stamps)]
    plans = []
    for episode in episodes:
        if config.reference:
            ref = stamps[(stamps >= episode.start_ns) & (stamps <= episode.end_ns)]
        else:
            ref = reference_times(episode.start_ns, episode.end_ns, config.rate_hz or 0.0)
        if len(ref) == 0:
            warnings.append(f"{path}: skipped an episode at {episode.start_ns} ns with no "
                            "reference time in it")
            continue
        plans.append(EpisodePlan(-1, str(path), episode, ref, True))
    return BagPlan(path, topic_types, kinds, plans), warnings


def _reference_topic(config: BuildConfig) -> str | None:
    return config.stream(config.reference).topic if config.reference else None


def plan_build(bags: Sequence[Path], config: BuildConfig
               ) -> tuple[list[BagPlan], list[str], list[str]]:
    """Bag plans with global episode indices and the split; phase vocabulary; warnings."""
    read = [_read_plan(path, config) for path in bags]
    warnings = [w for _, ws in read for w in ws]
    count = sum(len(plan.episodes) for plan, _ in read)
    if count == 0:
        raise DatasetError("no episode to build: every episode was empty")
    valid = _valid_indices(count, config.split.valid_fraction, config.split.seed)
    plans, index, phases = [], 0, {}
    for plan, _ in read:
        numbered = []
        for ep in plan.episodes:
            phases.update(dict.fromkeys(p.name for p in ep.episode.phases))
            numbered.append(EpisodePlan(index, ep.bag, ep.episode, ep.ref_ns, index not in valid))
            index += 1
        plans.append(BagPlan(plan.path, plan.topic_types, plan.kinds, numbered))
    return plans, list(phases), warnings


def _valid_indices(count: int, fraction: float, seed: int) -> set[int]:
    """Episodes in the valid split: round(fraction * count), at least one if fraction > 0 and
    there are two episodes or more, never all of them."""
    wanted = int(round(fraction * count))
    if fraction > 0 and count >= 2:
        wanted = min(max(wanted, 1), count - 1)
    elif count < 2:
        wanted = 0
    return {int(i) for i in np.random.default_rng(seed).permutation(count)[:wanted]}


def _tasks(plans: list[BagPlan], config: BuildConfig, phase_names: list[str],
           workers: int) -> list[Task]:
    groups = max(1, -(-workers // len(plans))) if workers > len(plans) else 1
    tasks = []
    for plan in (p for p in plans if p.episodes):   # a bag whose episodes were all skipped
        for part in np.array_split(np.arange(len(plan.episodes)), min(groups, len(plan.episodes))):
            tasks.append(Task(plan, [plan.episodes[i] for i in part], config, phase_names))
    return tasks


def run_task(task: Task, writer: DatasetWriter, progress: Progress | None = None
             ) -> tuple[list[EpisodeResult], dict[str, list[int]]]:
    """Build a task's episodes in one pass over its bag, writing into `writer`."""
    with open_bag(task.bag.path) as bag:
        ctx = TaskContext(task.config, task.bag.kinds, task.bag.topic_types, bag.deserialize,
                          task.phase_names)
        upcoming = sorted(task.episodes, key=lambda p: p.episode.start_ns)
        active: list[EpisodeBuilder] = []
        results: list[EpisodeResult] = []

        def close(builder: EpisodeBuilder) -> None:
            results.append(builder.finish())
            if progress:
                progress((builder.plan.episode.end_ns - builder.plan.episode.start_ns) / 1e9)

        topics = sorted({t for s in task.config.streams for t in [s.topic]}
                        | ({task.config.actions.topic} if task.config.actions.topic else set()))
        window_ns = ctx.window_ns
        next_open = upcoming[0].episode.start_ns - window_ns if upcoming else None
        next_close = None
        start_ns = upcoming[0].episode.start_ns - window_ns if upcoming else None
        stop_ns = max(p.episode.end_ns for p in upcoming) + window_ns + 1 if upcoming else None
        for topic, _msgtype, log_ns, raw in bag.messages(topics, start_ns=start_ns,
                                                         stop_ns=stop_ns):
            if next_close is not None and log_ns > next_close or \
                    next_open is not None and log_ns >= next_open:
                while active and log_ns > min(b.window[1] for b in active):
                    done = min(active, key=lambda b: b.window[1])
                    active.remove(done)
                    close(done)
                while upcoming and log_ns >= upcoming[0].episode.start_ns - window_ns:
                    plan = upcoming.pop(0)
                    demo = writer.episode(schema.demo_name(plan.index), _demo_attrs(plan))
                    active.append(EpisodeBuilder(plan, ctx, demo))
                if not active and not upcoming:
                    break
                next_open = upcoming[0].episode.start_ns - window_ns if upcoming else None
                next_close = min((b.window[1] for b in active), default=None)
            for builder in active:
                builder.add(topic, log_ns, raw)
        for plan in upcoming:
            active.append(EpisodeBuilder(plan, ctx, writer.episode(schema.demo_name(plan.index),
                                                                   _demo_attrs(plan))))
        for builder in active:
            close(builder)
    return results, ctx.offsets


def _demo_attrs(plan: EpisodePlan) -> dict[str, Any]:
    ep = plan.episode
    return {"num_samples": len(plan.ref_ns), "source_bag": plan.bag,
            "t_start_ns": int(plan.ref_ns[0]), "t_end_ns": int(plan.ref_ns[-1]),
            "task": ep.task, "outcome": ep.outcome}


def build_dataset(inputs: Sequence[str | Path], output: str | Path, *,
                  config_path: str | Path | None = None, rate_hz: float | None = None,
                  workers: int = 1, executor: str = "local", ray_address: str | None = None,
                  overwrite: bool = False, strict: bool = False,
                  progress: Progress | None = None, on_plan: Callable[[float], None] | None = None
                  ) -> BuildSummary:
    """Build `output` from bags (see the module docstring); returns the summary.

    `executor` local|ray runs the tasks on `workers` processes (Ray: `ray_address`, else a
    running cluster, else a local instance). `on_plan(total_bag_seconds)` is called once
    planning is done; `progress(seconds)` as tasks finish. An unchanged rerun does no work.
    `strict`: any warning (skipped events, episodes, ...) is a DatasetError before anything is
    written. Raises BagError/ConfigError/DatasetError; never leaves a half file.
    """
    started = time.perf_counter()
    spec = ExecutorSpec(executor, workers, ray_address)
    bags = find_bags(inputs)
    config = load_config(config_path) if config_path else discover_config(_union_topics(bags))
    if rate_hz is not None:
        config = config.with_rate(rate_hz)
    plans, phase_names, warnings = plan_build(bags, config)
    if strict and warnings:
        more = f"; {len(warnings) - 1} more warnings" if len(warnings) > 1 else ""
        raise DatasetError(f"{warnings[0]} (--strict{more})")
    bag_seconds = sum((e.episode.end_ns - e.episode.start_ns) / 1e9
                      for p in plans for e in p.episodes)
    if on_plan:
        on_plan(bag_seconds)
    sharded = ShardedBuild(output, _tasks(plans, config, phase_names, workers), config, run_task,
                           overwrite=overwrite)
    sharded.run(spec, progress)
    results = sharded.results
    offsets: dict[str, list[int]] = {}
    for shard_offsets in sharded.offsets:
        _merge_offsets(offsets, shard_offsets)
    sharded.write(_dataset_meta(config, bags, plans, results))
    summary = _summary(output, bags, results, offsets, warnings, started, bag_seconds)
    summary.shards_built, summary.shards_reused = sharded.done, sharded.skipped
    return summary


def _merge_offsets(into: dict[str, list[int]], more: dict[str, list[int]]) -> None:
    for topic, (n, total, low, high) in more.items():
        acc = into.setdefault(topic, [0, 0, low, high])
        acc[0] += n
        acc[1] += total
        acc[2], acc[3] = min(acc[2], low), max(acc[3], high)


def _union_topics(bags: Sequence[Path]) -> dict[str, str]:
    topics: dict[str, str] = {}
    for path in bags:
        with open_bag(path) as bag:
            topics.update({t: info.msgtype for t, info in bag.topics.items()})
    return topics


def _dataset_meta(config: BuildConfig, bags: Sequence[Path], plans: list[BagPlan],
                  results: list[EpisodeResult]) -> dict[str, Any]:
    joint_names: dict[str, list[str]] = {}
    stats: dict[str, RunningStats] = {}
    for result in results:
        for stream, names in result.joint_names.items():
            if joint_names.setdefault(stream, names) != names:
                raise DatasetError(f"stream {stream}: joint names differ between episodes "
                                   f"({joint_names[stream]} vs {names}); list them with "
                                   f"joints: [...] in the config")
        for key, arrays in result.stats.items():
            stats.setdefault(key, RunningStats()).update(arrays[STATS_VALUES])
    train = [schema.demo_name(e.index) for p in plans for e in p.episodes if e.train]
    valid = [schema.demo_name(e.index) for p in plans for e in p.episodes if not e.train]
    return {
        "root_attrs": {schema.ATTR_CREATED_BY: f"robot_logger {__version__}",
                       schema.ATTR_BUILD_CONFIG: config_json(config),
                       schema.ATTR_SOURCE_BAGS: json_attr([str(b) for b in bags])},
        "data_attrs": {schema.ATTR_ENV_ARGS: json_attr({"env_name": "robot_logger_cell",
                                                        "type": 0, "env_kwargs": {}}),
                       schema.ATTR_RATE_HZ: float(config.rate_hz or 0.0)},
        "masks": {"train": train, "valid": valid},
        "stats": {key: acc.to_dict() for key, acc in stats.items()},
        "joint_names": joint_names,
    }


def _summary(output: str | Path, bags: Sequence[Path], results: list[EpisodeResult],
             offsets: dict[str, list[int]], warnings: list[str], started: float,
             bag_seconds: float) -> BuildSummary:
    frames = sum(r.frames for r in results)
    streams = sorted({s for r in results for s in r.valid})
    share = {s: sum(r.valid.get(s, 0) for r in results) / max(frames, 1) for s in streams}
    offsets_ms = {t: {"mean": total / n / 1e6, "min": low / 1e6, "max": high / 1e6}
                  for t, (n, total, low, high) in sorted(offsets.items())}
    return BuildSummary(str(output), [str(b) for b in bags], len(results), frames, share,
                        offsets_ms, dataset_bytes(output), time.perf_counter() - started,
                        bag_seconds, warnings)


def summary_json(summary: BuildSummary) -> dict[str, Any]:
    """The summary as a JSON-ready dict."""
    out: dict[str, Any] = json.loads(json.dumps(summary.__dict__, default=str))
    return out

"""Bags -> one HDF5 dataset: plan episodes, stream each bag once, write, summarize.

    summary = build_dataset(["cell_bag"], "cell.h5", config_path="config/dataset.yaml", workers=2)

1. Plan (main process): open every bag (sorted by path), probe the first second of its stream
   topics (build/probe.py: kinds, field paths, joint names, frame ids, clock offsets), resolve
   the config against it, read the events topic (tiny) to get episodes (a labels file wins),
   /tf_static, the reference stream's stamps if the clock is a stream, and the stamps of
   `clock_offset_ms: auto` streams (one pass); fix every low-dim stream's columns for the whole
   dataset (joint names in first-seen order over the bags, or `joints:`); number episodes by bag
   path and time; split.
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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robot_logger import __version__
from robot_logger.bag.reader import STORAGE_SUFFIXES, BagReader, open_bag, storage_files
from robot_logger.core.clockfit import unsynchronised
from robot_logger.core.events import EventTally, episodes_from_events
from robot_logger.core.messages import cdr_leaves, header_stamp_ns
from robot_logger.dataset import schema
from robot_logger.dataset.build.config import (
    ACTIONS_SOURCE,
    BuildConfig,
    StreamConfig,
    camera_info_topic,
    config_json,
    discover_config,
    load_config,
    resolve_streams,
)
from robot_logger.dataset.build.episode import (
    STATS_VALUES,
    BagStreams,
    EpisodeBuilder,
    EpisodePlan,
    EpisodeResult,
    StreamLayout,
    TaskContext,
)
from robot_logger.dataset.build.executors import ExecutorSpec
from robot_logger.dataset.build.labels_file import load_labels_file
from robot_logger.dataset.build.probe import (
    TF_MESSAGE,
    TF_STATIC_TOPIC,
    TF_TOPIC,
    BagProbe,
    probe_bag,
    tf_transforms,
)
from robot_logger.dataset.build.shards import ShardedBuild, dataset_bytes
from robot_logger.dataset.build.writer import DatasetWriter, json_attr
from robot_logger.dataset.ops.align import clean_order, reference_times
from robot_logger.dataset.ops.clocks import ClockFix, OffsetStats, fit_lower_envelope, fixed_offset
from robot_logger.dataset.ops.depth import depth_encoding, scale_intrinsics
from robot_logger.dataset.ops.fields import NAMES_ATTR, FieldError, field_spec
from robot_logger.dataset.ops.stats import RunningStats
from robot_logger.dataset.ops.transforms import FrameTree, Transform
from robot_logger.dataset.schema import StreamKind, TimeSource
from robot_logger.errors import BagError, ConfigError, DatasetError

__all__ = ["BuildSummary", "find_bags", "build_dataset"]

Progress = Callable[[float], None]   # called with bag seconds done since the last call


@dataclass(frozen=True)
class BagPlan:
    """One bag's part of the build."""

    path: Path
    topic_types: dict[str, str]
    kinds: dict[str, StreamKind]
    episodes: list[EpisodePlan]
    streams: BagStreams = field(default_factory=BagStreams)
    frame_ids: dict[str, str] = field(default_factory=dict)        # stream -> header.frame_id
    static_tf: list[Transform] = field(default_factory=list)
    moving_tf: list[Transform] = field(default_factory=list)       # /tf: first pose per frame


@dataclass(frozen=True)
class Task:
    """Episodes of one bag that one worker builds in one pass."""

    bag: BagPlan
    episodes: list[EpisodePlan]
    config: BuildConfig
    phase_names: list[str]
    layouts: dict[str, StreamLayout] = field(default_factory=dict)


@dataclass
class BuildSummary:
    """What `build` reports: counts, per-stream valid share, header-vs-log offsets, size, time."""

    output: str
    bags: list[str]
    episodes: int
    frames: int
    valid_share: dict[str, float]
    offsets_ms: dict[str, dict[str, float]]      # topic -> mean, min, max of log - header
    size_bytes: int
    seconds: float
    bag_seconds: float
    warnings: list[str] = field(default_factory=list)
    shards_built: int = 0      # shards (tasks) built by this run
    shards_reused: int = 0     # shards found complete and unchanged from an earlier run
    clocks: dict[str, dict[str, Any]] = field(default_factory=dict)   # stream -> clock record


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


def _read_plan(path: Path, config: BuildConfig
               ) -> tuple[BagPlan, BagProbe, list[str]]:
    """Probe and resolve one bag, and find its episodes, reference clocks, tf and clocks."""
    with open_bag(path) as bag:
        topic_types = {t: info.msgtype for t, info in bag.topics.items()}
        if bag.message_count == 0:
            raise BagError(f"{path}: the bag has no messages to build from")
        probe = probe_bag(bag, [s.topic for s in config.all_streams]
                          + ([TF_TOPIC] if config.frames.base or any(
                              s.frame for s in config.streams) else []))
        kinds = resolve_streams(config, topic_types, str(path), probe.samples)
        _check_clock_keys(config, bag)
        info_topics = {s.name: camera_info_topic(s) for s in config.streams
                       if kinds[s.name] in (StreamKind.IMAGE, StreamKind.DEPTH)}
        for name, topic in info_topics.items():
            if config.stream(name).camera_info and topic not in topic_types:
                raise ConfigError(f"{config.source}: streams.{name}.camera_info: topic {topic!r} "
                                  f"is not in {path}")
        info_topics = {n: t for n, t in info_topics.items()
                       if topic_types.get(t) == "sensor_msgs/msg/CameraInfo"}
        events_topic = config.episodes.events_topic
        reference = _reference_topic(config)
        auto = {s.topic for s in config.all_streams if s.clock_offset_ms == "auto"}
        wanted = [t for t in {events_topic, reference, TF_STATIC_TOPIC, *auto}
                  if t in topic_types]
        events, ref_stamps, static_tf, tally = [], [], [], EventTally()
        clock_stamps: dict[str, tuple[list[int], list[int]]] = {t: ([], []) for t in auto}
        for topic, msgtype, log_ns, raw in bag.messages(wanted):
            if topic == events_topic and config.episodes.labels_file is None:
                event = tally.decode(str(bag.deserialize(raw, msgtype).data))
                if event is not None:
                    events.append((log_ns, event))
            if topic == reference:
                ref_stamps.append((header_stamp_ns(raw), log_ns))
            if topic == TF_STATIC_TOPIC and msgtype == TF_MESSAGE:
                static_tf += tf_transforms(bag.deserialize(raw, msgtype))
            if topic in clock_stamps:
                clock_stamps[topic][0].append(header_stamp_ns(raw))
                clock_stamps[topic][1].append(log_ns)
        if config.episodes.labels_file is not None:
            episodes = load_labels_file(config.episodes.labels_file, bag.start_ns)
        else:
            episodes = episodes_from_events(events, bag.start_ns, bag.end_ns)
        warnings = [f"{path}: {w}" for w in bag.warnings + tally.warnings(str(events_topic))]
        has_header = {t: bag.has_header(t) for t in set(topic_types.values())
                      if bag.can_decode(t)}
    clocks = _clocks(config, clock_stamps, path)
    warnings += _clock_warnings(config, kinds, probe, clocks, path)
    frame_ids = {name: _frame_id(probe.samples[config.stream(name).topic], path,
                                 config.stream(name).topic)
                 for name, kind in kinds.items() if kind != StreamKind.LOWDIM
                 and config.stream(name).topic in probe.samples}
    lidar_tf, tf_warnings = _lidar_transforms(config, kinds, frame_ids, static_tf, probe.tf, path)
    warnings += tf_warnings
    plans = []
    stamps = _reference_stamps(config, ref_stamps, clocks)
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
    depth_dtypes = {name: "float32" if depth_encoding(probe.samples[config.stream(name).topic])
                    == "32FC1" else "uint16" for name, kind in kinds.items()
                    if kind == StreamKind.DEPTH and config.stream(name).topic in probe.samples}
    streams = BagStreams(clocks, lidar_tf, info_topics, has_header, depth_dtypes)
    return BagPlan(path, topic_types, kinds, plans, streams, frame_ids, static_tf, probe.tf), \
        probe, warnings


def _reference_stamps(config: BuildConfig, stamps: list[tuple[int, int]],
                      clocks: dict[str, ClockFix]) -> np.ndarray:
    """The reference stream's times (corrected header stamps, log time where unset), sorted."""
    if not config.reference:
        return np.zeros(0, np.int64)
    pairs = np.asarray(stamps, np.int64).reshape(-1, 2)
    header, log = pairs[:, 0], pairs[:, 1]
    if config.time_source == TimeSource.LOG:
        times = log
    else:
        fixed = clocks.get(config.reference)
        times = np.where(header > 0, fixed.apply(header) if fixed else header, log)
    ordered: np.ndarray = times[clean_order(times)]
    return ordered


def _check_clock_keys(config: BuildConfig, bag: BagReader) -> None:
    """clock_offset_ms needs a header stamp to correct."""
    for stream in config.all_streams:
        msgtype = bag.topics[stream.topic].msgtype
        if stream.clock_offset_ms is not None and not bag.has_header(msgtype):
            raise ConfigError(f"{config.source}: streams.{stream.name}.clock_offset_ms: "
                              f"{msgtype} has no header stamp to correct")


def _clocks(config: BuildConfig, stamps: dict[str, tuple[list[int], list[int]]],
            path: Path) -> dict[str, ClockFix]:
    """Clock corrections of the streams that ask for one (fixed, or fitted on this bag)."""
    out: dict[str, ClockFix] = {}
    for stream in config.all_streams:
        if stream.clock_offset_ms is None:
            continue
        if stream.clock_offset_ms != "auto":
            out[stream.name] = fixed_offset(float(stream.clock_offset_ms))
            continue
        header, log = stamps.get(stream.topic, ([], []))
        fix = fit_lower_envelope(np.asarray(header, np.int64), np.asarray(log, np.int64))
        if fix is None:
            raise DatasetError(f"{path}: stream {stream.name} ({stream.topic}): "
                               "clock_offset_ms: auto needs at least 2 stamped messages")
        out[stream.name] = fix
    return out


def _clock_warnings(config: BuildConfig, kinds: dict[str, StreamKind], probe: BagProbe,
                    clocks: dict[str, ClockFix], path: Path) -> list[str]:
    """A loud warning for every uncorrected stream whose smallest log - header (first second)
    says its stamps come from another clock; naming the stream and the fix."""
    out = []
    margin = config.latency_margin_ms
    for stream in config.all_streams:
        offset_ns = probe.min_offset_ns.get(stream.topic)
        if offset_ns is None or stream.name in clocks or config.time_source == TimeSource.LOG:
            continue
        offset_ms = offset_ns / 1e6
        if not unsynchronised(offset_ms):
            continue
        effect = (f"over latency_margin_ms ({margin:g}), so every frame of it would be invalid"
                  if offset_ms > margin else
                  f"so its frames are off by about {abs(offset_ms):.0f} ms against the other "
                  "streams")
        out.append(f"{path}: stream {stream.name} ({stream.topic}): the smallest log time minus "
                   f"header stamp is {offset_ms:.1f} ms, {effect}; its device clock is not "
                   f"synchronised: set clock_offset_ms: auto on streams.{stream.name} "
                   "(or a measured offset in ms, or time_source: log)")
    return out


def _frame_id(sample: Any, path: Path, topic: str) -> str:
    """header.frame_id of a camera/LiDAR sample; DatasetError when the bag's own definition of
    the type gave it another layout (found by the fuzzer: a flipped schema byte, no `header`)."""
    frame_id = getattr(getattr(sample, "header", None), "frame_id", None)
    if not isinstance(frame_id, str):
        msgtype = type(sample).__name__.replace("__", "/")
        raise DatasetError(f"{path}: {topic}: its messages have no header.frame_id, so they do "
                           f"not have the layout of a ROS 2 {msgtype}; does the bag define the "
                           "type differently?")
    return frame_id.lstrip("/")


def _transform(static_tf: list[Transform], moving_tf: list[Transform], target: str,
               source: str) -> tuple[np.ndarray | None, bool]:
    """target_T_source from /tf_static, else with /tf's first poses too; True when /tf was
    needed (a moving frame: the transform is its first pose)."""
    matrix = FrameTree(static_tf).matrix(target, source)
    if matrix is not None or not moving_tf:
        return matrix, False
    return FrameTree([*moving_tf, *static_tf]).matrix(target, source), True


def _lidar_transforms(config: BuildConfig, kinds: dict[str, StreamKind], frame_ids: dict[str, str],
                      static_tf: list[Transform], moving_tf: list[Transform], path: Path
                      ) -> tuple[dict[str, np.ndarray], list[str]]:
    """For LiDAR streams with `frame:`, the 4x4 from their cloud's frame into it."""
    out: dict[str, np.ndarray] = {}
    warnings = []
    for stream in config.streams:
        if kinds[stream.name] != StreamKind.LIDAR or stream.frame is None:
            continue
        source = frame_ids.get(stream.name)
        if source is None:
            continue                    # no message in this bag: nothing to transform
        matrix, moving = _transform(static_tf, moving_tf, stream.frame, source)
        if matrix is None:
            raise ConfigError(f"{config.source}: streams.{stream.name}.frame: no /tf_static or "
                              f"/tf path from the cloud's frame {source!r} to {stream.frame!r} "
                              f"in {path}")
        if moving:
            warnings.append(f"{path}: stream {stream.name}: {source!r} reaches {stream.frame!r} "
                            "only through /tf (a moving frame); its first pose is used for "
                            "every cloud")
        out[stream.name] = matrix
    return out, warnings


def _reference_topic(config: BuildConfig) -> str | None:
    return config.stream(config.reference).topic if config.reference else None


def plan_build(bags: Sequence[Path], config: BuildConfig
               ) -> tuple[list[BagPlan], list[str], list[str], dict[str, StreamLayout]]:
    """Bag plans with global episode indices and the split; phase vocabulary; warnings; the
    dataset-wide columns of every low-dim stream."""
    read = [_read_plan(path, config) for path in bags]
    warnings = [w for _, _, ws in read for w in ws]
    layouts = _layouts(config, [(plan, probe) for plan, probe, _ in read])
    count = sum(len(plan.episodes) for plan, _, _ in read)
    if count == 0:
        raise DatasetError("no episode to build: every episode was empty")
    valid = _valid_indices(count, config.split.valid_fraction, config.split.seed)
    plans, index, phases = [], 0, {}
    for plan, _, _ in read:
        numbered = []
        for ep in plan.episodes:
            phases.update(dict.fromkeys(p.name for p in ep.episode.phases))
            numbered.append(EpisodePlan(index, ep.bag, ep.episode, ep.ref_ns, index not in valid))
            index += 1
        plans.append(BagPlan(plan.path, plan.topic_types, plan.kinds, numbered, plan.streams,
                             plan.frame_ids, plan.static_tf, plan.moving_tf))
    return plans, list(phases), warnings, layouts


def _layouts(config: BuildConfig, probed: list[tuple[BagPlan, BagProbe]]
             ) -> dict[str, StreamLayout]:
    """One column order per low-dim stream for the whole dataset (episode.py docstring)."""
    out: dict[str, StreamLayout] = {}
    for stream in config.all_streams:
        key = f"{config.source}: " + (f"streams.{stream.name}" if stream.name != ACTIONS_SOURCE
                                       or not config.actions.topic else "actions")
        types = {plan.topic_types[stream.topic] for plan, _ in probed
                 if plan.kinds.get(stream.name) == StreamKind.LOWDIM}
        if not types:
            continue
        if len(types) > 1:
            raise ConfigError(f"{key}.topic: {stream.topic} has different types in different "
                              f"bags ({', '.join(sorted(types))})")
        msgtype = types.pop()
        path = stream.field_for(msgtype) or ""
        if msgtype in NAMES_ATTR:
            names: list[str] = list(stream.joints or ())
            if not names:
                for _, probe in probed:
                    names += [n for n in probe.names.get(stream.topic, []) if n not in names]
            if not names:
                raise DatasetError(f"{key}: {stream.topic} publishes no joint names in any bag; "
                                   "list them with joints: [...]")
            out[stream.name] = StreamLayout(tuple(names), True, path)
            continue
        columns: tuple[str, ...] | None = None
        for plan, probe in probed:
            sample = probe.samples.get(stream.topic)
            if sample is None:
                continue
            try:
                found = field_spec(sample, path).columns
            except FieldError as err:
                raise ConfigError(f"{key}.field: {path!r} in {msgtype} ({plan.path}): "
                                  f"{err}") from err
            if columns is not None and len(found) != len(columns):
                raise DatasetError(f"{key}: {path} has {len(found)} values in {plan.path}, "
                                   f"{len(columns)} in an earlier bag")
            columns = columns or found
        if columns is None:
            if stream.joints is None:
                raise DatasetError(f"{key}: {stream.topic} has no message in any bag, so its "
                                   "columns are unknown; list them with joints: [...]")
            columns = stream.joints
        if stream.joints is not None:
            columns = stream.joints
        out[stream.name] = StreamLayout(tuple(columns), False, path)
    return out


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
           workers: int, layouts: dict[str, StreamLayout]) -> list[Task]:
    groups = max(1, -(-workers // len(plans))) if workers > len(plans) else 1
    tasks = []
    for plan in (p for p in plans if p.episodes):   # a bag whose episodes were all skipped
        for part in np.array_split(np.arange(len(plan.episodes)), min(groups, len(plan.episodes))):
            tasks.append(Task(plan, [plan.episodes[i] for i in part], config, phase_names,
                              layouts))
    return tasks


def run_task(task: Task, writer: DatasetWriter, progress: Progress | None = None
             ) -> tuple[list[EpisodeResult], dict[str, OffsetStats]]:
    """Build a task's episodes in one pass over its bag, writing into `writer`."""
    with open_bag(task.bag.path) as bag:
        store = bag.typestore
        ctx = TaskContext(task.config, task.bag.kinds, task.bag.topic_types, bag.deserialize,
                          task.phase_names, task.layouts, task.bag.streams,
                          cdr_leaves=lambda msgtype, raw: cdr_leaves(msgtype, raw, store))
        upcoming = sorted(task.episodes, key=lambda p: p.episode.start_ns)
        active: list[EpisodeBuilder] = []
        results: list[EpisodeResult] = []

        def close(builder: EpisodeBuilder) -> None:
            results.append(builder.finish())
            if progress:
                progress((builder.plan.episode.end_ns - builder.plan.episode.start_ns) / 1e9)

        topics = sorted({s.topic for s in task.config.all_streams}
                        | set(task.bag.streams.camera_info.values()))
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
    `strict`: a planning warning (an unsynchronised device clock, ...) is a DatasetError before
    anything is written. Raises BagError/ConfigError/DatasetError; never leaves a half file.
    """
    started = time.perf_counter()
    spec = ExecutorSpec(executor, workers, ray_address)
    bags = find_bags(inputs)
    config = load_config(config_path) if config_path else discover_config(*_union_topics(bags))
    if rate_hz is not None:
        config = config.with_rate(rate_hz)
    plans, phase_names, warnings, layouts = plan_build(bags, config)
    if strict and warnings:
        more = f"; {len(warnings) - 1} more warnings" if len(warnings) > 1 else ""
        raise DatasetError(f"{warnings[0]} (--strict{more})")
    bag_seconds = sum((e.episode.end_ns - e.episode.start_ns) / 1e9
                      for p in plans for e in p.episodes)
    if on_plan:
        on_plan(bag_seconds)
    sharded = ShardedBuild(output, _tasks(plans, config, phase_names, workers, layouts), config,
                           run_task, overwrite=overwrite)
    sharded.run(spec, progress)
    results = sharded.results
    offsets: dict[str, OffsetStats] = {}
    for shard_offsets in sharded.offsets:
        for topic, stats in shard_offsets.items():
            offsets[topic] = offsets.get(topic, OffsetStats()).merge(stats)
    meta, meta_warnings = _dataset_meta(config, bags, plans, results, layouts)
    warnings += [w for r in results for w in r.warnings] + meta_warnings
    if strict and warnings:
        raise DatasetError(f"{warnings[0]} (--strict; the shards built so far are kept in "
                           f"{Path(output).with_suffix('.shards')} for a rerun)")
    sharded.write(meta)
    summary = _summary(output, bags, results, offsets, warnings, started, bag_seconds)
    summary.shards_built, summary.shards_reused = sharded.done, sharded.skipped
    summary.clocks = _clock_records(config, plans)
    return summary


def _union_topics(bags: Sequence[Path]) -> tuple[dict[str, str], dict[str, Any]]:
    """Topic -> type over the bags, and the first message of each image topic (depth or
    colour is told by its encoding)."""
    topics: dict[str, str] = {}
    samples: dict[str, Any] = {}
    for path in bags:
        with open_bag(path) as bag:
            types = {t: info.msgtype for t, info in bag.topics.items()}
            topics.update(types)
            images = [t for t, m in types.items() if m in (
                "sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage") and t not in samples]
            samples.update(probe_bag(bag, images).samples)
    return topics, samples


def _slug(text: str) -> str:
    """A task name as a mask key: lower case, runs of other characters as one `_`."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _masks(config: BuildConfig, plans: list[BagPlan]) -> dict[str, list[str]]:
    """train/valid, then (`masks.by`) one list per outcome (/mask/success, ...) and per task
    (/mask/<task slug>, `task_<slug>` where that name is already taken)."""
    episodes = [e for p in plans for e in p.episodes]
    masks = {"train": [schema.demo_name(e.index) for e in episodes if e.train],
             "valid": [schema.demo_name(e.index) for e in episodes if not e.train]}
    if "outcome" in config.masks.by:
        for episode in episodes:
            masks.setdefault(episode.episode.outcome, []).append(schema.demo_name(episode.index))
    if "task" in config.masks.by:
        taken = set(masks)
        for episode in episodes:
            slug = _slug(episode.episode.task)
            if slug:
                name = f"task_{slug}" if slug in taken else slug
                masks.setdefault(name, []).append(schema.demo_name(episode.index))
    return masks


def _dataset_meta(config: BuildConfig, bags: Sequence[Path], plans: list[BagPlan],
                  results: list[EpisodeResult], layouts: dict[str, StreamLayout]
                  ) -> tuple[dict[str, Any], list[str]]:
    """What the writer's `finish` stores, and warnings about it (calibration changes, tf)."""
    stats: dict[str, RunningStats] = {}
    for result in results:
        for key, arrays in result.stats.items():
            stats.setdefault(key, RunningStats()).update(arrays[STATS_VALUES])
    cameras, warnings = _cameras(config, results)
    frames, extrinsics, tf_warnings = _frames(config, plans)
    action_names = [name for source in config.actions.sources
                    for name in ([f"{source}/{c}" for c in layouts[source].columns]
                                 if not config.actions.topic else layouts[source].columns)]
    meta = {
        "root_attrs": {schema.ATTR_CREATED_BY: f"robot_logger {__version__}",
                       schema.ATTR_BUILD_CONFIG: config_json(config),
                       schema.ATTR_SOURCE_BAGS: json_attr([str(b) for b in bags])},
        "data_attrs": {schema.ATTR_ENV_ARGS: json_attr({"env_name": "robot_logger_cell",
                                                        "type": 0, "env_kwargs": {}}),
                       schema.ATTR_RATE_HZ: float(config.rate_hz or 0.0)},
        "masks": _masks(config, plans),
        "stats": {key: acc.to_dict() for key, acc in stats.items()},
        "joint_names": {name: list(layout.columns) for name, layout in layouts.items()
                        if name != ACTIONS_SOURCE or not config.actions.topic},
        "action_names": action_names,
        "cameras": cameras,
        "frames": frames,
        "extrinsics": extrinsics,
        "clocks": _clock_records(config, plans),
    }
    return meta, warnings + tf_warnings


def _cameras(config: BuildConfig, results: list[EpisodeResult]
             ) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Each camera's calibration (scaled to its resize), and a warning when it changes."""
    out: dict[str, dict[str, Any]] = {}
    warnings = []
    for stream in config.streams:
        seen = [(log_ns, record) for r in results for log_ns, record in
                r.cameras.get(stream.name, [])]
        if not seen:
            continue
        first = seen[0][1]
        changes = [(log_ns, record) for log_ns, record in seen[1:] if record != first]
        if changes:
            times = ", ".join(f"{t / 1e9:.3f} s" for t, _ in changes[:5])
            warnings.append(f"stream {stream.name}: the calibration on "
                            f"{camera_info_topic(stream)} changes during the recording (log "
                            f"times {times}{' ...' if len(changes) > 5 else ''}); "
                            f"/meta/cameras/{stream.name} holds the first one")
        out[stream.name] = _scaled(first, stream)
    return out, warnings


def _scaled(record: dict[str, Any], stream: StreamConfig) -> dict[str, Any]:
    """A calibration record for the stored image size (dataset.ops.depth.scale_intrinsics)."""
    k = np.asarray(record["K"], np.float64).reshape(3, 3)
    p = np.asarray(record["P"], np.float64).reshape(3, 4)
    size = (int(record["height"]), int(record["width"]))
    if stream.resize is not None and size != stream.resize and all(size):
        k, p = scale_intrinsics(k, p, size, stream.resize)
        size = stream.resize
    return {"width": size[1], "height": size[0], "distortion_model": record["distortion_model"],
            "frame_id": record["frame_id"], "K": k, "P": p,
            "D": np.asarray(record["D"], np.float64),
            "R": np.asarray(record["R"], np.float64).reshape(3, 3)}


def _frames(config: BuildConfig, plans: list[BagPlan]
            ) -> tuple[list[Transform], dict[str, dict[str, Any]], list[str]]:
    """/tf_static of the bags (first bag's edge wins), and every camera's and LiDAR's
    sensor-to-base 4x4 when `frames.base` is set."""
    edges: dict[str, Transform] = {}
    warnings = []
    for plan in plans:
        for edge in plan.static_tf:
            known = edges.setdefault(edge.child, edge)
            if known != edge and not np.allclose(known.matrix(), edge.matrix(), atol=1e-9):
                warnings.append(f"{plan.path}: /tf_static gives {edge.child} another pose than "
                                f"an earlier bag; /meta/frames keeps the first")
    base = config.frames.base
    extrinsics: dict[str, dict[str, Any]] = {}
    if base is None:
        return list(edges.values()), extrinsics, warnings
    moving = [t for p in plans for t in p.moving_tf]
    for stream in config.streams:
        kinds = {p.kinds.get(stream.name) for p in plans} - {None, StreamKind.LOWDIM}
        if not kinds:
            continue
        frame_id = stream.frame or next((p.frame_ids[stream.name] for p in plans
                                         if stream.name in p.frame_ids), None)
        if frame_id is None:
            continue
        matrix, through_tf = _transform(list(edges.values()), moving, base, frame_id)
        if matrix is None:
            warnings.append(f"stream {stream.name}: no /tf_static or /tf path from its frame "
                            f"{frame_id!r} to frames.base {base!r}: no /meta/extrinsics for it")
            continue
        if through_tf:
            warnings.append(f"stream {stream.name}: {frame_id!r} reaches {base!r} only through "
                            "/tf (a moving frame); /meta/extrinsics holds its first pose")
        extrinsics[stream.name] = {"matrix": matrix, "frame_id": frame_id, "base": base}
    return list(edges.values()), extrinsics, warnings


def _clock_records(config: BuildConfig, plans: list[BagPlan]) -> dict[str, dict[str, Any]]:
    """Per stream with a clock setting: the first bag's correction and every bag's."""
    out: dict[str, dict[str, Any]] = {}
    for stream in config.streams:
        per_bag = {str(p.path): p.streams.clocks[stream.name] for p in plans
                   if stream.name in p.streams.clocks}
        if not per_bag:
            continue
        first = next(iter(per_bag.values()))
        out[stream.name] = {"offset_ns": first.offset_ns, "drift_ppm": first.drift_ppm,
                            "t0_ns": first.t0_ns, "method": str(first.method),
                            "per_bag": {b: {"offset_ns": f.offset_ns, "drift_ppm": f.drift_ppm,
                                            "t0_ns": f.t0_ns} for b, f in per_bag.items()}}
    return out


def _summary(output: str | Path, bags: Sequence[Path], results: list[EpisodeResult],
             offsets: dict[str, OffsetStats], warnings: list[str], started: float,
             bag_seconds: float) -> BuildSummary:
    frames = sum(r.frames for r in results)
    streams = sorted({s for r in results for s in r.valid})
    share = {s: sum(r.valid.get(s, 0) for r in results) / max(frames, 1) for s in streams}
    offsets_ms = {t: {"mean": o.mean_ns / 1e6, "min": o.min_ns / 1e6, "max": o.max_ns / 1e6}
                  for t, o in sorted(offsets.items()) if o.n}
    return BuildSummary(str(output), [str(b) for b in bags], len(results), frames, share,
                        offsets_ms, dataset_bytes(output), time.perf_counter() - started,
                        bag_seconds, warnings)


def summary_json(summary: BuildSummary) -> dict[str, Any]:
    """The summary as a JSON-ready dict."""
    out: dict[str, Any] = json.loads(json.dumps(summary.__dict__, default=str))
    return out

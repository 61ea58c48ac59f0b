"""Bags -> one HDF5 dataset: plan episodes, stream each bag once, write, summarize.

    summary = build_dataset(["cell_bag"], "cell.h5", config_path="config/dataset.yaml", workers=2)

1. Plan (main process, `plan.py`): bags found and probed, episodes read, columns fixed for the
   whole dataset, episodes numbered and split, and cut into tasks.
2. A task reads its bag once (`episode.py`), writing episodes as they end.
3. Each task writes one shard (`shards.py`), run by an executor (`executors.py`: here, a local
   process pool, or Ray); shards whose inputs did not change since an earlier run are reused.
   Several shards are joined by an index file of external links; one shard is the output itself.
   Stats are merged per episode in index order, so the result does not depend on N.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robot_logger import __version__
from robot_logger.bag.reader import open_bag
from robot_logger.core.messages import COMPRESSED_IMAGE, IMAGE, cdr_leaves
from robot_logger.dataset import schema
from robot_logger.dataset.build.config import (
    ACTIONS_SOURCE,
    BuildConfig,
    StreamConfig,
    camera_info_topic,
    config_json,
    discover_config,
    load_config,
)
from robot_logger.dataset.build.episode import (
    STATS_VALUES,
    EpisodeBuilder,
    EpisodePlan,
    EpisodeResult,
    StreamLayout,
    TaskContext,
)
from robot_logger.dataset.build.executors import ExecutorSpec
from robot_logger.dataset.build.plan import (
    BagPlan,
    Task,
    find_bags,
    frame_transform,
    make_tasks,
    plan_build,
)
from robot_logger.dataset.build.probe import (
    probe_bag,
)
from robot_logger.dataset.build.shards import ShardedBuild, dataset_bytes
from robot_logger.dataset.build.writer import DatasetWriter, json_attr
from robot_logger.dataset.ops.clocks import NO_FIX, OffsetStats
from robot_logger.dataset.ops.depth import scale_intrinsics
from robot_logger.dataset.ops.stats import RunningStats
from robot_logger.dataset.ops.transforms import Transform
from robot_logger.dataset.schema import StreamKind
from robot_logger.errors import DatasetError

__all__ = ["BuildSummary", "build_dataset", "run_task", "summary_json"]

Progress = Callable[[float], None]   # called with bag seconds done since the last call


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
    tasks = make_tasks(plans, config, phase_names, workers, layouts)
    sharded = ShardedBuild(output, tasks, config, run_task, overwrite=overwrite)
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
    summary.clocks = meta["clocks"]
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
            images = [t for t, m in types.items()
                      if m in (IMAGE, COMPRESSED_IMAGE) and t not in samples]
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
    stat_values = {key: acc.to_dict() for key, acc in stats.items()}
    warnings += _undefined_stats(stat_values, layouts, action_names)
    meta = {
        "root_attrs": {schema.ATTR_CREATED_BY: f"robot_logger {__version__}",
                       schema.ATTR_BUILD_CONFIG: config_json(config),
                       schema.ATTR_SOURCE_BAGS: json_attr([str(b) for b in bags])},
        "data_attrs": {schema.ATTR_ENV_ARGS: json_attr({"env_name": "robot_logger_cell",
                                                        "type": 0, "env_kwargs": {}}),
                       schema.ATTR_RATE_HZ: float(config.rate_hz or 0.0)},
        "masks": _masks(config, plans),
        "stats": stat_values,
        "joint_names": {name: list(layout.columns) for name, layout in layouts.items()
                        if name != ACTIONS_SOURCE or not config.actions.topic},
        "action_names": action_names,
        "cameras": cameras,
        "frames": frames,
        "extrinsics": extrinsics,
        "clocks": _clock_records(config, plans),
    }
    return meta, warnings + tf_warnings


def _undefined_stats(stats: dict[str, dict[str, np.ndarray]], layouts: dict[str, StreamLayout],
                     action_names: list[str]) -> list[str]:
    """A warning per low-dim key with columns that hold no finite value in the train episodes:
    their /meta/stats are NaN (stats skip non-finite values), which `validate` rejects and which
    would make those columns NaN in every normalised batch."""
    out = []
    for key, values in stats.items():
        bad = np.flatnonzero(~np.isfinite(values["mean"]))
        if not bad.size:
            continue
        names = action_names if key == schema.ACTIONS else \
            list(layouts[key].columns) if key in layouts else []
        columns = [names[i] if i < len(names) else str(i) for i in bad.tolist()]
        out.append(f"stream {key}: column(s) {', '.join(columns)} hold no finite value in the "
                   f"train episodes, so /meta/stats/{key} is NaN there and validate rejects the "
                   "dataset; leave them out (joints:, or another field)")
    return out


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
        matrix, through_tf = frame_transform(list(edges.values()), moving, base, frame_id)
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
    """Every obs stream's clock treatment, so a reader finds each one in /meta/clocks: the time
    source, and the correction of the first bag plus every bag's (`per_bag`); a stream without
    a correction has method none, offset 0, drift 0 and an empty `per_bag`."""
    out: dict[str, dict[str, Any]] = {}
    for stream in config.streams:
        per_bag = {str(p.path): p.streams.clocks[stream.name] for p in plans
                   if stream.name in p.streams.clocks}
        first = next(iter(per_bag.values()), NO_FIX)
        out[stream.name] = {"offset_ns": first.offset_ns, "drift_ppm": first.drift_ppm,
                            "t0_ns": first.t0_ns, "method": str(first.method),
                            "time_source": str(config.time_source_of(stream)),
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

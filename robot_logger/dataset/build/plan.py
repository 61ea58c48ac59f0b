"""Plan a build: find the bags, read what the episodes need from each, fix the dataset's columns,
number and split the episodes, and cut them into tasks.

1. Every bag (sorted by path) is opened and the first second of its stream topics probed
   (build/probe.py: kinds, field paths, joint names, frame ids, clock offsets); the config is
   resolved against it; the events topic (tiny) gives the episodes (a labels file wins);
   /tf_static, the reference stream's stamps if the clock is a stream, and the stamps of
   `clock_offset_ms: auto` streams are read in the same pass.
2. Every low-dim stream's columns are fixed for the whole dataset (joint names in first-seen order
   over the bags, or `joints:`); episodes are numbered by bag path and time, and split.
3. Tasks: one per bag, or a bag's episodes cut into contiguous groups when there are fewer bags
   than workers (`pipeline` runs them).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robot_logger.bag.reader import STORAGE_SUFFIXES, BagReader, open_bag, storage_files
from robot_logger.core.clockfit import unsynchronised
from robot_logger.core.events import Episode, EventTally, episodes_from_events
from robot_logger.core.messages import (
    CAMERA_INFO,
    STRING,
    TF_MESSAGE,
    TF_STATIC_TOPIC,
    TF_TOPIC,
    header_stamp_ns,
)
from robot_logger.dataset.build.config import (
    ACTIONS_SOURCE,
    BuildConfig,
    camera_info_topic,
    resolve_streams,
)
from robot_logger.dataset.build.episode import (
    BagStreams,
    EpisodePlan,
    StreamLayout,
)
from robot_logger.dataset.build.labels_file import load_labels_file
from robot_logger.dataset.build.probe import BagProbe, probe_bag, tf_transforms
from robot_logger.dataset.ops.align import (
    best_valid_share,
    clean_order,
    effective_stamps,
    reference_times,
    tolerance_for_every_frame,
)
from robot_logger.dataset.ops.clocks import NO_FIX, ClockFix, fit_lower_envelope, fixed_offset
from robot_logger.dataset.ops.depth import depth_encoding
from robot_logger.dataset.ops.fields import NAMES_ATTR, FieldError, field_spec
from robot_logger.dataset.ops.transforms import FrameTree, Transform
from robot_logger.dataset.schema import AlignMethod, StreamKind, TimeSource
from robot_logger.errors import BagError, ConfigError, DatasetError

__all__ = ["BagPlan", "Task", "find_bags", "frame_transform", "make_tasks", "plan_build"]


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
    skipped: list[str] = field(default_factory=list)    # why episodes were left out (warnings)


@dataclass(frozen=True)
class Task:
    """Episodes of one bag that one worker builds in one pass."""

    bag: BagPlan
    episodes: list[EpisodePlan]
    config: BuildConfig
    phase_names: list[str]
    layouts: dict[str, StreamLayout] = field(default_factory=dict)


def find_bags(inputs: Iterable[str | Path]) -> list[Path]:
    """Bag paths from arguments: a bag (folder or file) as is; other folders searched for bags.

    In a search, a folder with metadata.yaml is one bag (its storage files belong to it) and a
    .mcap/.db3 file anywhere else is a bag of its own, as `info` reads it. A folder without
    metadata.yaml whose files are named `<folder>` or `<folder>_<N>` (what the recorder writes,
    unsplit or split) is a recording whose recorder was killed: it stays one bag, so opening it
    says to run `repair`, as `info` does, instead of building it as bare files without a word.
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
    split = re.compile(rf"{re.escape(path.name)}(_\d+)?")
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
                       if topic_types.get(t) == CAMERA_INFO}
        events_topic = config.episodes.events_topic
        events_type = topic_types.get(events_topic or "", STRING)
        if config.episodes.labels_file is None and events_type != STRING:
            raise ConfigError(f"{config.source}: episodes.events_topic: {events_topic!r} has type "
                              f"{events_type} in {path}; episode events are {STRING} (JSON, "
                              "see docs/events.md)")
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
        bag_span = (bag.start_ns, bag.end_ns)
        if config.episodes.labels_file is not None:
            episodes = load_labels_file(config.episodes.labels_file, bag.start_ns)
        else:
            episodes = episodes_from_events(events, bag.start_ns, bag.end_ns)
        # a type the build never reads skips nothing of the dataset: info reports it, not build
        read = {topic_types.get(t) for t in (*wanted, *info_topics.values(),
                                             *(s.topic for s in config.all_streams))}
        unread = {w for msgtype, w in bag.undecodable.items() if msgtype not in read}
        warnings = [f"{path}: {w}" for w in bag.warnings + tally.warnings(str(events_topic))
                    if w not in unread]
        has_header = {t: bag.has_header(t) for t in set(topic_types.values())
                      if bag.can_decode(t)}
    clocks = _clocks(config, clock_stamps, path)
    warnings += _clock_warnings(config, kinds, probe, clocks, path)
    warnings += _interval_warnings(config, kinds, topic_types, probe, clocks, path)
    frame_ids = {name: _frame_id(probe.samples[config.stream(name).topic], path,
                                 config.stream(name).topic)
                 for name, kind in kinds.items() if kind != StreamKind.LOWDIM
                 and config.stream(name).topic in probe.samples}
    lidar_tf, tf_warnings = _lidar_transforms(config, kinds, frame_ids, static_tf, probe.tf, path)
    warnings += tf_warnings
    plans: list[EpisodePlan] = []
    skipped: list[str] = []
    stamps = _reference_stamps(config, ref_stamps, clocks)
    for number, episode in enumerate(episodes):
        outside = _outside_the_bag(config, number, episode, bag_span)
        if outside is not None:
            note, keep = outside
            (warnings if keep else skipped).append(f"{path}: {note}")
            if not keep:
                continue
        if config.reference:
            ref = stamps[(stamps >= episode.start_ns) & (stamps <= episode.end_ns)]
        else:
            ref = reference_times(episode.start_ns, episode.end_ns, config.rate_hz or 0.0)
        if len(ref) == 0:
            skipped.append(f"{path}: skipped the episode {episode.start_ns}..{episode.end_ns} "
                           f"ns: {_no_reference_time(config, stamps)}")
            continue
        plans.append(EpisodePlan(-1, str(path), episode, ref, True))
    warnings += skipped
    depth_dtypes = {name: "float32" if depth_encoding(probe.samples[config.stream(name).topic])
                    == "32FC1" else "uint16" for name, kind in kinds.items()
                    if kind == StreamKind.DEPTH and config.stream(name).topic in probe.samples}
    streams = BagStreams(clocks, lidar_tf, info_topics, has_header, depth_dtypes)
    return BagPlan(path, topic_types, kinds, plans, streams, frame_ids, static_tf, probe.tf,
                   skipped), probe, warnings


def _outside_the_bag(config: BuildConfig, number: int, episode: Episode,
                     bag_span: tuple[int, int]) -> tuple[str, bool] | None:
    """(note, keep) for a labels-file episode (the file applies to every bag) not inside the
    bag's messages: one wholly outside would be built as frames without any sample, so it is
    skipped (keep False); one running past either end is kept, saying how much of it has no
    message. None for an episode inside the bag, and for every episode from events."""
    labels = config.episodes.labels_file
    start, end = bag_span
    if labels is None or start <= episode.start_ns and episode.end_ns <= end:
        return None
    where = (f"labels file {labels}: episodes[{number}] "
             f"({(episode.start_ns - start) / 1e9:.3f}..{(episode.end_ns - start) / 1e9:.3f} s "
             f"from the bag start) {{}} the bag's messages (0..{(end - start) / 1e9:.3f} s)")
    if episode.end_ns < start or episode.start_ns > end:
        return where.format("lies outside") + ": skipped", False
    beyond = max(start - episode.start_ns, 0) + max(episode.end_ns - end, 0)
    return where.format("runs past") + f": {beyond / 1e9:.3f} s of it has no message", True


def _no_reference_time(config: BuildConfig, stamps: np.ndarray) -> str:
    """Why an episode has no frame: the reference stream's times lie elsewhere, with their span,
    so a stream on another clock (sim time, a device's boot clock) is seen at once."""
    stream = config.stream(str(config.reference))
    where = (f"has its {len(stamps)} times at {stamps[0]}..{stamps[-1]} ns"
             if len(stamps) else "has no message in the bag")
    return (f"no reference time in it: stream {stream.name} ({stream.topic}, "
            f"{str(config.time_source_of(stream))} time) {where}")


def _reference_stamps(config: BuildConfig, stamps: list[tuple[int, int]],
                      clocks: dict[str, ClockFix]) -> np.ndarray:
    """The reference stream's times, sorted: placed as its own samples are (effective_stamps:
    corrected header stamps, log time where a corrected stamp is <= 0)."""
    if not config.reference:
        return np.zeros(0, np.int64)
    pairs = np.asarray(stamps, np.int64).reshape(-1, 2)
    times = effective_stamps(pairs[:, 0], pairs[:, 1], clocks.get(config.reference, NO_FIX),
                             config.time_source_of(config.stream(config.reference)))
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
    """A loud warning for every uncorrected stream on header time whose smallest log - header
    (first second) says its stamps come from another clock; naming the stream and the fix. A
    stream aligned on log time does not use its stamps, so their clock does not matter."""
    out = []
    margin = config.latency_margin_ms
    for stream in config.all_streams:
        offset_ns = probe.min_offset_ns(stream.topic)
        if offset_ns is None or stream.name in clocks or \
                config.time_source_of(stream) == TimeSource.LOG:
            continue
        offset_ms = offset_ns / 1e6
        if not unsynchronised(offset_ms):
            continue
        effect = (f"over latency_margin_ms ({margin:g}), so every frame of it would be invalid"
                  if offset_ms > margin else
                  f"so its frames are off by about {abs(offset_ms):.0f} ms against the other "
                  "streams")
        label = f"{path}: stream {stream.name} ({stream.topic})"
        first = probe.first_stamp_ns(stream.topic)
        if 0 < first < EPOCH_CLOCK_MIN_NS:
            out.append(f"{label}: its header stamps start {first / 1e9:.3f} s after the epoch: "
                       "they count from a simulation's start (sim time) or a device's boot, "
                       "not the recorder's wall clock; the smallest log time minus header stamp "
                       f"is {offset_ms:.1f} ms, {effect}; set time_source: log on "
                       f"streams.{stream.name} (or clock_offset_ms: auto if that clock runs at a "
                       "steady rate, which a simulation slower than real time does not)")
            continue
        out.append(f"{label}: the smallest log time minus "
                   f"header stamp is {offset_ms:.1f} ms, {effect}; its device clock is not "
                   f"synchronised: set clock_offset_ms: auto on streams.{stream.name} "
                   f"(or a measured offset in ms, or time_source: log on streams.{stream.name})")
    return out


def _interval_warnings(config: BuildConfig, kinds: dict[str, StreamKind],
                       topic_types: dict[str, str], probe: BagProbe,
                       clocks: dict[str, ClockFix], path: Path) -> list[str]:
    """A warning for every stream whose samples lie too far apart for its tolerance and align
    method to make every frame valid (ops.align best_valid_share on the median interval of the
    probed first second, on the clock the stream is aligned on): its valid share would be low
    with nothing saying why. Names the interval, the best share and the tolerance that fixes it.
    The reference stream is skipped: its frames are its own samples."""
    out = []
    for stream in config.all_streams:
        pairs = probe.stamps.get(stream.topic, [])
        if stream.name == config.reference or stream.name not in kinds or len(pairs) < 2:
            continue
        header, log = np.asarray(pairs, np.int64).T
        times = effective_stamps(header, log, clocks.get(stream.name, NO_FIX),
                                 config.time_source_of(stream))
        steps = np.diff(np.unique(times))
        if steps.size == 0:
            continue
        interval_ns = float(np.median(steps))
        kind = kinds[stream.name]
        method = stream.align_for(kind, topic_types[stream.topic])
        tolerance_ns = stream.tolerance_ns(kind)
        share = best_valid_share(interval_ns, tolerance_ns, method)
        if share >= 1.0:
            continue
        needed_ms = math.ceil(tolerance_for_every_frame(interval_ns, method) / 1e6)
        key = ("actions.tolerance_ms" if stream.name == ACTIONS_SOURCE and config.actions.topic
               else f"streams.{stream.name}.tolerance_ms")
        out.append(f"{path}: stream {stream.name} ({stream.topic}): its samples come every "
                   f"{interval_ns / 1e6:.1f} ms (median interval), too far apart for align "
                   f"{method} with tolerance_ms {tolerance_ns / 1e6:g}: at an even interval "
                   f"of that, at most {100 * share:.1f}% of its frames can be valid "
                   f"({_RULES[method]}); set {key}: {needed_ms}")
    return out


# Why a sampling interval leaves frames invalid, per align method (ops.align best_valid_share).
_RULES = {
    AlignMethod.INTERPOLATE: "interpolate needs both samples around a frame within tolerance: "
                             "every frame at an interval <= tolerance_ms, none beyond 2x",
    AlignMethod.NEAREST: "nearest needs an interval <= 2x tolerance_ms for every frame",
    AlignMethod.PREVIOUS: "previous needs an interval <= tolerance_ms for every frame",
}


# Header stamps before 1973 (1e17 ns) are no wall-clock time: a clock counting from a
# simulation's start or a device's boot. Gazebo's /clock in the real TurtleBot3 bag starts
# ~1396 s, a boot clock at seconds to weeks.
EPOCH_CLOCK_MIN_NS = 10**17


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


def frame_transform(static_tf: list[Transform], moving_tf: list[Transform], target: str,
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
        matrix, moving = frame_transform(static_tf, moving_tf, stream.frame, source)
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
        skipped = [reason for plan, _, _ in read for reason in plan.skipped]
        more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
        raise DatasetError(f"no episode to build: {skipped[0]}{more}" if skipped
                           else "no episode to build: every episode was empty")
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


def make_tasks(plans: list[BagPlan], config: BuildConfig, phase_names: list[str],
           workers: int, layouts: dict[str, StreamLayout]) -> list[Task]:
    groups = max(1, -(-workers // len(plans))) if workers > len(plans) else 1
    tasks = []
    for plan in (p for p in plans if p.episodes):   # a bag whose episodes were all skipped
        for part in np.array_split(np.arange(len(plan.episodes)), min(groups, len(plan.episodes))):
            tasks.append(Task(plan, [plan.episodes[i] for i in part], config, phase_names,
                              layouts))
    return tasks

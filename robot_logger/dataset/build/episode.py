"""One episode while its bag streams past: low-dim samples collected, frames chosen and
written live.

`EpisodeBuilder.add` takes every message inside the episode's window (its time range widened by
the largest tolerance plus the latency margin); `finish` aligns the low-dim streams, writes them
(obs and next_obs), labels, rewards and actions, and returns what the build summary, the stats and
the dataset metadata need (calibrations seen, warnings). Memory: the episode's low-dim messages
(a few MB) plus the frame selectors' small buffers.

Low-dim columns follow the dataset-wide `StreamLayout` the planner fixed before any episode was
built (plan.plan_build), so every episode has the same columns in the same order. A joint
the layout lists but an episode never publishes is stored as 0.0 (never NaN, so stats and
training losses stay finite) with valid/<stream> false on every frame, and a warning; a joint an
episode publishes but the layout lacks is left out, with a warning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robot_logger.core.events import Episode
from robot_logger.core.messages import (
    CAMERA_INFO,
    JOINT_STATE,
    LASER_SCAN,
    header_stamp_ns,
    stamp_to_ns,
)
from robot_logger.dataset import schema
from robot_logger.dataset.build.config import BuildConfig, StreamConfig
from robot_logger.dataset.build.writer import EpisodeWriter, FrameSink, json_attr
from robot_logger.dataset.ops import labels
from robot_logger.dataset.ops.align import (
    Aligned,
    align,
    align_joints,
    clean_order,
    effective_stamps,
)
from robot_logger.dataset.ops.cdr import LeafBatch, parse_leaves
from robot_logger.dataset.ops.clocks import NO_FIX, ClockFix, OffsetStats, offset_stats
from robot_logger.dataset.ops.depth import decode_depth, resize_nearest
from robot_logger.dataset.ops.fields import (
    NAMES_ATTR,
    field_spec,
    named_columns,
    parse_path,
)
from robot_logger.dataset.ops.frames import Final, FrameSelector
from robot_logger.dataset.ops.images import decode_image, resize
from robot_logger.dataset.ops.jointstate import FIELDS, JointBatch, parse_uniform
from robot_logger.dataset.ops.pointcloud import (
    downsample,
    points_from_laserscan,
    points_from_pointcloud2,
)
from robot_logger.dataset.ops.transforms import apply
from robot_logger.dataset.schema import StreamKind, TimeSource
from robot_logger.errors import BagError, DatasetError

__all__ = ["EpisodePlan", "EpisodeResult", "TaskContext", "EpisodeBuilder", "StreamLayout",
           "BagStreams", "STATS_VALUES", "camera_record"]

STATS_VALUES = "values"


@dataclass(frozen=True)
class StreamLayout:
    """The dataset-wide columns of one low-dim stream: joint names (`named`: matched by name in
    every message) or the field's column names, and the field path they come from."""

    columns: tuple[str, ...]
    named: bool
    field: str


@dataclass(frozen=True)
class BagStreams:
    """Per-bag stream facts found by the planner: clock corrections, LiDAR transforms into
    their `frame:` (4x4), calibration topics of cameras, types that carry a header."""

    clocks: dict[str, ClockFix] = field(default_factory=dict)
    lidar_transforms: dict[str, np.ndarray] = field(default_factory=dict)
    camera_info: dict[str, str] = field(default_factory=dict)
    has_header: dict[str, bool] = field(default_factory=dict)
    depth_dtypes: dict[str, str] = field(default_factory=dict)   # stream -> uint16 | float32


@dataclass(frozen=True)
class EpisodePlan:
    """An episode to build: its global index, source bag, labels and reference clock."""

    index: int
    bag: str
    episode: Episode
    ref_ns: np.ndarray
    train: bool


@dataclass
class EpisodeResult:
    """What one built episode reports back: summary counts, joint names, and for a train
    episode its low-dim arrays for the stats, {key: {STATS_VALUES: (T, F) float32}}: the build
    feeds them to one RunningStats in episode order (T x F floats are ~30x smaller than a
    per-episode RunningStats state with its quantile sketch, and the order fixes the result)."""

    index: int
    frames: int
    valid: dict[str, int]
    joint_names: dict[str, list[str]]
    stats: dict[str, dict[str, np.ndarray]]
    warnings: list[str] = field(default_factory=list)
    cameras: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)


@dataclass
class TaskContext:
    """Per-bag settings shared by the episodes of one task."""

    config: BuildConfig
    kinds: dict[str, StreamKind]
    topic_types: dict[str, str]
    deserialize: Callable[[Any, str], Any]
    phase_names: list[str]
    layouts: dict[str, StreamLayout] = field(default_factory=dict)
    bag: BagStreams = field(default_factory=BagStreams)
    offsets: dict[str, OffsetStats] = field(default_factory=dict)   # topic -> log - header
    cdr_leaves: Callable[[str, bytes], list[Any] | None] | None = None   # core.messages'

    @property
    def margin_ns(self) -> int:
        return int(round(self.config.latency_margin_ms * 1e6))

    @property
    def window_ns(self) -> int:
        """How far outside an episode messages can still matter."""
        tolerances = [s.tolerance_ns(self.kinds[s.name]) for s in self.config.all_streams]
        return max(tolerances, default=0) + self.margin_ns + self._max_clock_shift_ns

    @property
    def _max_clock_shift_ns(self) -> int:
        """How far a corrected stamp can lie from the raw one: the window must reach that far."""
        return max((abs(fix.offset_ns) for fix in self.bag.clocks.values()), default=0)

    def clock(self, stream: str) -> ClockFix:
        return self.bag.clocks.get(stream, NO_FIX)

    def note_offsets(self, topic: str, header_ns: np.ndarray, log_ns: np.ndarray) -> None:
        """Accumulate log-minus-header offsets of messages with a set stamp."""
        stats = offset_stats(header_ns, log_ns)
        self.offsets[topic] = self.offsets.get(topic, OffsetStats()).merge(stats)


def camera_record(msg: Any) -> dict[str, Any]:
    """A sensor_msgs/CameraInfo as the JSON-ready record /meta/cameras is written from."""
    return {"width": int(msg.width), "height": int(msg.height),
            "distortion_model": str(msg.distortion_model), "frame_id": str(msg.header.frame_id),
            **{key: np.asarray(getattr(msg, key.lower()), np.float64).tolist()
               for key in ("K", "D", "R", "P")}}


class _FrameStream:
    """One image or LiDAR stream of an episode: its selector and its HDF5 sinks."""

    def __init__(self, stream: StreamConfig, kind: StreamKind, plan: EpisodePlan,
                 ctx: TaskContext,
                 out: EpisodeWriter) -> None:
        self.stream, self.kind, self.ctx, self.out = stream, kind, ctx, out
        self.bag = plan.bag
        self.msgtype = ctx.topic_types[stream.topic]
        self.count = len(plan.ref_ns)
        self.sinks: list[FrameSink] = []
        self._cache: tuple[int, list[np.ndarray]] = (-1, [])
        self.clock = ctx.clock(stream.name)
        self.on_log = ctx.config.time_source_of(stream) == TimeSource.LOG
        self.transform = ctx.bag.lidar_transforms.get(stream.name)
        if kind == StreamKind.LIDAR:
            self._make_sinks([(stream.points, 4), (stream.points,)], [np.float32, bool])
        self.selector = FrameSelector(plan.ref_ns, method=stream.align_for(kind),
                                      tolerance_ns=stream.tolerance_ns(kind),
                                      margin_ns=ctx.margin_ns)

    def _make_sinks(self, shapes: list[tuple[int, ...]], dtypes: list[Any]) -> None:
        comp = self.ctx.config.compression
        method = comp.lidar if self.kind == StreamKind.LIDAR else comp.images
        keys = [f"{schema.OBS}/{self.stream.name}",
                f"{schema.OBS}/{self.stream.name}{schema.POINT_MASK_SUFFIX}"]
        self.sinks = [self.out.frames(key, count=self.count, frame_shape=shape, dtype=dtype,
                                      compression=method, level=comp.level)
                      for key, shape, dtype in zip(keys, shapes, dtypes)]

    def _decode(self, raw: Any) -> list[np.ndarray]:
        msg = self.ctx.deserialize(raw, self.msgtype)
        if self.kind == StreamKind.IMAGE:
            image = decode_image(msg, self.msgtype)
            return [resize(image, self.stream.resize) if self.stream.resize else image]
        if self.kind == StreamKind.DEPTH:
            depth = decode_depth(msg, self.msgtype)
            return [resize_nearest(depth, self.stream.resize) if self.stream.resize else depth]
        points = points_from_laserscan(msg) if self.msgtype == LASER_SCAN else \
            points_from_pointcloud2(msg, self.stream.intensity_field)
        if self.transform is not None and len(points):
            points = points.copy()
            points[:, :3] = apply(self.transform, points[:, :3])
        return list(downsample(points, crop=self.stream.crop, voxel_size=self.stream.voxel_size,
                               n_points=self.stream.points))

    def add(self, stamp_ns: int, log_ns: int, raw: Any) -> None:
        """Offer a message (raw header stamp) to the selector; decode and write the frames that
        became final. The stamp is corrected for the stream's device clock first."""
        when = self.clock.apply_one(stamp_ns)    # an unset stamp (<= 0) stays as it is
        if self.on_log or when <= 0:
            when = log_ns
        self._emit_all(self.selector.add(when, log_ns, raw))

    def _emit_all(self, final: list[Final]) -> None:
        for index, key, raw in final:
            self._emit(index, key, raw)

    def _emit(self, index: int, key: int, raw: Any) -> None:
        if self._cache[0] != key:
            try:
                self._cache = (key, self._decode(raw))
            except (DatasetError, BagError) as err:
                raise type(err)(f"{self.bag}: {self.stream.topic}: the message stamped "
                                f"{header_stamp_ns(raw)} ns cannot be used: {err}") from err
            except (AttributeError, TypeError, ValueError, IndexError) as err:
                # the bag's own definition of the type deserialized into another layout
                raise DatasetError(f"{self.bag}: {self.stream.topic}: the message stamped "
                                   f"{header_stamp_ns(raw)} ns does not have the layout of a "
                                   f"ROS 2 {self.msgtype} ({err}); does the bag define the "
                                   "type differently?") from err
        arrays = self._cache[1]
        if not self.sinks:
            self._make_sinks([arrays[0].shape], [arrays[0].dtype])
        for sink, array in zip(self.sinks, arrays):
            sink.write(index, array)

    def finish(self, where: str) -> None:
        """Flush the selector; a stream that never had a frame needs a known frame shape."""
        self._emit_all(self.selector.flush())
        self._cache = (-1, [])
        for sink in self.sinks:
            sink.flush()
        if not self.sinks and self.count:
            if self.stream.resize is None:
                raise DatasetError(f"{where}: stream {self.stream.name} ({self.stream.topic}) has "
                                   "no message in this episode, so its image size is unknown; "
                                   "set resize: [H, W] for it in the config")
            if self.kind == StreamKind.DEPTH:
                dtype = self.ctx.bag.depth_dtypes.get(self.stream.name, "uint16")
                self._make_sinks([self.stream.resize], [np.dtype(dtype)])
            else:
                self._make_sinks([(*self.stream.resize, 3)], [np.uint8])


class _TopicSamples:
    """A low-dim topic's messages of one episode: raw CDR while streaming, parsed once at the end.

    Fast paths first: JointState by its own raw-CDR parser, any other type by its numeric leaves
    read as strided columns (ops/cdr.py) when every message shares the first one's layout; else
    each message is deserialized once."""

    def __init__(self, topic: str, msgtype: str, ctx: TaskContext) -> None:
        self.topic, self.msgtype, self.ctx = topic, msgtype, ctx
        self.logs: list[int] = []
        self.raws: list[bytes] = []
        self._batch: JointBatch | None = None
        self._leaves: LeafBatch | None = None
        self._leaf_index: dict[tuple[str | int, ...], int] = {}
        self._first: Any = None
        self._msgs: list[Any] | None = None
        self._header: np.ndarray | None = None

    def parse(self) -> None:
        """Parse once (class docstring)."""
        has_header = self.ctx.bag.has_header.get(self.msgtype, True)
        if self.msgtype == JOINT_STATE:
            self._batch = parse_uniform(self.raws)
        elif self.raws and self.ctx.cdr_leaves is not None:
            leaves = self.ctx.cdr_leaves(self.msgtype, self.raws[0])
            if leaves is not None:
                self._leaves = parse_leaves(self.raws, leaves, header=has_header)
                self._leaf_index = {path: j for j, (path, _, _) in enumerate(leaves)}
        if self._batch is not None:
            self._header = self._batch.stamps_ns
        elif self._leaves is not None:
            self._header = self._leaves.stamps_ns
            self._first = self.ctx.deserialize(self.raws[0], self.msgtype)
        else:
            self._header = np.array([_stamp(m) if has_header else 0 for m in self.messages()],
                                    np.int64)
        self.ctx.note_offsets(self.topic, self._header, np.asarray(self.logs, np.int64))

    def messages(self) -> list[Any]:
        """Every message deserialized (the slow path), once."""
        if self._msgs is None:
            self._msgs = [self.ctx.deserialize(raw, self.msgtype) for raw in self.raws]
        return self._msgs

    def stamps(self, clock: ClockFix, source: TimeSource) -> np.ndarray:
        """Per-message times on the reference clock (effective_stamps: corrected header stamps,
        log time where a corrected stamp is <= 0, or with time_source log). The source is the
        stream's, not the topic's: two streams of one topic may be placed differently."""
        log_ns = np.asarray(self.logs, np.int64)
        if self._header is None:
            return log_ns
        return effective_stamps(self._header, log_ns, clock, source)

    def _leaf_columns(self, path: tuple[str | int, ...], count: int) -> list[int] | None:
        """Leaf columns under `path` in definition order, when there are `count` of them."""
        columns = [j for p, j in self._leaf_index.items() if p[:len(path)] == path]
        return columns if len(columns) == count else None

    def named(self, layout: StreamLayout, stamps: np.ndarray
              ) -> tuple[list[tuple[np.ndarray, np.ndarray]], set[str], int]:
        """(stamps, values) per layout joint, joints published outside the layout, and how many
        messages had no usable array for the field."""
        empty = (np.zeros(0, np.int64), np.zeros(0))
        published: list[str] | None = None
        values: np.ndarray | None = None
        if self._batch is not None and layout.field in FIELDS:
            published, values = self._batch.names, self._batch.fields[layout.field]
        elif self._leaves is not None:
            published = list(getattr(self._first, NAMES_ATTR[self.msgtype]))
            columns = self._leaf_columns(parse_path(layout.field), len(published))
            values = self._leaves.values[:, columns] if columns is not None else \
                np.zeros((len(stamps), 0))
        if published is not None and values is not None:
            index = {name: j for j, name in enumerate(published)}
            extra = set(published) - set(layout.columns)
            if not values.shape[1]:
                return [empty for _ in layout.columns], extra, len(stamps)
            return [(stamps, values[:, index[n]]) if n in index else empty
                    for n in layout.columns], extra, 0
        path = parse_path(layout.field)
        wanted = {name: j for j, name in enumerate(layout.columns)}
        per_joint: list[tuple[list[int], list[float]]] = [([], []) for _ in layout.columns]
        extra = set()
        skipped = 0
        for stamp, msg in zip(stamps.tolist(), self.messages()):
            found = named_columns(msg, self.msgtype, path)
            if found is None:
                skipped += 1
                continue
            for name, value in zip(found[0], found[1].tolist()):
                j = wanted.get(name)
                if j is None:
                    extra.add(name)
                    continue
                per_joint[j][0].append(stamp)
                per_joint[j][1].append(value)
        return [(np.asarray(s, np.int64), np.asarray(v, np.float64)) for s, v in per_joint], \
            extra, skipped

    def generic(self, layout: StreamLayout, stamps: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, int]:
        """(stamps, (N, D) values, skipped) of a field that is not matched by joint name."""
        if not self.raws:
            return np.zeros(0, np.int64), np.zeros((0, len(layout.columns))), 0
        if self._leaves is not None:
            spec = field_spec(self._first, layout.field)
            columns = self._leaf_columns(spec.path, len(spec.columns))
            if columns is not None and len(columns) == len(layout.columns):
                return stamps, self._leaves.values[:, columns], 0
        msgs = self.messages()
        spec = field_spec(msgs[0], layout.field)
        values, keep = spec.values(msgs)
        if values.shape[1] != len(layout.columns):
            return np.zeros(0, np.int64), np.zeros((0, len(layout.columns))), len(msgs)
        return stamps[keep], values, len(msgs) - len(keep)


def _stamp(msg: Any) -> int:
    header = getattr(msg, "header", None)
    if header is None:
        return 0
    return stamp_to_ns(header.stamp)


class EpisodeBuilder:
    """Builds one episode from the messages of its window; see the module docstring."""

    def __init__(self, plan: EpisodePlan, ctx: TaskContext, out: EpisodeWriter) -> None:
        self.plan, self.ctx, self.out = plan, ctx, out
        episode = plan.episode
        window = ctx.window_ns
        self.window = (episode.start_ns - window, episode.end_ns + window)
        self.frames: dict[str, list[_FrameStream]] = {}
        self.frame_stamps: dict[str, tuple[list[int], list[int]]] = {}   # header, log
        self.lowdim: dict[str, _TopicSamples] = {}
        self.calibrations: dict[str, dict[bytes, tuple[int, bytes]]] = {}
        for stream in ctx.config.all_streams:
            kind = ctx.kinds[stream.name]
            if kind == StreamKind.LOWDIM:
                if stream.topic not in self.lowdim:
                    self.lowdim[stream.topic] = _TopicSamples(
                        stream.topic, ctx.topic_types[stream.topic], ctx)
            else:
                self.frames.setdefault(stream.topic, []).append(
                    _FrameStream(stream, kind, plan, ctx, out))
        for topic in ctx.bag.camera_info.values():
            self.calibrations.setdefault(topic, {})

    @property
    def topics(self) -> set[str]:
        return set(self.lowdim) | set(self.frames) | set(self.calibrations)

    def add(self, topic: str, log_ns: int, raw: Any) -> None:
        """One message of the window (log-time order)."""
        samples = self.lowdim.get(topic)
        if samples is not None:
            samples.logs.append(log_ns)
            samples.raws.append(bytes(raw))
        streams = self.frames.get(topic)
        if streams is not None:
            stamp = header_stamp_ns(raw)
            stamps = self.frame_stamps.setdefault(topic, ([], []))
            stamps[0].append(stamp)
            stamps[1].append(log_ns)
            for stream in streams:
                stream.add(stamp, log_ns, raw)
        seen = self.calibrations.get(topic)
        if seen is not None and self.plan.episode.start_ns <= log_ns <= self.plan.episode.end_ns:
            key = bytes(raw[12:])            # everything but the stamp
            if key not in seen:
                seen[key] = (log_ns, bytes(raw))

    def finish(self) -> EpisodeResult:
        """Align, label and write everything that is not a frame; return the episode's result."""
        plan, config = self.plan, self.ctx.config
        where = f"{plan.bag}: episode at {plan.episode.start_ns} ns"
        ref = plan.ref_ns
        valid: dict[str, int] = {}
        warnings: list[str] = []
        for topic, (header_ns, log_ns) in self.frame_stamps.items():
            self.ctx.note_offsets(topic, np.asarray(header_ns), np.asarray(log_ns))
        for frame_streams in self.frames.values():
            for frame in frame_streams:
                frame.finish(where)
                self._write_quality(frame.stream.name, frame.selector.valid,
                                    frame.selector.age_ns)
                valid[frame.stream.name] = int(frame.selector.valid.sum())
                _warn_repeated(warnings, f"{where}: stream {frame.stream.name} "
                               f"({frame.stream.topic})", frame.selector.repeated)
        for samples in self.lowdim.values():
            samples.parse()
        aligned: dict[str, Aligned] = {}
        for stream in config.all_streams:
            if self.ctx.kinds[stream.name] == StreamKind.LOWDIM:
                aligned[stream.name] = self._lowdim(stream, warnings, where)
        lowdim: dict[str, np.ndarray] = {}
        for stream in config.streams:
            if stream.name not in aligned:
                continue
            values = aligned[stream.name].values.astype(np.float32)
            lowdim[stream.name] = values
            self.out.array(f"{schema.OBS}/{stream.name}", values)
            self.out.array(f"{schema.NEXT_OBS}/{stream.name}", _shifted(values, 1))
            self._write_quality(stream.name, aligned[stream.name].valid,
                                aligned[stream.name].age_ns)
            valid[stream.name] = int(aligned[stream.name].valid.sum())
        actions, actions_valid = self._actions(aligned)
        rewards, dones = labels.rewards_dones(len(ref), plan.episode.outcome)
        self.out.array(schema.TIMESTAMPS, ref, np.int64)
        self.out.array(schema.ACTIONS, actions, np.float32)
        self.out.array(schema.ACTIONS_VALID, actions_valid, bool)
        self.out.array(schema.REWARDS, rewards, np.float32)
        self.out.array(schema.DONES, dones, np.uint8)
        self.out.array(schema.PHASE, labels.phase_labels(ref, plan.episode, self.ctx.phase_names),
                       np.int16, attrs={schema.PHASE_NAMES_ATTR: json_attr(self.ctx.phase_names)})
        stats = {key: {STATS_VALUES: values} for key, values in
                 {**lowdim, schema.ACTIONS: actions}.items()} if plan.train else {}
        names = {name: list(self.ctx.layouts[name].columns) for name in lowdim}
        return EpisodeResult(plan.index, len(ref), valid, names, stats, warnings,
                             self._cameras())

    def _lowdim(self, stream: StreamConfig, warnings: list[str], where: str) -> Aligned:
        """One low-dim stream on the reference clock, in its dataset-wide column order."""
        ref, layout = self.plan.ref_ns, self.ctx.layouts[stream.name]
        samples = self.lowdim[stream.topic]
        stamps = samples.stamps(self.ctx.clock(stream.name),
                                self.ctx.config.time_source_of(stream))
        method = stream.align_for(StreamKind.LOWDIM, samples.msgtype)
        tolerance = stream.tolerance_ns(StreamKind.LOWDIM)
        label = f"{where}: stream {stream.name} ({stream.topic})"
        if layout.named:
            per_joint, extra, skipped = samples.named(layout, stamps)
            missing = [n for n, (s, _) in zip(layout.columns, per_joint) if not len(s)]
            if samples.logs and missing:
                warnings.append(f"{label}: no sample of joint(s) {', '.join(missing)}: stored "
                                "as 0.0 with valid false on every frame")
            # with `joints:` the rest is left out on purpose
            if extra and stream.joints is None:
                warnings.append(f"{label}: joint(s) {', '.join(sorted(extra))} are not in the "
                                f"dataset's columns {list(layout.columns)} and were left out "
                                "(list them with joints: [...] to keep them)")
            result = align_joints(ref, per_joint, method=method, tolerance_ns=tolerance)
            _warn_repeated(warnings, label, max((len(s) - len(np.unique(s)) for s, _ in per_joint),
                                                default=0))
        else:
            times, values, skipped = samples.generic(layout, stamps)
            if len(times):
                order = clean_order(times)
                _warn_repeated(warnings, label, len(times) - len(order))
                result = align(ref, times[order], values[order], method=method,
                               tolerance_ns=tolerance)
            else:
                count = len(ref)
                result = Aligned(np.zeros((count, len(layout.columns))), np.zeros(count, bool),
                                 np.zeros(count, np.int64))
        if skipped:
            warnings.append(f"{label}: skipped {skipped} message(s) without the "
                            f"{len(layout.columns)} values of {layout.field}")
        return result

    def _write_quality(self, name: str, valid: np.ndarray, age_ns: np.ndarray) -> None:
        self.out.array(f"{schema.VALID}/{name}", valid, bool)
        self.out.array(f"{schema.AGE_NS}/{name}", age_ns, np.int64)

    def _actions(self, aligned: dict[str, Aligned]) -> tuple[np.ndarray, np.ndarray]:
        """action[t] = concat(sources)[t + shift] (last frame held) and its validity."""
        cfg, count = self.ctx.config.actions, len(self.plan.ref_ns)
        if not cfg.sources:
            return np.zeros((count, 0), np.float32), np.ones(count, bool)
        source = np.concatenate([aligned[s].values for s in cfg.sources], axis=1)
        valid = np.logical_and.reduce([aligned[s].valid for s in cfg.sources])
        return _shifted(source, cfg.shift).astype(np.float32), _shifted(valid, cfg.shift)

    def _cameras(self) -> dict[str, list[tuple[int, dict[str, Any]]]]:
        out: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        for stream, topic in self.ctx.bag.camera_info.items():
            seen = sorted(self.calibrations.get(topic, {}).values())
            records = [(log_ns, camera_record(self.ctx.deserialize(raw, CAMERA_INFO)))
                       for log_ns, raw in seen]
            if records:
                out[stream] = records
        return out



def _warn_repeated(warnings: list[str], label: str, repeated: int) -> None:
    """One sample per stamp is kept (the first, ops.align.clean_order / FrameSelector): the
    messages left out for repeating an earlier stamp are counted, as their values may differ."""
    if repeated:
        warnings.append(f"{label}: {repeated} message(s) repeat an earlier stamp; the first of "
                        "each was kept")


def _shifted(values: np.ndarray, shift: int) -> np.ndarray:
    """values[t + shift], the last row held past the end."""
    rows = np.minimum(np.arange(len(values)) + shift, max(len(values) - 1, 0))
    return values[rows] if len(values) else values

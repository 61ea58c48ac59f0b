"""One episode while its bag streams past: joint samples collected, frames chosen and written live.

`EpisodeBuilder.add` takes every message inside the episode's window (its time range widened by
the largest tolerance plus the latency margin); `finish` aligns the joint streams, writes the
low-dim arrays, labels, rewards and actions, and returns what the build summary and the stats need.
Memory: the episode's joint messages (a few MB) plus the frame selectors' small buffers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import numpy as np

from robot_logger.dataset import schema
from robot_logger.dataset.ops import labels
from robot_logger.core.events import Episode
from robot_logger.dataset.ops.align import align_joints, effective_stamps
from robot_logger.dataset.build.config import BuildConfig, StreamConfig
from robot_logger.dataset.ops.frames import Final, FrameSelector
from robot_logger.dataset.ops.images import decode_image, resize
from robot_logger.dataset.ops.jointstate import FIELDS, JointBatch, parse_uniform
from robot_logger.dataset.ops.pointcloud import downsample, points_from_laserscan, \
    points_from_pointcloud2
from robot_logger.dataset.build.writer import EpisodeWriter, FrameSink, json_attr
from robot_logger.errors import BagError, DatasetError
from robot_logger.core.messages import LASER_SCAN, header_stamp_ns, stamp_to_ns

__all__ = ["EpisodePlan", "EpisodeResult", "TaskContext", "EpisodeBuilder", "STATS_VALUES"]

STATS_VALUES = "values"


JointColumns = dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]
_NO_SAMPLES = (np.zeros(0, np.int64), np.zeros(0))


class _Messages(NamedTuple):
    """Deserialized JointState messages and their header stamps (the slow path)."""

    messages: list[Any]
    stamps_ns: np.ndarray


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


@dataclass
class TaskContext:
    """Per-bag settings shared by the episodes of one task."""

    config: BuildConfig
    kinds: dict[str, str]
    topic_types: dict[str, str]
    deserialize: Callable[[Any, str], Any]
    phase_names: list[str]
    offsets: dict[str, list[int]] = field(default_factory=dict)  # topic -> [n, sum, min, max]

    @property
    def margin_ns(self) -> int:
        return int(round(self.config.latency_margin_ms * 1e6))

    @property
    def window_ns(self) -> int:
        """How far outside an episode messages can still matter."""
        tolerances = [s.tolerance_ns(self.kinds[s.name]) for s in self.config.streams]
        return max(tolerances, default=0) + self.margin_ns

    def note_offsets(self, topic: str, header_ns: np.ndarray, log_ns: np.ndarray) -> None:
        """Accumulate log-minus-header offsets of messages with a set stamp."""
        header_ns = np.asarray(header_ns, np.int64)
        delta = (np.asarray(log_ns, np.int64) - header_ns)[header_ns > 0]
        if len(delta) == 0:
            return
        acc = self.offsets.setdefault(topic, [0, 0, int(delta[0]), int(delta[0])])
        acc[0] += len(delta)
        acc[1] += int(delta.sum())
        acc[2] = min(acc[2], int(delta.min()))
        acc[3] = max(acc[3], int(delta.max()))


class _FrameStream:
    """One image or LiDAR stream of an episode: its selector and its HDF5 sinks."""

    def __init__(self, stream: StreamConfig, kind: str, plan: EpisodePlan, ctx: TaskContext,
                 out: EpisodeWriter) -> None:
        self.stream, self.kind, self.ctx, self.out = stream, kind, ctx, out
        self.bag = plan.bag
        self.msgtype = ctx.topic_types[stream.topic]
        self.count = len(plan.ref_ns)
        self.sinks: list[FrameSink] = []
        self._cache: tuple[int, list[np.ndarray]] = (-1, [])
        if kind == "lidar":
            self._make_sinks([(stream.points, 4), (stream.points,)], [np.float32, bool])
        self.selector = FrameSelector(plan.ref_ns, method=stream.align_for(kind),
                                      tolerance_ns=stream.tolerance_ns(kind),
                                      margin_ns=ctx.margin_ns)

    def _make_sinks(self, shapes: list[tuple[int, ...]], dtypes: list[Any]) -> None:
        comp = self.ctx.config.compression
        method = comp.lidar if self.kind == "lidar" else comp.images
        keys = [f"{schema.OBS}/{self.stream.name}",
                f"{schema.OBS}/{self.stream.name}{schema.POINT_MASK_SUFFIX}"]
        self.sinks = [self.out.frames(key, count=self.count, frame_shape=shape, dtype=dtype,
                                      compression=method, level=comp.level)
                      for key, shape, dtype in zip(keys, shapes, dtypes)]

    def _decode(self, raw: Any) -> list[np.ndarray]:
        msg = self.ctx.deserialize(raw, self.msgtype)
        if self.kind == "image":
            image = decode_image(msg, self.msgtype)
            return [resize(image, self.stream.resize) if self.stream.resize else image]
        points = points_from_laserscan(msg) if self.msgtype == LASER_SCAN else \
            points_from_pointcloud2(msg, self.stream.intensity_field)
        return list(downsample(points, crop=self.stream.crop, voxel_size=self.stream.voxel_size,
                               n_points=self.stream.points))

    def add(self, stamp_ns: int, log_ns: int, raw: Any) -> None:
        """Offer a message to the selector; decode and write the frames that became final."""
        self._emit_all(self.selector.add(stamp_ns, log_ns, raw))

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
            self._make_sinks([arrays[0].shape], [np.uint8])
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
            self._make_sinks([(*self.stream.resize, 3)], [np.uint8])


class EpisodeBuilder:
    """Builds one episode from the messages of its window; see the module docstring."""

    def __init__(self, plan: EpisodePlan, ctx: TaskContext, out: EpisodeWriter) -> None:
        self.plan, self.ctx, self.out = plan, ctx, out
        episode = plan.episode
        window = ctx.window_ns
        self.window = (episode.start_ns - window, episode.end_ns + window)
        self.header = ctx.config.time_source == "header"
        self.frames: dict[str, list[_FrameStream]] = {}
        self.frame_stamps: dict[str, tuple[list[int], list[int]]] = {}   # header, log
        self.joints: dict[str, tuple[list[int], list[bytes]]] = {}
        for stream in ctx.config.streams:
            kind = ctx.kinds[stream.name]
            if kind == "joint":
                self.joints.setdefault(stream.topic, ([], []))
            else:
                self.frames.setdefault(stream.topic, []).append(
                    _FrameStream(stream, kind, plan, ctx, out))
        if ctx.config.actions.topic:
            self.joints.setdefault(ctx.config.actions.topic, ([], []))

    @property
    def topics(self) -> set[str]:
        return set(self.joints) | set(self.frames)

    def add(self, topic: str, log_ns: int, raw: Any) -> None:
        """One message of the window (log-time order)."""
        if topic in self.joints:
            logs, raws = self.joints[topic]
            logs.append(log_ns)
            raws.append(bytes(raw))
            return
        streams = self.frames.get(topic)
        if streams is None:
            return
        stamp = header_stamp_ns(raw)
        self.frame_stamps.setdefault(topic, ([], []))
        self.frame_stamps[topic][0].append(stamp)
        self.frame_stamps[topic][1].append(log_ns)
        when = stamp if self.header and stamp > 0 else log_ns
        for stream in streams:
            stream.add(when, log_ns, raw)

    def finish(self) -> EpisodeResult:
        """Align, label and write everything that is not a frame; return the episode's result."""
        plan, config = self.plan, self.ctx.config
        where = f"{plan.bag}: episode at {plan.episode.start_ns} ns"
        ref = plan.ref_ns
        valid: dict[str, int] = {}
        for topic, (header_ns, log_ns) in self.frame_stamps.items():
            self.ctx.note_offsets(topic, np.asarray(header_ns), np.asarray(log_ns))
        for streams in self.frames.values():
            for frame in streams:
                frame.finish(where)
                self._write_quality(frame.stream.name, frame.selector.valid,
                                    frame.selector.age_ns)
                valid[frame.stream.name] = int(frame.selector.valid.sum())
        samples = {topic: self._joint_samples(topic) for topic in self.joints}
        lowdim: dict[str, np.ndarray] = {}
        names: dict[str, list[str]] = {}
        for stream in config.streams:
            if self.ctx.kinds[stream.name] != "joint":
                continue
            published, per_field = samples[stream.topic]
            chosen = stream.joints or tuple(published)
            missing = [j for j in chosen if j not in published]
            if not chosen or (published and missing):
                raise DatasetError(f"{where}: stream {stream.name}: {stream.topic} publishes "
                                   f"joints {published or 'none'}, the config wants "
                                   f"{missing or 'some'} (set joints: [...] for it)")
            names[stream.name] = list(chosen)
            empty = (np.zeros(0, np.int64), np.zeros(0))
            aligned = align_joints(ref, [per_field[stream.field].get(j, empty) for j in chosen],
                                   method=stream.align_for("joint"),
                                   tolerance_ns=stream.tolerance_ns("joint"))
            lowdim[stream.name] = aligned.values.astype(np.float32)
            self.out.array(f"{schema.OBS}/{stream.name}", lowdim[stream.name])
            self._write_quality(stream.name, aligned.valid, aligned.age_ns)
            valid[stream.name] = int(aligned.valid.sum())
        actions = self._actions(lowdim, samples)
        rewards, dones = labels.rewards_dones(len(ref), plan.episode.outcome)
        self.out.array(schema.TIMESTAMPS, ref, np.int64)
        self.out.array(schema.ACTIONS, actions, np.float32)
        self.out.array(schema.REWARDS, rewards, np.float32)
        self.out.array(schema.DONES, dones, np.uint8)
        self.out.array(schema.PHASE, labels.phase_labels(ref, plan.episode, self.ctx.phase_names),
                       np.int16, attrs={schema.PHASE_NAMES_ATTR: json_attr(self.ctx.phase_names)})
        stats = {key: {STATS_VALUES: values} for key, values in
                 {**lowdim, schema.ACTIONS: actions}.items()} if plan.train else {}
        return EpisodeResult(plan.index, len(ref), valid, names, stats)

    def _write_quality(self, name: str, valid: np.ndarray, age_ns: np.ndarray) -> None:
        self.out.array(f"{schema.VALID}/{name}", valid, bool)
        self.out.array(f"{schema.AGE_NS}/{name}", age_ns, np.int64)

    def _actions(self, lowdim: dict[str, np.ndarray],
                 samples: dict[str, tuple[list[str], JointColumns]]) -> np.ndarray:
        cfg, ref = self.ctx.config.actions, self.plan.ref_ns
        if cfg.topic:
            joint_names, per_field = samples[cfg.topic]
            source = align_joints(ref, [per_field[cfg.field][j] for j in joint_names],
                                  method="interpolate", tolerance_ns=20_000_000).values
        elif cfg.streams:
            source = np.concatenate([lowdim[s] for s in cfg.streams], axis=1)
        else:
            return np.zeros((len(ref), 0), np.float32)
        rows = np.minimum(np.arange(len(ref)) + cfg.shift, len(ref) - 1)
        return source[rows].astype(np.float32)

    def _joint_samples(self, topic: str) -> tuple[list[str], JointColumns]:
        """Joint names (canonical order) and field -> joint -> (stamps_ns, values) of a topic."""
        logs, raws = self.joints[topic]
        log_ns = np.asarray(logs, np.int64)
        batch = parse_uniform(raws) or self._deserialized(topic, raws)
        self.ctx.note_offsets(topic, batch.stamps_ns, log_ns)
        stamps = effective_stamps(batch.stamps_ns, log_ns) if self.header else log_ns
        if isinstance(batch, JointBatch):
            return batch.names, {
                fname: {name: (stamps, values[:, j]) if values.shape[1] else _NO_SAMPLES
                        for j, name in enumerate(batch.names)}
                for fname, values in batch.fields.items()}
        msgs = batch.messages
        order: dict[str, None] = {}
        for msg in msgs:
            order.update(dict.fromkeys(msg.name))
        per_field: JointColumns = {}
        for fname in FIELDS:
            columns: dict[str, tuple[list[int], list[float]]] = {n: ([], []) for n in order}
            for stamp, msg in zip(stamps.tolist(), msgs):
                for joint, value in zip(msg.name, getattr(msg, fname).tolist()):
                    columns[joint][0].append(stamp)
                    columns[joint][1].append(value)
            per_field[fname] = {n: (np.asarray(s, np.int64), np.asarray(v, np.float64))
                                for n, (s, v) in columns.items()}
        same = all(list(m.name) == list(msgs[0].name) for m in msgs)
        return list(order) if same else sorted(order, key=_natural_key), per_field

    def _deserialized(self, topic: str, raws: list[bytes]) -> _Messages:
        """The slow path: messages whose names or layout vary, one deserialize each."""
        msgtype = self.ctx.topic_types[topic]
        msgs = [self.ctx.deserialize(raw, msgtype) for raw in raws]
        stamps = [stamp_to_ns(m.header.stamp) for m in msgs]
        return _Messages(msgs, np.array(stamps, np.int64))


def _natural_key(name: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]

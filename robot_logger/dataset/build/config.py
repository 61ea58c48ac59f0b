"""The build config (docs/build-config.md): frozen dataclasses, validated once at load.

    config = load_config("config/dataset.yaml")         # or discover_config(topics) without a file
    kinds = resolve_streams(config, bag.topics_types, bag_path)   # checks topics against one bag

Every wrong, missing, unknown or out-of-range key raises ConfigError naming the file and the key.
A stream's kind (schema.StreamKind) comes from its topic's message type in the bag and, for
images, the encoding of its first message: 16UC1/mono16/32FC1 (or a compressedDepth /
16-bit format) is depth, anything else colour. Any other type the bag defines is a low-dim stream
of the numbers its `field:` path reaches (dataset.ops.fields).

Discovery rules (no config file): every JointState topic gives `<name>_pos` and `<name>_vel`
(position, velocity; effort is often empty in real bags, so it is opt-in via a config), every
Image/CompressedImage topic a camera or depth stream `<name>` (by encoding), every
PointCloud2/LaserScan topic a LiDAR stream `<name>`. `<name>` is the last topic segment that is
not a generic leaf (`joint_states`, `image_raw`, `points`, ...), e.g. `/cell/arm1/joint_states`
-> `arm1`, `/cell/lidar/points` -> `lidar`; more segments are used when two topics would
collide. Actions default to all `*_pos` streams shifted by one frame.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from robot_logger.core import messages
from robot_logger.core.yamlfile import YamlMap, check_within, load_yaml
from robot_logger.dataset.ops.depth import depth_encoding
from robot_logger.dataset.ops.fields import (
    DEFAULT_FIELD,
    FLOAT64_MULTI_ARRAY,
    NAMES_ATTR,
    FieldError,
    field_spec,
    parse_path,
)
from robot_logger.dataset.schema import AlignMethod, StreamKind, TimeSource
from robot_logger.errors import ConfigError

__all__ = [
    "COMPRESSIONS", "KIND_BY_TYPE", "MASK_BY",
    "StreamConfig", "ActionsConfig", "EpisodesConfig", "SplitConfig", "CompressionConfig",
    "MasksConfig", "FramesConfig", "BuildConfig", "load_config", "config_from_dict",
    "discover_config", "resolve_streams", "stream_kind", "config_json", "camera_info_topic",
]

COMPRESSIONS = ("gzip", "lzf", "none", "blosc", "robomimic", "fast", "small")  # writer.h5_filter
MASK_BY = ("outcome", "task")
ClockOffset = float | Literal["auto"] | None
# Types with a kind of their own; every other type the bag defines is a low-dim stream.
KIND_BY_TYPE = {
    messages.JOINT_STATE: StreamKind.LOWDIM,
    messages.IMAGE: StreamKind.IMAGE,           # or DEPTH, by encoding
    messages.COMPRESSED_IMAGE: StreamKind.IMAGE,
    messages.POINTCLOUD2: StreamKind.LIDAR,
    messages.LASER_SCAN: StreamKind.LIDAR,
}
# Types that are never a dataset stream (they describe other streams, or are text).
NOT_STREAMS = frozenset({messages.STRING, messages.CAMERA_INFO, messages.TF_MESSAGE})
DEFAULT_ALIGN = {StreamKind.LOWDIM: AlignMethod.INTERPOLATE, StreamKind.IMAGE: AlignMethod.NEAREST,
                 StreamKind.DEPTH: AlignMethod.NEAREST, StreamKind.LIDAR: AlignMethod.NEAREST}
# Commands hold until the next one arrives: sample-and-hold, never interpolated across.
HELD_TYPES = frozenset({messages.JOINT_TRAJECTORY, FLOAT64_MULTI_ARRAY,
                        "std_msgs/msg/Bool"})
DEFAULT_TOLERANCE_MS = {StreamKind.LOWDIM: 20.0, StreamKind.IMAGE: 50.0, StreamKind.DEPTH: 50.0,
                        StreamKind.LIDAR: 100.0}
TRANSPORT_LEAVES = ("compressed", "compressedDepth", "theora", "zstd")
DEFAULT_RATE_HZ = 10.0
# The reference clock's rate is an exact fraction with a denominator <= 10**6 (ops.align
# rate_fraction), so 1e-6 Hz is the slowest it can hold; 1e6 Hz (1 us frames) is far above any
# sensor here (joints 500 Hz-1 kHz) and already makes a minute 6e7 frames. Outside: an error,
# where 1e-9 Hz divided by zero and 1e12 Hz asked for 70 TiB.
RATE_RANGE_HZ = (1e-6, 1e6)
# Bounds far beyond any real sensor that keep a build inside int64 and memory: a clock offset
# of 4e12 ms (127 years: sim time against the wall clock is ~1.7e12) keeps corrected stamps in
# int64; 1e7 points a cloud (the densest LiDARs give ~1e6); 16384 px a side (above 8K video);
# an action shift of 1e6 frames (a day at 10 Hz). Beyond them: OverflowError or out of memory.
MAX_CLOCK_OFFSET_MS = 4e12
MAX_POINTS = 10**7
MAX_RESIZE_PX = 16384
MAX_ACTION_SHIFT = 10**6
GENERIC_SEGMENTS = frozenset({
    "joint_states", "image_raw", "image", "compressed", "image_color", "image_rect",
    "image_rect_color", "points", "points_raw", "cloud", "pointcloud", "scan",
})
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class StreamConfig:
    """One output stream: where it comes from and how it is put on the reference clock."""

    name: str
    topic: str
    field: str | None = None                   # dotted path; None: the type's DEFAULT_FIELD
    align: AlignMethod | None = None           # None: the kind's (and type's) default
    tolerance_ms: float | None = None          # None: the kind's default (20/50/50/100 ms)
    joints: tuple[str, ...] | None = None      # joint names to keep (or name), in this order
    resize: tuple[int, int] | None = None      # images and depth: (H, W)
    points: int = 1024                         # lidar: fixed P after downsampling
    voxel_size: float | None = None
    crop: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None
    intensity_field: str | None = None         # lidar: PointCloud2 field read as intensity
    camera_info: str | None = None             # images/depth: CameraInfo topic (else beside)
    frame: str | None = None                   # lidar: tf frame to move the points into
    clock_offset_ms: ClockOffset = None        # device clock: a fixed offset, or "auto"
    time_source: TimeSource | None = None      # None: the config's top-level time_source

    def align_for(self, kind: StreamKind, msgtype: str = "") -> AlignMethod:
        """Alignment method, with the kind's default (commands: previous) when none was given."""
        if self.align is not None:
            return self.align
        return AlignMethod.PREVIOUS if msgtype in HELD_TYPES else DEFAULT_ALIGN[StreamKind(kind)]

    def tolerance_ns(self, kind: StreamKind) -> int:
        """Tolerance in ns, with the kind's default when none was given."""
        ms = self.tolerance_ms if self.tolerance_ms is not None else DEFAULT_TOLERANCE_MS[kind]
        return int(round(ms * 1e6))

    def field_for(self, msgtype: str) -> str | None:
        """The field path of a low-dim stream: the configured one or the type's default."""
        return self.field or DEFAULT_FIELD.get(msgtype)


ACTIONS_SOURCE = "actions"   # the internal stream name of `actions: {topic: ...}`


@dataclass(frozen=True)
class ActionsConfig:
    """action[t] = concat(streams)[t + shift] (last frame held). `topic` is shorthand for one
    low-dim stream that is not stored under obs/ (its own field/align/tolerance_ms/joints/
    time_source)."""

    streams: tuple[str, ...] = ()
    shift: int = 1
    topic: str | None = None
    field: str | None = None
    align: AlignMethod | None = None
    tolerance_ms: float | None = None
    joints: tuple[str, ...] | None = None
    time_source: TimeSource | None = None

    def source(self) -> StreamConfig | None:
        """The hidden stream behind `actions: {topic: ...}`, None for stream actions."""
        if self.topic is None:
            return None
        return StreamConfig(ACTIONS_SOURCE, self.topic, field=self.field, align=self.align,
                            tolerance_ms=self.tolerance_ms, joints=self.joints,
                            time_source=self.time_source)

    @property
    def sources(self) -> tuple[str, ...]:
        """Names of the streams the action columns come from, in column order."""
        return (ACTIONS_SOURCE,) if self.topic else self.streams


@dataclass(frozen=True)
class EpisodesConfig:
    """Where episodes come from; a labels file wins over the events topic."""

    events_topic: str | None = messages.EVENTS_TOPIC
    labels_file: Path | None = None


@dataclass(frozen=True)
class SplitConfig:
    """Train/valid split of episodes, deterministic by seed."""

    valid_fraction: float = 0.1
    seed: int = 0


@dataclass(frozen=True)
class CompressionConfig:
    """HDF5 filters for images and point clouds; low-dim arrays are small and stored plain."""

    images: str = "gzip"
    lidar: str = "none"
    level: int = 1


@dataclass(frozen=True)
class MasksConfig:
    """Extra /mask/<name> lists: by outcome (/mask/success, ...), by task (/mask/<task slug>)."""

    by: tuple[str, ...] = ()


@dataclass(frozen=True)
class FramesConfig:
    """`base`: the tf frame every camera/LiDAR extrinsic is expressed in (/meta/extrinsics)."""

    base: str | None = None


@dataclass(frozen=True)
class BuildConfig:
    """Everything `build` needs besides the bags."""

    streams: tuple[StreamConfig, ...]
    rate_hz: float | None = DEFAULT_RATE_HZ
    reference: str | None = None
    time_source: TimeSource = TimeSource.HEADER
    latency_margin_ms: float = 500.0
    actions: ActionsConfig = field(default_factory=ActionsConfig)
    episodes: EpisodesConfig = field(default_factory=EpisodesConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    compression: CompressionConfig = field(default_factory=CompressionConfig)
    masks: MasksConfig = field(default_factory=MasksConfig)
    frames: FramesConfig = field(default_factory=FramesConfig)
    source: str = "<discovered>"

    def time_source_of(self, stream: StreamConfig) -> TimeSource:
        """Which time places the stream's messages: its own `time_source`, else the top level."""
        return stream.time_source or self.time_source

    def stream(self, name: str) -> StreamConfig:
        """The stream called `name` (`actions` for the hidden stream of a topic action)."""
        hidden = self.actions.source()
        if hidden is not None and name == hidden.name:
            return hidden
        return next(s for s in self.streams if s.name == name)

    @property
    def all_streams(self) -> tuple[StreamConfig, ...]:
        """The obs streams plus the hidden stream of a topic action."""
        hidden = self.actions.source()
        return self.streams + ((hidden,) if hidden is not None else ())

    def with_rate(self, rate_hz: float) -> BuildConfig:
        """The same config on a fixed-rate clock (`--rate` overrides `rate_hz` and `reference`)."""
        return replace(self, rate_hz=_checked_rate("--rate", rate_hz), reference=None)


def _checked_rate(where: str, rate_hz: float) -> float:
    """The reference clock rate, inside RATE_RANGE_HZ (NaN and infinity are outside)."""
    check_within(where, rate_hz, *RATE_RANGE_HZ, " Hz")
    return float(rate_hz)


def load_config(path: str | Path) -> BuildConfig:
    """Read and validate a build config YAML file; ConfigError names the file and key."""
    path = Path(path)
    data = load_yaml(path, "build config")
    return config_from_dict(data, str(path), base_dir=path.parent)


def config_from_dict(data: Any, source: str, *, base_dir: Path | None = None) -> BuildConfig:
    """Validate a parsed config mapping (`source` names the file in errors)."""
    top = YamlMap(data, source, "")
    top.check_known(("rate_hz", "reference", "time_source", "latency_margin_ms", "streams",
                     "actions", "episodes", "split", "compression", "masks", "frames"))
    streams_map = top.get("streams", dict, required=True)
    if not streams_map:
        raise ConfigError(f"{top.where('streams')}: needs at least one stream")
    time_source = TimeSource(top.choice("time_source", tuple(TimeSource), "header"))
    streams = tuple(_stream(name, top.sub("streams").sub(name) if isinstance(name, str) else None,
                            top, time_source) for name in streams_map)
    names = [s.name for s in streams]
    reference = top.get("reference", str)
    if reference is not None and reference not in names:
        raise ConfigError(f"{top.where('reference')}: {reference!r} is not a stream "
                          f"(streams: {', '.join(names)})")
    if ACTIONS_SOURCE in names and isinstance(top.data.get("actions"), Mapping) and \
            top.data["actions"].get("topic") is not None:
        raise ConfigError(f"{top.where('streams')}: a stream named {ACTIONS_SOURCE!r} and "
                          "actions.topic cannot go together (rename the stream)")
    rate_hz = top.get("rate_hz", float, None if reference else DEFAULT_RATE_HZ)
    if rate_hz is not None:
        rate_hz = _checked_rate(top.where("rate_hz"), rate_hz)
    if rate_hz is not None and reference is not None:
        raise ConfigError(f"{top.where('reference')}: give either rate_hz or reference, not both")
    return BuildConfig(
        streams=streams, rate_hz=rate_hz, reference=reference,
        time_source=time_source,
        latency_margin_ms=top.positive("latency_margin_ms", 500.0, allow_zero=True),
        actions=_actions(top.sub("actions"), names, "actions" in top.data),
        episodes=_episodes(top.sub("episodes"), base_dir),
        split=_split(top.sub("split")), compression=_compression(top.sub("compression")),
        masks=_masks(top.sub("masks")), frames=_frames(top.sub("frames")), source=source,
    )


def _stream(name: Any, keys: YamlMap | None, top: YamlMap, top_time: TimeSource) -> StreamConfig:
    if keys is None or not _NAME_RE.match(name):
        raise ConfigError(f"{top.where('streams')}: stream name {name!r} must start with a letter "
                          "and use only letters, digits and _ (it becomes an HDF5 key)")
    keys.check_known(("topic", "field", "align", "tolerance_ms", "joints", "resize", "points",
                      "voxel_size", "crop", "intensity_field", "camera_info", "frame",
                      "clock_offset_ms", "time_source"))
    points = keys.within("points", int, 1024, 1, MAX_POINTS)
    return StreamConfig(
        name=name, topic=keys.get("topic", str, required=True), field=_field(keys),
        align=_align(keys), tolerance_ms=keys.positive("tolerance_ms", None, allow_zero=True),
        joints=_joints(keys), resize=_resize(keys), points=points,
        voxel_size=keys.positive("voxel_size", None), crop=_crop(keys),
        intensity_field=_intensity_field(keys),
        camera_info=keys.get("camera_info", str), frame=keys.get("frame", str),
        clock_offset_ms=_clock_offset(keys, top_time), time_source=_time_source(keys),
    )


def _time_source(keys: YamlMap) -> TimeSource | None:
    value = keys.choice("time_source", tuple(TimeSource), None)
    return None if value is None else TimeSource(value)


def _field(keys: YamlMap) -> str | None:
    value: str | None = keys.get("field", str)
    if value is not None:
        try:
            parse_path(value)
        except FieldError as err:
            raise ConfigError(f"{keys.where('field')}: {err}") from err
    return value


def _align(keys: YamlMap) -> AlignMethod | None:
    value = keys.choice("align", tuple(AlignMethod), None)
    return None if value is None else AlignMethod(value)


def _joints(keys: YamlMap) -> tuple[str, ...] | None:
    joints = keys.get("joints", list)
    if joints is not None and (not joints or not all(isinstance(j, str) for j in joints)
                               or len(set(joints)) != len(joints)):
        raise ConfigError(f"{keys.where('joints')}: must be a non-empty list of distinct "
                          "joint names")
    return tuple(joints) if joints else None


def _clock_offset(keys: YamlMap, top_time: TimeSource) -> ClockOffset:
    """A fixed offset in ms, `auto` or None. It corrects header stamps, so a stream aligned on
    log (receive) time, which is already the recorder's clock, cannot take one."""
    value = keys.get("clock_offset_ms", (int, float, str))
    if isinstance(value, str) and value != "auto":
        raise ConfigError(f"{keys.where('clock_offset_ms')}: must be a number (ms to add to the "
                          f"header stamps) or auto, got {value!r}")
    own = _time_source(keys)
    if value is not None and (own or top_time) == TimeSource.LOG:
        where = "its time_source" if own else "the top-level time_source"
        raise ConfigError(f"{keys.where('clock_offset_ms')}: corrects header stamps, but {where} "
                          "is log: receive times are already on the recorder's clock (drop "
                          "clock_offset_ms, or set time_source: header on the stream)")
    if value is None or value == "auto":
        return "auto" if value else None
    check_within(keys.where("clock_offset_ms"), value, -MAX_CLOCK_OFFSET_MS, MAX_CLOCK_OFFSET_MS,
                 " ms")
    return float(value)


def _intensity_field(keys: YamlMap) -> str | None:
    """The PointCloud2 field read as intensity: any but x, y, z, which every point needs as
    its coordinates (the cloud's dtype maps each field to one column)."""
    value: str | None = keys.get("intensity_field", str)
    if value in ("x", "y", "z"):
        raise ConfigError(f"{keys.where('intensity_field')}: {value!r} is a coordinate of every "
                          "point; name the cloud's intensity field (intensity, reflectivity, "
                          "i, signal, ...)")
    return value


def _resize(keys: YamlMap) -> tuple[int, int] | None:
    value = keys.get("resize", list)
    if value is None:
        return None
    if len(value) != 2 or not all(isinstance(v, int) and not isinstance(v, bool)
                                  and 0 < v <= MAX_RESIZE_PX for v in value):
        raise ConfigError(f"{keys.where('resize')}: must be [height, width] in pixels "
                          f"(1 to {MAX_RESIZE_PX} each), got {value!r}")
    return int(value[0]), int(value[1])


def _crop(keys: YamlMap) -> tuple[tuple[float, float, float], tuple[float, float, float]] | None:
    value = keys.get("crop", list)
    if value is None:
        return None
    try:
        lo, hi = (tuple(float(v) for v in corner) for corner in value)
        ok = len(lo) == 3 and len(hi) == 3 and all(a < b for a, b in zip(lo, hi))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(f"{keys.where('crop')}: must be [[xmin, ymin, zmin], [xmax, ymax, zmax]]"
                          f" with min < max, got {value!r}")
    return lo, hi  # type: ignore[return-value]


def _actions(keys: YamlMap, names: list[str], given: bool) -> ActionsConfig:
    """`stream` (one or a list of low-dim streams, checked per bag) or `topic`; `{}` or a
    `shift` alone is an error, `stream: []` asks for no actions."""
    keys.check_known(("stream", "shift", "topic", "field", "align", "tolerance_ms", "joints",
                      "time_source"))
    stream = keys.get("stream", (str, list))
    if isinstance(stream, list) and not all(isinstance(n, str) for n in stream):
        raise ConfigError(f"{keys.where('stream')}: must be a stream name or a list of them")
    streams = tuple([stream] if isinstance(stream, str) else stream or ())
    topic = keys.get("topic", str)
    if streams and topic:
        raise ConfigError(f"{keys.where('stream')}: give either stream or topic, not both")
    if given and stream is None and topic is None:
        first = next(iter(keys.data), "stream")
        raise ConfigError(f"{keys.where(first)}: actions need stream: [low-dim streams] or "
                          "topic: <command topic> (stream: [] for no actions)")
    for name in streams:
        if name not in names:
            raise ConfigError(f"{keys.where('stream')}: {name!r} is not a stream "
                              f"(streams: {', '.join(names)})")
    if len(set(streams)) != len(streams):
        raise ConfigError(f"{keys.where('stream')}: lists a stream twice")
    for key in ("field", "align", "tolerance_ms", "joints", "time_source"):
        if key in keys.data and topic is None:
            raise ConfigError(f"{keys.where(key)}: applies to actions.topic only (for "
                              f"actions.stream, set {key} on the stream itself)")
    if not given:
        streams = tuple(n for n in names if n.endswith("_pos"))
    shift = keys.within("shift", int, 1, 0, MAX_ACTION_SHIFT, " frames")
    return ActionsConfig(streams=streams, shift=shift, topic=topic, field=_field(keys),
                         align=_align(keys),
                         tolerance_ms=keys.positive("tolerance_ms", None, allow_zero=True),
                         joints=_joints(keys), time_source=_time_source(keys))


def _masks(keys: YamlMap) -> MasksConfig:
    keys.check_known(("by",))
    by = keys.get("by", list, [])
    for item in by:
        if item not in MASK_BY:
            raise ConfigError(f"{keys.where('by')}: must list {' and/or '.join(MASK_BY)}, "
                              f"got {item!r}")
    return MasksConfig(by=tuple(dict.fromkeys(by)))


def _frames(keys: YamlMap) -> FramesConfig:
    keys.check_known(("base",))
    return FramesConfig(base=keys.get("base", str))


def _episodes(keys: YamlMap, base_dir: Path | None) -> EpisodesConfig:
    keys.check_known(("events_topic", "labels_file"))
    labels = keys.get("labels_file", str)
    labels_path = None
    if labels is not None:
        labels_path = Path(labels)
        if not labels_path.is_absolute() and base_dir is not None:
            labels_path = base_dir / labels_path
        if not labels_path.is_file():
            raise ConfigError(f"{keys.where('labels_file')}: no such file: {labels_path}")
    return EpisodesConfig(events_topic=keys.get("events_topic", str, messages.EVENTS_TOPIC),
                          labels_file=labels_path)


def _split(keys: YamlMap) -> SplitConfig:
    keys.check_known(("valid_fraction", "seed"))
    fraction = keys.get("valid_fraction", float, 0.1)
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f"{keys.where('valid_fraction')}: must be in [0, 1), got {fraction}")
    return SplitConfig(valid_fraction=fraction, seed=keys.get("seed", int, 0))


def _compression(keys: YamlMap) -> CompressionConfig:
    keys.check_known(("images", "lidar", "level"))
    level = keys.get("level", int, 1)
    if not 0 <= level <= 9:
        raise ConfigError(f"{keys.where('level')}: must be 0..9, got {level}")
    return CompressionConfig(images=keys.choice("images", COMPRESSIONS, "gzip") or "gzip",
                             lidar=keys.choice("lidar", COMPRESSIONS, "none") or "none",
                             level=level)


def _stream_names(topics: list[str]) -> dict[str, str]:
    """Topic -> stream name: the last non-generic segments, as many as needed to be unique."""
    parts = {}
    for topic in topics:
        segments = [s for s in topic.split("/") if s]
        specific = [s for s in segments if s not in GENERIC_SEGMENTS] or segments[-1:] or ["topic"]
        parts[topic] = [re.sub(r"[^A-Za-z0-9_]", "_", s) for s in specific]
    names: dict[str, str] = {}
    for depth in range(1, max((len(p) for p in parts.values()), default=1) + 1):
        candidates = {t: "_".join(p[-depth:]) for t, p in parts.items() if t not in names}
        counts = {n: list(candidates.values()).count(n) for n in candidates.values()}
        taken = set(names.values())
        for topic, name in candidates.items():
            if counts[name] == 1 and name not in taken:
                names[topic] = name
    for topic, p in parts.items():
        names.setdefault(topic, "_".join(p) + f"_{len(names)}")
    return {t: n if _NAME_RE.match(n) else f"s_{n}" for t, n in names.items()}


def stream_kind(msgtype: str, sample: Any = None) -> StreamKind:
    """The kind of a stream of `msgtype`; `sample` (a message of it, or None) tells depth from
    colour by its encoding/format. Types without a kind of their own are low-dim."""
    kind: StreamKind = KIND_BY_TYPE.get(msgtype, StreamKind.LOWDIM)
    if kind == StreamKind.IMAGE and sample is not None and depth_encoding(sample) is not None:
        return StreamKind.DEPTH
    return kind


def discover_config(topics: Mapping[str, str],
                    samples: Mapping[str, Any] | None = None) -> BuildConfig:
    """Config from the topics of the bags (topic -> msgtype) by message type (module docstring);
    `samples` (topic -> first message) tells depth images from colour ones."""
    samples = samples or {}
    usable = sorted(t for t, msgtype in topics.items() if msgtype in KIND_BY_TYPE)
    if not usable:
        raise ConfigError("no --config given and the bags have no JointState, Image, "
                          "CompressedImage, PointCloud2 or LaserScan topic to build from "
                          f"(topics: {', '.join(sorted(topics)) or 'none'})")
    names = _stream_names(usable)
    streams: list[StreamConfig] = []
    for topic in usable:
        if topics[topic] == messages.JOINT_STATE:
            streams += [StreamConfig(f"{names[topic]}_pos", topic, field="position"),
                        StreamConfig(f"{names[topic]}_vel", topic, field="velocity")]
        else:
            streams.append(StreamConfig(names[topic], topic))
    pos = tuple(s.name for s in streams if s.name.endswith("_pos"))
    return BuildConfig(streams=tuple(streams), actions=ActionsConfig(streams=pos))


def camera_info_topic(stream: StreamConfig) -> str:
    """Where a camera's calibration is: `camera_info:`, else `<ns>/camera_info` beside the image
    topic (`/cam/image_raw` and `/cam/image_raw/compressed` -> `/cam/camera_info`)."""
    if stream.camera_info:
        return stream.camera_info
    parts = stream.topic.rstrip("/").split("/")
    if len(parts) > 2 and parts[-1] in TRANSPORT_LEAVES:
        parts = parts[:-1]
    return "/".join(parts[:-1]) + "/camera_info"


def resolve_streams(config: BuildConfig, topics: Mapping[str, str], bag: str,
                    samples: Mapping[str, Any] | None = None) -> dict[str, StreamKind]:
    """Stream name -> kind in one bag; ConfigError on unknown topics, types that cannot be a
    stream, keys that do not fit the kind, field paths that do not reach numbers in
    `samples[topic]` (the topic's first message, when known) and non-low-dim actions."""
    samples = samples or {}
    kinds: dict[str, StreamKind] = {}
    for stream in config.all_streams:
        hidden = config.actions.topic is not None and stream.name == ACTIONS_SOURCE
        key = f"{config.source}: actions" if hidden else f"{config.source}: streams.{stream.name}"
        topic = stream.topic
        if topic not in topics:
            raise ConfigError(f"{key}.topic: topic {topic!r} is not in {bag} (topics there: "
                              f"{', '.join(sorted(topics)) or 'none'})")
        msgtype = topics[topic]
        sample = samples.get(topic)
        if msgtype in NOT_STREAMS or msgtype == "(mixed)":
            raise ConfigError(f"{key}.topic: {topic!r} has type {msgtype}, which cannot be a "
                              f"{'command' if hidden else 'dataset'} stream (images, depth, "
                              "point clouds, or numbers of any other message)")
        kind = stream_kind(msgtype, sample)
        if hidden and kind != StreamKind.LOWDIM:
            raise ConfigError(f"{key}.topic: {topic!r} is a {kind} topic ({msgtype}); actions "
                              "take low-dim streams (joints, commands, numeric fields)")
        _check_kind_keys(stream, kind, msgtype, key)
        if kind == StreamKind.LOWDIM:
            _check_field(stream, msgtype, sample, key)
        kinds[stream.name] = kind
    lowdim = [n for n, k in kinds.items() if k == StreamKind.LOWDIM and n != ACTIONS_SOURCE]
    for name in config.actions.streams:
        if kinds[name] != StreamKind.LOWDIM:
            raise ConfigError(f"{config.source}: actions.stream: {name!r} is a {kinds[name]} "
                              "stream; actions take low-dim streams (joints, commands, numeric "
                              f"fields): {', '.join(lowdim) or 'none here'}")
    return kinds


def _check_field(stream: StreamConfig, msgtype: str, sample: Any, key: str) -> None:
    path = stream.field_for(msgtype)
    if path is None:
        raise ConfigError(f"{key}.field: {msgtype} has no default field; name one "
                          "(a dotted path to numbers, like wrench.force)")
    if sample is None:
        return
    try:
        spec = field_spec(sample, path)
    except FieldError as err:
        raise ConfigError(f"{key}.field: {path!r} in {msgtype}: {err}") from err
    if msgtype in NAMES_ATTR and not (len(spec.leaves) == 1 and not spec.leaves[0][0]
                                      and spec.leaves[0][1] >= 0):
        what = "one number" if len(spec.columns) == 1 else ", ".join(spec.columns)
        example = f" such as {DEFAULT_FIELD[msgtype]}" if msgtype in DEFAULT_FIELD else ""
        raise ConfigError(f"{key}.field: {path!r} in {msgtype}: its columns are matched by "
                          "joint name, so the field must hold one value per joint (an array"
                          f"{example}), not {what}")
    if stream.joints is not None and msgtype not in NAMES_ATTR and \
            len(stream.joints) != len(spec.columns):
        raise ConfigError(f"{key}.joints: {len(stream.joints)} names for the "
                          f"{len(spec.columns)} values of {path} in {msgtype}")


def _check_kind_keys(stream: StreamConfig, kind: StreamKind, msgtype: str, where: str) -> None:
    if kind != StreamKind.LOWDIM and stream.align == AlignMethod.INTERPOLATE:
        raise ConfigError(f"{where}.align: interpolate works only for low-dim streams "
                          "(joints, numeric fields); use nearest or previous")
    if kind not in (StreamKind.IMAGE, StreamKind.DEPTH) and stream.resize is not None:
        raise ConfigError(f"{where}.resize: only image and depth streams can be resized")
    if kind not in (StreamKind.IMAGE, StreamKind.DEPTH) and stream.camera_info is not None:
        raise ConfigError(f"{where}.camera_info: only image and depth streams have a "
                          "calibration")
    if kind != StreamKind.LIDAR and (stream.voxel_size is not None or stream.crop is not None
                                     or stream.frame is not None
                                     or stream.intensity_field is not None):
        raise ConfigError(f"{where}: voxel_size/crop/frame/intensity_field apply to point-cloud "
                          "streams only")
    if kind != StreamKind.LOWDIM and stream.field is not None:
        raise ConfigError(f"{where}.field: only low-dim streams take a field ({msgtype} is a "
                          f"{kind} stream)")
    if kind != StreamKind.LOWDIM and stream.joints is not None:
        raise ConfigError(f"{where}.joints: only low-dim streams have joints")


def config_json(config: BuildConfig) -> str:
    """The config as JSON, for the dataset's `build_config` provenance attr."""
    return json.dumps(asdict(config), default=str, sort_keys=True)

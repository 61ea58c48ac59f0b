"""The build config (docs/build-config.md): frozen dataclasses, validated once at load.

    config = load_config("config/dataset.yaml")         # or discover_config(topics) without a file
    kinds = resolve_streams(config, bag.topics_types, bag_path)   # checks topics against one bag

Every wrong, missing, unknown or out-of-range key raises ConfigError naming the file and the key.
A stream's kind (joint, image, lidar) comes from its topic's message type in the bag.

Discovery rules (no config file): every JointState topic gives `<name>_pos` and `<name>_vel`
(position, velocity; effort is often empty in real bags, so it is opt-in via a config), every
Image/CompressedImage topic a camera stream `<name>`, every PointCloud2/LaserScan topic a LiDAR
stream `<name>`. `<name>` is the last topic segment that is not a generic leaf (`joint_states`,
`image_raw`, `points`, ...), e.g. `/cell/arm1/joint_states` -> `arm1`, `/cell/lidar/points` ->
`lidar`;
more segments are used when two topics would collide. Actions default to all `*_pos` streams
shifted by one frame.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, overload

from robot_logger.core import messages
from robot_logger.errors import ConfigError
from robot_logger.core.yamlfile import load_yaml

__all__ = [
    "ALIGN_METHODS", "TIME_SOURCES", "COMPRESSIONS", "KIND_BY_TYPE",
    "StreamConfig", "ActionsConfig", "EpisodesConfig", "SplitConfig", "CompressionConfig",
    "BuildConfig", "load_config", "config_from_dict", "discover_config", "resolve_streams",
    "config_json",
]

ALIGN_METHODS = ("interpolate", "nearest", "previous")
TIME_SOURCES = ("header", "log")
COMPRESSIONS = ("gzip", "lzf", "none", "blosc", "robomimic", "fast", "small")  # writer.h5_filter
JOINT_FIELDS = ("position", "velocity", "effort")
KIND_BY_TYPE = {
    messages.JOINT_STATE: "joint",
    messages.IMAGE: "image",
    messages.COMPRESSED_IMAGE: "image",
    messages.POINTCLOUD2: "lidar",
    messages.LASER_SCAN: "lidar",
}
DEFAULT_ALIGN = {"joint": "interpolate", "image": "nearest", "lidar": "nearest"}
DEFAULT_TOLERANCE_MS = {"joint": 20.0, "image": 50.0, "lidar": 100.0}
DEFAULT_RATE_HZ = 10.0
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
    field: str = "position"                    # joint streams: position | velocity | effort
    align: str | None = None                   # None: the kind's default (interpolate/nearest)
    tolerance_ms: float | None = None          # None: the kind's default (20/50/100 ms)
    joints: tuple[str, ...] | None = None      # joint names to keep, in this order
    resize: tuple[int, int] | None = None      # images: (H, W)
    points: int = 1024                         # lidar: fixed P after downsampling
    voxel_size: float | None = None
    crop: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None
    intensity_field: str | None = None         # lidar: PointCloud2 field read as intensity

    def align_for(self, kind: str) -> str:
        """Alignment method, with the kind's default when none was given."""
        return self.align or DEFAULT_ALIGN[kind]

    def tolerance_ns(self, kind: str) -> int:
        """Tolerance in ns, with the kind's default when none was given."""
        ms = self.tolerance_ms if self.tolerance_ms is not None else DEFAULT_TOLERANCE_MS[kind]
        return int(round(ms * 1e6))


@dataclass(frozen=True)
class ActionsConfig:
    """action[t] = concat(streams)[t + shift] (last frame held), or a command topic's field."""

    streams: tuple[str, ...] = ()
    shift: int = 1
    topic: str | None = None
    field: str = "position"


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
class BuildConfig:
    """Everything `build` needs besides the bags."""

    streams: tuple[StreamConfig, ...]
    rate_hz: float | None = DEFAULT_RATE_HZ
    reference: str | None = None
    time_source: str = "header"
    latency_margin_ms: float = 500.0
    actions: ActionsConfig = field(default_factory=ActionsConfig)
    episodes: EpisodesConfig = field(default_factory=EpisodesConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    compression: CompressionConfig = field(default_factory=CompressionConfig)
    source: str = "<discovered>"

    def stream(self, name: str) -> StreamConfig:
        """The stream called `name`."""
        return next(s for s in self.streams if s.name == name)

    def with_rate(self, rate_hz: float) -> BuildConfig:
        """The same config on a fixed-rate clock (`--rate` overrides `rate_hz` and `reference`)."""
        if not rate_hz > 0:
            raise ConfigError(f"--rate: must be > 0 Hz, got {rate_hz}")
        return replace(self, rate_hz=float(rate_hz), reference=None)


class _Keys:
    """Reads one mapping of the YAML file, naming `file: path.key` in every error."""

    def __init__(self, data: Any, source: str, path: str) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: {path or 'top level'}: must be a mapping, got {data!r}")
        self.data, self.source, self.path = dict(data), source, path

    def where(self, key: str) -> str:
        return f"{self.source}: {self.path + '.' if self.path else ''}{key}"

    def check_known(self, allowed: tuple[str, ...]) -> None:
        unknown = sorted(set(self.data) - set(allowed))
        if unknown:
            raise ConfigError(f"{self.where(str(unknown[0]))}: unknown key "
                              f"(allowed: {', '.join(allowed)})")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None,
            *, required: bool = False) -> Any:
        if key not in self.data or self.data[key] is None:
            if required:
                raise ConfigError(f"{self.where(key)}: missing")
            return default
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
            raise ConfigError(f"{self.where(key)}: expected {_type_name(kind)}, got {value!r}")
        return value

    @overload
    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str: ...

    @overload
    def choice(self, key: str, choices: tuple[str, ...], default: None) -> str | None: ...

    def choice(self, key: str, choices: tuple[str, ...], default: str | None) -> str | None:
        value: str | None = self.get(key, str, default)
        if value is not None and value not in choices:
            raise ConfigError(f"{self.where(key)}: must be one of {', '.join(choices)}, "
                              f"got {value!r}")
        return value

    def positive(self, key: str, default: float | None, *, allow_zero: bool = False) -> Any:
        value = self.get(key, float, default)
        if value is not None and (value < 0 or (value == 0 and not allow_zero)):
            raise ConfigError(f"{self.where(key)}: must be {'>= 0' if allow_zero else '> 0'}, "
                              f"got {value}")
        return value

    def sub(self, key: str) -> _Keys:
        return _Keys(self.data.get(key) or {}, self.source, self.where(key).split(": ", 1)[1])


def _type_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "an integer", float: "a number", str: "a string", list: "a list",
             dict: "a mapping", bool: "true/false"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def load_config(path: str | Path) -> BuildConfig:
    """Read and validate a build config YAML file; ConfigError names the file and key."""
    path = Path(path)
    data = load_yaml(path, "build config")
    return config_from_dict(data, str(path), base_dir=path.parent)


def config_from_dict(data: Any, source: str, *, base_dir: Path | None = None) -> BuildConfig:
    """Validate a parsed config mapping (`source` names the file in errors)."""
    top = _Keys(data, source, "")
    top.check_known(("rate_hz", "reference", "time_source", "latency_margin_ms", "streams",
                     "actions", "episodes", "split", "compression"))
    streams_map = top.get("streams", dict, required=True)
    if not streams_map:
        raise ConfigError(f"{top.where('streams')}: needs at least one stream")
    streams = tuple(_stream(name, top.sub("streams").sub(name) if isinstance(name, str) else None,
                            top) for name in streams_map)
    names = [s.name for s in streams]
    reference = top.get("reference", str)
    if reference is not None and reference not in names:
        raise ConfigError(f"{top.where('reference')}: {reference!r} is not a stream "
                          f"(streams: {', '.join(names)})")
    rate_hz = top.positive("rate_hz", None if reference else DEFAULT_RATE_HZ)
    if rate_hz is not None and reference is not None:
        raise ConfigError(f"{top.where('reference')}: give either rate_hz or reference, not both")
    return BuildConfig(
        streams=streams, rate_hz=rate_hz, reference=reference,
        time_source=top.choice("time_source", TIME_SOURCES, "header"),
        latency_margin_ms=top.positive("latency_margin_ms", 500.0, allow_zero=True),
        actions=_actions(top.sub("actions"), names, "actions" in top.data),
        episodes=_episodes(top.sub("episodes"), base_dir),
        split=_split(top.sub("split")), compression=_compression(top.sub("compression")),
        source=source,
    )


def _stream(name: Any, keys: _Keys | None, top: _Keys) -> StreamConfig:
    if keys is None or not _NAME_RE.match(name):
        raise ConfigError(f"{top.where('streams')}: stream name {name!r} must start with a letter "
                          "and use only letters, digits and _ (it becomes an HDF5 key)")
    keys.check_known(("topic", "field", "align", "tolerance_ms", "joints", "resize", "points",
                      "voxel_size", "crop", "intensity_field"))
    joints = keys.get("joints", list)
    if joints is not None and (not joints or not all(isinstance(j, str) for j in joints)):
        raise ConfigError(f"{keys.where('joints')}: must be a non-empty list of joint names")
    points = keys.get("points", int, 1024)
    if points <= 0:
        raise ConfigError(f"{keys.where('points')}: must be > 0, got {points}")
    return StreamConfig(
        name=name, topic=keys.get("topic", str, required=True),
        field=keys.choice("field", JOINT_FIELDS, "position") or "position",
        align=keys.choice("align", ALIGN_METHODS, None),
        tolerance_ms=keys.positive("tolerance_ms", None, allow_zero=True),
        joints=tuple(joints) if joints else None, resize=_resize(keys), points=points,
        voxel_size=keys.positive("voxel_size", None), crop=_crop(keys),
        intensity_field=keys.get("intensity_field", str),
    )


def _resize(keys: _Keys) -> tuple[int, int] | None:
    value = keys.get("resize", list)
    if value is None:
        return None
    if len(value) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                  for v in value):
        raise ConfigError(f"{keys.where('resize')}: must be [height, width] in pixels, "
                          f"got {value!r}")
    return int(value[0]), int(value[1])


def _crop(keys: _Keys) -> tuple[tuple[float, float, float], tuple[float, float, float]] | None:
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


def _actions(keys: _Keys, names: list[str], given: bool) -> ActionsConfig:
    keys.check_known(("stream", "shift", "topic", "field"))
    stream = keys.get("stream", (str, list))
    streams = tuple([stream] if isinstance(stream, str) else stream or ())
    topic = keys.get("topic", str)
    if streams and topic:
        raise ConfigError(f"{keys.where('stream')}: give either stream or topic, not both")
    for name in streams:
        if name not in names:
            raise ConfigError(f"{keys.where('stream')}: {name!r} is not a stream "
                              f"(streams: {', '.join(names)})")
    if not given:
        streams = tuple(n for n in names if n.endswith("_pos"))
    shift = keys.get("shift", int, 1)
    if shift < 0:
        raise ConfigError(f"{keys.where('shift')}: must be >= 0, got {shift}")
    return ActionsConfig(streams=streams, shift=shift, topic=topic,
                         field=keys.choice("field", JOINT_FIELDS, "position") or "position")


def _episodes(keys: _Keys, base_dir: Path | None) -> EpisodesConfig:
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


def _split(keys: _Keys) -> SplitConfig:
    keys.check_known(("valid_fraction", "seed"))
    fraction = keys.get("valid_fraction", float, 0.1)
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f"{keys.where('valid_fraction')}: must be in [0, 1), got {fraction}")
    return SplitConfig(valid_fraction=fraction, seed=keys.get("seed", int, 0))


def _compression(keys: _Keys) -> CompressionConfig:
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


def discover_config(topics: Mapping[str, str]) -> BuildConfig:
    """Config from the topics of the bags (topic -> msgtype) by message type (module docstring)."""
    usable = sorted(t for t, msgtype in topics.items() if msgtype in KIND_BY_TYPE)
    if not usable:
        raise ConfigError("no --config given and the bags have no JointState, Image, "
                          "CompressedImage, PointCloud2 or LaserScan topic to build from "
                          f"(topics: {', '.join(sorted(topics)) or 'none'})")
    names = _stream_names(usable)
    streams: list[StreamConfig] = []
    for topic in usable:
        if KIND_BY_TYPE[topics[topic]] == "joint":
            streams += [StreamConfig(f"{names[topic]}_pos", topic, field="position"),
                        StreamConfig(f"{names[topic]}_vel", topic, field="velocity")]
        else:
            streams.append(StreamConfig(names[topic], topic))
    pos = tuple(s.name for s in streams if s.name.endswith("_pos"))
    return BuildConfig(streams=tuple(streams), actions=ActionsConfig(streams=pos))


def resolve_streams(config: BuildConfig, topics: Mapping[str, str], bag: str) -> dict[str, str]:
    """Stream name -> kind (joint/image/lidar) in one bag; ConfigError on unknown/wrong topics."""
    kinds: dict[str, str] = {}
    wanted = [(s.name, s.topic) for s in config.streams]
    if config.actions.topic:
        wanted.append(("actions", config.actions.topic))
    for name, topic in wanted:
        key = f"{config.source}: streams.{name}.topic" if name != "actions" else \
            f"{config.source}: actions.topic"
        if topic not in topics:
            raise ConfigError(f"{key}: topic {topic!r} is not in {bag} (topics there: "
                              f"{', '.join(sorted(topics)) or 'none'})")
        kind = KIND_BY_TYPE.get(topics[topic])
        if kind is None or (name == "actions" and kind != "joint"):
            raise ConfigError(f"{key}: {topic!r} has type {topics[topic]}, which cannot be a "
                              f"{'command' if name == 'actions' else 'dataset'} stream "
                              f"(supported: {', '.join(KIND_BY_TYPE)})")
        if name != "actions":
            kinds[name] = kind
            _check_kind_keys(config.stream(name), kind, config.source)
    return kinds


def _check_kind_keys(stream: StreamConfig, kind: str, source: str) -> None:
    where = f"{source}: streams.{stream.name}"
    if kind != "joint" and stream.align == "interpolate":
        raise ConfigError(f"{where}.align: interpolate works only for JointState streams; "
                          "use nearest or previous")
    if kind != "image" and stream.resize is not None:
        raise ConfigError(f"{where}.resize: only image streams can be resized")
    if kind != "lidar" and (stream.voxel_size is not None or stream.crop is not None
                            or stream.intensity_field is not None):
        raise ConfigError(f"{where}: voxel_size/crop/intensity_field apply to point-cloud "
                          "streams only")


def config_json(config: BuildConfig) -> str:
    """The config as JSON, for the dataset's `build_config` provenance attr."""
    return json.dumps(asdict(config), default=str, sort_keys=True)

"""QoS profiles for recording and publishing: explicit defaults, adaptation, YAML overrides.

Defaults (docs/recording.md): sensor topics best-effort/volatile with a deep keep-last reader
history (the recorder may be busy with a large frame while 1 kHz joint states arrive); episode
events reliable/transient-local; status reliable/volatile. Like rosbag2's recorder, a
subscription adapts to what its publishers offer (`adapt`): reliable when every publisher offers
reliable, transient-local when every publisher offers transient-local, else the permissive choice,
so it matches every publisher and still gets late-joiner history where all of them keep it.

Override file (`--qos FILE`): rosbag2's `--qos-profile-overrides-path` format in full — policies as
names or as rmw's integer enums, durations as {sec, nsec}; an override is used as given (no
adaptation), as rosbag2 does::

    /cell/arm1/joint_states: {reliability: reliable, depth: 2000}
    /robot_logger/events:
      history: keep_last
      depth: 100
      reliability: 1          # rmw enum: 1 reliable, 2 best_effort
      durability: transient_local
      deadline: {sec: 2, nsec: 0}
      liveliness: automatic
      liveliness_lease_duration: {sec: 5, nsec: 0}
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rosbags.interfaces import (
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)

from robot_logger.core.messages import EVENTS_TOPIC, STATUS_TOPIC, TF_STATIC_TOPIC
from robot_logger.core.yamlfile import YamlMap, load_yaml
from robot_logger.errors import ConfigError

__all__ = [
    "INFINITE_NS",
    "QosProfile",
    "SENSOR_READER",
    "SENSOR_WRITER",
    "EVENTS",
    "STATUS",
    "TF_STATIC",
    "adapt",
    "or_infinite",
    "default_profile",
    "incompatibility",
    "load_overrides",
    "ros_policy_names",
    "from_ros_policy_names",
    "to_rosbags_qos",
]

RELIABILITIES = ("reliable", "best_effort")
DURABILITIES = ("volatile", "transient_local")
HISTORIES = ("keep_last", "keep_all")
LIVELINESSES = ("automatic", "manual_by_topic")
# DDS/rmw "infinite" duration; rosbag2 writes it as 9223372036 s 854775807 ns
INFINITE_NS = 2**63 - 1
NS = 1_000_000_000
# rmw's enum values as rosbag2 writes them in metadata version <= 8 and accepts in override files.
# 0 (system default) and Jazzy's best_available keep the default.
RMW_ENUMS: dict[str, dict[int, str]] = {
    "history": {1: "keep_last", 2: "keep_all"},
    "reliability": {1: "reliable", 2: "best_effort"},
    "durability": {1: "transient_local", 2: "volatile"},
    "liveliness": {1: "automatic", 3: "manual_by_topic"},
}
RMW_KEEP_DEFAULT = {
    "history": (0,), "reliability": (0, 4), "durability": (0, 4), "liveliness": (0, 5)
}
KEEP_DEFAULT = ("system_default", "best_available")
DURATION_KEYS = {"deadline": "deadline_ns", "lifespan": "lifespan_ns",
                 "liveliness_lease_duration": "liveliness_lease_ns"}
OVERRIDE_KEYS = ("history", "depth", "reliability", "durability", "deadline", "lifespan",
                 "liveliness", "liveliness_lease_duration", "avoid_ros_namespace_conventions")


@dataclass(frozen=True)
class QosProfile:
    """A ROS 2 QoS profile: the policies that decide matching, history depth, and the timing
    policies (infinite unless set) that rosbag2 records and replays."""

    reliability: str = "best_effort"
    durability: str = "volatile"
    history: str = "keep_last"
    depth: int = 1000
    deadline_ns: int = INFINITE_NS
    lifespan_ns: int = INFINITE_NS
    liveliness: str = "automatic"
    liveliness_lease_ns: int = INFINITE_NS
    avoid_ros_namespace_conventions: bool = False

    def __post_init__(self) -> None:
        for key, value, allowed in (
            ("reliability", self.reliability, RELIABILITIES),
            ("durability", self.durability, DURABILITIES),
            ("history", self.history, HISTORIES),
            ("liveliness", self.liveliness, LIVELINESSES),
        ):
            if value not in allowed:
                raise ConfigError(f"qos {key} must be one of {', '.join(allowed)}, not {value!r}")
        if isinstance(self.depth, bool) or not isinstance(self.depth, int) or self.depth < 1:
            raise ConfigError(f"qos depth must be a positive integer, not {self.depth!r}")
        for name in ("deadline_ns", "lifespan_ns", "liveliness_lease_ns"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"qos {name.removesuffix('_ns')} must be a positive duration")

    def to_dict(self) -> dict[str, object]:
        """Plain dict (for status JSON): the policies, durations in ns (None: infinite)."""
        return {
            "reliability": self.reliability,
            "durability": self.durability,
            "history": self.history,
            "depth": self.depth,
            **{key: None if getattr(self, attr) == INFINITE_NS else getattr(self, attr)
               for key, attr in DURATION_KEYS.items()},
            "liveliness": self.liveliness,
        }


SENSOR_READER = QosProfile("best_effort", "volatile", "keep_last", 1000)
SENSOR_WRITER = QosProfile("best_effort", "volatile", "keep_last", 5)
EVENTS = QosProfile("reliable", "transient_local", "keep_last", 100)
STATUS = QosProfile("reliable", "volatile", "keep_last", 10)
# tf2_ros's StaticTransformBroadcaster: published once, kept for late joiners
TF_STATIC = QosProfile("reliable", "transient_local", "keep_last", 1)


def default_profile(topic: str, *, writer: bool = False) -> QosProfile:
    """The built-in profile for a topic: events, status, or sensor data (reader or writer side);
    a /tf_static writer offers what tf2_ros's static broadcaster does (a best-effort volatile
    reader still matches it)."""
    if topic == TF_STATIC_TOPIC and writer:
        return TF_STATIC
    if topic == EVENTS_TOPIC:
        return EVENTS
    if topic == STATUS_TOPIC:
        return STATUS
    return SENSOR_WRITER if writer else SENSOR_READER


def adapt(default: QosProfile, offered: list[QosProfile]) -> QosProfile:
    """The reader profile that matches every offered one (rosbag2's adaptive recording):
    reliable only when all publishers are reliable, transient-local only when all are; depth
    and the rest from `default`. No publishers known: `default`."""
    if not offered:
        return default
    reliable = all(p.reliability == "reliable" for p in offered)
    durable = all(p.durability == "transient_local" for p in offered)
    return replace(default, reliability="reliable" if reliable else "best_effort",
                   durability="transient_local" if durable else "volatile")


def incompatibility(offered: QosProfile, requested: QosProfile) -> str | None:
    """Why a writer offering `offered` cannot match a reader requesting `requested`, or None."""
    if requested.reliability == "reliable" and offered.reliability == "best_effort":
        return "the recorder requests reliable but the publisher offers best_effort"
    if requested.durability == "transient_local" and offered.durability == "volatile":
        return "the recorder requests transient_local but the publisher offers volatile"
    if offered.deadline_ns > requested.deadline_ns:
        return "the publisher's deadline is longer than the recorder's"
    if offered.liveliness == "automatic" and requested.liveliness == "manual_by_topic":
        return ("the recorder requests manual_by_topic liveliness but the publisher offers "
                "automatic")
    if offered.liveliness_lease_ns > requested.liveliness_lease_ns:
        return "the publisher's liveliness lease is longer than the recorder's"
    return None


def _policy(key: str, value: Any, default: str) -> str:
    """One policy from an override file: a name (any case) or rmw's integer enum."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value in RMW_KEEP_DEFAULT[key]:
            return default
        if value not in RMW_ENUMS[key]:
            raise ConfigError(f"qos {key} {value} is not one of rmw's values "
                              f"{', '.join(f'{n} ({v})' for n, v in RMW_ENUMS[key].items())}")
        return RMW_ENUMS[key][value]
    text = str(value).lower()
    return default if text in KEEP_DEFAULT else text


def _duration_ns(key: str, value: Any) -> int:
    """{sec, nsec} (rosbag2's form) -> ns; rosbag2's infinite (9223372036 s 854775807 ns) stays
    infinite."""
    if not isinstance(value, dict) or set(value) - {"sec", "nsec"}:
        raise ConfigError(f"qos {key} must be a mapping {{sec: S, nsec: N}}, not {value!r}")
    sec, nsec = value.get("sec", 0), value.get("nsec", 0)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (sec, nsec)):
        raise ConfigError(f"qos {key} sec and nsec must be non-negative integers")
    return min(int(sec) * NS + int(nsec), INFINITE_NS)


def _override(topic: str, body: dict[Any, Any]) -> QosProfile:
    default = default_profile(topic)
    fields: dict[str, Any] = {}
    for key, value in body.items():
        if key in RMW_ENUMS:
            fields[key] = _policy(key, value, getattr(default, key))
        elif key in DURATION_KEYS:
            ns = _duration_ns(key, value)
            fields[DURATION_KEYS[key]] = ns if ns else INFINITE_NS   # rmw: 0 means infinite
        elif key == "avoid_ros_namespace_conventions":
            if not isinstance(value, bool):
                raise ConfigError(f"qos {key} must be true or false, not {value!r}")
            fields[key] = value
        else:
            fields[key] = value
    return replace(default, **fields)


def load_overrides(path: str | Path) -> dict[str, QosProfile]:
    """Per-topic profiles from a rosbag2 override YAML; ConfigError names file and key."""
    path = Path(path)
    doc = load_yaml(path, "QoS file")
    if doc is None:
        return {}
    top = YamlMap(doc, path)  # topic -> QoS profile
    profiles = {}
    for topic, body in top.data.items():
        if not isinstance(topic, str) or not topic.startswith("/"):
            raise ConfigError(f"{path}: key {topic!r} is not a topic name (must start with '/')")
        policies = YamlMap(body, path, top.key_path(topic))
        policies.check_known(OVERRIDE_KEYS)
        try:
            profiles[topic] = _override(topic, policies.data)
        except ConfigError as err:
            raise ConfigError(f"{top.where(topic)}: {err}") from err
    return profiles


def or_infinite(ns: int | None) -> int:
    """A discovered endpoint's duration policy in ns: rmw's unset (None, 0 or less) and anything
    at or past DDS infinity are INFINITE_NS (what QosProfile holds for "no limit")."""
    return INFINITE_NS if ns is None or ns <= 0 or ns >= INFINITE_NS else int(ns)


def _qos_time(ns: int) -> QosTime:
    return QosTime(ns // NS, ns % NS)


def to_rosbags_qos(profile: QosProfile) -> Qos:
    """The profile as rosbags writes it into metadata.yaml's offered_qos_profiles (version 8:
    rmw's integer enums, durations as sec/nsec — what rosbag2 on Humble writes and reads)."""
    return Qos(
        QosHistory.KEEP_ALL if profile.history == "keep_all" else QosHistory.KEEP_LAST,
        profile.depth,
        QosReliability.RELIABLE if profile.reliability == "reliable"
        else QosReliability.BEST_EFFORT,
        QosDurability.TRANSIENT_LOCAL if profile.durability == "transient_local"
        else QosDurability.VOLATILE,
        _qos_time(profile.deadline_ns),
        _qos_time(profile.lifespan_ns),
        QosLiveliness.MANUAL_BY_TOPIC if profile.liveliness == "manual_by_topic"
        else QosLiveliness.AUTOMATIC,
        _qos_time(profile.liveliness_lease_ns),
        profile.avoid_ros_namespace_conventions,
    )


def ros_policy_names(profile: QosProfile) -> dict[str, str]:
    """rclpy enum member names for a profile (ReliabilityPolicy.<name>, ...), so the rclpy
    transport maps with getattr and this table is tested without ROS installed."""
    return {
        "reliability": profile.reliability.upper(),
        "durability": profile.durability.upper(),
        "history": profile.history.upper(),
    }


def from_ros_policy_names(
    reliability: str, durability: str, history: str = "KEEP_LAST", depth: int = 1
) -> QosProfile:
    """Profile from rclpy enum member names of a discovered endpoint; the not-matching-relevant
    values (SYSTEM_DEFAULT, UNKNOWN, BEST_AVAILABLE) count as the permissive choice."""
    return QosProfile(
        "reliable" if reliability.upper() == "RELIABLE" else "best_effort",
        "transient_local" if durability.upper() == "TRANSIENT_LOCAL" else "volatile",
        "keep_all" if history.upper() == "KEEP_ALL" else "keep_last",
        max(1, depth),
    )

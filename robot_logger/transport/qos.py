"""QoS profiles for recording and publishing: explicit defaults, YAML overrides, compatibility.

Defaults (docs/recording.md): sensor topics best-effort/volatile with a deep keep-last reader
history (the recorder may be busy with a large frame while 1 kHz joint states arrive); episode
events reliable/transient-local; status reliable/volatile. A best-effort volatile reader matches
every writer, so by default nothing is silently unmatched except where the contract asks for more.

Override file (`--qos FILE`, the format of rosbag2's `--qos-profile-overrides-path`)::

    /cell/arm1/joint_states: {reliability: reliable, depth: 2000}
    /robot_logger/events:
      {reliability: reliable, durability: transient_local, history: keep_last, depth: 100}
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from robot_logger.core.messages import EVENTS_TOPIC, STATUS_TOPIC, TF_STATIC_TOPIC
from robot_logger.core.yamlfile import YamlMap, load_yaml
from robot_logger.errors import ConfigError

__all__ = [
    "QosProfile",
    "SENSOR_READER",
    "SENSOR_WRITER",
    "EVENTS",
    "STATUS",
    "TF_STATIC",
    "default_profile",
    "incompatibility",
    "load_overrides",
    "ros_policy_names",
    "from_ros_policy_names",
]

RELIABILITIES = ("reliable", "best_effort")
DURABILITIES = ("volatile", "transient_local")
HISTORIES = ("keep_last", "keep_all")
QOS_KEYS = ("reliability", "durability", "history", "depth")  # of rosbag2's override format


@dataclass(frozen=True)
class QosProfile:
    """The QoS policies that decide whether a reader and a writer match, plus history depth."""

    reliability: str = "best_effort"
    durability: str = "volatile"
    history: str = "keep_last"
    depth: int = 1000

    def __post_init__(self) -> None:
        for key, value, allowed in (
            ("reliability", self.reliability, RELIABILITIES),
            ("durability", self.durability, DURABILITIES),
            ("history", self.history, HISTORIES),
        ):
            if value not in allowed:
                raise ConfigError(f"qos {key} must be one of {', '.join(allowed)}, not {value!r}")
        if isinstance(self.depth, bool) or not isinstance(self.depth, int) or self.depth < 1:
            raise ConfigError(f"qos depth must be a positive integer, not {self.depth!r}")

    def to_dict(self) -> dict[str, object]:
        """Plain dict (for status JSON and bag metadata)."""
        return {
            "reliability": self.reliability,
            "durability": self.durability,
            "history": self.history,
            "depth": self.depth,
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


def incompatibility(offered: QosProfile, requested: QosProfile) -> str | None:
    """Why a writer offering `offered` cannot match a reader requesting `requested`, or None."""
    if requested.reliability == "reliable" and offered.reliability == "best_effort":
        return "the recorder requests reliable but the publisher offers best_effort"
    if requested.durability == "transient_local" and offered.durability == "volatile":
        return "the recorder requests transient_local but the publisher offers volatile"
    return None


def load_overrides(path: str | Path) -> dict[str, QosProfile]:
    """Per-topic profiles from a rosbag2-style override YAML; ConfigError names file and key."""
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
        policies.check_known(QOS_KEYS)
        try:
            profiles[topic] = replace(default_profile(topic), **policies.data)
        except ConfigError as err:
            raise ConfigError(f"{top.where(topic)}: {err}") from err
    return profiles


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

"""The recorder's settings, defined once: `robot-logger record` flags and ROS 2 node parameters.

Each Param is both a CLI flag (`split_size` <-> `--split-size`) and a parameter of the `recorder`
node (config/cell.yaml: `recorder: ros__parameters: ...`), so the two cannot drift apart.
`record_options` turns the values (from click or from rclpy) into validated options.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

from robot_logger.bag.reader import STORAGES
from robot_logger.core.params import Param
from robot_logger.errors import ConfigError
from robot_logger.record.bagsink import MIB, SinkOptions
from robot_logger.record.recorder import RecordOptions, TopicSelector
from robot_logger.transport.base import TRANSPORTS, TransportName
from robot_logger.transport.qos import load_overrides

__all__ = ["RECORD_PARAMS", "RecordSetup", "record_options", "parse_expect"]


RECORD_PARAMS = (
    Param("output", "", "Bag folder to create (must not exist).", short="-o"),
    Param("topics", [], "Topics to record (repeat, or comma-separated).", many=True),
    Param("regex", "", "Also record topics matching this regular expression."),
    Param(
        "all", False, "Record every topic seen on the domain, including ones that appear later."
    ),
    Param("exclude", "", "Do not record topics matching this regular expression."),
    Param("storage", "mcap", "Storage format.", choices=STORAGES),
    Param(
        "compression",
        "none",
        "zstd: compressed MCAP chunks / sqlite3 messages.",
        choices=("none", "zstd"),
    ),
    Param(
        "split_size",
        0,
        "Start a new storage file of the same bag after this many MB of messages (0: never).",
    ),
    Param(
        "split_duration",
        0.0,
        "Start a new storage file of the same bag after this many seconds (0: never).",
    ),
    Param("qos", "", "YAML file of per-topic QoS overrides (rosbag2 override format)."),
    Param("duration", 0.0, "Stop after this many seconds (0: until Ctrl-C / SIGTERM)."),
    Param("min_free", 1024, "Stop cleanly when free disk space falls below this many MB."),
    Param("queue_size", 512, "Writer queue limit in MB; overflow is counted as drops."),
    Param("expect", [], "Expected rate TOPIC=HZ for the monitor (repeat).", many=True),
    Param(
        "msg_path",
        [],
        "Folder with <package>/msg/*.msg definitions of message types that neither ROS 2 Humble "
        "nor the sourced workspaces (AMENT_PREFIX_PATH) define (repeat).",
        many=True,
    ),
    Param(
        "transport",
        "",
        "rclpy or dds (default: rclpy when ROS 2 is installed, else dds).",
        choices=("",) + TRANSPORTS,
    ),
)


def installed_prefixes() -> tuple[Path, ...]:
    """The install prefixes of the sourced ROS 2 and workspaces (AMENT_PREFIX_PATH), whose
    `share/<pkg>/msg/` hold the definitions of every installed message type."""
    return tuple(Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p)


def parse_expect(items: list[str]) -> dict[str, float]:
    """`["/a=500", ...]` -> {"/a": 500.0}; ConfigError naming the bad item."""
    rates = {}
    for item in items:
        topic, _, value = item.partition("=")
        try:
            rate = float(value)
        except ValueError:
            rate = 0.0
        if not topic.startswith("/") or rate <= 0:
            raise ConfigError(
                f"expect {item!r}: use TOPIC=HZ with a positive rate, "
                "e.g. /cell/arm1/joint_states=500"
            )
        rates[topic] = rate
    return rates


def _split_topics(values: list[str]) -> tuple[str, ...]:
    return tuple(t.strip() for value in values for t in value.split(",") if t.strip())


class RecordSetup(NamedTuple):
    """What the recorder parameters say: where, through which transport, and how to record."""

    output: Path  # the bag folder to create
    transport: TransportName | None  # None: the default (rclpy when ROS 2 is installed)
    options: RecordOptions


def record_options(
    values: dict[str, Any], *, custom_data: dict[str, str] | None = None
) -> RecordSetup:
    """The RecordSetup that parameter values (from click or rclpy) describe, validated."""
    unknown = sorted(set(values) - {p.name for p in RECORD_PARAMS})
    if unknown:
        raise ConfigError(f"unknown recorder parameter {unknown[0]!r}")
    v = {p.name: p.default for p in RECORD_PARAMS} | values
    if not v["output"]:
        raise ConfigError("output is required: the bag folder to create "
                          "(record -o BAG; recorder node: -p output:=BAG)")
    topics = _split_topics(list(v["topics"]))
    if not (topics or v["regex"] or v["all"]):
        raise ConfigError("nothing to record: give --topics, --regex or --all (recorder node: "
                          "-p topics:=..., -p regex:=... or -p all:=true)")
    for name in ("split_size", "split_duration", "duration", "min_free", "queue_size"):
        if float(v[name]) < 0:
            raise ConfigError(f"{name} must not be negative, not {v[name]}")
    sink = SinkOptions(
        storage=v["storage"],
        compression=None if v["compression"] == "none" else v["compression"],
        split_size_bytes=int(float(v["split_size"]) * MIB),
        split_duration_ns=int(float(v["split_duration"]) * 1e9),
        queue_limit_bytes=int(float(v["queue_size"]) * MIB),
        min_free_bytes=int(float(v["min_free"]) * MIB),
        custom_data=custom_data or {},
    )
    options = RecordOptions(
        selector=TopicSelector(topics, v["regex"] or None, bool(v["all"]), v["exclude"] or None),
        sink=sink,
        duration_s=float(v["duration"]) or None,
        qos_overrides=load_overrides(v["qos"]) if v["qos"] else {},
        expected_hz=parse_expect(list(v["expect"])),
        msg_paths=tuple(Path(p) for p in v["msg_path"] if p) + installed_prefixes(),
    )
    return RecordSetup(Path(v["output"]), v["transport"] or None, options)

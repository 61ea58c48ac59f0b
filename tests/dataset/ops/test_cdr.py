"""Numeric leaves read straight from CDR equal the deserialized values, for any type."""

from __future__ import annotations

import numpy as np

from robot_logger.core import messages
from robot_logger.dataset.ops.cdr import parse_leaves

TYPES = messages.typestore().types


def trajectory(stamp: int, names: list[str], frame: str = "") -> bytes:
    point = TYPES["trajectory_msgs/msg/JointTrajectoryPoint"](
        positions=np.arange(len(names)) + stamp / 1e9, velocities=np.zeros(0),
        accelerations=np.zeros(0), effort=np.zeros(0),
        time_from_start=TYPES["builtin_interfaces/msg/Duration"](sec=1, nanosec=stamp % 1000))
    msg = TYPES["trajectory_msgs/msg/JointTrajectory"](
        header=messages.header(stamp, frame), joint_names=names, points=[point, point])
    return messages.serialize(msg, "trajectory_msgs/msg/JointTrajectory")


def test_leaves_equal_the_deserialized_message() -> None:
    raws = [trajectory(1_000_000_000 + 7 * i, ["j1", "joint_two", "c"]) for i in range(5)]
    leaves = messages.cdr_leaves("trajectory_msgs/msg/JointTrajectory", raws[0])
    assert leaves is not None
    batch = parse_leaves(raws, leaves, header=True)
    assert batch is not None
    for row, raw in zip(batch.values, raws):
        msg = messages.deserialize(raw, "trajectory_msgs/msg/JointTrajectory")
        for value, (path, _, _) in zip(row, leaves):
            obj = msg
            for part in path:
                obj = obj[part] if isinstance(part, int) else getattr(obj, part)
            assert value == obj, path
    assert batch.stamps_ns.tolist() == [1_000_000_000 + 7 * i for i in range(5)]
    paths = [p for p, _, _ in leaves]
    assert ("points", 1, "positions", 2) in paths and ("header", "stamp", "sec") in paths


def test_another_layout_is_refused() -> None:
    raws = [trajectory(1, ["a", "b"], "x"), trajectory(2, ["a", "c"], "x")]
    leaves = messages.cdr_leaves("trajectory_msgs/msg/JointTrajectory", raws[0])
    assert leaves is not None and parse_leaves(raws, leaves, header=True) is None
    longer = [trajectory(1, ["a", "b"], "x"), trajectory(2, ["a", "b"], "xy")]
    assert parse_leaves(longer, leaves, header=True) is None
    assert messages.cdr_leaves("no_pkg/msg/Nothing", raws[0]) is None
    assert messages.cdr_leaves("trajectory_msgs/msg/JointTrajectory", raws[0][:20]) is None

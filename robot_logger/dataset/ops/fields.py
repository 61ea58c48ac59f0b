"""Numeric columns out of any deserialized ROS 2 message, by a dotted field path (pure, no I/O).

    spec = field_spec(first_msg, "wrench.force")        # checks the path once, names columns
    spec.columns                                         # ['x', 'y', 'z']
    values = spec.values(msgs)                           # (N, 3) float64, one row per message

A path walks attributes and sequence indices (`points.0.positions`). What it ends on becomes
float64 columns: a number or bool (1 column), a numeric array (its length), or a message whose
leaves are all numeric, flattened in definition order (`geometry_msgs/Vector3`/`Point` 3,
`Quaternion` 4 as x, y, z, w, `Wrench` 6). Strings, and sequences of messages, are refused.

Named joint arrays: a message type with a joint-name list (JointState `name`, JointTrajectory
and JointTrajectoryControllerState `joint_names`) gives its columns by name, so streams whose
messages carry subsets or other orders are matched by name (`named_columns`). A
Float64MultiArray's `data` is named by the config's `joints:` list instead.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from robot_logger.core.messages import FLOAT64, JOINT_STATE, JOINT_TRAJECTORY, WRENCH_STAMPED

__all__ = ["FieldError", "FieldSpec", "NAMES_ATTR", "DEFAULT_FIELD", "parse_path", "resolve",
           "field_spec", "named_columns"]

JTC_STATE = "control_msgs/msg/JointTrajectoryControllerState"
FLOAT64_MULTI_ARRAY = "std_msgs/msg/Float64MultiArray"

# Message types whose arrays are indexed by a list of joint names in the same message.
NAMES_ATTR = {JOINT_STATE: "name", JOINT_TRAJECTORY: "joint_names", JTC_STATE: "joint_names"}
# The field a stream of this type takes when the config names none.
DEFAULT_FIELD = {
    JOINT_STATE: "position",
    JOINT_TRAJECTORY: "points.0.positions",
    FLOAT64_MULTI_ARRAY: "data",
    FLOAT64: "data",
    "std_msgs/msg/Float32": "data",
    "std_msgs/msg/Bool": "data",
    WRENCH_STAMPED: "wrench",
    "geometry_msgs/msg/PoseStamped": "pose",
    "sensor_msgs/msg/Imu": "linear_acceleration",
    "nav_msgs/msg/Odometry": "pose.pose",
}
_SKIPPED = ("header", "__msgtype__")   # never a column of a flattened message


class FieldError(ValueError):
    """A field path that does not lead to numbers in this message; the text says why."""


def parse_path(text: str) -> tuple[str | int, ...]:
    """`points.0.positions` -> ('points', 0, 'positions'); FieldError for an empty part."""
    parts = text.split(".")
    if not text or any(not p for p in parts):
        raise FieldError(f"{text!r} is not a dotted field path (like wrench.force)")
    return tuple(int(p) if p.isdigit() else p for p in parts)


def resolve(msg: Any, path: Sequence[str | int]) -> Any:
    """The value at `path` in `msg`; FieldError names the first part that does not exist."""
    value = msg
    for depth, part in enumerate(path):
        try:
            value = value[part] if isinstance(part, int) else getattr(value, part)
        except (AttributeError, IndexError, TypeError, KeyError) as err:
            done = ".".join(str(p) for p in path[:depth]) or "the message"
            have = _field_names(value)
            raise FieldError(f"{done} has no {'index' if isinstance(part, int) else 'field'} "
                             f"{part!r}" + (f" (fields: {', '.join(have)})" if have else "")
                             ) from err
    return value


def _field_names(value: Any) -> list[str]:
    return [n for n in getattr(value, "__dataclass_fields__", {}) if n != "__msgtype__"]


def _leaves(value: Any, prefix: str) -> list[tuple[str, tuple[str, ...], int]]:
    """(column-name prefix, attribute path, width) of every numeric leaf under `value`;
    width -1 marks a scalar."""
    if isinstance(value, (bool, int, float, np.number, np.bool_)):
        return [(prefix, (), -1)]
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise FieldError(f"{prefix or 'the field'} is a {value.dtype} array, not numbers")
        return [(prefix, (), int(value.size))]
    names = _field_names(value)
    if not names:
        kind = "text" if isinstance(value, str) else type(value).__name__
        raise FieldError(f"{prefix or 'the field'} is {kind}, not numbers")
    out = []
    for name in names:
        if name in _SKIPPED:
            continue
        for col, attrs, width in _leaves(getattr(value, name),
                                         f"{prefix}.{name}" if prefix else name):
            out.append((col, (name, *attrs), width))
    return out


@dataclass(frozen=True)
class FieldSpec:
    """A checked path into one message type: column names and a fast per-message getter."""

    path: tuple[str | int, ...]
    columns: tuple[str, ...]
    getter: Callable[[Any], Any]
    leaves: tuple[tuple[tuple[str, ...], int], ...]

    def row(self, msg: Any) -> np.ndarray:
        """The columns of one message (float64); FieldError when its layout differs."""
        value = self.getter(msg)
        if len(self.leaves) == 1 and not self.leaves[0][0]:
            row = np.asarray(value, np.float64).reshape(-1)
        else:
            row = np.concatenate([np.asarray(_attrs(value, attrs), np.float64).reshape(-1)
                                  for attrs, _ in self.leaves])
        if row.size != len(self.columns):
            raise FieldError(f"has {row.size} values where the first message had "
                             f"{len(self.columns)}")
        return row

    def values(self, msgs: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """(N, D) float64 rows of the messages whose layout matches, and their indices."""
        rows, keep = [], []
        for i, msg in enumerate(msgs):
            try:
                rows.append(self.row(msg))
            except (FieldError, AttributeError, IndexError, TypeError, ValueError):
                continue
            keep.append(i)
        if not rows:
            return np.zeros((0, len(self.columns))), np.zeros(0, np.int64)
        return np.stack(rows), np.asarray(keep, np.int64)


def _attrs(value: Any, attrs: tuple[str, ...]) -> Any:
    for name in attrs:
        value = getattr(value, name)
    return value


def field_spec(msg: Any, path: str) -> FieldSpec:
    """Check `path` on one message and describe its columns (module docstring)."""
    parts = parse_path(path)
    value = resolve(msg, parts)
    leaves = _leaves(value, "")
    columns: list[str] = []
    for name, _attrs_path, width in leaves:
        label = name or str(parts[-1])
        columns += [label] if width < 0 else [f"{label}[{i}]" for i in range(width)]
    if not columns:
        raise FieldError(f"{path} holds no numbers in this message")
    if all(isinstance(p, str) for p in parts):
        getter: Callable[[Any], Any] = operator.attrgetter(".".join(map(str, parts)))
    else:
        getter = lambda m: resolve(m, parts)  # noqa: E731 - index paths are rare
    return FieldSpec(parts, tuple(columns), getter,
                     tuple((attrs, width) for _, attrs, width in leaves))


def named_columns(msg: Any, msgtype: str, path: tuple[str | int, ...],
                  names: Sequence[str] | None = None) -> tuple[list[str], np.ndarray] | None:
    """(joint names, float64 values) of one message of a named type; None when the field is
    empty or its length differs from the names (e.g. a JointState without velocities)."""
    if names is None:
        names = list(getattr(msg, NAMES_ATTR[msgtype]))
    try:
        values = np.asarray(resolve(msg, path), np.float64).reshape(-1)
    except FieldError:
        return None
    if values.size != len(names) or not names:
        return None
    return list(names), values

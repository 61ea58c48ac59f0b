"""Field paths into deserialized messages: columns, names, errors."""

from __future__ import annotations

import numpy as np
import pytest

from robot_logger.core import messages
from robot_logger.dataset.ops.fields import FieldError, field_spec, named_columns, parse_path

TYPES = messages.typestore().types


def imu() -> object:
    vec = TYPES["geometry_msgs/msg/Vector3"]
    return TYPES["sensor_msgs/msg/Imu"](
        header=messages.header(5, "imu"),
        orientation=TYPES["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0),
        orientation_covariance=np.arange(9.0), angular_velocity=vec(x=1.0, y=2.0, z=3.0),
        angular_velocity_covariance=np.zeros(9), linear_acceleration=vec(x=0.0, y=0.0, z=9.8),
        linear_acceleration_covariance=np.zeros(9))


def test_columns_of_leaves_vectors_quaternions_arrays() -> None:
    msg = imu()
    assert field_spec(msg, "orientation").columns == ("x", "y", "z", "w")
    assert field_spec(msg, "angular_velocity.y").columns == ("y",)
    spec = field_spec(msg, "orientation_covariance")
    assert spec.columns[0] == "orientation_covariance[0]" and len(spec.columns) == 9
    values, keep = field_spec(msg, "angular_velocity").values([msg, msg])
    np.testing.assert_array_equal(values, [[1, 2, 3], [1, 2, 3]])
    assert keep.tolist() == [0, 1]
    assert parse_path("points.0.positions") == ("points", 0, "positions")


def test_errors_say_what_is_wrong() -> None:
    with pytest.raises(FieldError, match=r"angular_velocity has no field 'w' \(fields: x, y, z\)"):
        field_spec(imu(), "angular_velocity.w")
    with pytest.raises(FieldError, match="is text"):
        field_spec(imu(), "header.frame_id")
    with pytest.raises(FieldError, match="not a dotted field path"):
        parse_path("a..b")


def test_named_columns_skip_arrays_that_do_not_match_the_names() -> None:
    msg = messages.joint_state(1, ["a", "b"], np.array([1.0, 2.0]), np.zeros(0), np.zeros(0))
    names, values = named_columns(msg, messages.JOINT_STATE, ("position",))
    assert names == ["a", "b"] and values.tolist() == [1.0, 2.0]
    assert named_columns(msg, messages.JOINT_STATE, ("velocity",)) is None

"""The node mains run against real ROS 2 Humble and Jazzy (see tests/support/ros2.py)."""

from tests.support.ros2 import ros2, ros2_install  # noqa: F401 - pytest finds fixtures by name

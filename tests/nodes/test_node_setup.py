"""Node parameters as a ROS 2 user types them (`--ros-args -p`, a params file), on real ROS 2
Humble and Jazzy: ROS types each value from its YAML text, so `duration:=2` is an integer."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.support.ros2 import Ros2

pytestmark = pytest.mark.ros2

RECORDER = [sys.executable, "-c", "from robot_logger.nodes.recorder_node import main; main()"]


def test_recorder_takes_a_whole_number_for_a_float_and_one_topic_as_a_string(
        ros2: Ros2, tmp_path: Path) -> None:
    """`duration:=1` (an integer) and `topics:=/chatter` (a string, not a list) are what a user
    types; they were an rclpy InvalidParameterTypeException traceback, exit 1. A misspelt
    parameter (`split_duraton`) is named in a warning; rclpy ignored it in silence. The final
    log repeats the final status's warnings as `record` prints them (only the stop drain's was
    logged, so a loss or an absent topic was left to an earlier status line)."""
    done = ros2.run([*RECORDER, "--ros-args", "-p", f"output:={tmp_path / 'bag'}",
                     "-p", "duration:=3", "-p", "topics:=/chatter", "-p", "split_duraton:=3.0"],
                    check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "bag" / "metadata.yaml").exists()
    assert "[WARN]" in done.stderr and "split_duraton" in done.stderr, done.stderr
    final = done.stderr[done.stderr.index("recorded 0 messages into"):]
    assert "/chatter: not published: no publisher on ROS_DOMAIN_ID=" in final, final


def test_a_parameter_of_the_wrong_type_is_one_error_naming_it(ros2: Ros2,
                                                              tmp_path: Path) -> None:
    done = ros2.run([*RECORDER, "--ros-args", "-p", f"output:={tmp_path / 'bag'}",
                     "-p", "all:=true", "-p", "split_size:=1.5"], check=False, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "[ERROR]" in line]
    assert len(errors) == 1 and "split_size" in errors[0] and "1.5" in errors[0], done.stderr
    assert not (tmp_path / "bag").exists()

"""`ros2 run robot_logger sim_cell`'s main on real ROS 2 Humble and Jazzy."""

from __future__ import annotations

import sys

import pytest

from tests.support.ros2 import Ros2

pytestmark = pytest.mark.ros2

SIM_CELL = [sys.executable, "-c", "from robot_logger.nodes.sim_cell_node import main; main()"]


def test_sim_cell_exits_cleanly_when_its_duration_ends(ros2: Ros2) -> None:
    """The node publishes for its duration and exits 0: its background spin thread is stopped
    before the node and context go (it aborted with `terminate called without an active
    exception`, exit -6, on both distros, also on Ctrl-C under `ros2 launch`)."""
    done = ros2.run([*SIM_CELL, "--ros-args", "-p", "duration:=0.5", "-p",
                     "wait_subscribers:=0.0", "-p", "cameras:=1", "-p", "image_size:=32x24",
                     "-p", "lidar_points:=64"], check=False, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "published" in done.stderr and "terminate" not in done.stderr, done.stderr

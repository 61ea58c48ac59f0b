"""The package as a ROS 2 user gets it: `colcon build` in a workspace, then `ros2 run` and
`ros2 launch` on real Humble and Jazzy. The launched cell records a bag that builds into a valid
dataset, the recorder's episode services put events into it, `ros2 param get` answers."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest
import yaml

from robot_logger.bag.reader import open_bag
from robot_logger.core import events
from robot_logger.core import messages as m
from tests.support.paths import REPO, package_sources
from tests.support.ros2 import Ros2, Ros2Install

pytestmark = [pytest.mark.ros2, pytest.mark.slow]   # colcon build + launch: ~30 s a distro

CLI = [sys.executable, "-c", "from robot_logger.cli import main; main()"]


@pytest.fixture(scope="module")
def workspace(ros2_install: Ros2Install, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This repository's tracked files in `ws/src/robot_logger`, built with `colcon build`."""
    ws = tmp_path_factory.mktemp(f"ws_{ros2_install.distro}")
    package_sources(ws / "src" / "robot_logger")
    done = subprocess.run(["colcon", "build"], cwd=ws, env=ros2_install.env,
                          capture_output=True, text=True, timeout=600)
    if done.returncode == 127 or "No module named" in done.stderr and "colcon" in done.stderr:
        pytest.skip("colcon is not installed: run `bash tools/ros2_deps.sh`")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return ws


def overlay(ros2: Ros2, ws: Path) -> Ros2:
    """`ros2` with the workspace sourced and this environment's Python packages (rosbags, ...)
    after ROS's own: the documented install beside ROS."""
    env = subprocess.run(["bash", "-c", f"source {ws}/install/local_setup.bash && env -0"],
                         env=ros2.env, capture_output=True, check=True).stdout.decode()
    sourced = dict(item.split("=", 1) for item in env.split("\0") if "=" in item)
    site = sysconfig.get_paths()["purelib"]
    sourced["PYTHONPATH"] = f"{sourced.get('PYTHONPATH', '')}:{site}"
    return Ros2(ros2.distro, ros2.prefix, sourced, ros2.domain_id)


def test_colcon_built_package_runs_and_launches(ros2: Ros2, workspace: Path,
                                                tmp_path: Path) -> None:
    """`ros2 launch robot_logger sim_cell.launch.py output:=2024_05_01` (a name launch would
    turn into the integer 20240501): the cell publishes, the recorder records; `ros2 param get
    /sim_cell` answers while it runs; an episode started through the recorder's service is in
    the bag; Ctrl-C closes it; it builds into a dataset that validates. Then `ros2 run
    robot_logger recorder` on its own."""
    user = overlay(ros2, workspace)
    try:
        config = tmp_path / "cell.yaml"
        doc = yaml.safe_load((REPO / "config" / "cell.yaml").read_text())
        doc["sim_cell"]["ros__parameters"].update(
            duration=30.0, image_size="64x48", lidar_points=256, cameras=1, episodes=3)
        config.write_text(yaml.safe_dump(doc))
        launch = user.start(["ros2", "launch", "robot_logger", "sim_cell.launch.py",
                             f"config:={config}", "output:=2024_05_01"], cwd=tmp_path)
        user.wait_for_message(m.STATUS_TOPIC, m.STRING)   # the recorder is up
        got = user.run(["ros2", "param", "get", "/sim_cell", "image_size"], timeout=30)
        assert "64x48" in got.stdout
        user.run(["ros2", "topic", "echo", "--once", "--no-arr", "--qos-reliability",
                  "best_effort", "/cell/cam1/image_raw", "sensor_msgs/msg/Image"], timeout=60)
        user.run(["ros2", "param", "set", "/recorder", "episode_task", "service task"])
        called = user.run(["ros2", "service", "call", "/recorder/episode_start",
                           "std_srvs/srv/Trigger"], timeout=30)
        assert "success=True" in called.stdout, called.stdout
        time.sleep(2.0)   # the service's episode gets frames; then Ctrl-C ends cell and bag
        rc, log = user.stop(launch, timeout=30)
        bag = tmp_path / "2024_05_01"
        assert bag.is_dir(), log
        with open_bag(bag) as reader:
            texts = [m.deserialize(raw, m.STRING).data
                     for _, _, _, raw in reader.messages([m.EVENTS_TOPIC])]
            counts = {t: i.count for t, i in reader.topics.items()}
        assert events.episode_start("service task") in texts
        assert counts["/cell/arm1/joint_states"] > 1000, counts
        built = subprocess.run(CLI + ["build", str(bag), "-o", str(tmp_path / "cell.h5"),
                                      "--rate", "10", "--quiet"],
                               capture_output=True, text=True, timeout=300)
        assert built.returncode == 0, built.stderr
        valid = subprocess.run(CLI + ["validate", str(tmp_path / "cell.h5")],
                               capture_output=True, text=True, timeout=120)
        assert valid.returncode == 0, valid.stdout + valid.stderr
        ran = user.start(["ros2", "run", "robot_logger", "recorder", "--ros-args",
                          "-p", f"output:={tmp_path / 'run_bag'}", "-p", "all:=true"])
        user.wait_for_message(m.STATUS_TOPIC, m.STRING)
        rc, log = user.stop(ran)
        assert (tmp_path / "run_bag" / "metadata.yaml").exists(), log
    finally:
        user.close()

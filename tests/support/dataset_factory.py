"""Small datasets for loader/stats/preview tests, built the real way: simulated bag -> build.

One writer of the HDF5 layout (dataset/build.py); these helpers only pick small, varied inputs.
"""

from __future__ import annotations

from pathlib import Path

from robot_logger.dataset.build.pipeline import build_dataset
from robot_logger.sim import Cell, CellSpec, parse_faults, write_bag

# 3 short episodes, 48x64 cameras, gaps in cam1 and arm2 so validity has something to show.
SMALL_DATASET = {"duration_s": 4.0, "episodes": 3, "image_height": 48, "image_width": 64,
                 "lidar_points": 512}
SMALL_FAULTS = "/cell/cam1/image_raw:drop=0.2;/cell/arm2/joint_states:outage=2-2.4"


def built_dataset(root: Path, *, rate_hz: float = 20.0, faults: str = SMALL_FAULTS,
                  **spec: object) -> Path:
    """Simulate a cell bag under `root` and build `root/dataset.h5` from it."""
    root.mkdir(parents=True, exist_ok=True)
    cell = Cell(CellSpec(**{**SMALL_DATASET, **spec}), parse_faults(faults))
    write_bag(root / "bag", cell)
    output = root / "dataset.h5"
    build_dataset([root / "bag"], output, rate_hz=rate_hz)
    return output


# Every stream a real cell has (sim --sensors all), and a depth camera on its own clock.
SENSOR_FAULTS = "/cell/cam1/depth/*:clock_offset_ms=350,drift_ppm=50"
SENSOR_CONFIG = """\
rate_hz: 10
streams:
  arm1_pos: {topic: /cell/arm1/joint_states, field: position, align: interpolate,
             tolerance_ms: 20}
  arm1_cmd: {topic: /cell/arm1/joint_trajectory_controller/joint_trajectory, align: previous,
             tolerance_ms: 50}
  wrench: {topic: /cell/arm1/ft, field: wrench.force, align: nearest, tolerance_ms: 20}
  gripper: {topic: /cell/arm1/gripper/position, field: data, align: previous,
            tolerance_ms: 200}
  cam1: {topic: /cell/cam1/image_raw, align: nearest, tolerance_ms: 50}
  depth: {topic: /cell/cam1/depth/image_raw, align: nearest, tolerance_ms: 50,
          clock_offset_ms: auto}
  lidar: {topic: /cell/lidar/points, align: nearest, tolerance_ms: 100, points: 128}
actions: {stream: [arm1_cmd, gripper], shift: 0}
frames: {base: world}
masks: {by: [outcome, task]}
split: {valid_fraction: 0.3, seed: 0}
"""


def sensor_dataset(root: Path, *, seed: int = 0, **spec: object) -> tuple[Path, Cell]:
    """A format-1.1 dataset of a cell with every optional stream (commands, F/T, gripper,
    depth on a device clock, calibration, /tf_static), outcome and task masks and next_obs:
    (`root/sensors.h5`, the Cell whose truth it holds). Seed 0: success, failure, success;
    a pick-and-place and two welds."""
    root.mkdir(parents=True, exist_ok=True)
    fields = {**SMALL_DATASET, "duration_s": 6.0, "episodes": 3, "seed": seed,
              "commands": True, "gripper": True, "wrench": True, "depth": True,
              "camera_info": True, "tf_static": True, **spec}
    cell = Cell(CellSpec(**fields), parse_faults(SENSOR_FAULTS))
    write_bag(root / "sensor_bag", cell)
    (root / "sensors.yaml").write_text(SENSOR_CONFIG)
    output = root / "sensors.h5"
    build_dataset([root / "sensor_bag"], output, config_path=root / "sensors.yaml")
    return output, cell

"""The simulated cell's settings, defined once: `robot-logger sim` flags and `sim_cell` parameters.

Each Param is a `robot-logger sim` flag (`lidar_points` <-> `--lidar-points`) and a parameter of
the `sim_cell` node (config/cell.yaml: `sim_cell: ros__parameters: ...`). CELL_PARAMS describe
the cell; PUBLISH_PARAMS how `sim --publish` and the node publish it. `cell_from_params` turns
the values (from click or from rclpy) into a Cell, with a ConfigError naming a bad one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from robot_logger.core.params import Param
from robot_logger.errors import ConfigError
from robot_logger.sim.cell import Cell, cell_from_options

__all__ = ["CELL_PARAMS", "PUBLISH_PARAMS", "SIM_PARAMS", "cell_from_params", "parse_image_size"]

CELL_PARAMS = (
    Param("duration", 60.0, "Simulated seconds."),
    Param("arms", 2, "Six-joint arms (500 Hz JointState)."),
    Param("cameras", 2, "rgb8 cameras (30 Hz)."),
    Param("lidar", True, "A 10 Hz PointCloud2 LiDAR."),
    Param("episodes", 0, "Work cycles to fit into the duration (0: one per ~8 s)."),
    Param("seed", 0, "Everything random (motion, outcomes, latency, faults) follows from it."),
    Param("image_size", "640x480", "Camera resolution WIDTHxHEIGHT."),
    Param("lidar_points", 30000, "Points per scan."),
    Param(
        "sensors",
        "",
        "Optional streams, comma-separated, or all: commands (JointTrajectory 100 Hz), gripper"
        " (Float64 position + command 100 Hz), wrench (F/T 250 Hz), depth (16UC1 15 Hz beside"
        " each camera), camera_info, tf_static.",
    ),
    Param("faults", "", "Inject faults (SPEC syntax: robot-logger sim --help)."),
)
PUBLISH_PARAMS = (
    Param(
        "wait_subscribers",
        0.0,
        "When publishing: first wait up to this many seconds for a reader on every topic.",
    ),
    Param(
        "qos",
        "",
        "When publishing: YAML of per-topic writer QoS overrides (rosbag2 override format).",
    ),
)
SIM_PARAMS = CELL_PARAMS + PUBLISH_PARAMS


def parse_image_size(value: str) -> tuple[int, int]:
    """`"640x480"` -> (640, 480); ConfigError for anything else."""
    width, sep, height = str(value).lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise ConfigError(f"image_size {value!r} is not WIDTHxHEIGHT, e.g. 640x480")
    return int(width), int(height)


def cell_from_params(values: Mapping[str, Any]) -> Cell:
    """The Cell that CELL_PARAMS values describe (defaults for the ones not given)."""
    names = {p.name for p in SIM_PARAMS}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"unknown sim parameter {unknown[0]!r}")
    v = {p.name: p.default for p in CELL_PARAMS} | dict(values)
    return cell_from_options(
        duration_s=float(v["duration"]),
        arms=int(v["arms"]),
        cameras=int(v["cameras"]),
        lidar=bool(v["lidar"]),
        episodes=int(v["episodes"]) or None,
        seed=int(v["seed"]),
        image_size=parse_image_size(v["image_size"]),
        lidar_points=int(v["lidar_points"]),
        faults=str(v["faults"]),
        sensors=str(v["sensors"]),
    )

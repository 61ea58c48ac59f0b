"""`ros2 run robot_logger sim_cell`: publish the simulated cell live as a ROS 2 node.

The node uses the rclpy transport.

Parameters are the `robot-logger sim --publish` flags (config/cell.yaml, `sim_cell:`): duration,
arms, cameras, lidar, episodes (0: automatic), seed, image_size, lidar_points, faults,
wait_subscribers, qos.
"""

from __future__ import annotations

import sys

from robot_logger.errors import RobotLoggerError
from robot_logger.nodes.node_setup import read_parameters, start_node
from robot_logger.record.params import Param
from robot_logger.sim.cell import cell_from_options
from robot_logger.sim.publisher import publish_cell
from robot_logger.transport.qos import load_overrides

__all__ = ["SIM_PARAMS", "main"]

SIM_PARAMS = (
    Param("duration", 60.0, "Simulated seconds."),
    Param("arms", 2, "Six-joint arms (500 Hz JointState)."),
    Param("cameras", 2, "rgb8 cameras (30 Hz)."),
    Param("lidar", True, "A 10 Hz PointCloud2 LiDAR."),
    Param("episodes", 0, "Work cycles in the duration (0: one per ~8 s)."),
    Param("seed", 0, "Everything random follows from it."),
    Param("image_size", "640x480", "Camera resolution WIDTHxHEIGHT."),
    Param("lidar_points", 30000, "Points per scan."),
    Param("faults", "", "Fault SPEC (see robot-logger sim --help)."),
    Param("sensors", "", "Optional streams, comma-separated or all (robot-logger sim --help)."),
    Param(
        "wait_subscribers", 0.0, "First wait up to this many seconds for a reader on every topic."
    ),
    Param("qos", "", "YAML of per-topic writer QoS overrides."),
)


def main(args: list[str] | None = None) -> None:
    """Entry point of the `sim_cell` console script."""
    transport, stop = start_node("sim_cell", args)
    log = transport.node.get_logger()
    try:
        v = read_parameters(transport.node, SIM_PARAMS)
        width, _, height = str(v["image_size"]).lower().partition("x")
        cell = cell_from_options(
            float(v["duration"]),
            v["arms"],
            v["cameras"],
            v["lidar"],
            v["episodes"] or None,
            v["seed"],
            (int(width), int(height)),
            v["lidar_points"],
            v["faults"],
            v["sensors"],
        )
        result = publish_cell(
            transport,
            cell,
            stop=stop,
            wait_subscribers_s=float(v["wait_subscribers"]),
            qos_overrides=load_overrides(v["qos"]) if v["qos"] else None,
        )
    except (RobotLoggerError, ValueError) as err:
        log.error(str(err))
        transport.close()
        sys.exit(2)
    log.info(
        f"published {sum(result.counts.values())} messages (max lag {result.max_lag_ms:.1f} ms)"
    )
    transport.close()


if __name__ == "__main__":
    main()

"""`ros2 run robot_logger sim_cell`: publish the simulated cell live as a ROS 2 node.

The node uses the rclpy transport.

Parameters are the `robot-logger sim --publish` flags, one table for both
(robot_logger.sim.params.SIM_PARAMS; config/cell.yaml, `sim_cell:`).
"""

from __future__ import annotations

from robot_logger.errors import RobotLoggerError
from robot_logger.nodes.node_setup import (
    exit_with_error,
    read_parameters,
    start_node,
    warn_unknown_parameters,
)
from robot_logger.sim.params import CELL_PARAMS, SIM_PARAMS, cell_from_params
from robot_logger.sim.publisher import publish_cell
from robot_logger.transport.qos import load_overrides

__all__ = ["main"]


def main(args: list[str] | None = None) -> None:
    """Entry point of the `sim_cell` console script."""
    transport, stop = start_node("sim_cell", args)
    transport.spin_in_background()   # parameters and services answer while the cell publishes
    log = transport.node.get_logger()
    try:
        v = read_parameters(transport.node, SIM_PARAMS)
        warn_unknown_parameters(transport.node)
        cell = cell_from_params({p.name: v[p.name] for p in CELL_PARAMS})
        result = publish_cell(
            transport,
            cell,
            stop=stop,
            wait_subscribers_s=float(v["wait_subscribers"]),
            qos_overrides=load_overrides(v["qos"]) if v["qos"] else None,
        )
    except (RobotLoggerError, ValueError) as err:
        exit_with_error(transport, str(err))
    log.info(
        f"published {sum(result.counts.values())} messages (max lag {result.max_lag_ms:.1f} ms)"
    )
    transport.close()


if __name__ == "__main__":
    main()

"""What every node main does first: start an rclpy node with its `--ros-args`, declare params."""

from __future__ import annotations

import sys
import threading
from typing import Any, NoReturn

from robot_logger.record.signals import stop_on_signals
from robot_logger.transport.base import domain_id

__all__ = ["exit_with_error", "read_parameters", "start_node"]


def read_parameters(node: Any, params: Any) -> dict[str, Any]:
    """Declare `params` (Param tuples) on an rclpy node and return their values."""
    from rclpy.parameter import Parameter

    values = {}
    for param in params:
        default = Parameter.Type.STRING_ARRAY if param.many else param.default
        value = node.declare_parameter(param.name, default).value
        values[param.name] = ([] if value is None else list(value)) if param.many else value
    return values


def start_node(name: str, args: list[str] | None) -> tuple[Any, threading.Event]:
    """The rclpy transport as node `name` (parameters from `--ros-args`), and an event set by
    SIGINT/SIGTERM so the node ends its loop and closes cleanly."""
    from robot_logger.transport.rclpy import RclpyTransport

    transport = RclpyTransport(domain_id(), name, ros_args=sys.argv if args is None else args)
    return transport, stop_on_signals()


def exit_with_error(transport: Any, message: str) -> NoReturn:
    """Log `message` as the node's error, close the node, exit 2 (as the CLI does)."""
    transport.node.get_logger().error(message)
    transport.close()
    sys.exit(2)

"""What every node main does first: start an rclpy node with its `--ros-args`, declare params."""

from __future__ import annotations

import sys
import threading
from typing import Any, NoReturn

from robot_logger.record.signals import stop_on_signals
from robot_logger.transport.base import domain_id

__all__ = ["exit_with_error", "read_parameters", "start_node", "warn_unknown_parameters"]


def read_parameters(node: Any, params: Any) -> dict[str, Any]:
    """Declare `params` (Param tuples) on an rclpy node and return their values, each as its
    Param's type (`Param.coerce`: `duration:=2` is 2.0, `topics:=/a` is ["/a"]); a value of
    another type is a ConfigError naming the parameter. Declared with dynamic typing, so rclpy
    takes any override and the check is ours: a statically typed declaration raised rclpy's
    InvalidParameterTypeException, a traceback, for an integer given to a float."""
    from rcl_interfaces.msg import ParameterDescriptor

    dynamic = ParameterDescriptor(dynamic_typing=True)
    values = {}
    for param in params:   # a list's default: not set (rclpy cannot type an empty list)
        value = node.declare_parameter(param.name, None if param.many else param.default,
                                       dynamic).value
        values[param.name] = param.coerce([] if value is None and param.many else value)
    return values


def warn_unknown_parameters(node: Any) -> None:
    """Log a warning naming each parameter given to the node (`-p`, a params file) that it does
    not declare, once every parameter is declared: rclpy ignores them in silence, so a misspelt
    `split_duraton:=3` recorded one unsplit bag with no word. A warning, not an error: a shared
    params file's `/**:` section may hold parameters meant for other nodes. rclpy has no public
    accessor for the overrides it was given, hence `_parameter_overrides` (Humble and Jazzy)."""
    given = getattr(node, "_parameter_overrides", {})
    declared = sorted(node.get_parameters_by_prefix(""))
    for name in sorted(n for n in given if not node.has_parameter(n)):
        node.get_logger().warning(
            f"parameter {name!r} is not one of this node's and is ignored "
            f"(its parameters: {', '.join(declared)})")


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

"""How live bytes arrive and leave: one interface (`base.Transport`), two middlewares.

`dds` speaks ROS 2's wire format over Cyclone DDS directly (no ROS install needed); `rclpy` uses
ROS 2's Python client library. Each backend is imported only when opened, so choosing one never
loads the other (`base` is the interface both import; nothing here imports a backend eagerly).
"""

from __future__ import annotations

import importlib.util

from robot_logger.errors import ConfigError, TransportError
from robot_logger.transport.base import TRANSPORTS, Transport, domain_id

__all__ = ["default_transport", "open_transport"]


def default_transport() -> str:
    """`rclpy` when ROS 2's Python client library is importable, else `dds`."""
    return "rclpy" if importlib.util.find_spec("rclpy") is not None else "dds"


def open_transport(name: str | None = None, *, node_name: str = "robot_logger") -> Transport:
    """Open the named transport (None: the default) on ROS_DOMAIN_ID."""
    name = name or default_transport()
    if name not in TRANSPORTS:
        raise ConfigError(f"transport must be one of {', '.join(TRANSPORTS)}, not {name!r}")
    domain = domain_id()
    if name == "dds":
        from robot_logger.transport.dds import DdsTransport
        return DdsTransport(domain)
    try:
        from robot_logger.transport.rclpy import RclpyTransport
    except ImportError as err:
        raise TransportError("transport rclpy needs ROS 2 (source /opt/ros/<distro>/setup.bash) "
                             "or use --transport dds") from err
    return RclpyTransport(domain, node_name)

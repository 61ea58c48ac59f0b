"""`ros2 run robot_logger recorder`: the recorder as a ROS 2 node (needs ROS 2; rclpy transport).

Parameters are exactly the `robot-logger record` flags (see config/cell.yaml, `recorder:`), except
`transport` (the node is the rclpy transport). Status goes to /robot_logger/status and the log.

Episode services (std_srvs/srv/Trigger) publish on /robot_logger/events what `robot-logger episode`
publishes, taking the text from the node's parameters `episode_task`, `episode_phase`,
`episode_outcome`:

    ros2 param set /recorder episode_task "weld seam A3"
    ros2 service call /recorder/episode_start std_srvs/srv/Trigger
    ros2 param set /recorder episode_phase approach
    ros2 service call /recorder/episode_phase std_srvs/srv/Trigger
    ros2 service call /recorder/episode_end std_srvs/srv/Trigger      # episode_outcome: success
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from robot_logger import __version__, events
from robot_logger.cli.record import stop_on_signals
from robot_logger.errors import RobotLoggerError
from robot_logger.messages import EVENTS_TOPIC, STRING, serialize, string
from robot_logger.record.malloc import tune_malloc
from robot_logger.record.params import RECORD_PARAMS, record_options
from robot_logger.record.qos import EVENTS
from robot_logger.record.recorder import Recorder
from robot_logger.record.transport import RawPublisher, domain_id

__all__ = ["main", "read_parameters", "start_node"]

EPISODE_PARAMS = {"episode_task": "", "episode_phase": "", "episode_outcome": "success"}


def read_parameters(node: Any, params: Any) -> dict[str, Any]:
    """Declare `params` (Param tuples) on an rclpy node and return their values."""
    from rclpy.parameter import Parameter

    values = {}
    for param in params:
        default = Parameter.Type.STRING_ARRAY if param.many else param.default
        value = node.declare_parameter(param.name, default).value
        values[param.name] = ([] if value is None else list(value)) if param.many else value
    return values


def _episode_services(node: Any, events_pub: RawPublisher) -> list[Any]:
    from std_srvs.srv import Trigger

    for name, default in EPISODE_PARAMS.items():
        node.declare_parameter(name, default)

    def service(make_payload: Any) -> Any:
        def handle(_request: Any, response: Any) -> Any:
            try:
                payload = make_payload()
            except ValueError as err:
                response.success, response.message = False, str(err)
                return response
            events_pub.publish(serialize(string(payload), STRING))
            response.success, response.message = True, payload
            return response
        return handle

    def value(name: str) -> str:
        return str(node.get_parameter(name).value)

    return [
        node.create_service(Trigger, "~/episode_start", service(lambda: events.episode_start(value("episode_task")))),
        node.create_service(Trigger, "~/episode_phase", service(lambda: events.phase(value("episode_phase")))),
        node.create_service(Trigger, "~/episode_end", service(lambda: events.episode_end(value("episode_outcome")))),
    ]


def start_node(name: str, args: list[str] | None) -> tuple[Any, threading.Event]:
    """The rclpy transport as node `name` (parameters from `--ros-args`), and an event set by
    SIGINT/SIGTERM so the node ends its loop and closes cleanly."""
    from robot_logger.record.rclpy_transport import RclpyTransport

    transport = RclpyTransport(domain_id(), name, ros_args=sys.argv if args is None else args)
    return transport, stop_on_signals()


def main(args: list[str] | None = None) -> None:
    """Entry point of the `recorder` console script."""
    tune_malloc()
    transport, stop = start_node("recorder", args)
    log = transport.node.get_logger()
    try:
        values = read_parameters(transport.node, [p for p in RECORD_PARAMS if p.name != "transport"])
        path, _, options = record_options(values, custom_data={"robot_logger.recorder": f"robot_logger {__version__}"})
        services = _episode_services(transport.node, transport.publisher(EVENTS_TOPIC, STRING, EVENTS))
        recorder = Recorder(transport, path, options,
                            on_status=lambda s: log.info(f"written {sum(s['written'].values())} msgs, "
                                                         f"{s['bytes_written'] / 1e6:.1f} MB; "
                                                         f"warnings: {s['warnings'] or 'none'}"))
        final = recorder.run(stop)
    except RobotLoggerError as err:
        log.error(str(err))
        transport.close()
        sys.exit(2)
    log.info(f"recorded {sum(final['written'].values())} messages into {', '.join(final['bags'])} "
             f"({final['stop_reason']}); {len(services)} episode services closed")
    transport.close()
    if recorder.sink.stop_reason:
        log.error(recorder.sink.stop_reason)
        sys.exit(2)


if __name__ == "__main__":
    main()

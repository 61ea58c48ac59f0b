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

from typing import Any

from robot_logger import __version__
from robot_logger.core import events
from robot_logger.core.messages import EVENTS_TOPIC, STRING, serialize, string
from robot_logger.errors import RobotLoggerError
from robot_logger.nodes.node_setup import (
    exit_with_error,
    read_parameters,
    start_node,
    warn_unknown_parameters,
)
from robot_logger.record.malloc import tune_malloc
from robot_logger.record.params import RECORD_PARAMS, record_options
from robot_logger.record.recorder import Recorder
from robot_logger.transport.base import RawPublisher
from robot_logger.transport.qos import EVENTS

__all__ = ["main"]

EPISODE_PARAMS = {"episode_task": "", "episode_phase": "", "episode_outcome": "success"}


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
        node.create_service(
            Trigger,
            "~/episode_start",
            service(lambda: events.episode_start(value("episode_task"))),
        ),
        node.create_service(
            Trigger, "~/episode_phase", service(lambda: events.phase(value("episode_phase")))
        ),
        node.create_service(
            Trigger, "~/episode_end", service(lambda: events.episode_end(value("episode_outcome")))
        ),
    ]


def main(args: list[str] | None = None) -> None:
    """Entry point of the `recorder` console script."""
    tune_malloc()
    transport, stop = start_node("recorder", args)
    log = transport.node.get_logger()
    try:
        values = read_parameters(
            transport.node, [p for p in RECORD_PARAMS if p.name != "transport"]
        )
        path, _, options = record_options(
            values, custom_data={"robot_logger.recorder": f"robot_logger {__version__}"}
        )
        services = _episode_services(
            transport.node, transport.publisher(EVENTS_TOPIC, STRING, EVENTS)
        )
        warn_unknown_parameters(transport.node)
        recorder = Recorder(
            transport,
            path,
            options,
            on_status=lambda s: log.info(
                f"written {s.messages_written} msgs, {s.bytes_written / 1e6:.1f} MB; "
                f"warnings: {'; '.join(s.warnings) or 'none'}"
            ),
        )
        final = recorder.run(stop)
    except RobotLoggerError as err:
        exit_with_error(transport, str(err))
    log.info(
        f"recorded {final.messages_written} messages into {', '.join(final.bags)} "
        f"({final.stop_reason}); {len(services)} episode services closed; per topic: "
        + (", ".join(f"{t} {n}" for t, n in sorted(final.written.items())) or "none")
    )
    for warning in final.warnings:   # as `record` prints them: losses, absent topics, the drain
        log.warning(warning)
    if recorder.sink.stop_reason:
        exit_with_error(transport, recorder.sink.stop_reason)
    transport.close()


if __name__ == "__main__":
    main()

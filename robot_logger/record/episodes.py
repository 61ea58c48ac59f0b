"""Episode control: publish an episode event (docs/events.md) for the recorder to store.

Events are reliable and transient-local. A short-lived sender (the `episode` CLI) waits until a
reader (the recorder) is matched and has acknowledged the event; otherwise the event would vanish
with the process, so "nobody is listening" is an error, not a silent success.
"""

from __future__ import annotations

from robot_logger.core.messages import EVENTS_TOPIC, STRING, serialize, string
from robot_logger.errors import TransportError
from robot_logger.transport.base import Transport, wait_for_subscribers
from robot_logger.transport.qos import EVENTS

__all__ = ["send_event"]


def send_event(transport: Transport, payload: str, *, timeout_s: float = 5.0) -> int:
    """Send one event JSON payload (see robot_logger.core.events); return matched reader count."""
    pub = transport.publisher(EVENTS_TOPIC, STRING, EVENTS)
    if wait_for_subscribers([pub], timeout_s):
        raise TransportError(
            f"no recorder is listening on {EVENTS_TOPIC} (ROS_DOMAIN_ID={transport.domain_id}, "
            f"transport {transport.name}) after {timeout_s:g} s; start `robot-logger record` first"
        )
    pub.publish(serialize(string(payload), STRING))
    if not pub.wait_for_acks(timeout_s):
        raise TransportError(
            f"the recorder did not acknowledge the event on {EVENTS_TOPIC} within {timeout_s:g} s"
        )
    return pub.subscriber_count()

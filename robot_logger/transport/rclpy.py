"""The `rclpy` transport: a ROS 2 node with raw (serialized) subscriptions and publishers.

Imported only when chosen (ROS 2 must be sourced). Same behaviour as the dds transport: raw CDR in
and out, receive and send time from rclpy's MessageInfo, QoS from robot_logger.transport.qos, and
incompatible-QoS events turned into `unmatched()` reasons.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import rclpy
from rclpy.duration import Duration
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from rclpy.subscription import Subscription
from rosidl_runtime_py.utilities import get_message

from robot_logger.errors import TransportError
from robot_logger.transport.base import Batch, RawPublisher, Transport
from robot_logger.transport.qos import (
    QosProfile,
    from_ros_policy_names,
    incompatibility,
    ros_policy_names,
)

try:  # Iron and later
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks

__all__ = ["RclpyTransport", "to_rclpy_qos"]

MAX_CALLBACKS_PER_TAKE = 10_000
# rclpy passes MessageInfo (send and receive time) to two-argument callbacks where it supports it;
# it decides by the callback's signature, so each case gets a callback of its own arity.
HAS_MESSAGE_INFO = "WithMessageInfo" in getattr(
    getattr(Subscription, "CallbackType", None), "__members__", {}
)


def to_rclpy_qos(profile: QosProfile) -> QoSProfile:
    """rclpy QoSProfile for one of our profiles."""
    names = ros_policy_names(profile)
    return QoSProfile(
        reliability=getattr(ReliabilityPolicy, names["reliability"]),
        durability=getattr(DurabilityPolicy, names["durability"]),
        history=getattr(HistoryPolicy, names["history"]),
        depth=profile.depth,
    )


def _message_class(msgtype: str) -> Any:
    try:
        return get_message(msgtype)
    except (AttributeError, ModuleNotFoundError, ValueError) as err:
        raise TransportError(
            f"message type {msgtype} is not installed in this ROS 2 environment"
        ) from err


class RclpyPublisher(RawPublisher):
    """An rclpy publisher fed serialized bytes."""

    def __init__(self, topic: str, publisher: Any) -> None:
        self.topic = topic
        self._pub = publisher

    def publish(self, cdr: bytes, send_ns: int | None = None) -> None:
        self._pub.publish(cdr)  # rclpy publishes bytes as an already serialized message

    def subscriber_count(self) -> int:
        return int(self._pub.get_subscription_count())

    def wait_for_acks(self, timeout_s: float) -> bool:
        return bool(self._pub.wait_for_all_acked(Duration(nanoseconds=int(timeout_s * 1e9))))


class RclpyTransport(Transport):
    """One node in its own rclpy context, spun by `take`."""

    name = "rclpy"

    def __init__(self, domain: int, node_name: str, ros_args: list[str] | None = None) -> None:
        """`ros_args`: the process arguments for `--ros-args` (parameters, remaps) in nodes.
        SIGINT/SIGTERM are left to the caller, which ends its loop and closes the bag."""
        self.domain_id = domain
        self._context = rclpy.Context()
        rclpy.init(
            args=ros_args,
            context=self._context,
            domain_id=domain,
            signal_handler_options=SignalHandlerOptions.NO,
        )
        self.node = Node(node_name, context=self._context)
        self._executor = SingleThreadedExecutor(context=self._context)
        self._executor.add_node(self.node)
        self._pending: deque[Batch] = deque()
        self._subs: dict[str, tuple[str, QosProfile, Any]] = {}
        self._incompatible: dict[str, str] = {}

    def discover(self) -> dict[str, str]:
        return {
            topic: types[0]
            for topic, types in self.node.get_topic_names_and_types()
            if len(types) == 1
        }

    def subscribe(self, topic: str, msgtype: str, qos: QosProfile) -> None:
        if topic in self._subs:
            return

        def received_with_info(data: bytes, info: Any) -> None:
            recv_ns = int(info["received_timestamp"]) or time.time_ns()
            self._pending.append(Batch(topic, recv_ns, [(data, int(info["source_timestamp"]))]))

        def received(data: bytes) -> None:
            self._pending.append(Batch(topic, time.time_ns(), [(data, 0)]))

        def incompatible(event: Any) -> None:
            self._incompatible[topic] = (
                f"QoS mismatch: incompatible {event.last_policy_kind.name.lower()}"
            )

        sub = self.node.create_subscription(
            _message_class(msgtype),
            topic,
            received_with_info if HAS_MESSAGE_INFO else received,
            to_rclpy_qos(qos),
            raw=True,
            event_callbacks=SubscriptionEventCallbacks(incompatible_qos=incompatible),
        )
        self._subs[topic] = (msgtype, qos, sub)

    def take(self, timeout_s: float) -> list[Batch]:
        self._executor.spin_once(timeout_sec=timeout_s)
        for _ in range(MAX_CALLBACKS_PER_TAKE):
            before = len(self._pending)
            self._executor.spin_once(timeout_sec=0)
            if len(self._pending) == before:
                break
        batches = list(self._pending)
        self._pending.clear()
        return batches

    def unmatched(self) -> dict[str, str]:
        reasons = {}
        for topic, (msgtype, qos, _sub) in self._subs.items():
            if topic in self._incompatible:
                reasons[topic] = self._incompatible[topic]
                continue
            for info in self.node.get_publishers_info_by_topic(topic):
                if info.node_name == self.node.get_name():
                    continue
                if info.topic_type != msgtype:
                    reasons[topic] = (
                        f"type mismatch: the publisher sends {info.topic_type}, "
                        f"the recorder expects {msgtype}"
                    )
                    break
                offered = from_ros_policy_names(
                    info.qos_profile.reliability.name, info.qos_profile.durability.name
                )
                why = incompatibility(offered, qos)
                if why:
                    reasons[topic] = f"QoS mismatch: {why}"
                    break
        return reasons

    def publisher(self, topic: str, msgtype: str, qos: QosProfile) -> RawPublisher:
        return RclpyPublisher(
            topic, self.node.create_publisher(_message_class(msgtype), topic, to_rclpy_qos(qos))
        )

    def close(self) -> None:
        self._executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self._context)

"""The `rclpy` transport: a ROS 2 node with raw (serialized) subscriptions and publishers.

Imported only when chosen (ROS 2 must be sourced). Same behaviour as the dds transport: raw CDR in
and out, per-message receive and send time from rmw's message info, QoS from
robot_logger.transport.qos, QoS mismatches turned into `unmatched()` reasons.

Recording subscriptions are taken directly, not through the executor: one rclpy wait set over all
of them, then every ready one is drained with `take_message`, which returns the message info on
Humble too (Humble's executor hands a callback only the message, so the send time was lost), and
costs no executor pass per message (`spin_once` per message topped out below dozens of 500 Hz
arms). The executor still runs the node's services, parameters and timers between takes.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import rclpy
from rclpy.duration import Duration
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    LivelinessPolicy,
    QoSProfile,
    ReliabilityPolicy,
)
from rclpy.signals import SignalHandlerOptions
from rclpy.type_support import check_is_valid_msg_type
from rosidl_runtime_py.utilities import get_message

from robot_logger.errors import TransportError
from robot_logger.transport.base import Batch, RawPublisher, Transport
from robot_logger.transport.qos import (
    INFINITE_NS,
    QosProfile,
    from_ros_policy_names,
    incompatibility,
    or_infinite,
    ros_policy_names,
)

__all__ = ["RclpyTransport", "from_rclpy_qos", "to_rclpy_qos"]

MAX_TAKE_PER_TOPIC = 4096   # per take call, so one flooded topic cannot starve the others
# how long `close` waits for the background spin thread: the executor's shutdown wakes its wait
# at once, so this only bounds a callback still running (a parameter or service request)
SPIN_JOIN_S = 5.0


def _duration(ns: int) -> Duration:
    return Duration(nanoseconds=0 if ns >= INFINITE_NS else ns)   # rmw: 0 = infinite/default


def to_rclpy_qos(profile: QosProfile) -> QoSProfile:
    """rclpy QoSProfile for one of our profiles."""
    names = ros_policy_names(profile)
    return QoSProfile(
        reliability=getattr(ReliabilityPolicy, names["reliability"]),
        durability=getattr(DurabilityPolicy, names["durability"]),
        history=getattr(HistoryPolicy, names["history"]),
        depth=profile.depth,
        deadline=_duration(profile.deadline_ns),
        lifespan=_duration(profile.lifespan_ns),
        liveliness=getattr(LivelinessPolicy, profile.liveliness.upper()),
        liveliness_lease_duration=_duration(profile.liveliness_lease_ns),
        avoid_ros_namespace_conventions=profile.avoid_ros_namespace_conventions,
    )


def from_rclpy_qos(qos: QoSProfile) -> QosProfile:
    """A discovered endpoint's rclpy QoSProfile as ours (what rosbag2 records as offered)."""
    base = from_ros_policy_names(qos.reliability.name, qos.durability.name, qos.history.name,
                                 int(qos.depth))
    return QosProfile(
        base.reliability, base.durability, base.history, base.depth,
        deadline_ns=or_infinite(qos.deadline.nanoseconds),
        lifespan_ns=or_infinite(qos.lifespan.nanoseconds),
        liveliness="manual_by_topic" if qos.liveliness.name == "MANUAL_BY_TOPIC" else "automatic",
        liveliness_lease_ns=or_infinite(qos.liveliness_lease_duration.nanoseconds),
        avoid_ros_namespace_conventions=bool(qos.avoid_ros_namespace_conventions),
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


class _RawSubscription:
    """An rcl subscription the executor does not know: the transport takes from it directly."""

    def __init__(self, node: Node, topic: str, msgtype: str, qos: QosProfile) -> None:
        self.topic, self.msgtype, self.qos = topic, msgtype, qos
        self.msg_class = _message_class(msgtype)
        check_is_valid_msg_type(self.msg_class)
        with node.handle:
            self.handle = _rclpy.Subscription(node.handle, self.msg_class, topic,
                                              to_rclpy_qos(qos).get_c_qos_profile())

    def take(self, limit: int) -> list[tuple[bytes, int, int]]:
        """Up to `limit` waiting messages as (CDR, send ns, receive ns)."""
        out = []
        with self.handle:
            for _ in range(limit):
                taken = self.handle.take_message(self.msg_class, True)
                if taken is None:
                    break
                data, info = taken
                out.append((data, int(info["source_timestamp"]),
                            int(info["received_timestamp"]) or time.time_ns()))
        return out

    def destroy(self) -> None:
        self.handle.destroy_when_not_in_use()


class RclpyTransport(Transport):
    """One node in its own rclpy context: recording subscriptions taken directly (one wait set),
    services and parameters run by the executor between takes."""

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
        self._subs: dict[str, _RawSubscription] = {}
        self._spinner: threading.Thread | None = None

    def _own(self, info: Any) -> bool:
        return bool(info.node_name == self.node.get_name()
                    and info.node_namespace == self.node.get_namespace())

    def discover(self) -> dict[str, tuple[str, ...]]:
        """Topics with at least one publisher other than this node (subscriber-only topics
        are not offered for recording, as in rosbag2), with the types those publishers send."""
        found = {}
        for topic, _types in self.node.get_topic_names_and_types():
            types = {i.topic_type for i in self.node.get_publishers_info_by_topic(topic)
                     if not self._own(i)}
            if types:
                found[topic] = tuple(sorted(types))
        return found

    def offered_qos(self, topic: str) -> list[QosProfile]:
        return [from_rclpy_qos(info.qos_profile)
                for info in self.node.get_publishers_info_by_topic(topic) if not self._own(info)]

    def subscribe(self, topic: str, msgtype: str, qos: QosProfile) -> None:
        if topic not in self._subs:
            self._subs[topic] = _RawSubscription(self.node, topic, msgtype, qos)

    def unsubscribe(self, topic: str) -> None:
        sub = self._subs.pop(topic, None)
        if sub is not None:
            sub.destroy()

    def take(self, timeout_s: float) -> list[Batch]:
        self._executor.spin_once(timeout_sec=0)   # services, parameters, timers
        subs = list(self._subs.values())
        if not subs:
            time.sleep(timeout_s)
            return []
        with contextlib.ExitStack() as stack:
            for sub in subs:
                stack.enter_context(sub.handle)
            stack.enter_context(self._context.handle)
            wait_set = _rclpy.WaitSet(len(subs), 0, 0, 0, 0, 0, self._context.handle)
            wait_set.clear_entities()
            for sub in subs:
                wait_set.add_subscription(sub.handle)
            wait_set.wait(int(timeout_s * 1e9))
            ready = set(wait_set.get_ready_entities("subscription"))
        batches = []
        for sub in subs:
            if sub.handle.pointer not in ready:
                continue
            for data, send_ns, recv_ns in sub.take(MAX_TAKE_PER_TOPIC):
                batches.append(Batch(sub.topic, recv_ns, [(data, send_ns)]))
        return batches

    def unmatched(self) -> dict[str, str]:
        reasons = {}
        for topic, sub in self._subs.items():
            for info in self.node.get_publishers_info_by_topic(topic):
                if self._own(info):
                    continue
                if info.topic_type != sub.msgtype:
                    reasons[topic] = (
                        f"type mismatch: the publisher sends {info.topic_type}, "
                        f"the recorder expects {sub.msgtype}"
                    )
                    break
                why = incompatibility(from_rclpy_qos(info.qos_profile), sub.qos)
                if why:
                    reasons[topic] = f"QoS mismatch: {why}"
                    break
        return reasons

    def publisher(self, topic: str, msgtype: str, qos: QosProfile) -> RawPublisher:
        return RclpyPublisher(
            topic, self.node.create_publisher(_message_class(msgtype), topic, to_rclpy_qos(qos))
        )

    def spin_in_background(self) -> None:
        """Serve services and parameters from a daemon thread (for nodes whose main thread
        publishes and never calls `take`, e.g. sim_cell); `close` stops and joins it."""
        def spin() -> None:
            with contextlib.suppress(ExternalShutdownException):   # close() shut it down
                self._executor.spin()

        self._spinner = threading.Thread(target=spin, name="rclpy-spin", daemon=True)
        self._spinner.start()

    def close(self) -> None:
        """Destroy subscriptions, stop the executor (and join its spin thread: a thread still
        inside rcl's wait when the node and context go aborted the process with `terminate
        called without an active exception`), then the node and context."""
        for sub in self._subs.values():
            sub.destroy()
        self._subs.clear()
        self._executor.shutdown()
        if self._spinner is not None:
            self._spinner.join(timeout=SPIN_JOIN_S)
            self._spinner = None
        self.node.destroy_node()
        rclpy.shutdown(context=self._context)

"""One interface over two middlewares: `rclpy` (ROS 2 installed) and `dds` (Cyclone DDS, no ROS).

The recorder pulls: `take(timeout_s)` returns batches of raw CDR samples per topic, stamped with
the receive time. Publishers push raw CDR bytes. Both backends honour ROS_DOMAIN_ID (default 0).
"""

from __future__ import annotations

import os
import threading
import time
from abc import ABC, abstractmethod
from typing import Literal, NamedTuple, get_args

from robot_logger.errors import ConfigError
from robot_logger.transport.qos import QosProfile

__all__ = [
    "Batch",
    "RawPublisher",
    "Transport",
    "TransportName",
    "TRANSPORTS",
    "domain_id",
    "wait_for_subscribers",
]

TransportName = Literal["rclpy", "dds"]
TRANSPORTS: tuple[TransportName, ...] = get_args(TransportName)
MAX_DOMAIN_ID = 232


class Batch(NamedTuple):
    """Samples of one topic taken together: `samples` are (CDR bytes, send time ns or 0)."""

    topic: str
    recv_ns: int
    samples: list[tuple[bytes, int]]


class RawPublisher(ABC):
    """Publishes raw CDR bytes on one topic."""

    topic: str

    @abstractmethod
    def publish(self, cdr: bytes, send_ns: int | None = None) -> None:
        """Send one serialized message (`send_ns`: source timestamp if the middleware allows)."""

    @abstractmethod
    def subscriber_count(self) -> int:
        """How many readers are matched right now."""

    @abstractmethod
    def wait_for_acks(self, timeout_s: float) -> bool:
        """Block until reliable readers acknowledged everything sent; False on timeout. The way
        to have samples still in flight delivered: closing a dds transport does not wait."""


class Transport(ABC):
    """A middleware session (DDS participant or ROS 2 node) on one domain."""

    name: TransportName
    domain_id: int

    @abstractmethod
    def discover(self) -> dict[str, tuple[str, ...]]:
        """Topics published on the domain by others: ROS topic name -> the ROS message types its
        publishers send, sorted (more than one when publishers disagree; rosbag2 then records
        none of it, and so does the recorder, saying why)."""

    @abstractmethod
    def offered_qos(self, topic: str) -> list[QosProfile]:
        """The QoS each discovered publisher of `topic` (not ours) offers."""

    @abstractmethod
    def subscribe(self, topic: str, msgtype: str, qos: QosProfile) -> None:
        """Start receiving `topic` as raw bytes."""

    @abstractmethod
    def unsubscribe(self, topic: str) -> None:
        """Stop receiving `topic` (to subscribe again with another QoS)."""

    @abstractmethod
    def take(self, timeout_s: float) -> list[Batch]:
        """Wait up to `timeout_s` for data, then return everything received since the last call."""

    @abstractmethod
    def unmatched(self) -> dict[str, str]:
        """Subscribed topics whose seen publishers never matched: topic -> reason (QoS, type)."""

    def warnings(self) -> list[str]:
        """Lasting problems of the session itself (e.g. a capped socket buffer), with the fix."""
        return []

    @abstractmethod
    def publisher(self, topic: str, msgtype: str, qos: QosProfile) -> RawPublisher:
        """A raw publisher on `topic`."""

    @abstractmethod
    def close(self) -> None:
        """Release every middleware entity."""

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_for_subscribers(
    publishers: list[RawPublisher], timeout_s: float, stop: threading.Event | None = None
) -> list[str]:
    """Wait until every publisher has a matched reader; returns the topics still without one."""
    deadline = time.monotonic() + timeout_s
    while True:
        missing = [p.topic for p in publishers if p.subscriber_count() == 0]
        if not missing or time.monotonic() >= deadline or (stop is not None and stop.is_set()):
            return missing
        time.sleep(0.01)


def domain_id(env: dict[str, str] | None = None) -> int:
    """ROS_DOMAIN_ID from the environment (default 0), validated like ROS 2 does."""
    text = (os.environ if env is None else env).get("ROS_DOMAIN_ID", "").strip()
    if not text:
        return 0
    if not text.isdigit() or int(text) > MAX_DOMAIN_ID:
        raise ConfigError(f"ROS_DOMAIN_ID must be an integer 0..{MAX_DOMAIN_ID}, not {text!r}")
    return int(text)

"""Publish the simulated cell live: every topic at its rate, paced on the wall clock.

The cell is built to start "now", so header stamps are wall-clock times like a real cell's, and
each message goes out when its simulated log time comes (sample time + the simulated sensor
latency).
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from robot_logger.sim import Cell, SimMessage
from robot_logger.transport.base import Transport, wait_for_subscribers
from robot_logger.transport.qos import QosProfile, default_profile

__all__ = ["PublishResult", "publish_cell"]

START_LEAD_NS = 1_000_000_000  # the cell starts this long after the publishers are ready
PREFETCH = 8192  # messages rendered ahead by the producer thread (rendering comes in bursts)
# At the end, the one total wait for reliable readers to acknowledge what is still in flight.
# Live recorders on loopback acknowledged everything within 0.04-0.17 s of a Ctrl-C (3 recorders,
# 640x480 images, load 2.5); a reader that died never does, so with one matched this is what a
# Ctrl-C costs before the writers are deleted (at once: dds.WRITER_LINGER_CONFIG).
ACK_TIMEOUT_S = 1.0
SLEEP_MIN_S = 0.0005


@dataclass
class PublishResult:
    """What went out: messages per topic, and how far publishing fell behind the cell's clock."""

    counts: dict[str, int] = field(default_factory=dict)
    max_lag_ms: float = 0.0
    stopped_early: bool = False


def publish_cell(
    transport: Transport,
    cell: Cell,
    *,
    stop: threading.Event | None = None,
    wait_subscribers_s: float = 0.0,
    qos_overrides: dict[str, QosProfile] | None = None,
    progress: Callable[[float], None] | None = None,
) -> PublishResult:
    """Publish `cell` (its start moved to now) until it ends or `stop` is set.

    `wait_subscribers_s`: first wait up to this long for a reader on every topic (a recorder needs
    a moment to discover and subscribe). `qos_overrides`: per-topic writer QoS (else sensor data
    best-effort, events reliable/transient-local). `progress` gets the seconds of cell time
    published.
    """
    stop = stop or threading.Event()
    topics = cell.topics()
    overrides = qos_overrides or {}
    pubs = {
        topic: transport.publisher(
            topic, msgtype, overrides.get(topic) or default_profile(topic, writer=True)
        )
        for topic, msgtype in topics.items()
    }
    if wait_subscribers_s > 0:
        wait_for_subscribers(list(pubs.values()), wait_subscribers_s, stop)
    start_ns = time.time_ns() + START_LEAD_NS
    t0 = time.monotonic() + START_LEAD_NS / 1e9
    ahead: queue.Queue[SimMessage | None] = queue.Queue(maxsize=PREFETCH)
    producer = threading.Thread(
        target=_produce,
        args=(Cell(replace(cell.spec, start_ns=start_ns), cell.faults), ahead, stop),
        daemon=True,
    )
    producer.start()
    result = PublishResult(counts={topic: 0 for topic in topics})
    last_progress = 0.0
    finished = False
    while not stop.is_set():
        try:
            msg = ahead.get(timeout=0.1)
        except queue.Empty:
            continue
        if msg is None:
            finished = True
            break
        due_s = (msg.log_ns - start_ns) / 1e9
        ahead_s = t0 + due_s - time.monotonic()
        if ahead_s > SLEEP_MIN_S:
            stop.wait(ahead_s)
        else:
            result.max_lag_ms = max(result.max_lag_ms, -ahead_s * 1e3)
        pubs[msg.topic].publish(msg.data)
        result.counts[msg.topic] += 1
        if progress is not None and due_s - last_progress >= 1.0:
            progress(due_s)
            last_progress = due_s
    result.stopped_early = not finished
    stop.set()  # ends the producer if we stopped early
    producer.join()
    acks_deadline = time.monotonic() + ACK_TIMEOUT_S  # one deadline: a dead reader costs it once
    for pub in pubs.values():
        pub.wait_for_acks(max(0.0, acks_deadline - time.monotonic()))
    return result


def _produce(cell: Cell, out: queue.Queue[SimMessage | None], stop: threading.Event) -> None:
    """Render the cell's messages ahead of the wall clock; None marks the end."""
    for msg in itertools.chain(cell.messages(), [None]):
        while not stop.is_set():
            try:
                out.put(msg, timeout=0.1)
                break
            except queue.Full:
                continue
        if stop.is_set():
            return

"""The recorder: choose topics, subscribe (late topics too), hand raw samples to the bag writer.

QoS as rosbag2 records: each subscription adapts to what its publishers offer (reliable when all
offer reliable, transient-local when all offer it; `qos.adapt`), and is made again with the
adapted profile when a publisher it cannot match shows up later (events from a volatile node or
from `ros2 bag play` of a bag without QoS); an override from the QoS file is used as given. The
publishers' offered QoS goes into the bag with each topic, so `ros2 bag play` offers it again.
Hidden topics (a name part starting with `_`, e.g. `/arm/_action/status`) are recorded only when
named or with `include_hidden`, as rosbag2's `--include-hidden-topics`.

The calling thread runs the transport loop; a BagSink thread writes; a SyncMonitor keeps the health
that goes out on `/robot_logger/status` once a second and to the `on_status` callback (the CLI
table).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from robot_logger.core.messages import (
    EVENTS_TOPIC,
    STATUS_TOPIC,
    STRING,
    TF_STATIC_TOPIC,
    has_header,
    header_stamp_ns,
    register_type,
    serialize,
    string,
)
from robot_logger.errors import ConfigError
from robot_logger.record.bagsink import BagSink, SinkOptions
from robot_logger.record.monitor import RecorderStatus, SyncMonitor, TopicProblems
from robot_logger.transport.base import Batch, Transport
from robot_logger.transport.qos import (
    STATUS,
    QosProfile,
    adapt,
    default_profile,
    incompatibility,
    to_rosbags_qos,
)

__all__ = ["RecordOptions", "TopicSelector", "Recorder"]

log = logging.getLogger(__name__)
NS = 1_000_000_000
TAKE_TIMEOUT_S = 0.05
DISCOVERY_PERIOD_S = 0.5
# A stop's final drain (`Recorder._drain`): done once nothing more arrives within DRAIN_WAIT_S
# (20 ms: room for samples still passing through the middleware's receive and delivery threads,
# yet a stop stays quick), and never longer than DRAIN_LIMIT_S (0.5 s, half the loss bound of a
# kill), so a publisher that keeps flooding cannot keep the recorder from stopping.
DRAIN_WAIT_S = 0.02
DRAIN_LIMIT_S = 0.5
# Topics that publish when something happens or once (latched state), not at a rate: counted,
# never warned about as silent, stale or low-rate (/tf_static is sent once and was `stale` for
# the whole recording; /rosout and /parameter_events of every rclpy node were `silent`).
IRREGULAR_TOPICS = frozenset({EVENTS_TOPIC, TF_STATIC_TOPIC, "/rosout", "/parameter_events"})


def _compile(pattern: str | None, what: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern) if pattern else None
    except re.error as err:
        raise ConfigError(f"{what} {pattern!r} is not a valid regular expression: {err}") from err


@dataclass(frozen=True)
class TopicSelector:
    """Which topics to record: names, a regex, or all; minus an exclude regex. Events always."""

    topics: tuple[str, ...] = ()
    regex: str | None = None
    all_topics: bool = False
    exclude: str | None = None
    include_hidden: bool = False

    def __post_init__(self) -> None:
        bad = [t for t in self.topics if not t.startswith("/")]
        if bad:
            raise ConfigError(f"topic {bad[0]!r} must start with '/'")
        _compile(self.regex, "--regex")
        _compile(self.exclude, "--exclude")

    def wants(self, topic: str) -> bool:
        """True when `topic` is to be recorded."""
        exclude = _compile(self.exclude, "--exclude")
        if exclude and exclude.search(topic):
            return False
        if topic in self.topics or topic == EVENTS_TOPIC:
            return True
        if not self.include_hidden and any(p.startswith("_") for p in topic.split("/")):
            return False
        regex = _compile(self.regex, "--regex")
        if regex and regex.search(topic):
            return True
        return self.all_topics and topic != STATUS_TOPIC


@dataclass(frozen=True)
class RecordOptions:
    """Everything `robot-logger record` and the recorder node configure."""

    selector: TopicSelector = TopicSelector(all_topics=True)
    sink: SinkOptions = SinkOptions()
    duration_s: float | None = None
    qos_overrides: dict[str, QosProfile] = field(default_factory=dict)
    expected_hz: dict[str, float] = field(default_factory=dict)
    status_period_s: float = 1.0
    absent_after_s: float = (
        3.0  # a named topic without publisher this long after start is reported
    )
    # where definitions of types outside ROS 2 Humble's set are looked up: install prefixes
    # (AMENT_PREFIX_PATH's, `share/<pkg>/msg/`) and --msg-path folders (`<pkg>/msg/`)
    msg_paths: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        if self.duration_s is not None and self.duration_s <= 0:
            raise ConfigError(f"duration must be positive, not {self.duration_s}")

    def qos_for(self, topic: str, offered: list[QosProfile] | None = None) -> QosProfile:
        """Override from the QoS file, else the built-in default adapted to what the topic's
        publishers offer."""
        return self.qos_overrides.get(topic) or adapt(default_profile(topic), offered or [])


def _queue_warnings(dropped: dict[str, int]) -> tuple[str, ...]:
    """One warning per topic that lost messages to a full writer queue (or a stopped writer),
    in every status from then on: they were only a column of the terminal table, never in the
    one-line status or the recorder node's log."""
    return tuple(f"{topic}: {n} messages dropped, not written: the writer queue was full "
                 "(--queue-size) or the writer had stopped"
                 for topic, n in sorted(dropped.items()) if n)


class Recorder:
    """Records until `stop` is set, `duration_s` passes or the bag writer stops (disk ~full).

    On `stop` or the duration, what the readers already hold is taken and written before the bag
    closes (`_drain`); the writer stopping by itself stops at once (it must write no more)."""

    def __init__(
        self,
        transport: Transport,
        path: str | Path,
        options: RecordOptions,
        on_status: Callable[[RecorderStatus], None] | None = None,
    ) -> None:
        self.transport = transport
        self.options = options
        self.on_status = on_status
        self.sink = BagSink(path, options.sink)
        self.monitor = SyncMonitor(
            options.expected_hz, start_ns=time.time_ns(), irregular=IRREGULAR_TOPICS
        )
        self.skipped: dict[str, str] = {}  # topic -> why it is not recorded
        self._other_types: dict[str, str] = {}  # recorded topic -> why some publishers are not
        self._has_header: dict[str, bool] = {}
        self._qos: dict[str, QosProfile] = {}  # topic -> the profile it is subscribed with
        self._offered_known: set[str] = set()  # topics whose offered QoS went to the sink
        self._seen: set[str] = set()  # every topic discovered on the domain
        self._msgtype: dict[str, str] = {}  # recorded topic -> the type it is recorded as
        self._dropped_at_stop: dict[str, int] = {}  # topic -> left when the drain's time ran out
        self._left_uncounted = False  # the count of what was left ran out of time too
        self._started = time.monotonic()
        self._status_pub = transport.publisher(STATUS_TOPIC, STRING, STATUS)
        self._subscribe(EVENTS_TOPIC, STRING)
        # topics asked for: named, or given an expected rate and selected (`all: true` with
        # config/cell.yaml's `expect` list); each is watched, and reported when nobody publishes it
        selector = options.selector
        self._watched = selector.topics + tuple(
            t for t in options.expected_hz if t not in selector.topics and selector.wants(t))
        for topic in self._watched:
            self.monitor.add_topic(topic)

    def run(self, stop: threading.Event) -> RecorderStatus:
        """Record; returns the final status (with `stop_reason` and per-topic `written`)."""
        start = time.monotonic()
        deadline = start + self.options.duration_s if self.options.duration_s else None
        next_discovery = next_status = start
        reason = "stopped"
        try:
            while True:
                now = time.monotonic()
                if stop.is_set():
                    break
                if deadline is not None and now >= deadline:
                    reason = f"duration of {self.options.duration_s:g} s reached"
                    break
                if self.sink.stopped:
                    break
                if now >= next_discovery:
                    self._discover()
                    next_discovery = now + DISCOVERY_PERIOD_S
                for batch in self.transport.take(TAKE_TIMEOUT_S):
                    self._accept(batch)
                if now >= next_status:
                    self._publish(self.status())
                    next_status += self.options.status_period_s
            if not self.sink.stopped:
                self._drain()
        finally:
            self.sink.close()
        final = self.status()
        return replace(final, warnings=final.warnings + self.stop_warnings(),
                       dropped_at_stop={t: self._dropped_at_stop.get(t, 0) for t in final.written},
                       stop_reason=self.sink.stop_reason or reason)

    def stop_warnings(self) -> tuple[str, ...]:
        """The warning naming what the stop's drain had to leave unwritten, if anything (also in
        the final status's warnings)."""
        left = {t: n for t, n in sorted(self._dropped_at_stop.items()) if n}
        if not left:
            return ()
        return (f"{'at least ' if self._left_uncounted else ''}{sum(left.values())} messages "
                f"still arriving when the {DRAIN_LIMIT_S:g} s stop drain ended were not written: "
                + ", ".join(f"{t} {n}" for t, n in left.items()),)

    def _drain(self) -> None:
        """Take and write what the readers hold when recording stops: samples delivered after
        the loop's last take are not lost to a SIGINT right after a publisher finished. Ends
        when a take finds nothing for DRAIN_WAIT_S, or after DRAIN_LIMIT_S (a publisher still
        flooding); then what the readers still hold is taken, for at most another DRAIN_LIMIT_S,
        and counted per topic (`dropped_at_stop`), not written."""
        limit = time.monotonic() + DRAIN_LIMIT_S
        while not self.sink.stopped:
            batches = self.transport.take(DRAIN_WAIT_S)
            if not batches:
                return
            for batch in batches:
                self._accept(batch)
            if time.monotonic() >= limit:
                self._count_left()
                return

    def _count_left(self) -> None:
        """Take what the readers hold and count it per topic, until they are empty or
        DRAIN_LIMIT_S passes (then `_left_uncounted`: the count is a lower bound)."""
        limit = time.monotonic() + DRAIN_LIMIT_S
        while batches := self.transport.take(0.0):
            for batch in batches:
                self._dropped_at_stop[batch.topic] = (
                    self._dropped_at_stop.get(batch.topic, 0) + len(batch.samples)
                )
            if time.monotonic() >= limit:
                self._left_uncounted = True
                return

    def status(self) -> RecorderStatus:
        """Monitor status plus queue, writer and discovery facts."""
        stats = self.sink.stats
        dropped = dict(stats.dropped)
        problems = TopicProblems(
            unmatched={**self._other_types, **self.transport.unmatched()},
            skipped=dict(self.skipped), absent=self._absent()
        )
        monitor = self.monitor.status(time.time_ns(), problems)
        return RecorderStatus(
            time_ns=monitor.time_ns,
            elapsed_s=monitor.elapsed_s,
            topics=monitor.topics,
            warnings=monitor.warnings + _queue_warnings(dropped)
            + tuple(self.transport.warnings()),
            queue_messages=stats.queue_messages,
            queue_bytes=stats.queue_bytes,
            bytes_written=stats.bytes_written,
            disk_free_bytes=stats.disk_free_bytes,
            written=dict(stats.written),
            dropped_queue=dropped,
            unmatched=problems.unmatched,
            skipped=problems.skipped,
            absent=problems.absent,
            bags=tuple(str(p) for p in stats.bags),
            transport=self.transport.name,
            domain_id=self.transport.domain_id,
        )

    def _absent(self) -> dict[str, str]:
        """Topics asked for (named, or with an expected rate) that nobody publishes (after a
        grace period), with what is."""
        if time.monotonic() - self._started < self.options.absent_after_s:
            return {}
        missing = [t for t in self._watched if t not in self._has_header and t not in self.skipped]
        seen = ", ".join(sorted(self._seen)) or "none"
        return {
            t: f"no publisher on ROS_DOMAIN_ID={self.transport.domain_id}; topics seen: {seen}"
            for t in missing
        }

    def _discover(self) -> None:
        found = self.transport.discover()
        self._seen.update(found)
        for topic, types in sorted(found.items()):
            if topic in self._has_header:
                self._note_other_types(topic, types)
                self._readapt(topic, self._msgtype[topic])
                continue
            if topic in self.skipped or not self.options.selector.wants(topic):
                continue
            if len(types) > 1:
                self.skipped[topic] = (f"published with {len(types)} message types "
                                       f"({', '.join(types)}); a bag topic has one, so it is not "
                                       "recorded (as rosbag2 does)")
                log.warning("not recording %s: %s", topic, self.skipped[topic])
                continue
            msgtype = types[0]
            why = register_type(msgtype, self.options.msg_paths)
            if why is not None:
                self.skipped[topic] = (
                    f"message type {msgtype} is unknown ({why}; source its workspace or give "
                    "--msg-path)"
                )
                log.warning("not recording %s: %s", topic, self.skipped[topic])
                continue
            self._subscribe(topic, msgtype)

    def _note_other_types(self, topic: str, types: tuple[str, ...]) -> None:
        """A publisher of another type on a recorded topic: its messages cannot be recorded."""
        others = [t for t in types if t != self._msgtype[topic]]
        if not others:
            self._other_types.pop(topic, None)
        elif topic not in self._other_types:
            self._other_types[topic] = (f"type mismatch: a publisher sends {', '.join(others)}, "
                                        f"the recorder records {self._msgtype[topic]}; those "
                                        "messages are not recorded")
            log.warning("%s: %s", topic, self._other_types[topic])

    def _subscribe(self, topic: str, msgtype: str) -> None:
        self._has_header[topic] = has_header(msgtype)
        self._msgtype[topic] = msgtype
        offered = self.transport.offered_qos(topic)
        self.sink.add_topic(topic, msgtype)
        if offered:
            self._record_offered(topic, offered)
        self.monitor.add_topic(topic)
        self.monitor.set_publishers(topic, len(offered))
        self._qos[topic] = self.options.qos_for(topic, offered)
        self.transport.subscribe(topic, msgtype, self._qos[topic])

    def _readapt(self, topic: str, msgtype: str) -> None:
        """Subscribe again, adapted, when a publisher the current profile cannot match appeared
        (never for an override: its mismatch is reported instead); and tells the monitor how
        many publishers the topic has now."""
        offered = self.transport.offered_qos(topic)
        self.monitor.set_publishers(topic, len(offered))
        if topic in self.options.qos_overrides:
            return
        if not any(incompatibility(o, self._qos[topic]) for o in offered):
            return
        self._qos[topic] = self.options.qos_for(topic, offered)
        log.info("re-subscribing %s as %s/%s to match its publishers", topic,
                 self._qos[topic].reliability, self._qos[topic].durability)
        self.transport.unsubscribe(topic)
        self.transport.subscribe(topic, msgtype, self._qos[topic])

    def _record_offered(self, topic: str, offered: list[QosProfile]) -> None:
        self.sink.set_offered_qos(topic, [to_rosbags_qos(p) for p in offered])
        self._offered_known.add(topic)

    def _accept(self, batch: Batch) -> None:
        if batch.topic not in self._offered_known:   # subscribed before its publishers were seen
            self._record_offered(batch.topic, self.transport.offered_qos(batch.topic))
        self.sink.put(batch.topic, batch.recv_ns, batch.samples)
        if self._has_header[batch.topic]:
            stamps = [header_stamp_ns(data) for data, _send in batch.samples]
        else:
            stamps = [0] * len(batch.samples)
        self.monitor.feed(
            batch.topic, stamps, batch.recv_ns, sum(len(d) for d, _ in batch.samples)
        )

    def _publish(self, status: RecorderStatus) -> None:
        self._status_pub.publish(serialize(string(status.to_json()), STRING))
        if self.on_status is not None:
            self.on_status(status)

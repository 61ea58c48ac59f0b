"""The `dds` transport: ROS 2 wire format over Cyclone DDS, without a ROS installation.

Topic `/a/b` is DDS topic `rt/a/b` with type `pkg::msg::dds_::T_` (dds_types.py); samples are the
CDR bytes rosbag2 stores (dds_raw.py). Discovery reads the DCPSPublication builtin topic. Cyclone
reads CYCLONEDDS_URI itself; every reader and writer gets an explicit QoS (Cyclone's defaults are
not ROS's).

What rmw_cyclonedds does and this module does too, so ROS 2 nodes see our endpoints as their own:
- Each reader and writer carries `typehash=RIHS01_<sha256>;` in its USER_DATA (rmw_cyclonedds from
  Iron on; Jazzy nodes log a warning per endpoint without it). The hash is rosbags' RIHS01 of the
  type, the one ROS 2 computes from the same definition.
- A transient-local writer keeps its whole history depth for late joiners (the durability-service
  history; Cyclone's default keeps 1 sample).
- Discovery follows ROS_AUTOMATIC_DISCOVERY_RANGE / ROS_STATIC_PEERS (Jazzy) and
  ROS_LOCALHOST_ONLY (Humble) with the configuration fragment rmw_cyclonedds puts in front of
  CYCLONEDDS_URI (`discovery_config`), put there before the first participant; with the
  LOCALHOST range it also selects the loopback interface, where ROS nodes announce themselves
  (Cyclone 11 ignores discovery over interfaces it does not use; ROS's 0.10.5 does not).
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cyclonedds.builtin import BuiltinDataReader, BuiltinTopicDcpsPublication
from cyclonedds.core import (
    DDSException,
    InstanceState,
    Policy,
    Qos,
    ReadCondition,
    SampleState,
    ViewState,
    WaitSet,
)
from cyclonedds.domain import DomainParticipant
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration

from robot_logger.core.messages import dds_topic, ros_topic, ros_type, typestore
from robot_logger.errors import ConfigError, TransportError
from robot_logger.transport import dds_raw
from robot_logger.transport.base import Batch, RawPublisher, Transport
from robot_logger.transport.dds_types import idl_struct
from robot_logger.transport.qos import QosProfile, incompatibility, or_infinite

__all__ = ["DdsTransport", "LOOPBACK_CONFIG", "RECEIVE_BUFFER_BYTES", "discovery_config",
           "from_dds_qos", "receive_buffer_warning", "to_dds_qos", "type_hash_user_data"]

TAKE_CHUNK = 512
# per take call, so one flooded topic cannot starve the others or keep a take from returning
# (as the rclpy transport's MAX_TAKE_PER_TOPIC)
MAX_TAKE_PER_TOPIC = 8 * TAKE_CHUNK
RELIABLE_BLOCK_S = 5  # how long a reliable keep-all write may wait for a slow reader
MATCH_GRACE_S = 2.0  # a discovered publication unmatched for longer than this is reported
# DDS QoS policy ids reported by the requested-incompatible-QoS status.
POLICY_NAMES = {
    2: "durability",
    11: "reliability",
    12: "destination order",
    13: "history",
    23: "data representation",
    24: "type consistency",
    8: "liveliness",
    4: "deadline",
}

# A configuration for one machine (loopback, no multicast): tests and benchmarks set it via
# CYCLONEDDS_URI; every process on the domain must use the same one.
LOOPBACK_CONFIG = (
    '<CycloneDDS><Domain><General><Interfaces><NetworkInterface name="lo"/></Interfaces>'
    "<AllowMulticast>false</AllowMulticast><MaxMessageSize>65500B</MaxMessageSize>"
    "<FragmentSize>63000B</FragmentSize></General>"
    "<Discovery><ParticipantIndex>auto</ParticipantIndex><MaxAutoParticipantIndex>60"
    '</MaxAutoParticipantIndex><Peers><Peer address="127.0.0.1"/></Peers></Discovery>'
    '<Internal><SocketReceiveBufferSize min="4MB"/><SocketSendBufferSize min="1MB"/></Internal>'
    "</Domain></CycloneDDS>"
)


# ROS 2's DDS tuning guide (docs.ros.org, "DDS tuning information"): Cyclone DDS loses large
# messages (images, point clouds) when its socket receive buffer overflows; it recommends
# SocketReceiveBufferSize 10 MB (Cyclone itself asks for 1 MiB) and net.core.rmem_max raised to
# match. Asked for as `max` (not `min`), so a kernel that grants less still runs: we report it.
RECEIVE_BUFFER_BYTES = 10 * 2**20
RECEIVE_BUFFER_ENV = "ROBOT_LOGGER_DDS_RECEIVE_BUFFER"   # bytes; 0 keeps Cyclone's default
RMEM_MAX = "/proc/sys/net/core/rmem_max"


def receive_buffer_bytes() -> int:
    """The receive buffer to ask for: $ROBOT_LOGGER_DDS_RECEIVE_BUFFER, else 10 MiB."""
    value = os.environ.get(RECEIVE_BUFFER_ENV, "").strip()
    if not value:
        return RECEIVE_BUFFER_BYTES
    if not value.isdigit():
        raise ConfigError(f"{RECEIVE_BUFFER_ENV} must be a number of bytes, not {value!r}")
    return int(value)


def receive_buffer_config(nbytes: int) -> str:
    """A Cyclone config fragment asking for `nbytes` of socket receive buffer."""
    return ('<CycloneDDS><Domain id="any"><Internal><SocketReceiveBufferSize min="default" '
            f'max="{nbytes}B"/></Internal></Domain></CycloneDDS>')


def granted_receive_buffer(nbytes: int) -> int:
    """What the kernel grants a UDP socket that asks for `nbytes` (Linux caps the request at
    net.core.rmem_max and reports double the grant, its bookkeeping included)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, nbytes)
        reported = probe.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    return reported // 2 if sys.platform.startswith("linux") else reported


def receive_buffer_warning(nbytes: int) -> str | None:
    """The warning when the kernel grants less receive buffer than asked for, with the fix."""
    granted = granted_receive_buffer(nbytes) if nbytes else nbytes
    if granted >= nbytes:
        return None
    return (f"the DDS socket receive buffer is {granted / 2**20:.0f} MiB, not the "
            f"{nbytes / 2**20:.0f} MiB asked for: net.core.rmem_max ({RMEM_MAX}) caps it, so "
            "large messages (images, point clouds) may be lost under load; lift it with "
            f"`sudo sysctl -w net.core.rmem_max={nbytes}`")


# Cyclone keeps a deleted reliable writer with unacknowledged samples alive for
# Internal/WriterLingerDuration (1 s by default), and deleting it (dds_delete, i.e. dropping a
# DdsPublisher) blocks until it is gone (dds_writer_close waits for the DDSI writer), one writer
# after the other. A reader that was SIGKILLed never acknowledges and stays matched until its
# lease runs out (10 s), so each writer it was matched to lingered the full second: `sim --publish`
# exited 7 s after Ctrl-C (its 2 s ack wait, then 5 sensor writers x 1 s). Here a writer is deleted
# at once; a caller that needs its samples delivered flushes first with RawPublisher.wait_for_acks,
# one bounded wait for all writers together (publish_cell, send_event do). A user's
# CYCLONEDDS_URI setting WriterLingerDuration still wins (it comes later in the variable).
WRITER_LINGER_CONFIG = ('<CycloneDDS><Domain id="any"><Internal>'
                        "<WriterLingerDuration>0s</WriterLingerDuration>"
                        "</Internal></Domain></CycloneDDS>")


def _put_first_in_uri(fragment: str | None) -> None:
    """Put a configuration fragment (if any) first in CYCLONEDDS_URI, once; later entries, the
    user's, override it. Cyclone reads the variable when a domain's first participant is created
    in the process; a Domain created with an explicit config instead would delete its
    participants with it."""
    uri = os.environ.get("CYCLONEDDS_URI", "")
    if fragment and fragment not in uri:
        os.environ["CYCLONEDDS_URI"] = ",".join(part for part in (fragment, uri) if part)


def type_hash_user_data(msgtype: str) -> bytes:
    """USER_DATA of an endpoint as rmw_cyclonedds writes it: `typehash=RIHS01_<hex>;`."""
    return f"typehash={typestore().hash_rihs01(msgtype)};".encode()


def to_dds_qos(profile: QosProfile, msgtype: str | None = None) -> Qos:
    """Cyclone Qos for a profile as rmw_cyclonedds builds it: XCDR1 data representation, the
    durability-service history equal to the history (late joiners get `depth` samples), the
    timing policies, and the type hash in USER_DATA when `msgtype` is given."""
    reliability = (
        Policy.Reliability.Reliable(duration(seconds=RELIABLE_BLOCK_S))
        if profile.reliability == "reliable"
        else Policy.Reliability.BestEffort
    )
    durability = (
        Policy.Durability.TransientLocal
        if profile.durability == "transient_local"
        else Policy.Durability.Volatile
    )
    history = (
        Policy.History.KeepAll
        if profile.history == "keep_all"
        else Policy.History.KeepLast(profile.depth)
    )
    liveliness = (Policy.Liveliness.ManualByTopic if profile.liveliness == "manual_by_topic"
                  else Policy.Liveliness.Automatic)
    policies = [
        reliability, durability, history,
        Policy.DataRepresentation(use_cdrv0_representation=True),
        Policy.Deadline(profile.deadline_ns),
        Policy.Lifespan(profile.lifespan_ns),
        liveliness(lease_duration=profile.liveliness_lease_ns),
        Policy.DurabilityService(cleanup_delay=0, history=history, max_samples=-1,
                                 max_instances=-1, max_samples_per_instance=-1),
    ]
    if msgtype is not None:
        policies.append(Policy.Userdata(type_hash_user_data(msgtype)))
    return Qos(*policies)


def from_dds_qos(qos: Qos) -> QosProfile:
    """A discovered endpoint's QoS as a ROS 2 profile (what rosbag2 records as offered)."""
    reliable = isinstance(qos[Policy.Reliability], Policy.Reliability.Reliable)
    volatile = qos[Policy.Durability] in (None, Policy.Durability.Volatile)
    history = qos[Policy.History]
    deadline = qos[Policy.Deadline]
    lifespan = qos[Policy.Lifespan]
    liveliness = qos[Policy.Liveliness]
    return QosProfile(
        "reliable" if reliable else "best_effort",
        "volatile" if volatile else "transient_local",
        "keep_last" if isinstance(history, Policy.History.KeepLast) else "keep_all",
        history.depth if isinstance(history, Policy.History.KeepLast) else 1,
        deadline_ns=or_infinite(deadline.deadline if deadline else None),
        lifespan_ns=or_infinite(lifespan.lifespan if lifespan else None),
        liveliness="manual_by_topic" if isinstance(liveliness, Policy.Liveliness.ManualByTopic)
        else "automatic",
        liveliness_lease_ns=or_infinite(liveliness.lease_duration if liveliness else None),
    )


LOOPBACK_INTERFACE = '<NetworkInterface address="127.0.0.1"/>'
LOOPBACK_PEERS = ("localhost", "127.0.0.1", "::1")


def discovery_config(environ: Mapping[str, str] | None = None) -> str | None:
    """The Cyclone configuration fragment rmw_cyclonedds puts before CYCLONEDDS_URI for the ROS
    discovery variables, or None when they ask for Cyclone's own defaults.

    Jazzy: ROS_AUTOMATIC_DISCOVERY_RANGE = SUBNET (default: multicast, plus ROS_STATIC_PEERS),
    LOCALHOST (no multicast; localhost and the static peers as unicast peers), OFF (no
    multicast, a discovery tag of this process so nobody matches), SYSTEM_DEFAULT (untouched).
    Humble: ROS_LOCALHOST_ONLY=1 binds to the loopback interface without multicast; on Jazzy the
    same variable means the LOCALHOST range (deprecated there).

    One addition to rmw_cyclonedds's LOCALHOST fragment (rmw_node.cpp, jazzy, check_create_domain):
    the loopback interface is selected too, unless CYCLONEDDS_URI selects interfaces itself. A ROS
    node announces itself (SPDP) to the `localhost` peer, 127.0.0.1, which arrives over `lo`.
    Cyclone 0.10.5 (ROS's) takes discovery from any interface; Cyclone 11 (our Python binding)
    drops SPDP that arrives over an interface it does not use ("Ignore SPDP from non-selected
    interfaces", cyclonedds a4937a96f), and it uses only the machine's best interface, e.g. eth0.
    A ROS node started after us then matched only at our next periodic SPDP, 30 s later. With no
    static peers `lo` alone is selected (what Humble's localhost-only does); a static peer off this
    machine needs a real interface too, so Cyclone's own pick is kept beside `lo`."""
    env = os.environ if environ is None else environ
    distro = env.get("ROS_DISTRO", "").strip().lower()
    range_ = env.get("ROS_AUTOMATIC_DISCOVERY_RANGE", "").strip().upper()
    peers = [p.strip() for p in env.get("ROS_STATIC_PEERS", "").split(";") if p.strip()]
    localhost_only = env.get("ROS_LOCALHOST_ONLY", "").strip() == "1"
    if localhost_only and not range_ and distro in ("", "humble"):
        return ("<CycloneDDS><Domain><General><Interfaces>"
                f"{LOOPBACK_INTERFACE}</Interfaces>"
                "<AllowMulticast>false</AllowMulticast></General></Domain></CycloneDDS>")
    if not range_:
        range_ = "LOCALHOST" if localhost_only else "SUBNET"
    if range_ == "SYSTEM_DEFAULT" or (range_ == "SUBNET" and not peers):
        return None
    no_multicast = range_ in ("LOCALHOST", "OFF")
    config = "<CycloneDDS><Domain>"
    if no_multicast:
        interfaces = ""
        if range_ == "LOCALHOST" and not _selects_interfaces(env.get("CYCLONEDDS_URI", "")):
            remote = [p for p in peers if p.lower() not in LOOPBACK_PEERS
                      and not p.startswith("127.")]
            interfaces = ("<Interfaces>"
                          + ('<NetworkInterface autodetermine="true"/>' if remote else "")
                          + f"{LOOPBACK_INTERFACE}</Interfaces>")
        config += f"<General>{interfaces}<AllowMulticast>false</AllowMulticast></General>"
    if range_ == "OFF":
        config += (f"<Discovery><ParticipantIndex>none</ParticipantIndex>"
                   f"<Tag>ros_discovery_off_{os.getpid()}</Tag>")
    else:
        config += ("<Discovery><ParticipantIndex>auto</ParticipantIndex>"
                   "<MaxAutoParticipantIndex>32</MaxAutoParticipantIndex>")
        listed = (['localhost'] if range_ == "LOCALHOST" else []) + peers
        if listed:
            config += "<Peers>" + "".join(f'<Peer address="{p}"/>' for p in listed) + "</Peers>"
    return config + "</Discovery></Domain></CycloneDDS>"


def _selects_interfaces(uri: str) -> bool:
    """Whether a CYCLONEDDS_URI (inline XML and/or files, comma-separated) names network
    interfaces: Cyclone adds the interfaces of all its parts together and refuses one named
    twice, so ours would break a configuration naming `lo`."""
    for part in uri.split(","):
        part = part.strip()
        if part and not part.startswith("<"):
            try:
                part = Path(part.removeprefix("file://")).read_text(errors="replace")
            except OSError:
                continue
        if "NetworkInterface" in part:
            return True
    return False


class _Subscription:
    def __init__(self, topic: str, msgtype: str, qos: QosProfile, reader: DataReader[Any],
                 condition: ReadCondition) -> None:
        self.topic, self.msgtype, self.qos, self.reader = topic, msgtype, qos, reader
        self.condition = condition


class DdsPublisher(RawPublisher):
    """A DataWriter sending raw CDR bytes."""

    def __init__(self, topic: str, writer: DataWriter[Any]) -> None:
        self.topic = topic
        self._writer = writer

    def publish(self, cdr: bytes, send_ns: int | None = None) -> None:
        dds_raw.write(self._writer, cdr, send_ns)

    def subscriber_count(self) -> int:
        # cyclonedds 11.0.1 leaves the get_*_status methods unannotated
        status = self._writer.get_publication_matched_status()  # type: ignore[no-untyped-call]
        return int(status.current_count)

    def wait_for_acks(self, timeout_s: float) -> bool:
        try:
            return bool(self._writer.wait_for_acks(duration(seconds=timeout_s)))
        except AttributeError:
            # cyclonedds 11.0.1 reports a timeout by looking up a constant that does not
            # exist (`Exception.DDS_RETCODE_TIMEOUT`); here that AttributeError means "timed out".
            return False


class DdsTransport(Transport):
    """One DomainParticipant: discovery, raw readers behind one WaitSet, raw writers."""

    name = "dds"

    def __init__(self, domain: int) -> None:
        self.domain_id = domain
        buffer_bytes = receive_buffer_bytes()
        _put_first_in_uri(receive_buffer_config(buffer_bytes) if buffer_bytes else None)
        _put_first_in_uri(WRITER_LINGER_CONFIG)
        _put_first_in_uri(discovery_config())   # first, where rmw_cyclonedds puts it
        warning = receive_buffer_warning(buffer_bytes)
        self._warnings = [warning] if warning else []
        try:
            participant = DomainParticipant(domain)
        except DDSException as err:
            raise TransportError(
                f"cannot join DDS domain {domain} (check CYCLONEDDS_URI): {err}"
            ) from err
        # None once closed: cyclonedds deletes an entity when its last reference goes
        self._participant: DomainParticipant | None = participant
        self._own_key = participant.guid
        self._pubs_reader: BuiltinDataReader | None = BuiltinDataReader(
            participant, BuiltinTopicDcpsPublication)
        self._publications: dict[Any, tuple[str, str, QosProfile]] = {}  # key -> topic, type, qos
        self._first_seen: dict[str, float] = {}  # topic -> monotonic time a publication appeared
        self._never_matched: dict[str, str] = {}  # topic -> reason
        self._topics: dict[str, Topic[Any]] = {}
        self._subs: dict[str, _Subscription] = {}
        self._waitset: WaitSet | None = WaitSet(participant)

    def _open(self) -> tuple[DomainParticipant, BuiltinDataReader, WaitSet]:
        """The participant, the publication reader and the WaitSet; TransportError once closed."""
        if self._participant is None or self._pubs_reader is None or self._waitset is None:
            raise TransportError(f"the dds transport on domain {self.domain_id} is closed")
        return self._participant, self._pubs_reader, self._waitset

    def _topic(self, topic: str, msgtype: str) -> Topic[Any]:
        if topic not in self._topics:
            participant = self._open()[0]
            self._topics[topic] = Topic(participant, dds_topic(topic), idl_struct(msgtype))
        return self._topics[topic]

    def _refresh_publications(self) -> None:
        for sample in self._open()[1].take(N=256):
            if not sample.sample_info.valid_data:  # the publication went away
                self._publications.pop(sample.key, None)
                continue
            if sample.participant_key == self._own_key or not sample.topic_name.startswith("rt/"):
                continue
            topic = ros_topic(sample.topic_name)
            self._publications[sample.key] = (
                topic,
                ros_type(sample.type_name),
                from_dds_qos(sample.qos),
            )
            self._first_seen.setdefault(topic, time.monotonic())

    def discover(self) -> dict[str, tuple[str, ...]]:
        self._refresh_publications()
        found: dict[str, set[str]] = {}
        for topic, msgtype, _qos in self._publications.values():
            found.setdefault(topic, set()).add(msgtype)
        return {topic: tuple(sorted(types)) for topic, types in found.items()}

    def offered_qos(self, topic: str) -> list[QosProfile]:
        self._refresh_publications()
        return [qos for name, _type, qos in self._publications.values() if name == topic]

    def subscribe(self, topic: str, msgtype: str, qos: QosProfile) -> None:
        if topic in self._subs:
            return
        participant, _, waitset = self._open()
        reader = DataReader(participant, self._topic(topic, msgtype), qos=to_dds_qos(qos, msgtype))
        condition = ReadCondition(reader, SampleState.Any | ViewState.Any | InstanceState.Any)
        waitset.attach(condition)
        self._subs[topic] = _Subscription(topic, msgtype, qos, reader, condition)

    def unsubscribe(self, topic: str) -> None:
        sub = self._subs.pop(topic, None)
        if sub is not None:
            self._open()[2].detach(sub.condition)
            self._never_matched.pop(topic, None)

    def take(self, timeout_s: float) -> list[Batch]:
        if not self._subs:
            time.sleep(timeout_s)
            return []
        self._open()[2].wait(duration(seconds=timeout_s))
        batches = []
        for sub in self._subs.values():
            for _ in range(MAX_TAKE_PER_TOPIC // TAKE_CHUNK):
                samples = dds_raw.take(sub.reader, TAKE_CHUNK)
                if samples:
                    batches.append(Batch(sub.topic, time.time_ns(), samples))
                if len(samples) < TAKE_CHUNK:
                    break
        return batches

    def warnings(self) -> list[str]:
        return list(self._warnings)

    def unmatched(self) -> dict[str, str]:
        self._refresh_publications()
        for sub in self._subs.values():
            matched = sub.reader.get_subscription_matched_status()  # type: ignore[no-untyped-call]
            if matched.total_count > 0:
                self._never_matched.pop(sub.topic, None)
                continue
            offered = [(t, q) for topic, t, q in self._publications.values() if topic == sub.topic]
            reason = self._reason(sub, offered) if offered else None
            if reason or (
                offered and time.monotonic() - self._first_seen[sub.topic] > MATCH_GRACE_S
            ):
                self._never_matched[sub.topic] = reason or "publisher discovered but never matched"
        return dict(self._never_matched)  # kept after the publisher left: it never matched

    @staticmethod
    def _reason(sub: _Subscription, offered: list[tuple[str, QosProfile]]) -> str | None:
        for msgtype, qos in offered:
            if msgtype != sub.msgtype:
                return (
                    f"type mismatch: the publisher sends {msgtype}, "
                    f"the recorder expects {sub.msgtype}"
                )
            why = incompatibility(qos, sub.qos)
            if why:
                return f"QoS mismatch: {why}"
        status = sub.reader.get_requested_incompatible_qos_status()  # type: ignore[no-untyped-call]
        if status.total_count:
            policy = POLICY_NAMES.get(status.last_policy_id, f"policy {status.last_policy_id}")
            return f"QoS mismatch: incompatible {policy}"
        return None

    def publisher(self, topic: str, msgtype: str, qos: QosProfile) -> RawPublisher:
        writer = DataWriter(
            self._open()[0], self._topic(topic, msgtype), qos=to_dds_qos(qos, msgtype)
        )
        return DdsPublisher(topic, writer)

    def close(self) -> None:
        """Drop every entity; cyclonedds deletes an entity when its last reference goes (a
        writer at once, unacknowledged samples or not: WRITER_LINGER_CONFIG)."""
        self._subs.clear()
        self._topics.clear()
        self._waitset = self._pubs_reader = self._participant = None

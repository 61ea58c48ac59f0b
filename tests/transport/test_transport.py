"""Transports: the dds backend on real Cyclone DDS (loopback, private domain); QoS/name logic."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from cyclonedds.core import Policy

from robot_logger.core import messages as m
from robot_logger.errors import ConfigError, TransportError
from robot_logger.transport import default_transport, open_transport, qos
from robot_logger.transport.base import RawPublisher, Transport, domain_id
from robot_logger.transport.dds import LOOPBACK_CONFIG, from_dds_qos, to_dds_qos
from robot_logger.transport.dds_raw import pad4
from robot_logger.transport.dds_types import idl_struct
from tests.support.dds_env import private_domain, wait_until

STAMP_NS = 1_700_000_000_123_456_789


def joint_cdr(i: int) -> bytes:
    return m.serialize(
        m.joint_state(STAMP_NS + i, ["j1", "j2"], np.array([i, 2.0 * i]), np.zeros(2), np.ones(2)),
        m.JOINT_STATE,
    )


def collect(transport, count: int, timeout_s: float = 5.0) -> list[tuple[str, bytes, int]]:
    got: list[tuple[str, bytes, int]] = []

    def more() -> bool:
        for batch in transport.take(0.05):
            got.extend((batch.topic, data, send) for data, send in batch.samples)
        return len(got) >= count

    wait_until(more, timeout_s, step_s=0)
    return got


@contextmanager
def linked(
    topic: str, msgtype: str, writer_qos: qos.QosProfile, reader_qos: qos.QosProfile
) -> Iterator[tuple[RawPublisher, Transport]]:
    """Two participants on a private domain: a publisher on `topic` and a subscribed receiver."""
    with open_transport("dds") as sender, open_transport("dds") as receiver:
        pub = sender.publisher(topic, msgtype, writer_qos)
        receiver.subscribe(topic, msgtype, reader_qos)
        yield pub, receiver


def test_idl_structs_name_every_humble_type_like_ros2_and_serialize_identically():
    store = m.typestore()
    for msgtype in store.fielddefs:
        assert idl_struct(msgtype).__idl_typename__ == m.dds_type(msgtype)
    raw = joint_cdr(3)
    sample = idl_struct(m.JOINT_STATE).deserialize(raw)
    assert sample.name == ["j1", "j2"] and sample.position == [3.0, 6.0]
    assert sample.serialize() == raw
    image = m.image(STAMP_NS, np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3))
    raw_image = m.serialize(image, m.IMAGE)
    assert pad4(idl_struct(m.IMAGE).deserialize(raw_image).serialize()) == pad4(raw_image)


def test_unknown_type_is_a_transport_error():
    with pytest.raises(TransportError, match="not/msg/There"):
        idl_struct("not/msg/There")


def test_raw_round_trip_keeps_bytes_and_send_time(monkeypatch):
    private_domain(monkeypatch)
    with linked("/t/joints", m.JOINT_STATE, qos.SENSOR_WRITER, qos.SENSOR_READER) as (
        pub,
        receiver,
    ):
        assert wait_until(lambda: pub.subscriber_count() == 1)
        sent = [joint_cdr(i) for i in range(50)]
        for i, raw in enumerate(sent):
            pub.publish(raw, STAMP_NS + 1000 + i)
        got = collect(receiver, 50)
    assert [t for t, _, _ in got] == ["/t/joints"] * 50
    assert [d for _, d, _ in got] == [pad4(raw) for raw in sent]  # CDR as rosbag2 stores it
    assert [s for _, _, s in got] == [STAMP_NS + 1000 + i for i in range(50)]
    assert m.deserialize(got[7][1], m.JOINT_STATE).position.tolist() == [7.0, 14.0]


def test_odd_length_payload_is_padded_and_still_deserializes(monkeypatch):
    private_domain(monkeypatch)
    with linked("/t/text", m.STRING, qos.EVENTS, qos.EVENTS) as (pub, receiver):
        assert wait_until(lambda: pub.subscriber_count() == 1)
        raw = m.serialize(m.string("ab"), m.STRING)
        assert len(raw) % 4
        pub.publish(raw)
        assert pub.wait_for_acks(2.0)
        ((_, data, _),) = collect(receiver, 1)
    assert len(data) % 4 == 0 and m.deserialize(data, m.STRING).data == "ab"


def test_discovery_lists_other_participants_topics_not_our_own(monkeypatch):
    private_domain(monkeypatch)
    with open_transport("dds") as a, open_transport("dds") as b:
        a.publisher("/t/cam", m.IMAGE, qos.SENSOR_WRITER)
        b.publisher("/t/own", m.STRING, qos.STATUS)
        assert wait_until(lambda: "/t/cam" in b.discover())
        assert b.discover()["/t/cam"] == (m.IMAGE,)
        assert "/t/own" not in b.discover()


def test_reliable_reader_vs_best_effort_writer_is_reported_with_the_reason(monkeypatch):
    private_domain(monkeypatch)
    reliable = qos.QosProfile("reliable", "volatile")
    with linked("/t/points", m.POINTCLOUD2, qos.SENSOR_WRITER, reliable) as (pub, receiver):
        assert wait_until(lambda: receiver.unmatched(), 4.0)
        reason = receiver.unmatched()["/t/points"]
        assert pub.subscriber_count() == 0
    assert "QoS mismatch" in reason and "reliable" in reason and "best_effort" in reason


def test_type_mismatch_is_reported(monkeypatch):
    private_domain(monkeypatch)
    with open_transport("dds") as sender, open_transport("dds") as receiver:
        sender.publisher("/t/mixed", m.STRING, qos.SENSOR_WRITER)
        receiver.subscribe("/t/mixed", m.JOINT_STATE, qos.SENSOR_READER)  # another type
        assert wait_until(lambda: receiver.unmatched(), 4.0)
        reason = receiver.unmatched()["/t/mixed"]
    assert reason.startswith("type mismatch") and m.STRING in reason and m.JOINT_STATE in reason


def test_matched_topics_are_not_reported(monkeypatch):
    private_domain(monkeypatch)
    with linked("/t/ok", m.STRING, qos.SENSOR_WRITER, qos.SENSOR_READER) as (pub, receiver):
        assert wait_until(lambda: pub.subscriber_count() == 1)
        receiver.discover()
        assert receiver.unmatched() == {}


def test_qos_maps_to_cyclone_and_back():
    for profile in (
        qos.SENSOR_READER,
        qos.SENSOR_WRITER,
        qos.EVENTS,
        qos.STATUS,
        qos.QosProfile("reliable", "volatile", "keep_all", 1),
    ):
        dds_qos = to_dds_qos(profile)
        assert dds_qos[Policy.DataRepresentation] == Policy.DataRepresentation(
            use_cdrv0_representation=True
        )
        assert from_dds_qos(dds_qos) == profile


def test_ros_domain_id_is_read_and_validated():
    assert domain_id({}) == 0
    assert domain_id({"ROS_DOMAIN_ID": " 42 "}) == 42
    for bad in ("-1", "abc", "233"):
        with pytest.raises(ConfigError, match="ROS_DOMAIN_ID"):
            domain_id({"ROS_DOMAIN_ID": bad})


def test_default_transport_follows_rclpy_availability_and_names_are_checked():
    expected = "rclpy" if importlib.util.find_spec("rclpy") else "dds"
    assert default_transport() == expected
    with pytest.raises(ConfigError, match="transport must be one of rclpy, dds"):
        open_transport("zenoh")


@pytest.mark.skipif(importlib.util.find_spec("rclpy") is not None, reason="ROS 2 is installed")
def test_rclpy_transport_without_ros_says_how_to_fix_it():
    with pytest.raises(TransportError, match="--transport dds"):
        open_transport("rclpy")


def test_rclpy_policy_names_round_trip_without_ros():
    for profile in (
        qos.SENSOR_READER,
        qos.EVENTS,
        qos.QosProfile("reliable", "volatile", "keep_all", 1),
    ):
        names = qos.ros_policy_names(profile)
        assert set(names.values()) <= {
            "RELIABLE",
            "BEST_EFFORT",
            "VOLATILE",
            "TRANSIENT_LOCAL",
            "KEEP_LAST",
            "KEEP_ALL",
        }
        back = qos.from_ros_policy_names(
            names["reliability"], names["durability"], names["history"], profile.depth
        )
        assert back == profile
    assert qos.from_ros_policy_names("SYSTEM_DEFAULT", "UNKNOWN").reliability == "best_effort"


def test_qos_override_file_is_validated(tmp_path):
    good = tmp_path / "qos.yaml"
    good.write_text("/cell/cam1/image_raw: {reliability: reliable, history: keep_all}\n")
    profiles = qos.load_overrides(good)
    assert profiles["/cell/cam1/image_raw"] == qos.QosProfile(
        "reliable", "volatile", "keep_all", 1000
    )
    cases = {
        "cam: {reliability: reliable}\n": "key 'cam' is not a topic name",
        "/a: {reliability: sometimes}\n": "reliability must be one of",
        "/a: {reliability: 7}\n": "reliability 7 is not one of rmw's values",
        "/a: {depth: 0}\n": "depth must be a positive integer",
        "/a: {lifespan: 3}\n": "lifespan must be a mapping",
        "/a: {deadline: {sec: -1}}\n": "sec and nsec must be non-negative",
        "/a: {colour: red}\n": r"/a\.colour: unknown key \(allowed: history, depth, rel",
        "/a: [1, 2\n": "invalid YAML at line",
        "- /a\n": "top level: must be a mapping",
        "/a: best_effort\n": "/a: must be a mapping",
    }
    for text, message in cases.items():
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(ConfigError, match=message) as info:
            qos.load_overrides(bad)
        assert str(bad) in str(info.value)
    with pytest.raises(ConfigError, match="cannot read"):
        qos.load_overrides(tmp_path / "missing.yaml")


def test_qos_override_file_takes_rosbag2s_full_format(tmp_path):
    """Every key of rosbag2's --qos-profile-overrides-path: names or rmw's integer enums,
    durations as {sec, nsec} (0 and rosbag2's 9223372036 s 854775807 ns are infinite)."""
    path = tmp_path / "qos.yaml"
    path.write_text(
        "/robot_logger/events:\n"
        "  history: 1\n  depth: 7\n  reliability: 1\n  durability: 1\n"
        "  deadline: {sec: 2, nsec: 500}\n  lifespan: {sec: 9223372036, nsec: 854775807}\n"
        "  liveliness: 3\n  liveliness_lease_duration: {sec: 0, nsec: 0}\n"
        "  avoid_ros_namespace_conventions: false\n"
        "/cam: {reliability: best_effort, durability: volatile, history: KEEP_ALL,"
        " liveliness: automatic, reliability: system_default}\n"
    )
    profiles = qos.load_overrides(path)
    assert profiles["/robot_logger/events"] == qos.QosProfile(
        "reliable", "transient_local", "keep_last", 7, deadline_ns=2_000_000_500,
        liveliness="manual_by_topic")
    assert profiles["/cam"] == qos.QosProfile("best_effort", "volatile", "keep_all", 1000)


def test_adapt_matches_every_publisher_like_rosbag2():
    rel_tl = qos.QosProfile("reliable", "transient_local", depth=3)
    rel = qos.QosProfile("reliable", "volatile", depth=10)
    be = qos.QosProfile("best_effort", "volatile", depth=5)
    assert qos.adapt(qos.SENSOR_READER, []) == qos.SENSOR_READER
    assert qos.adapt(qos.SENSOR_READER, [rel, rel_tl]) == qos.QosProfile(
        "reliable", "volatile", "keep_last", 1000)
    assert qos.adapt(qos.EVENTS, [rel_tl]) == qos.EVENTS
    assert qos.adapt(qos.EVENTS, [rel_tl, be]) == qos.QosProfile(
        "best_effort", "volatile", "keep_last", 100)
    for offered in ([rel], [be], [rel_tl, rel, be]):
        adapted = qos.adapt(qos.EVENTS, offered)
        assert all(qos.incompatibility(o, adapted) is None for o in offered)


def test_offered_qos_is_written_as_rosbag2_version_8_writes_it():
    written = qos.to_rosbags_qos(qos.EVENTS)
    assert (written.history.value, written.depth, written.reliability.value,
            written.durability.value, written.liveliness.value) == (1, 100, 1, 1, 1)
    assert (written.deadline.sec, written.deadline.nsec) == (9223372036, 854775807)


def test_incompatibility_rules():
    be, rel = qos.QosProfile("best_effort"), qos.QosProfile("reliable")
    tl = qos.QosProfile("reliable", "transient_local")
    assert qos.incompatibility(be, be) is None and qos.incompatibility(rel, be) is None
    assert "reliable" in qos.incompatibility(be, rel)
    assert "transient_local" in qos.incompatibility(rel, tl)
    assert qos.incompatibility(tl, rel) is None


MIB = 1 << 20


def _rmem_max() -> int:
    return int(open("/proc/sys/net/core/rmem_max").read())


def _udp_receive_buffers(pid: int) -> set[int]:
    """The kernel's receive-buffer size (ss's skmem rb, bytes) of every UDP socket of `pid`."""
    import re
    import shutil
    import subprocess

    if shutil.which("ss") is None:
        pytest.skip("needs ss (iproute2) to read the sockets' buffers")
    lines = subprocess.run(["ss", "-uamp"], capture_output=True, text=True).stdout.splitlines()
    return {int(found.group(1)) for line, below in zip(lines, lines[1:])
            if f"pid={pid}," in line and (found := re.search(r"\brb(\d+)", below))}


def test_dds_sockets_get_the_large_receive_buffer_or_the_rmem_max_cap(monkeypatch):
    """ROS 2's DDS tuning guide: Cyclone needs a 10 MB socket receive buffer for big messages
    (Cyclone's own default asks for 1 MiB). Linux grants min(asked, net.core.rmem_max) and
    reports double that (its bookkeeping overhead)."""
    import os

    private_domain(monkeypatch)
    # the machine's config without our test config's own buffer sizes: what a user has
    monkeypatch.setenv("CYCLONEDDS_URI", LOOPBACK_CONFIG.split("<Internal>")[0]
                       + "</Domain></CycloneDDS>")
    with open_transport("dds") as transport:
        buffers = _udp_receive_buffers(os.getpid())
        expected = 2 * min(10 * MIB, _rmem_max())
        assert buffers and max(buffers) == expected, (buffers, expected)
        warnings = transport.warnings()
    if _rmem_max() < 10 * MIB:
        assert len(warnings) == 1 and "net.core.rmem_max" in warnings[0]
        assert f"{_rmem_max() / MIB:.0f} MiB" in warnings[0]
        assert "sudo sysctl -w net.core.rmem_max=10485760" in warnings[0]
    else:
        assert warnings == []


def test_discovery_config_is_what_rmw_cyclonedds_puts_before_cyclonedds_uri(tmp_path):
    from robot_logger.transport.dds import LOOPBACK_CONFIG, discovery_config

    assert discovery_config({}) is None   # Jazzy's default SUBNET: Cyclone's own settings
    assert discovery_config({"ROS_AUTOMATIC_DISCOVERY_RANGE": "SYSTEM_DEFAULT",
                             "ROS_STATIC_PEERS": "10.0.0.2"}) is None
    local = discovery_config({"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
                              "ROS_STATIC_PEERS": "192.168.1.7;host-b"})
    assert local == (   # rmw's, plus the loopback interface beside Cyclone's own pick
        '<CycloneDDS><Domain><General><Interfaces><NetworkInterface autodetermine="true"/>'
        '<NetworkInterface address="127.0.0.1"/></Interfaces>'
        "<AllowMulticast>false</AllowMulticast></General>"
        "<Discovery><ParticipantIndex>auto</ParticipantIndex><MaxAutoParticipantIndex>32"
        '</MaxAutoParticipantIndex><Peers><Peer address="localhost"/>'
        '<Peer address="192.168.1.7"/><Peer address="host-b"/></Peers></Discovery>'
        "</Domain></CycloneDDS>")
    alone = discovery_config({"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
                              "ROS_STATIC_PEERS": "127.0.0.1"})
    assert '<Interfaces><NetworkInterface address="127.0.0.1"/></Interfaces>' in alone
    # the user's CYCLONEDDS_URI names interfaces (inline or in a file): none added, as rmw's
    inline = discovery_config({"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
                               "CYCLONEDDS_URI": LOOPBACK_CONFIG})
    assert "<Interfaces>" not in inline and '<Peer address="localhost"/>' in inline
    config_file = tmp_path / "cyclonedds.xml"
    config_file.write_text(LOOPBACK_CONFIG)
    from_file = discovery_config({"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
                                  "CYCLONEDDS_URI": f"file://{config_file}"})
    assert "<Interfaces>" not in from_file
    subnet = discovery_config({"ROS_STATIC_PEERS": "10.0.0.2"})
    assert "<AllowMulticast>" not in subnet and '<Peer address="10.0.0.2"/>' in subnet
    off = discovery_config({"ROS_AUTOMATIC_DISCOVERY_RANGE": "OFF", "ROS_STATIC_PEERS": "x"})
    assert "<Tag>ros_discovery_off_" in off and "<Peer" not in off
    humble = discovery_config({"ROS_LOCALHOST_ONLY": "1", "ROS_DISTRO": "humble"})
    assert '<NetworkInterface address="127.0.0.1"/>' in humble
    assert "<AllowMulticast>false</AllowMulticast>" in humble
    jazzy = discovery_config({"ROS_LOCALHOST_ONLY": "1", "ROS_DISTRO": "jazzy"})
    assert jazzy == discovery_config({"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"})


def test_endpoints_carry_the_type_hash_and_keep_their_history_for_late_joiners():
    from robot_logger.transport.dds import to_dds_qos

    dds_qos = to_dds_qos(qos.EVENTS, m.STRING)
    assert dds_qos[Policy.Userdata].data == (
        b"typehash=RIHS01_df668c740482bbd48fb39d76a70dfd4bd59db1288021743503259e948f6b1a18;")
    assert dds_qos[Policy.DurabilityService].history == Policy.History.KeepLast(100)

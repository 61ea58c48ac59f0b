"""Each bag written by real ROS 2 tools in tests/data/real-bags is read by `info` or fails clearly.

Expected counts are the numbers real-bags/README.md gives (from metadata.yaml or, where the
yaml disagrees with the storage file, from the storage file read on its own).
"""

from __future__ import annotations

import pytest

from robot_logger.bag.info import inspect_bag
from robot_logger.bag.reader import open_bag
from robot_logger.errors import BagError
from tests.support.paths import REAL_BAGS

STORAGE_FALLBACK = "read the storage files directly"
YAML_TIMES = "the storage files hold 1000..2998 ns; the files' times are used"

# name -> (storage, messages read, {topic: count} spot checks, warning fragments)
EXPECTED = {
    "tb3_walker_gazebo_humble": ("sqlite3", 6642, {"/imu": 3869, "/scan": 102,
                                                   "/performance_metrics": 131,
                                                   "/parameter_events": 0},
                                 ["gazebo_msgs/msg/PerformanceMetrics: unknown message type"]),
    "r2_sqlite3_talker_v4": ("sqlite3", 20, {"/topic": 10, "/rosout": 10}, [STORAGE_FALLBACK]),
    "r2_mcap_talker_v4": ("mcap", 20, {"/topic": 10, "/rosout": 10}, [STORAGE_FALLBACK]),
    "r2_sqlite3_wbag_split_v4": ("sqlite3", 6074, {"AAA": 804, "HHH": 726}, [YAML_TIMES]),
    "r2_mcap_wbag_split": ("mcap", 6074, {"AAA": 804, "HHH": 726}, [YAML_TIMES]),
    "r2_sqlite3_cdr_test_v7": ("sqlite3", 7, {"/test_topic": 3, "/array_topic": 4}, []),
    "r2_mcap_cdr_test_v7": ("mcap", 7, {"/test_topic": 3, "/array_topic": 4}, []),
    "r2_sqlite3_cdr_test_v1": ("sqlite3", 7, {"/test_topic": 3, "/array_topic": 4},
                               [STORAGE_FALLBACK, "test_msgs/Primitives: unknown"]),
    "r2_sqlite3_service_events_v8": ("sqlite3", 10, {"/test_topic1": 1,
                                                     "/test_service1/_service_event": 4},
                                     ["test_msgs/srv/BasicTypes_Event: unknown"]),
    "r2_mcap_service_events_v8": ("mcap", 10, {"/test_topic2": 1,
                                               "/test_service2/_service_event": 4},
                                  ["BasicTypes_Event: the bag's definition does not parse"]),
    "r2_mcap_seek_v6": ("mcap", 5, {"topic1": 5}, ["test_msgs/BasicTypes: unknown"]),
    "r2_sqlite3_empty_v4": ("sqlite3", 0, {"/rosout": 0}, []),
    "r2_sqlite3_zstd_file_v4": ("sqlite3", 775, {"/topic": 383, "/rosout": 392}, [
        "metadata.yaml gives the messages' log times as 1604357089919704830..1604357149917571546 "
        "ns, the storage files hold 1604356909418673946..1604357100419831952 ns"]),
    "r2_sqlite3_zstd_message_v4": ("sqlite3", 1127, {"/topic": 369, "/rosout": 758},
                                   ["the files' times are used"]),
}
FAILING = {"r2_mcap_wrong_serialization_v6": "wrong_format"}



def test_the_table_covers_every_real_bag():
    assert sorted(EXPECTED.keys() | FAILING.keys()) == sorted(
        p.name for p in REAL_BAGS.iterdir() if p.is_dir())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_info_reads_real_bag(name):
    storage, total, spot, warned = EXPECTED[name]
    report = inspect_bag(REAL_BAGS / name)
    counts = {t.topic: t.stats.count for t in report.topics}
    assert (report.storage, report.message_count) == (storage, total)
    assert {t: counts[t] for t in spot} == spot
    for fragment in warned:
        assert any(fragment in w for w in report.warnings), report.warnings
    if not warned:
        assert report.warnings == []
    assert report.duration_ns >= 0


@pytest.mark.parametrize("name", sorted(FAILING))
def test_unreadable_real_bag_is_a_clear_error(name):
    with pytest.raises(BagError, match=FAILING[name]) as info:
        inspect_bag(REAL_BAGS / name)
    assert str(REAL_BAGS / name) in str(info.value)


@pytest.mark.parametrize("name", ["tb3_walker_gazebo_humble", "r2_sqlite3_cdr_test_v7",
                                  "r2_mcap_cdr_test_v7", "r2_sqlite3_zstd_message_v4",
                                  "r2_sqlite3_talker_v4"])
def test_decodable_messages_decode(name):
    with open_bag(REAL_BAGS / name) as bag:
        decoded = [bag.deserialize(raw, mt) for _, mt, _, raw in bag.messages()
                   if bag.can_decode(mt)]
    assert decoded and all(d is not None for d in decoded)


def test_real_joint_states_and_scan_have_header_stamps():
    report = inspect_bag(REAL_BAGS / "tb3_walker_gazebo_humble")
    stats = {t.topic: t.stats for t in report.topics}
    assert stats["/joint_states"].clock == stats["/scan"].clock == "header"
    assert stats["/scan"].rate_hz == pytest.approx(5.0, rel=0.05)
    assert any("sim time" in w for w in report.warnings)


def test_storage_file_alone_reads_the_talker():
    with open_bag(REAL_BAGS / "r2_mcap_talker_v4" / "talker.mcap") as bag:
        assert bag.warnings == [] and sum(1 for _ in bag.messages()) == 20


@pytest.mark.parametrize("name", [n for n, e in EXPECTED.items() if e[1]])
def test_time_range_is_the_stored_messages(name):
    """start_ns/end_ns are the first and last log time stored, whatever metadata.yaml says: the
    zstd bags' yaml lists 60 s of 191 s and 184 s, the wbag yaml 2623..3035 ns of 1000..2998 ns.
    Seen failing before: the range came from the yaml, and a build's whole-bag episode (and an
    episode left open at the bag end) silently lost every message outside it."""
    with open_bag(REAL_BAGS / name) as bag:
        logs = [log_ns for _, _, log_ns, _ in bag.messages()]
        assert (bag.start_ns, bag.end_ns) == (min(logs), max(logs))

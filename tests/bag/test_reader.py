"""robot_logger.bag.reader: open, stream and decode bags; each bad input is a one-line BagError."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from robot_logger.bag.reader import open_bag
from robot_logger.core import messages
from robot_logger.core.messages import header_stamp_ns
from robot_logger.errors import BagError
from tests.support.bag_factory import (
    START_NS,
    event_msgs,
    image_msgs,
    joint_msgs,
    killed_split_recording,
    storage_file,
    text_msgs,
    write_bag,
)
from tests.support.paths import REAL_BAGS

STORAGES = ["mcap", "sqlite3"]
PERIOD_NS = 2_000_000


@pytest.fixture(params=STORAGES)
def small_bag(request, tmp_path):
    msgs = (
        joint_msgs("/arm/joint_states", 50, PERIOD_NS)
        + image_msgs("/cam/image_raw", 5, 20_000_000)
        + event_msgs([("weld", "success")])
    )
    return write_bag(tmp_path / f"bag_{request.param}", msgs, request.param), msgs


def test_open_reports_topics_times_and_storage(small_bag):
    path, msgs = small_bag
    with open_bag(path) as bag:
        assert bag.storage == path.name.split("_")[1]
        assert {t: (i.msgtype, i.count) for t, i in bag.topics.items()} == {
            "/arm/joint_states": (messages.JOINT_STATE, 50),
            "/cam/image_raw": (messages.IMAGE, 5),
            messages.EVENTS_TOPIC: (messages.STRING, 3),
        }
        assert bag.start_ns == min(m.log_ns for m in msgs)
        assert bag.end_ns == max(m.log_ns for m in msgs)
        assert bag.warnings == []


def test_messages_stream_raw_cdr_in_log_time_order(small_bag):
    path, msgs = small_bag
    with open_bag(path) as bag:
        got = [(t, mt, ns, bytes(raw)) for t, mt, ns, raw in bag.messages()]
    assert [g[2] for g in got] == sorted(m.log_ns for m in msgs)
    assert sorted(got) == sorted(tuple(m) for m in msgs)


def test_messages_filters_topics_and_names_the_existing_ones(small_bag):
    path, _ = small_bag
    with open_bag(path) as bag:
        assert {t for t, *_ in bag.messages(["/cam/image_raw"])} == {"/cam/image_raw"}
        with pytest.raises(BagError, match=r"no topic /nope .*it has: .*/arm/joint_states"):
            list(bag.messages(["/nope"]))


def test_messages_window_is_start_inclusive_stop_exclusive(small_bag):
    path, msgs = small_bag
    times = sorted(m.log_ns for m in msgs)
    start, stop = times[10], times[30]
    with open_bag(path) as bag:
        got = [ns for _t, _mt, ns, _raw in bag.messages(start_ns=start, stop_ns=stop)]
        only_start = [ns for *_, ns, _raw in bag.messages(["/arm/joint_states"], start_ns=start)]
    assert got == [t for t in times if start <= t < stop]
    assert only_start == sorted(
        m.log_ns for m in msgs if m.topic == "/arm/joint_states" and m.log_ns >= start
    )


def test_deserialize_and_header_stamp_agree(small_bag):
    path, _ = small_bag
    with open_bag(path) as bag:
        assert bag.has_header(messages.JOINT_STATE) and bag.has_header(messages.IMAGE)
        assert not bag.has_header(messages.STRING)
        for _topic, msgtype, log_ns, raw in bag.messages(["/arm/joint_states"]):
            msg = bag.deserialize(raw, msgtype)
            assert header_stamp_ns(raw) == messages.stamp_to_ns(msg.header.stamp)
            assert log_ns - header_stamp_ns(raw) == 1_000_000
            assert msg.position[0] == (header_stamp_ns(raw) - START_NS) // PERIOD_NS


def test_bare_storage_file_opens(small_bag):
    path, msgs = small_bag
    with open_bag(storage_file(path)) as bag:
        assert sum(1 for _ in bag.messages()) == len(msgs)


def test_deserialize_unknown_type_is_a_bag_error(small_bag):
    path, _ = small_bag
    with open_bag(path) as bag:
        assert not bag.can_decode("my_pkg/msg/Thing")
        with pytest.raises(BagError, match="my_pkg/msg/Thing"):
            bag.deserialize(b"\0\1\0\0", "my_pkg/msg/Thing")
        with pytest.raises(BagError, match="does not decode"):
            bag.deserialize(b"\0\1\0\0\1", messages.JOINT_STATE)


@pytest.mark.parametrize("storage", STORAGES)
def test_metadata_that_disagrees_falls_back_to_the_storage_file(tmp_path, storage):
    path = write_bag(tmp_path / "bag", text_msgs("/chatter", ["a", "b", "c"], 10**8), storage)
    meta_path = path / "metadata.yaml"
    meta = yaml.safe_load(meta_path.read_text())
    topic = meta["rosbag2_bagfile_information"]["topics_with_message_count"][0]["topic_metadata"]
    topic["offered_qos_profiles"] = [
        {
            "history": 1,
            "depth": 7,
            "reliability": 1,
            "durability": 2,
            "deadline": {"sec": 0, "nsec": 0},
            "lifespan": {"sec": 0, "nsec": 0},
            "liveliness": 1,
            "liveliness_lease_duration": {"sec": 0, "nsec": 0},
            "avoid_ros_namespace_conventions": False,
        }
    ]
    meta_path.write_text(yaml.safe_dump(meta))
    with open_bag(path) as bag:
        assert [bytes(r) for *_, r in bag.messages()] == [
            messages.serialize(messages.string(t), messages.STRING) for t in "abc"
        ]
        assert any("read the storage files directly" in w for w in bag.warnings)


def one_line_bag_error(path, *fragments):
    with pytest.raises(BagError) as info:
        with open_bag(path) as bag:
            for _ in bag.messages():
                pass
    text = str(info.value)
    assert "\n" not in text and str(path) in text
    for fragment in fragments:
        assert fragment in text
    return text


def test_missing_path(tmp_path):
    one_line_bag_error(tmp_path / "nope", "does not exist")


def test_directory_that_is_not_a_bag(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    one_line_bag_error(tmp_path, "not a rosbag2 bag")


def test_file_that_is_not_a_bag(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    one_line_bag_error(tmp_path / "notes.txt", "not a rosbag2 bag")


@pytest.mark.parametrize("storage", STORAGES)
def test_storage_file_without_metadata_asks_for_repair(tmp_path, storage):
    path = write_bag(tmp_path / "bag", joint_msgs("/j", 5, PERIOD_NS), storage)
    (path / "metadata.yaml").unlink()
    one_line_bag_error(path, "no metadata.yaml", f"robot-logger repair {path}")


@pytest.mark.parametrize("storage", STORAGES)
@pytest.mark.parametrize("keep", [0.0, 0.3, 0.9])
def test_truncated_storage_file_asks_for_repair(tmp_path, storage, keep):
    path = write_bag(tmp_path / "bag", image_msgs("/cam", 20, 10**8), storage)
    file = storage_file(path)
    data = file.read_bytes()
    file.write_bytes(data[: int(len(data) * keep)])
    one_line_bag_error(path, "robot-logger repair")


def test_unmerged_sqlite_wal_asks_for_repair(tmp_path):
    path = write_bag(tmp_path / "bag", joint_msgs("/j", 5, PERIOD_NS), "sqlite3")
    (path / (storage_file(path).name + "-wal")).write_bytes(b"\0" * 100)
    one_line_bag_error(path, "-wal", "robot-logger repair")


@pytest.mark.parametrize(
    "text",
    [
        "{{{ not yaml",
        "just a string",
        "rosbag2_bagfile_information: 3",
        "rosbag2_bagfile_information: {version: 5}",
    ],
)
def test_wrong_metadata_yaml(tmp_path, text):
    path = write_bag(tmp_path / "bag", joint_msgs("/j", 5, PERIOD_NS), "mcap")
    (path / "metadata.yaml").write_text(text)
    one_line_bag_error(path, "metadata")


def test_metadata_listing_a_missing_storage_file(tmp_path):
    path = write_bag(tmp_path / "bag", joint_msgs("/j", 5, PERIOD_NS), "sqlite3")
    storage_file(path).unlink()
    one_line_bag_error(path, "missing")


@pytest.mark.parametrize("storage", STORAGES)
def test_flipped_bytes_never_escape_as_another_exception(tmp_path, storage):
    path = write_bag(
        tmp_path / "bag", joint_msgs("/j", 200, PERIOD_NS) + image_msgs("/cam", 10, 10**8), storage
    )
    file = storage_file(path)
    pristine = file.read_bytes()
    rng = np.random.default_rng(7)
    outcomes = set()
    # mcap: anywhere; sqlite3: b-tree page headers, where damage is structural.
    offsets = (
        rng.integers(0, len(pristine), 40)
        if storage == "mcap"
        else 4096 * rng.integers(1, len(pristine) // 4096, 40)
    )
    for offset in offsets:
        damaged = bytearray(pristine)
        damaged[offset : offset + 4] = bytes(rng.integers(0, 256, 4, dtype=np.uint8))
        file.write_bytes(bytes(damaged))
        try:
            with open_bag(path) as bag:
                outcomes.add(("read", sum(1 for _ in bag.messages())))
        except BagError as err:
            assert "\n" not in str(err)
            outcomes.add(("error", None))
    # Every damaged copy ended as a read or a one-line BagError (anything else fails the test),
    # and some of the damage was detected.
    assert ("error", None) in outcomes


def test_message_compressed_db3_alone_says_to_open_its_folder():
    """rosbag2's message-mode zstd: only the folder's metadata.yaml says the messages are
    compressed. Seen failing before: the bare .db3 gave 'Invalid or unsupported CDR
    encapsulation', which does not say what to do."""
    bag = REAL_BAGS / "r2_sqlite3_zstd_message_v4"
    with open_bag(bag / "message_compression_0.db3") as alone:
        _, msgtype, _, raw = next(alone.messages(["/rosout"]))
        with pytest.raises(BagError, match=r"message_compression_0.db3: a rcl_interfaces/msg/Log "
                           r"message does not decode: .* its bytes are a zstd frame \(rosbag2 "
                           r"message compression, declared only in metadata.yaml\): open the "
                           r"bag folder .*r2_sqlite3_zstd_message_v4 instead"):
            alone.deserialize(raw, msgtype)
    with open_bag(bag) as folder:
        _, msgtype, _, raw = next(folder.messages(["/rosout"]))
        assert folder.deserialize(raw, msgtype).name


def test_file_compressed_storage_file_alone_says_to_open_its_folder():
    """rosbag2's file-mode zstd keeps `<name>.db3.zstd` files that only the folder's
    metadata.yaml describes. Seen failing before: 'not a rosbag2 bag (expected a bag folder or a
    .mcap/.db3 file)', without saying it is one file of a bag."""
    file = REAL_BAGS / "r2_sqlite3_zstd_file_v4" / "file_compression_0.db3.zstd"
    with pytest.raises(BagError, match=r"file_compression_0.db3.zstd: a zstd-compressed storage "
                       r"file of a bag \(rosbag2 file compression\): open the bag folder "
                       r".*r2_sqlite3_zstd_file_v4 instead"):
        open_bag(file)


def test_a_split_file_its_recorder_left_in_progress_is_named_with_the_fix(tmp_path):
    """`info REC` read the finished files and said nothing of REC/REC_<n>/ (the last seconds of
    the recording); with no file finished it said REC was not a bag at all."""
    killed = killed_split_recording(tmp_path / "three", 3)
    with open_bag(killed) as bag:
        assert bag.topics["/joints"].count == 200
        assert any(f"{killed / 'rec_2' / 'rec_2.mcap'}: a split file its recorder did not close"
                   in w and f"robot-logger repair {killed}" in w for w in bag.warnings)
    first = killed_split_recording(tmp_path / "one", 1)
    with pytest.raises(BagError, match=f"robot-logger repair {first}"):
        open_bag(first)

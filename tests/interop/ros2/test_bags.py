"""Our bags in real ROS 2 Humble and Jazzy: `ros2 bag info` and `ros2 bag play` read what `sim`,
the recorder (mcap, sqlite3, zstd, split) and `repair` write, with our message counts, and play
them back byte for byte with the recorded QoS (transient-local events stay transient-local)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest

from robot_logger.bag.reader import open_bag
from robot_logger.bag.repair.recover import repair_bag
from robot_logger.core import events
from robot_logger.core import messages as m
from robot_logger.record.bagsink import BagSink, SinkOptions
from robot_logger.sim import Cell, CellSpec, parse_faults, write_bag
from tests.support.ros2 import Ros2, bag_payloads, final_status, start_recorder

pytestmark = pytest.mark.ros2

SMALL = {"duration_s": 1.0, "image_height": 24, "image_width": 32, "lidar_points": 64}
JOINTS = "/cell/arm1/joint_states"
TOPIC_LINE = re.compile(r"Topic: (\S+) \| Type: (\S+) \| Count: (\d+)")


def ros2_counts_from(info: str) -> dict[str, int]:
    """Per-topic message counts as `ros2 bag info` prints them."""
    return {topic: int(n) for topic, _type, n in TOPIC_LINE.findall(info)}


def our_counts(bag: Path) -> dict[str, int]:
    with open_bag(bag) as reader:
        return {topic: info.count for topic, info in reader.topics.items()}


def sim_bag(path: Path, storage: str = "mcap", **spec: object) -> Path:
    write_bag(path, Cell(CellSpec(**{**SMALL, **spec})), storage=storage)
    return path


def joint_cdr(i: int) -> bytes:
    return m.serialize(
        m.joint_state(
            1_700_000_000_000_000_000 + i * 2_000_000,
            ["j1", "j2"],
            np.array([i, -i], dtype=float),
            np.zeros(2),
            np.zeros(2),
        ),
        m.JOINT_STATE,
    )


def recorder_bag(path: Path, **options: object) -> Path:
    """What the recorder's writer makes of 300 joint states and an episode (no live DDS)."""
    sink = BagSink(path, SinkOptions(min_free_bytes=0, **options))  # type: ignore[arg-type]
    sink.add_topic(m.EVENTS_TOPIC, m.STRING)
    sink.add_topic(JOINTS, m.JOINT_STATE)
    start = m.serialize(m.string(events.episode_start("pick")), m.STRING)
    sink.put(m.EVENTS_TOPIC, 1_700_000_000_000_000_000, [(start, 0)])
    for i in range(300):
        sink.put(JOINTS, 1_700_000_000_000_000_000 + i * 2_000_000, [(joint_cdr(i), 0)])
    sink.close()
    return path


# Run with ROS 2's python: per bag, rosbag2's own metadata parse (what `ros2 bag info` prints)
# and a full read through rosbag2's storage plugins, as JSON
# {bag: {"info": counts, "read": counts}}.
ROSBAG2_READ = """
import json, sys
import rosbag2_py
out = {}
for uri in sys.argv[1:]:
    meta = rosbag2_py.Info().read_metadata(uri, "")
    info = {t.topic_metadata.name: t.message_count for t in meta.topics_with_message_count}
    reader = rosbag2_py.SequentialReader()
    reader.open(rosbag2_py.StorageOptions(uri=uri, storage_id=meta.storage_identifier),
                rosbag2_py.ConverterOptions("", ""))
    read = {}
    while reader.has_next():
        topic = reader.read_next()[0]
        read[topic] = read.get(topic, 0) + 1
    out[uri] = {"info": info, "read": read}
print(json.dumps(out))
"""


def test_rosbag2_reads_every_kind_of_bag_we_write(ros2: Ros2, tmp_path: Path) -> None:
    """sim (mcap, sqlite3), the recorder's writer (zstd both storages, size and duration
    splits) and repair (both storages): rosbag2 parses the metadata and reads every message,
    with our counts; `ros2 bag info` itself on a split bag lists its files."""
    bags = [sim_bag(tmp_path / "sim_mcap"), sim_bag(tmp_path / "sim_sqlite3", "sqlite3")]
    for name, options in {
        "rec_mcap_zstd": {"storage": "mcap", "compression": "zstd"},
        "rec_sqlite3_zstd": {"storage": "sqlite3", "compression": "zstd"},
        "rec_mcap_split": {"storage": "mcap", "split_size_bytes": 8_000},
        "rec_sqlite3_split": {"storage": "sqlite3", "split_duration_ns": 200_000_000},
    }.items():
        bags.append(recorder_bag(tmp_path / name, **options))
    for storage in ("mcap", "sqlite3"):
        cut = tmp_path / f"cut_{storage}"
        write_bag(cut, Cell(CellSpec(**SMALL), parse_faults("truncate=0.6")), storage=storage)
        bags.append(Path(repair_bag(cut).output))
    result = json.loads(ros2.run(["python3", "-c", ROSBAG2_READ, *map(str, bags)]).stdout)
    for bag in bags:
        ours = our_counts(bag)
        assert result[str(bag)] == {"info": ours, "read": ours}, bag.name
    assert len(list((tmp_path / "rec_mcap_split").glob("*.mcap"))) > 1
    split_info = ros2.run(["ros2", "bag", "info", str(tmp_path / "rec_mcap_split")]).stdout
    assert ros2_counts_from(split_info) == our_counts(tmp_path / "rec_mcap_split")
    assert "rec_mcap_split_1.mcap" in split_info


def test_ros2_bag_play_replays_every_message_byte_for_byte_with_transient_local_events(
    ros2: Ros2, tmp_path: Path
) -> None:
    """`ros2 bag play` of a sim bag -> `robot-logger record` (dds): the same bytes per topic; the
    events topic is offered transient-local on replay, as the bag recorded it. The player is told
    to offer the sensor topics reliable (its QoS override file), so the recorder, adapting to
    what every publisher offers, subscribes reliable: lossless however loaded the machine."""
    bag = sim_bag(tmp_path / "sim", duration_s=2.0)
    overrides = tmp_path / "reliable.yaml"
    overrides.write_text("".join(f"{t}: {{history: keep_all, reliability: reliable}}\n"
                                 for t in our_counts(bag) if t != m.EVENTS_TOPIC))
    recorder = start_recorder(ros2, tmp_path / "rec", "--transport", "dds", "--all")
    play = ros2.start(["ros2", "bag", "play", str(bag), "--delay", "3",
                       "--qos-profile-overrides-path", str(overrides)])
    info = ros2.endpoint(m.EVENTS_TOPIC)  # while the player waits its 3 s
    assert play.wait(timeout=60) == 0, ros2.output(play)
    time.sleep(1.0)
    rc, out = ros2.stop(recorder)
    assert rc == 0, out
    assert "Durability: TRANSIENT_LOCAL" in info, info
    status = final_status(out)
    assert status["unmatched"] == {}
    sent = bag_payloads(bag)
    got = {t: v for t, v in bag_payloads(tmp_path / "rec").items() if t in sent}  # not /rosout
    assert {t: len(v) for t, v in got.items()} == {t: len(v) for t, v in sent.items()}
    assert got == sent

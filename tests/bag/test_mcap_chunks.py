"""robot_logger.bag.mcap_chunks: the same messages, in the same order, as rosbags' own reader."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from mcap.opcode import Opcode
from mcap.writer import CompressionType
from mcap.writer import Writer as McapWriter
from rosbags.rosbag2 import Reader

from robot_logger.bag.mcap_chunks import raw_messages
from robot_logger.bag.reader import open_bag
from robot_logger.core import messages
from robot_logger.errors import BagError
from tests.support.bag_factory import START_NS, image_msgs, joint_msgs
from tests.support.paths import REAL_BAGS

REAL_MCAP = sorted(f for bag in REAL_BAGS.iterdir() if bag.name.startswith("r2_mcap")
                   and bag.name != "r2_mcap_wrong_serialization_v6" for f in bag.glob("*.mcap"))


def both(path: Path, topics: set[str] | None = None, start: int | None = None,
         stop: int | None = None) -> tuple[list[tuple[str, int, bytes]], ...]:
    """(topic, log_ns, bytes) from rosbags' Reader.messages and from raw_messages."""
    out = []
    for read in (lambda r, c: r.messages(c, start, stop),
                 lambda r, c: raw_messages(r, c, start, stop)):
        with Reader(path) as reader:
            conns = [c for c in reader.connections if topics is None or c.topic in topics]
            out.append([(c.topic, log, bytes(raw)) for c, log, raw in read(reader, conns)])
    return tuple(out)


def write_mcap(path: Path, msgs: list[tuple[str, int, bytes]], compression: CompressionType,
               chunk_size: int) -> Path:
    """A bare ros2-profile MCAP file (with CRCs) written in the given order, not sorted."""
    with path.open("wb") as stream:
        writer = McapWriter(stream, chunk_size=chunk_size, compression=compression)
        writer.start(profile="ros2", library="test")
        schemas: dict[str, int] = {}
        channels: dict[str, int] = {}
        for topic, log_ns, raw in msgs:
            msgtype = messages.IMAGE if "image" in topic else messages.JOINT_STATE
            if msgtype not in schemas:
                schemas[msgtype] = writer.register_schema(msgtype, "ros2msg", b"")
            if topic not in channels:
                channels[topic] = writer.register_channel(topic, "cdr", schemas[msgtype])
            writer.add_message(channels[topic], log_ns, raw, log_ns)
        writer.finish()
    return path


def mixed_messages() -> list[tuple[str, int, bytes]]:
    """Joints and images, log times out of order, overlapping chunks, and equal log times."""
    msgs = [(m.topic, m.log_ns, m.raw) for m in joint_msgs("/arm/joint_states", 120, 2_000_000)
            + image_msgs("/cam/image_raw", 12, 20_000_000, shape=(60, 80))]
    msgs.sort(key=lambda m: m[1])
    msgs[10], msgs[40] = msgs[40], msgs[10]                 # out of log-time order
    msgs.insert(50, ("/arm/joint_states", msgs[49][1], msgs[3][2]))   # a tie in log time
    return msgs


@pytest.mark.parametrize("storage", REAL_MCAP, ids=lambda p: p.name)
def test_real_bags_read_identically(storage):
    theirs, ours = both(storage)
    assert ours == theirs and ours


@pytest.mark.parametrize("compression", list(CompressionType), ids=lambda c: c.name)
def test_order_topics_and_windows_match_rosbags(tmp_path, compression):
    path = write_mcap(tmp_path / "mixed.mcap", mixed_messages(), compression, chunk_size=20_000)
    theirs, ours = both(path)
    assert ours == theirs and len(ours) == 133
    window = (START_NS + 30_000_000, START_NS + 140_000_000)
    for topics in ({"/arm/joint_states"}, {"/cam/image_raw"}):
        theirs, ours = both(path, topics, *window)
        assert ours == theirs and ours
        assert all(window[0] <= log < window[1] and t in topics for t, log, _ in ours)


def first_chunk(path: Path):
    """rosbags' index entry of the file's first chunk and the image channel's id."""
    with Reader(path) as reader:
        image = next(c.id for c in reader.connections if c.topic == "/cam/image_raw")
        return reader.storage.chunks[0], image


def test_damaged_chunk_is_one_bag_error(tmp_path):
    path = write_mcap(tmp_path / "crc.mcap", mixed_messages(), CompressionType.NONE, 1 << 20)
    chunk, _image = first_chunk(path)
    data = bytearray(path.read_bytes())
    data[chunk.chunk_start_offset + chunk.chunk_length - 5] ^= 0xFF   # a payload byte
    path.write_bytes(bytes(data))
    with open_bag(path) as bag, pytest.raises(BagError, match="checksum"):
        list(bag.messages())


def test_index_past_the_chunk_is_one_bag_error(tmp_path):
    path = write_mcap(tmp_path / "index.mcap", mixed_messages(), CompressionType.NONE, 1 << 20)
    chunk, image = first_chunk(path)
    at = chunk.message_index_offsets[image]   # MessageIndex: op, length, channel, entries
    data = bytearray(path.read_bytes())
    assert data[at] == Opcode.MESSAGE_INDEX and struct.unpack_from("<H", data, at + 9)[0] == image
    struct.pack_into("<Q", data, at + 15 + 8, 1 << 40)   # the first image's offset
    path.write_bytes(bytes(data))
    with open_bag(path) as bag, pytest.raises(BagError, match="past chunk"):
        list(bag.messages())

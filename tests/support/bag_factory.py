"""Small rosbag2 bags written with rosbags' own Writer, for the bag/info/repair tests.

Messages are built with robot_logger.core.messages, so every byte is known: tests compute what a
reader must return, or what a repair must recover, from these inputs independently of the code
under test. Bags from the simulator (tests/conftest.py `make_bag`) cover the realistic cell.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer

from robot_logger.core import events, messages
from robot_logger.record.bagsink import BagSink, SinkOptions

START_NS = 1_700_000_000_000_000_000
JOINTS = [f"j{i}" for i in range(6)]
STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}


class Msg(NamedTuple):
    """One message to write: topic, type, log time (ns), raw CDR."""

    topic: str
    msgtype: str
    log_ns: int
    raw: bytes


def joint_msgs(topic: str, n: int, period_ns: int, latency_ns: int = 1_000_000,
               start_ns: int = START_NS) -> list[Msg]:
    """n JointStates stamped every period_ns, logged latency_ns later; position[0] = index."""
    out = []
    for i in range(n):
        stamp = start_ns + i * period_ns
        raw = messages.serialize(messages.joint_state(stamp, JOINTS, np.full(6, float(i)),
                                                      np.zeros(6), np.zeros(6)),
                                 messages.JOINT_STATE)
        out.append(Msg(topic, messages.JOINT_STATE, stamp + latency_ns, raw))
    return out


def text_msgs(topic: str, texts: Iterable[str], period_ns: int,
              start_ns: int = START_NS) -> list[Msg]:
    """std_msgs/String messages, one every period_ns."""
    return [Msg(topic, messages.STRING, start_ns + i * period_ns,
                messages.serialize(messages.string(t), messages.STRING))
            for i, t in enumerate(texts)]


def event_msgs(episodes: list[tuple[str, str]], period_ns: int = 500_000_000,
               start_ns: int = START_NS) -> list[Msg]:
    """Event messages for (task, outcome) episodes: start, one phase, end each."""
    texts = []
    for task, outcome in episodes:
        texts += [events.episode_start(task), events.phase("work"), events.episode_end(outcome)]
    return text_msgs(messages.EVENTS_TOPIC, texts, period_ns, start_ns)


def image_msg(topic: str, i: int, period_ns: int, shape: tuple[int, int] = (48, 64),
              start_ns: int = START_NS) -> Msg:
    """The i-th rgb8 Image of a stream: stamped i periods after start, pixels all i % 256."""
    stamp = start_ns + i * period_ns
    pixels = np.full((*shape, 3), i % 256, np.uint8)
    raw = messages.serialize(messages.image(stamp, pixels), messages.IMAGE)
    return Msg(topic, messages.IMAGE, stamp + 20_000_000, raw)


def image_msgs(topic: str, n: int, period_ns: int, shape: tuple[int, int] = (48, 64),
               start_ns: int = START_NS) -> list[Msg]:
    """The first n images of a stream (image_msg)."""
    return [image_msg(topic, i, period_ns, shape, start_ns) for i in range(n)]


def write_bag(path: Path, msgs: Iterable[Msg], storage: str = "mcap") -> Path:
    """Write msgs (sorted by log time) into a new bag folder at path; returns path."""
    ordered = sorted(msgs, key=lambda m: m.log_ns)
    with Writer(path, version=9, storage_plugin=STORAGES[storage]) as writer:
        conns = {}
        for m in ordered:
            if m.topic not in conns:
                conns[m.topic] = writer.add_connection(m.topic, m.msgtype,
                                                       typestore=messages.typestore())
            writer.write(conns[m.topic], m.log_ns, m.raw)
    return path


def storage_file(bag: Path) -> Path:
    """The one storage file of a bag written by write_bag."""
    (found,) = [p for p in bag.iterdir() if p.suffix in (".mcap", ".db3")]
    return found


def killed_split_recording(tmp_path: Path, files: int) -> Path:
    """What `record --split-duration 1` killed in its `files`-th file leaves: the finished files
    moved up into REC/ and listed in its metadata.yaml, the one in progress as
    REC/REC_<n>/REC_<n>.mcap with its flushed chunks only (copied while the writer runs, which
    is what the disk holds after a SIGKILL). 100 joint states a file."""
    live = tmp_path / "live" / "rec"
    live.parent.mkdir(parents=True)
    sink = BagSink(live, SinkOptions(min_free_bytes=0, split_duration_ns=10**9,
                                     flush_interval_s=0.05))
    sink.add_topic("/joints", messages.JOINT_STATE)
    stamp = 1_700_000_000 * 10**9
    for i in range(100 * files):
        cdr = messages.serialize(messages.joint_state(stamp + i * 10**7, ["j"], [i * 1.0],
                                                      [0.0], [0.0]), messages.JOINT_STATE)
        assert sink.put("/joints", stamp + i * 10**7, [(cdr, 0)]) == 0
    pending = live / f"rec_{files - 1}" / f"rec_{files - 1}.mcap"
    deadline = time.monotonic() + 10
    while sink.stats.queue_messages or not pending.is_file():
        assert time.monotonic() < deadline, "the writer did not start the last split"
        time.sleep(0.05)
    time.sleep(0.3)   # several flush intervals: every message is in a flushed chunk
    killed = tmp_path / "killed" / "rec"
    shutil.copytree(live, killed)
    sink.close()
    return killed

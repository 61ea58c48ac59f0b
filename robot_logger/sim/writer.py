"""Write a simulated cell into a rosbag2 bag (mcap or sqlite3) with rosbags' Writer.

A `truncate` fault leaves the bag as a SIGKILLed `ros2 bag record` would: no metadata.yaml; for
mcap the chunk still in memory is lost, the last chunk on disk is cut in half and there is no
summary or footer; for sqlite3 the committed messages stay and the metadata table is empty.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from mcap.opcode import Opcode
from mcap.writer import MCAP0_MAGIC
from rosbags.interfaces import Qos
from rosbags.rosbag2 import StoragePlugin, Writer, WriterError

from robot_logger.bag.metadata import METADATA_VERSION
from robot_logger.bag.reader import STORAGES, Storage
from robot_logger.bag.repair.mcap import RECORD_HEAD
from robot_logger.core.messages import typestore
from robot_logger.errors import BagError, ConfigError
from robot_logger.sim.cell import Cell
from robot_logger.transport.qos import default_profile, to_rosbags_qos

__all__ = ["write_bag"]

PROGRESS_STEP_NS = 100_000_000


def write_bag(path: str | Path, cell: Cell, *, storage: Storage = "mcap",
              progress: Callable[[float], None] | None = None) -> dict[str, int]:
    """Write every message of `cell` into a new bag at `path`; return the count per topic.

    `progress(seconds)` is called with the simulated seconds written so far. With a truncate
    fault the counts are the messages handed to the writer before it was "killed".
    """
    path = Path(path)
    if storage not in STORAGES:
        raise ConfigError(f"storage must be one of {', '.join(STORAGES)}, not {storage!r}")
    if path.exists():
        raise BagError(f"{path} exists already; choose another output path or remove it")
    spec = cell.spec
    kill_ns = None if cell.faults.truncate is None else \
        spec.start_ns + int(cell.faults.truncate * spec.duration_ns)
    counts = dict.fromkeys(cell.topics(), 0)
    writer = Writer(
        path, version=METADATA_VERSION, storage_plugin=StoragePlugin[storage.upper()]
    )
    try:
        writer.open()
        connections = {topic: writer.add_connection(topic, msgtype, typestore=typestore(),
                                                    offered_qos_profiles=_offered(topic))
                       for topic, msgtype in cell.topics().items()}
        next_report = spec.start_ns + PROGRESS_STEP_NS
        for message in cell.messages():
            if kill_ns is not None and message.log_ns >= kill_ns:
                break
            writer.write(connections[message.topic], message.log_ns, message.data)
            counts[message.topic] += 1
            if progress is not None and message.log_ns >= next_report:
                progress((message.log_ns - spec.start_ns) / 1e9)
                next_report += PROGRESS_STEP_NS
    except WriterError as err:
        writer.abort()
        raise BagError(f"cannot write {path}: {err}") from err
    except BaseException:
        writer.abort()
        raise
    if kill_ns is None:
        writer.close()
    elif storage == "mcap":
        writer.abort()
        _cut_last_chunk(path / f"{path.name}.mcap")
    else:
        writer.close()
        _forget_metadata(path, path / f"{path.name}.db3")
    return counts


def _offered(topic: str) -> list[Qos]:
    """The offered QoS recorded for `topic`: what `sim --publish` offers for it (sensor data
    best-effort, events reliable/transient-local, /tf_static as tf2_ros's static broadcaster),
    so `ros2 bag play` replays each topic as the live cell publishes it."""
    return [to_rosbags_qos(default_profile(topic, writer=True))]


def _cut_last_chunk(mcap_path: Path) -> None:
    """Cut an mcap file (without summary) in the middle of its last chunk record."""
    last_chunk = None
    with mcap_path.open("rb") as bio:
        offset = len(MCAP0_MAGIC)
        bio.seek(offset)
        while header := bio.read(RECORD_HEAD.size):
            if len(header) < RECORD_HEAD.size:
                break
            opcode, length = RECORD_HEAD.unpack(header)
            if opcode == Opcode.CHUNK:
                last_chunk = (offset, RECORD_HEAD.size + length)
            offset += RECORD_HEAD.size + length
            bio.seek(offset)
    if last_chunk is not None:
        with mcap_path.open("r+b") as bio:
            bio.truncate(last_chunk[0] + last_chunk[1] // 2)


def _forget_metadata(bag: Path, db_path: Path) -> None:
    """Remove what a killed sqlite3 recorder never wrote: metadata.yaml and the metadata row."""
    (bag / "metadata.yaml").unlink()
    with sqlite3.connect(db_path) as conn:
        conn.execute("DELETE FROM metadata")
    conn.close()

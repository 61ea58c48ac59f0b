"""`robot-logger repair` as a library call: make a bag a killed recorder left readable again.

Policy: the original is never modified. The repaired bag is written beside it as
`<BAG>.repaired` (or where `output` says), first into `<output>.partial`, and renamed into place
only once it reads back with the expected message count. Each storage file is recovered on its
own (`repair/mcap.py`, `repair/sqlite.py`), then a metadata.yaml rosbag2 reads is written
from what was recovered. The report says what came back per topic and what was lost.
"""

from __future__ import annotations

import shutil
import sqlite3
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from robot_logger.bag.metadata import METADATA_VERSION
from robot_logger.bag.reader import (
    STORAGE_SUFFIXES,
    Storage,
    open_bag,
    storage_files,
    unfinished_splits,
)
from robot_logger.bag.repair.mcap import recover_mcap
from robot_logger.bag.repair.recovery import FileRecovery, RecoveredTopic
from robot_logger.bag.repair.sqlite import recover_sqlite
from robot_logger.errors import BagError, disk_full

__all__ = ["RepairReport", "default_output", "repair_bag"]

REPAIR_ERRORS = (ValueError, OSError, struct.error, sqlite3.Error, EOFError, IndexError)


@dataclass(frozen=True)
class RepairReport:
    """What `repair` did: where it wrote, what it recovered per topic, what it lost."""

    source: str
    output: str
    storage: Storage
    recovered: dict[str, int]
    lost_bytes: int                 # cut-off bytes at the end of the storage files
    damaged: int                    # unreadable chunks, pages or records skipped
    missing: dict[str, int] = field(default_factory=dict)  # topic -> count the old yaml had more
    notes: list[str] = field(default_factory=list)

    @property
    def message_count(self) -> int:
        """Messages in the repaired bag."""
        return sum(self.recovered.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"source": self.source, "output": self.output, "storage": self.storage,
                "message_count": self.message_count, "recovered": self.recovered,
                "lost_bytes": self.lost_bytes, "damaged": self.damaged,
                "missing": self.missing, "notes": self.notes}


def default_output(bag: Path) -> Path:
    """`<BAG>.repaired` beside the bag (for a bare `x.mcap`: `x.repaired`)."""
    return bag.with_name((bag.stem if bag.is_file() else bag.name) + ".repaired")


def repair_bag(path: str | Path, output: str | Path | None = None) -> RepairReport:
    """Recover every readable message of the bag at path into a new bag; never touch path."""
    path = Path(path)
    files = _source_files(path)
    storage = STORAGE_SUFFIXES[files[0].suffix]
    out = Path(output) if output is not None else default_output(path)
    if out.exists():
        raise BagError(f"{out} exists already; remove it or choose another output with -o")
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        recoveries = [(f.name, _recover(f, partial / f.name)) for f in files]
        old = _old_metadata(path)
        topics = _write_metadata(partial, storage, recoveries, old)
        _check_reads_back(path, partial, sum(topics.values()))
        partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    old_counts = {t["topic_metadata"]["name"]: t.get("message_count")
                  for t in _list(old.get("topics_with_message_count")) if _is_topic_entry(t)}
    return RepairReport(
        source=str(path), output=str(out), storage=storage, recovered=topics,
        lost_bytes=sum(r.lost_bytes for _, r in recoveries),
        damaged=sum(r.damaged for _, r in recoveries),
        missing={t: n - topics.get(t, 0) for t, n in old_counts.items()
                 if isinstance(n, int) and n > topics.get(t, 0)},
        notes=[note for _, r in recoveries for note in r.notes]
        + ([] if sum(topics.values()) else ["no whole message was found; the copy is empty"]),
    )


def _source_files(path: Path) -> list[Path]:
    if not path.exists():
        raise BagError(f"{path}: no such bag (the path does not exist)")
    if path.is_file():
        if path.suffix not in STORAGE_SUFFIXES:
            raise BagError(f"{path}: not a rosbag2 storage file (expected .mcap or .db3)")
        return [path]
    listed = [path / Path(str(name)).name
              for name in _list(_old_metadata(path).get("relative_file_paths"))]
    files = listed if listed and all(f.suffix in STORAGE_SUFFIXES and f.is_file()
                                     for f in listed) else storage_files(path)
    # the split file a killed recorder had in progress, REC/REC_<n>/REC_<n>.mcap, goes into
    # the copy as REC_<n>.mcap after the finished ones
    names = {f.name for f in files}
    files += [f for f in unfinished_splits(path) if f.name not in names]
    if not files:
        compressed = sorted(p.name for p in path.glob("*.zstd"))
        raise BagError(f"{path}: no .mcap or .db3 file to repair"
                       + (f" (file-compressed {compressed[0]} cannot be repaired)"
                          if compressed else ""))
    if len({f.suffix for f in files}) > 1:
        raise BagError(f"{path}: holds both .mcap and .db3 files; repair them one by one")
    return files


def _recover(src: Path, dst: Path) -> FileRecovery:
    try:
        return recover_mcap(src, dst) if src.suffix == ".mcap" else recover_sqlite(src, dst)
    except REPAIR_ERRORS as err:
        if disk_full(err):       # the copy's disk, not the damaged source, is the problem
            raise BagError(f"{dst.parent.parent}: disk full while writing the repaired copy of "
                           f"{src}; nothing was kept (free space or choose another -o)") from err
        raise BagError(f"{src}: cannot be repaired ({err})") from err


def _old_metadata(path: Path) -> dict[str, Any]:
    """The bag's own metadata.yaml, when it has one that parses (else {})."""
    try:
        info = yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    except (OSError, yaml.YAMLError, TypeError, KeyError):
        return {}
    return info if isinstance(info, dict) else {}


def _list(value: Any) -> list[Any]:
    """A list from the old metadata.yaml, or [] when it holds something else there."""
    return value if isinstance(value, list) else []


def _is_topic_entry(entry: Any) -> bool:
    return (isinstance(entry, dict) and isinstance(entry.get("topic_metadata"), dict)
            and isinstance(entry["topic_metadata"].get("name"), str))


def _write_metadata(folder: Path, storage: Storage,
                    recoveries: list[tuple[str, FileRecovery]],
                    old: dict[str, Any]) -> dict[str, int]:
    """metadata.yaml for the recovered files (as rosbags writes it); returns counts per topic."""
    topics: dict[RecoveredTopic, int] = {}
    files = []
    for name, rec in recoveries:
        for key, topic in rec.topics.items():
            topics[topic] = topics.get(topic, 0) + rec.counts.get(key, 0)
        count = sum(rec.counts.values())
        files.append({"path": name, "message_count": count,
                      "starting_time": {"nanoseconds_since_epoch": rec.start_ns or 0},
                      "duration": {"nanoseconds": (rec.end_ns or 0) - (rec.start_ns or 0)}})
    starts = [r.start_ns for _, r in recoveries if r.start_ns is not None]
    ends = [r.end_ns for _, r in recoveries if r.end_ns is not None]
    start = min(starts, default=0)
    bag_info = {
        "version": METADATA_VERSION, "storage_identifier": storage,
        "relative_file_paths": [name for name, _ in recoveries],
        "duration": {"nanoseconds": max(ends, default=0) - start},
        "starting_time": {"nanoseconds_since_epoch": start},
        "message_count": sum(topics.values()),
        "topics_with_message_count": [
            {"topic_metadata": {"name": t.name, "type": t.msgtype,
                                "serialization_format": t.serialization_format,
                                "offered_qos_profiles": t.offered_qos_profiles,
                                "type_description_hash": t.type_description_hash},
             "message_count": n}
            for t, n in topics.items()],
        "compression_format": str(old.get("compression_format") or ""),
        "compression_mode": str(old.get("compression_mode") or ""),
        "files": files, "custom_data": None, "ros_distro": str(old.get("ros_distro") or ""),
    }
    text = yaml.safe_dump({"rosbag2_bagfile_information": bag_info}, sort_keys=False)
    (folder / "metadata.yaml").write_text(text)
    per_topic: dict[str, int] = {}
    for topic, n in topics.items():
        per_topic[topic.name] = per_topic.get(topic.name, 0) + n
    return per_topic


def _check_reads_back(source: Path, folder: Path, expected: int) -> None:
    """The repaired copy must open and yield exactly what was recovered, or it is not kept."""
    try:
        with open_bag(folder) as bag:
            read = sum(1 for _ in bag.messages())
            fallback = [w for w in bag.warnings if "storage files directly" in w]
    except BagError as err:
        reason = str(err).removeprefix(f"{folder}: ")
        raise BagError(f"{source}: the repaired copy does not open ({reason})") from err
    if read != expected or fallback:
        raise BagError(f"{source}: the repaired copy reads back {read} of {expected} messages; "
                       "it was not kept")

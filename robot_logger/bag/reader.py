"""Open rosbag2 bags (mcap or sqlite3, a bag folder or a bare storage file) and stream raw CDR.

`open_bag(path)` is the one way the project reads bags. It wraps rosbags' `Reader`, builds a
typestore from the bag's own message definitions (falling back to ROS 2 Humble), and turns every
failure into a one-line `BagError` naming the file. When `metadata.yaml` disagrees with the
storage files (rosbags would then read nothing), it reads the storage files directly and says so
in `BagReader.warnings`. A bag left behind by a killed recorder gets a hint to run
`robot-logger repair BAG`.

    with open_bag("demo_bag") as bag:
        for topic, msgtype, log_ns, raw in bag.messages(["/cell/arm1/joint_states"]):
            stamp_ns = messages.header_stamp_ns(raw)
"""

from __future__ import annotations

import heapq
import re
import sqlite3
import struct
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import apsw
from rosbags.interfaces import Connection, MessageDefinitionFormat
from rosbags.rosbag2 import Reader, ReaderError
from rosbags.rosbag2.reader import DirectoryReader
from rosbags.rosbag2.storage_mcap import McapReader
from rosbags.rosbag2.storage_sqlite3 import Sqlite3Reader
from rosbags.serde import SerdeError
from rosbags.typesys import (
    Stores,
    TypesysError,
    get_types_from_idl,
    get_types_from_msg,
    get_typestore,
)
from rosbags.typesys.store import Typestore

from robot_logger.bag.mcap_chunks import raw_messages
from robot_logger.core import messages
from robot_logger.errors import BagError, reason

__all__ = [
    "STORAGES",
    "STORAGE_SUFFIXES",
    "Storage",
    "TopicInfo",
    "BagReader",
    "open_bag",
    "repair_hint",
    "storage_files",
]

Storage = Literal["mcap", "sqlite3"]  # rosbag2 storage ids, as metadata.yaml names them
STORAGES: tuple[Storage, ...] = get_args(Storage)
STORAGE_SUFFIXES: dict[str, Storage] = {".mcap": "mcap", ".db3": "sqlite3"}
IDL_SEPARATOR = "=" * 80 + "\n"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"     # every zstd frame starts so (RFC 8878); CDR never does

# What rosbags and its storage libraries raise on damaged input: each becomes a BagError.
READ_ERRORS = (ReaderError, apsw.Error, sqlite3.Error, struct.error, OSError, EOFError, KeyError,
               IndexError, TypeError, ValueError, MemoryError, OverflowError, TypesysError)


@dataclass(frozen=True)
class TopicInfo:
    """One topic: its message type and how many messages the bag holds for it."""

    msgtype: str
    count: int


def _stored_spans(reader: Reader) -> list[tuple[int, int]]:
    """(first, last + 1) log time of each storage file that says it holds messages, from the
    file's own index (sqlite3: MIN/MAX of the messages table; mcap: its statistics), not from
    metadata.yaml: the yaml's starting_time and duration can disagree with the files (rosbag2's
    own reindex fixtures list 60 s of the 191 s they hold), and a build's whole-bag episode
    would silently leave out every message outside them. A reader whose files say nothing
    (an mcap without statistics) keeps the yaml's range."""
    storages = getattr(reader.storage, "storages", None) or []
    spans = [(s.metadata.start_time, s.metadata.end_time) for s in storages
             if s.metadata.message_count and s.metadata.start_time < s.metadata.end_time]
    return spans or [(reader.start_time, reader.end_time)]


def repair_hint(path: Path | str) -> str:
    """The sentence that tells a user how to recover a bag a killed recorder left behind."""
    return f"if its recorder was killed or the file is damaged, run `robot-logger repair {path}`"


def storage_files(folder: Path) -> list[Path]:
    """The .mcap/.db3 storage files in a bag folder, in name order (split bags sort naturally)."""
    found = [p for p in folder.iterdir() if p.suffix in STORAGE_SUFFIXES]
    return sorted(found, key=lambda p: (len(p.name), p.name))


def unfinished_splits(folder: Path) -> list[Path]:
    """Storage files of split recordings their recorder did not close: a split bag's file in
    progress is written as a bag of its own in `REC/REC_<n>/REC_<n>.<suffix>` and moved up
    into REC/ when it closes (record/bagsink.py), so after a kill it is still down there, in
    no metadata.yaml. In name order."""
    name = re.compile(re.escape(folder.name) + r"_\d+")
    found = [sub / (sub.name + suffix) for sub in folder.iterdir()
             if sub.is_dir() and name.fullmatch(sub.name) for suffix in STORAGE_SUFFIXES]
    pending = [f for f in found if f.is_file() and not (folder / f.name).exists()]
    return sorted(pending, key=lambda p: (len(p.name), p.name))


def _unfinished_warnings(folder: Path) -> list[str]:
    return [f"{f}: a split file its recorder did not close (killed?) is not part of the bag; "
            f"run `robot-logger repair {folder}` for a copy with it"
            for f in unfinished_splits(folder)]


class BagReader:
    """An open bag: topics, time range, storage kind, warnings, and a stream of raw messages."""

    def __init__(self, path: Path, readers: list[Reader], storage: Storage,
                 warnings: list[str], decompress_messages: bool = False) -> None:
        self.path = path
        self.storage = storage
        self.warnings = warnings
        self._readers = readers
        self._decompress = decompress_messages
        self._connections = [c for r in readers for c in r.connections]
        topics: dict[str, TopicInfo] = {}
        for conn in self._connections:
            prev = topics.get(conn.topic)
            msgtype = conn.msgtype if prev is None or prev.msgtype == conn.msgtype else "(mixed)"
            topics[conn.topic] = TopicInfo(msgtype, conn.msgcount + (prev.count if prev else 0))
        self.topics = topics
        counted = [r for r in readers if r.message_count]
        spans = [span for r in counted for span in _stored_spans(r)]
        self.start_ns = min((start for start, _ in spans), default=0)
        self.end_ns = max((end - 1 for _, end in spans), default=0)
        listed = (min((r.start_time for r in counted), default=0),
                  max((r.end_time - 1 for r in counted), default=0))
        if listed != (self.start_ns, self.end_ns):
            self.warnings.append(
                f"metadata.yaml gives the messages' log times as {listed[0]}..{listed[1]} ns, "
                f"the storage files hold {self.start_ns}..{self.end_ns} ns; the files' times "
                "are used")
        # msgtype -> why its messages are counted, not decoded (also in warnings)
        self.typestore, self.undecodable = _typestore(self._connections)
        self.warnings.extend(self.undecodable.values())

    @property
    def message_count(self) -> int:
        """Messages the storage files hold (from their indexes, without reading)."""
        return sum(info.count for info in self.topics.values())

    def can_decode(self, msgtype: str) -> bool:
        """True when `deserialize` knows this type (from the bag's definitions or ROS 2 Humble)."""
        return msgtype in self.typestore.fielddefs

    def has_header(self, msgtype: str) -> bool:
        """True when the type's first field is a std_msgs/Header, so `header_stamp_ns` applies."""
        return messages.has_header(msgtype, self.typestore)

    def messages(self, topics: Iterable[str] | None = None, *, start_ns: int | None = None,
                 stop_ns: int | None = None
                 ) -> Iterator[tuple[str, str, int, bytes | memoryview]]:
        """Stream (topic, msgtype, log_ns, raw CDR) in log-time order; BagError on damaged data.

        `start_ns` (inclusive) and `stop_ns` (exclusive) limit the log-time window; the storage
        indexes skip what lies outside it, so a window of a long bag costs only its own messages.
        """
        conns = self._select(topics)
        if not conns:
            return
        streams = [self._stream(reader, [c for c in conns if c.owner is reader.storage],
                                start_ns, stop_ns)
                   for reader in self._readers]
        merged = streams[0] if len(streams) == 1 else heapq.merge(*streams, key=lambda m: m[2])
        try:
            yield from merged
        except READ_ERRORS as err:
            raise BagError(f"{self.path}: cannot read a message ({reason(err)}); "
                           f"{repair_hint(self.path)}") from err

    def deserialize(self, raw: bytes | memoryview, msgtype: str) -> Any:
        """Message object from raw CDR, using the bag's own definitions where it has them.

        Some bags carry a wrong definition of a standard type; ROS 2 Humble's is tried next.
        """
        stores = [s for s in (self.typestore, messages.typestore()) if msgtype in s.fielddefs]
        if not stores:
            raise BagError(f"{self.path}: no definition for message type {msgtype!r} "
                           "(not in the bag and not a ROS 2 Humble type)")
        for store in stores:
            try:
                return store.deserialize_cdr(raw, msgtype)
            except (SerdeError, *READ_ERRORS) as err:
                error = err
        why = str(error)
        if bytes(raw[:4]) == ZSTD_MAGIC and self.path.suffix in STORAGE_SUFFIXES:
            why = (f"{why.rstrip('.')}; its bytes are a zstd frame (rosbag2 message compression, "
                   f"declared only in metadata.yaml): open the bag folder {self.path.parent} "
                   "instead")
        raise BagError(f"{self.path}: a {msgtype} message does not decode: {why}") from error

    def close(self) -> None:
        """Close every storage file."""
        for reader in self._readers:
            if reader.is_open:
                reader.close()

    def __enter__(self) -> BagReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _select(self, topics: Iterable[str] | None) -> list[Connection]:
        if topics is None:
            return self._connections
        wanted = set(topics)
        if unknown := wanted - self.topics.keys():
            raise BagError(f"{self.path}: no topic {', '.join(sorted(unknown))} in this bag; "
                           f"it has: {', '.join(sorted(self.topics)) or '(no topics)'}")
        return [c for c in self._connections if c.topic in wanted]

    def _stream(self, reader: Reader, conns: list[Connection], start_ns: int | None,
                stop_ns: int | None) -> Iterator[tuple[str, str, int, bytes | memoryview]]:
        if not conns:
            return
        if self._decompress:
            if sys.version_info >= (3, 14):  # the same zstd module rosbags writes with
                from compression import zstd
            else:
                from backports import zstd

            for conn, log_ns, raw in reader.messages(conns, start_ns, stop_ns):
                yield conn.topic, conn.msgtype, log_ns, zstd.decompress(raw)
        else:
            for conn, log_ns, data in raw_messages(reader, conns, start_ns, stop_ns):
                yield conn.topic, conn.msgtype, log_ns, data


def open_bag(path: str | Path) -> BagReader:
    """Open a bag folder or a bare .mcap/.db3 file; BagError naming the file if we cannot."""
    path = Path(path)
    if not path.exists():
        raise BagError(f"{path}: no such bag (the path does not exist)")
    if path.is_dir():
        if not (path / "metadata.yaml").is_file():
            found = storage_files(path) or unfinished_splits(path)
            if found:
                raise BagError(f"{path}: no metadata.yaml beside {found[0].name}; "
                               f"{repair_hint(path)}")
            raise BagError(f"{path}: not a rosbag2 bag (no metadata.yaml and no .mcap/.db3 file)")
        files = _listed_files(path)
    elif path.suffix in STORAGE_SUFFIXES:
        files = [path]
    elif path.suffix == ".zstd" and Path(path.stem).suffix in STORAGE_SUFFIXES:
        raise BagError(f"{path}: a zstd-compressed storage file of a bag (rosbag2 file "
                       f"compression): open the bag folder {path.parent} instead")
    else:
        raise BagError(f"{path}: not a rosbag2 bag (expected a bag folder or a .mcap/.db3 file)")
    _check_sidecars(path, files)
    reader = _open_reader(path)
    storage = STORAGE_SUFFIXES.get(path.suffix) or _storage_id(reader)
    if not path.is_dir():
        return _make(path, [reader], storage, [], decompress=False)
    bag = _fallback_if_metadata_disagrees(path, reader) or _make(path, [reader], storage, [],
                                                                  decompress=False)
    bag.warnings.extend(_unfinished_warnings(path))
    return bag


def _make(path: Path, readers: list[Reader], storage: Storage, warnings: list[str],
          decompress: bool) -> BagReader:
    try:
        return BagReader(path, readers, storage, warnings, decompress)
    except BaseException as err:
        for reader in readers:
            reader.close()
        if isinstance(err, READ_ERRORS):    # e.g. a metadata.yaml count that is not a number
            raise BagError(f"{path}: the bag's metadata does not add up ({reason(err)}); "
                           f"{repair_hint(path)}") from err
        raise


def _open_reader(path: Path, where: Path | None = None) -> Reader:
    """rosbags Reader, opened; its errors become BagError naming `where` (default: path)."""
    where = where or path
    try:
        reader = Reader(path)
        reader.open()
    except READ_ERRORS as err:
        why = reason(err)
        if "Serialization format" in why:
            raise BagError(f"{where}: {why} (only CDR bags can be read)") from err
        raise BagError(f"{where}: cannot open the bag ({why}); {repair_hint(where)}") from err
    return reader


def _listed_files(folder: Path) -> list[Path]:
    """Storage files that metadata.yaml lists (read leniently; rosbags validates it properly)."""
    import yaml

    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # libyaml: 25x faster
        info = yaml.load((folder / "metadata.yaml").read_text(), Loader=loader)
        listed = info["rosbag2_bagfile_information"]["relative_file_paths"]
        return [folder / Path(str(p)).name for p in listed]
    except (OSError, yaml.YAMLError, TypeError, KeyError) as err:
        raise BagError(f"{folder / 'metadata.yaml'}: not a rosbag2 metadata file "
                       f"({reason(err)}); {repair_hint(folder)}") from err


def _check_sidecars(path: Path, files: list[Path]) -> None:
    """A non-empty sqlite -wal or -journal holds data rosbags would skip: ask for a repair."""
    for file in files:
        for suffix in ("-wal", "-journal"):
            side = file.with_name(file.name + suffix)
            if file.suffix == ".db3" and side.is_file() and side.stat().st_size > 0:
                raise BagError(f"{side}: the database was not closed cleanly (unmerged "
                               f"{suffix[1:]} file); {repair_hint(path)}")


def _storage_id(reader: Reader) -> Storage:
    storages = getattr(reader.storage, "storages", [])
    return next((STORAGE_SUFFIXES[s.path.suffix] for s in storages
                 if s.path.suffix in STORAGE_SUFFIXES), "sqlite3")


def _fallback_if_metadata_disagrees(folder: Path, reader: Reader) -> BagReader | None:
    """Read the storage files directly when metadata.yaml's topics match fewer messages.

    rosbags pairs a metadata topic with a storage topic only when name, type, QoS and hash all
    agree; one disagreement and it reads nothing, silently.
    """
    dirreader = reader.storage
    if not isinstance(dirreader, DirectoryReader):  # a folder's reader always is one
        return None
    in_yaml = reader.message_count
    stored = sum(c.msgcount for s in dirreader.storages for c in s.connections)
    matched = _matched_count(dirreader)
    if matched == in_yaml == stored or reader.compression_mode == "file":
        return None
    # the folder's storage files, opened by rosbags as McapReader/Sqlite3Reader on Paths
    paths = [s.path for s in dirreader.storages
             if isinstance(s, (McapReader, Sqlite3Reader)) and isinstance(s.path, Path)]
    compressed = reader.compression_mode == "message"
    reader.close()
    readers: list[Reader] = []
    try:
        for file in paths:
            readers.append(_open_reader(file, folder))
    except BagError:
        for opened in readers:
            opened.close()
        raise
    note = (f"metadata.yaml lists {in_yaml} messages but {matched} of the {stored} in the storage "
            "files match its topics; read the storage files directly instead")
    return _make(folder, readers, STORAGE_SUFFIXES[paths[0].suffix], [note], compressed)


def _matched_count(dirreader: DirectoryReader) -> int:
    """Messages that rosbags' folder reader would yield, counted from the storage indexes."""
    total = 0
    for storage in dirreader.storages:
        for conn in storage.connections:
            if any(y.topic == conn.topic and y.msgtype == conn.msgtype and y.ext == conn.ext
                   and (not conn.digest or not y.digest or y.digest == conn.digest)
                   for y in dirreader.connections):
                total += conn.msgcount
    return total


def _typestore(connections: list[Connection]) -> tuple[Typestore, dict[str, str]]:
    """Types from the bag's definitions plus ROS 2 Humble; a warning per type we cannot decode.

    Bags whose definitions all match Humble (ours, most recordings) share the cached Humble
    store; only bags with custom or different types pay for building a store of their own.
    """
    base = messages.typestore()
    parsed: dict[str, Any] = {}
    warnings: dict[str, str] = {}
    failed: set[str] = set()
    for conn in connections:
        if conn.msgdef.format == MessageDefinitionFormat.NONE or conn.msgtype in failed:
            continue
        if conn.msgtype in parsed:
            continue
        try:
            for name, fielddef in _parse_definition(conn.msgtype, conn.msgdef.format,
                                                    conn.msgdef.data).items():
                parsed.setdefault(name, fielddef)
        except (TypesysError, *READ_ERRORS) as err:
            failed.add(conn.msgtype)
            warnings[conn.msgtype] = (f"{conn.msgtype}: the bag's definition does not parse "
                                      f"({reason(err)}); its messages are counted, not decoded")
    new = {name: fd for name, fd in parsed.items() if not _same_fields(base, name, fd)}
    known = {**base.fielddefs, **parsed}
    with_messages = {c.msgtype for c in connections if c.msgcount}
    for name in sorted(new):
        missing = _undefined_reference(known, name, set())
        if missing is None:
            continue
        del new[name]          # registering it would make every decode of it fail later
        if name in with_messages:
            failed.add(name)
            warnings[name] = (f"{name}: the bag's definition refers to {missing}, which is not "
                              "defined; its messages are counted, not decoded")
    store = base
    if new:
        store = get_typestore(Stores.EMPTY)
        store.register(new)
        store.register({k: v for k, v in base.fielddefs.items() if k not in new})
    for msgtype in sorted(with_messages - store.fielddefs.keys() - failed):
        warnings[msgtype] = (f"{msgtype}: unknown message type; its messages are counted, "
                             "not decoded")
    return store, warnings


def _undefined_reference(fielddefs: dict[str, Any], name: str, seen: set[str]) -> str | None:
    """The first type that `name` needs (itself, or through its fields) and nobody defines."""
    if name in seen:
        return None
    seen.add(name)
    if name not in fielddefs:
        return name
    for _field, desc in fielddefs[name][1]:
        while desc[0].name in ("ARRAY", "SEQUENCE"):
            desc = desc[1][0]
        if desc[0].name == "NAME":
            missing = _undefined_reference(fielddefs, desc[1], seen)
            if missing is not None:
                return missing
    return None


def _same_fields(store: Typestore, name: str, fielddef: Any) -> bool:
    have = store.fielddefs.get(name)
    return have is not None and [(f[0].lower(), f[1]) for f in have[1]] == [
        (f[0].lower(), f[1]) for f in fielddef[1]]


def _parse_definition(msgtype: str, fmt: MessageDefinitionFormat, text: str) -> dict[str, Any]:
    if fmt == MessageDefinitionFormat.MSG:
        return get_types_from_msg(text, msgtype)
    if text.startswith(f"{IDL_SEPARATOR}IDL: "):
        types: dict[str, Any] = {}
        for block in text.split(IDL_SEPARATOR)[1:]:
            types.update(get_types_from_idl(block.split("\n", 1)[1]))
        return types
    return get_types_from_idl(text)

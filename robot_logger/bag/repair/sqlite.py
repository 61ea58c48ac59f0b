"""Recover the rows of a damaged or truncated rosbag2 .db3 into a new database, `.recover`-style.

SQLite's own reader stops at the first bad page, and rolls back (loses) whatever a killed writer
had not committed. Here the file is read page by page instead, as SQLite's `.recover` does:
the schema and `topics` come from their b-trees, and every table-leaf page of the database and
of its `-wal` file (committed or not) is searched for rows shaped like rosbag2 `messages`
(id, topic_id, timestamp, data), large ones following their overflow chains. A row is kept
when every page it lives on is present; rows seen on several versions of a page are kept once.
The original files are only read. Memory holds one page (and one row) at a time.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from rosbags.rosbag2.storage_sqlite3 import Sqlite3Writer

from robot_logger.bag.repair.recovery import FileRecovery, RecoveredTopic

__all__ = ["recover_sqlite"]

MAGIC = b"SQLite format 3\x00"
WAL_MAGICS = (0x377F0682, 0x377F0683)
WAL_HEADER, WAL_FRAME_HEADER = 32, 24
LEAF_TABLE, INTERIOR_TABLE = 0x0D, 0x05
INT_SIZES = {1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 8}
BATCH = 512


class _Pages:
    """Pages of a database file, overlaid with the newest copy of each page in its -wal file."""

    def __init__(self, db: Path) -> None:
        self.db = db.open("rb")
        header = self.db.read(100)
        if len(header) < 100 or header[:16] != MAGIC:
            self.db.close()
            raise ValueError("not an SQLite database (bad header)")
        (size_code,) = struct.unpack_from(">H", header, 16)
        self.page_size = 65536 if size_code == 1 else size_code
        self.usable = self.page_size - header[20]
        file_size = db.stat().st_size
        self.count = file_size // self.page_size
        self.partial_bytes = file_size % self.page_size
        self.wal_frames: list[tuple[int, int]] = []   # (page number, offset in the wal file)
        wal = db.with_name(db.name + "-wal")
        self.wal = wal.open("rb") if wal.is_file() and wal.stat().st_size > WAL_HEADER else None
        if self.wal is not None:
            self._index_wal(self.wal, wal.stat().st_size)
        self.newest = dict(self.wal_frames)

    def _index_wal(self, wal: BinaryIO, size: int) -> None:
        magic, _, page_size = struct.unpack(">III", wal.read(12))
        if magic not in WAL_MAGICS or page_size != self.page_size:
            return
        offset = WAL_HEADER
        while offset + WAL_FRAME_HEADER + page_size <= size:
            wal.seek(offset)
            (number,) = struct.unpack(">I", wal.read(4))
            self.wal_frames.append((number, offset + WAL_FRAME_HEADER))
            offset += WAL_FRAME_HEADER + page_size

    def page(self, number: int) -> bytes | None:
        """Newest complete copy of a page, or None when it is not in the files."""
        if self.wal is not None and number in self.newest:
            self.wal.seek(self.newest[number])
            return self.wal.read(self.page_size)
        if not 1 <= number <= self.count:
            return None
        self.db.seek((number - 1) * self.page_size)
        return self.db.read(self.page_size)

    def every_version(self) -> Iterator[tuple[int, bytes]]:
        """Every complete page in the database file, then every frame of the -wal file."""
        for number in range(1, self.count + 1):
            self.db.seek((number - 1) * self.page_size)
            yield number, self.db.read(self.page_size)
        if self.wal is None:
            return
        for number, offset in self.wal_frames:
            self.wal.seek(offset)
            yield number, self.wal.read(self.page_size)

    def close(self) -> None:
        self.db.close()
        if self.wal is not None:
            self.wal.close()


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for i in range(8):
        byte = buf[pos + i]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, pos + i + 1
    return (value << 8) | buf[pos + 8], pos + 9


def _record(payload: bytes) -> list[object]:
    """Column values of an SQLite record (ValueError when it is not a well-formed one)."""
    header_size, pos = _varint(payload, 0)
    types = []
    while pos < header_size:
        serial, pos = _varint(payload, pos)
        types.append(serial)
    values: list[object] = []
    at = header_size
    for serial in types:
        if serial == 0 or serial in (8, 9):
            values.append(None if serial == 0 else serial - 8)
            continue
        size = INT_SIZES.get(serial, 8 if serial == 7 else (serial - 12) // 2)
        if serial in (10, 11) or at + size > len(payload):
            raise ValueError("bad record")
        chunk = payload[at:at + size]
        if serial in INT_SIZES:
            values.append(int.from_bytes(chunk, "big", signed=True))
        elif serial == 7:
            values.append(struct.unpack(">d", chunk)[0])
        else:
            values.append(chunk if serial % 2 == 0 else chunk.decode("utf-8", "replace"))
        at += size
    return values


class _Scanner:
    """Rows of table b-tree pages; counts what it cannot read."""

    def __init__(self, pages: _Pages) -> None:
        self.pages = pages
        self.damaged = 0

    def leaf_rows(self, number: int, page: bytes) -> Iterator[tuple[int, list[object]]]:
        head = 100 if number == 1 else 0
        if page[head] != LEAF_TABLE:
            return
        (cells,) = struct.unpack_from(">H", page, head + 3)
        for i in range(cells):
            try:
                (offset,) = struct.unpack_from(">H", page, head + 8 + 2 * i)
                size, pos = _varint(page, offset)
                rowid, pos = _varint(page, pos)
                payload = self._payload(page, pos, size)
                values = None if payload is None else _record(payload)
            except (IndexError, ValueError, struct.error):
                values = None
            if values is None:
                self.damaged += 1
            else:
                yield rowid, values

    def _payload(self, page: bytes, pos: int, size: int) -> bytes | None:
        usable = self.pages.usable
        most_local = usable - 35
        if size <= most_local:
            return page[pos:pos + size] if pos + size <= len(page) else None
        least = (usable - 12) * 32 // 255 - 23
        local = least + (size - least) % (usable - 4)
        local = local if local <= most_local else least
        parts = [page[pos:pos + local]]
        (following,) = struct.unpack_from(">I", page, pos + local)
        remaining = size - local
        for _ in range(remaining // (usable - 4) + 1):
            overflow = self.pages.page(following)
            if overflow is None or remaining <= 0:
                break
            part = overflow[4:4 + min(remaining, usable - 4)]
            parts.append(part)
            remaining -= len(part)
            (following,) = struct.unpack_from(">I", overflow, 0)
        return b"".join(parts) if remaining == 0 else None

    def tree_rows(self, root: int) -> Iterator[tuple[int, list[object]]]:
        """Rows of the table b-tree at root, skipping subtrees whose pages are missing."""
        stack, seen = [root], set()
        while stack:
            number = stack.pop()
            page = None if number in seen else self.pages.page(number)
            seen.add(number)
            if page is None:
                self.damaged += 1
                continue
            head = 100 if number == 1 else 0
            if page[head] == INTERIOR_TABLE:
                (cells,) = struct.unpack_from(">H", page, head + 3)
                stack.append(struct.unpack_from(">I", page, head + 8)[0])
                stack += [struct.unpack_from(">I", page, struct.unpack_from(
                    ">H", page, head + 12 + 2 * i)[0])[0] for i in range(cells)]
            else:
                yield from self.leaf_rows(number, page)


def _is_message(values: list[object]) -> bool:
    return (len(values) == 4 and values[0] is None and isinstance(values[1], int)
            and isinstance(values[2], int) and isinstance(values[3], bytes))


def recover_sqlite(src: Path, dst: Path) -> FileRecovery:
    """Copy every readable topic and message row of src into a new rosbag2 database dst."""
    out = FileRecovery()
    pages = _Pages(src)
    try:
        scan = _Scanner(pages)
        roots = {v[1]: v[3] for _, v in scan.tree_rows(1)
                 if len(v) == 5 and v[0] == "table" and isinstance(v[1], str)
                 and isinstance(v[3], int)}
        if "topics" not in roots or "messages" not in roots:
            raise ValueError("the schema names no topics/messages tables")
        conn = sqlite3.connect(dst)
        try:
            conn.executescript(Sqlite3Writer.SQLITE_SCHEMA)
            _copy_topics(scan, roots, conn, out)
            _copy_messages(scan, conn, out)
            conn.commit()
            for topic_id, count, first, last in conn.execute(
                    "SELECT topic_id, count(*), min(timestamp), max(timestamp) FROM messages "
                    "GROUP BY topic_id"):
                out.counts[topic_id] = count
                out.add_time(first)
                out.add_time(last)
        finally:
            conn.close()
        out.damaged = scan.damaged
        out.lost_bytes = pages.partial_bytes
    finally:
        pages.close()
    if out.damaged:
        out.notes.append(f"{src.name}: {out.damaged} unreadable rows or pages skipped")
    return out


def _copy_topics(scan: _Scanner, roots: dict[str, int], conn: sqlite3.Connection,
                 out: FileRecovery) -> None:
    for rowid, v in scan.tree_rows(roots["topics"]):
        names = [x for x in v[1:4] if isinstance(x, str)]
        if len(names) != 3:   # fewer than 4 columns, or a non-text name/type/format
            scan.damaged += 1
            continue
        qos, digest = (list(v[4:6]) + ["", ""])[:2]
        out.topics[rowid] = RecoveredTopic(names[0], names[1], names[2], str(qos or ""),
                                           str(digest or ""))
        out.counts[rowid] = 0
        conn.execute("INSERT INTO topics VALUES(?, ?, ?, ?, ?, ?)", (rowid, *out.topics[rowid]))
    if "message_definitions" in roots:
        for _, v in scan.tree_rows(roots["message_definitions"]):
            if len(v) == 5 and all(isinstance(x, str) for x in v[1:]):
                conn.execute("INSERT INTO message_definitions (topic_type, encoding, "
                             "encoded_message_definition, type_description_hash) "
                             "VALUES(?, ?, ?, ?)", v[1:])


def _copy_messages(scan: _Scanner, conn: sqlite3.Connection, out: FileRecovery) -> None:
    batch: list[tuple[int, object, object, object]] = []
    insert = "INSERT OR IGNORE INTO messages (id, topic_id, timestamp, data) VALUES(?, ?, ?, ?)"
    for number, page in scan.pages.every_version():
        for rowid, values in scan.leaf_rows(number, page):
            if not _is_message(values):
                continue
            if values[1] not in out.topics:
                scan.damaged += 1
                continue
            batch.append((rowid, values[1], values[2], values[3]))
            if len(batch) >= BATCH:
                conn.executemany(insert, batch)
                batch.clear()
    conn.executemany(insert, batch)

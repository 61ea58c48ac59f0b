"""The recorder's disk side: a writer thread behind a bounded queue, flush, splits, min-free.

Loss bound on a killed recorder (LOSS_BOUND_S, 1 s): every `flush_interval_s` (0.5 s) the writer
closes the pending MCAP chunk and flushes it to the OS (sqlite3: commits the transaction). A
message is on disk at most one flush interval plus the time to write the batch it came in after it
was received, so after a SIGKILL `robot-logger repair` recovers everything received more than 1 s
before the kill — as long as the writer keeps up (the status reports the queue depth; it is near
zero unless the disk is slower than the stream). Flushing hands data to the kernel: it survives a
killed process, not a power cut.

Splits (`split_size_bytes` of message data, `split_duration_ns` of receive time) follow rosbag2:
one bag folder `OUT` with `OUT_0.mcap`, `OUT_1.mcap`, ... listed in one metadata.yaml (version 8,
what Humble and Jazzy both read), so `ros2 bag info OUT` and our reader see one bag. The file in
progress is written as a bag of its own in `OUT/OUT_<n>/` and moved up when it closes, at which
point OUT/metadata.yaml is rewritten to list it: a killed recording leaves OUT readable with every
finished split; `robot-logger repair OUT` adds the one in progress (bag.reader.unfinished_splits).

Each topic's connection records the QoS its publishers offered (`set_offered_qos`), as rosbag2
does, so `ros2 bag play` offers the same (transient-local events stay transient-local).
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from rosbags.interfaces import Connection, Qos
from rosbags.rosbag2 import WriterError
from rosbags.rosbag2.enums import CompressionFormat, CompressionMode, StoragePlugin
from rosbags.rosbag2.storage_sqlite3 import Sqlite3Writer

from robot_logger.bag.mcap_writer import McapStorage, SendTimeWriter
from robot_logger.bag.metadata import (
    METADATA_VERSION,
    merge_splits,
    read_metadata,
    write_metadata,
)
from robot_logger.bag.reader import STORAGES, Storage
from robot_logger.core.messages import typestore
from robot_logger.errors import BagError, ConfigError, reason

__all__ = ["SinkOptions", "SinkStats", "BagSink", "LOSS_BOUND_S"]

log = logging.getLogger(__name__)
LOSS_BOUND_S = 1.0  # documented: a killed recorder loses at most what it received in the last 1 s
# What a failing disk raises through the storage plugins (sqlite3: "database or disk is full").
WRITE_ERRORS = (OSError, WriterError, sqlite3.Error)
MIB = 1 << 20


@dataclass(frozen=True)
class SinkOptions:
    """How and where to write; validated once."""

    storage: Storage = "mcap"
    compression: str | None = None  # None | "zstd" (mcap: chunks, sqlite3: per message)
    split_size_bytes: int = 0  # 0: no size split
    split_duration_ns: int = 0  # 0: no time split
    flush_interval_s: float = LOSS_BOUND_S / 2  # the other half covers writing the batch in hand
    queue_limit_bytes: int = 512 * MIB
    min_free_bytes: int = 1 << 30
    custom_data: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.storage not in STORAGES:
            raise ConfigError(
                f"storage must be one of {', '.join(STORAGES)}, not {self.storage!r}"
            )
        if self.compression not in (None, "zstd"):
            raise ConfigError(f"compression must be zstd or none, not {self.compression!r}")
        for name in (
            "split_size_bytes",
            "split_duration_ns",
            "queue_limit_bytes",
            "min_free_bytes",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative")
        if not 0 < self.flush_interval_s <= LOSS_BOUND_S / 2:
            raise ConfigError(
                f"flush_interval_s must be in (0, {LOSS_BOUND_S / 2}] "
                f"(half the documented loss bound of {LOSS_BOUND_S} s)"
            )


@dataclass
class SinkStats:
    """What the writer did so far (read by the monitor; plain counters, updated by one thread)."""

    written: dict[str, int] = field(default_factory=dict)  # messages per topic
    dropped: dict[str, int] = field(default_factory=dict)  # queue overflow per topic
    bytes_written: int = 0
    queue_messages: int = 0
    queue_bytes: int = 0
    bags: list[Path] = field(default_factory=list)
    disk_free_bytes: int = 0


def _check_creatable(path: Path) -> None:
    """Make and remove the bag folder once, before recording: /proc, a read-only mount or a
    dangling symlink pass the parent checks (for root, every permission check too), and the
    writer thread's own attempt failed only after the recording had started."""
    try:
        path.mkdir()
        path.rmdir()
    except OSError as err:
        raise BagError(f"cannot create bag {path}: {reason(err)}") from err


class BagSink:
    """Accepts batches from the transport thread without blocking; one thread writes them."""

    def __init__(self, path: str | Path, options: SinkOptions) -> None:
        self.path = Path(path)
        if self.path.exists():
            raise BagError(f"{self.path} exists already; choose a new output name")
        if not self.path.parent.is_dir():
            raise BagError(f"{self.path.parent} is not a directory")
        _check_creatable(self.path)
        self.options = options
        self.stats = SinkStats(disk_free_bytes=shutil.disk_usage(self.path.parent).free)
        self.stop_reason: str | None = None  # set when the sink stopped by itself (disk, error)
        self._types: dict[str, str] = {}
        self._queue: deque[tuple[str, int, list[tuple[bytes, int]]]] = deque()
        self._lock = threading.Condition()
        self._closing = False
        self._qos: dict[str, list[Qos]] = {}  # topic -> offered QoS, set before its first write
        self._parts: list[dict[str, object]] = []  # metadata of the finished split files
        self._unchecked_bytes = 0  # written since the last disk check
        self._check_after_bytes = max(self.stats.disk_free_bytes - options.min_free_bytes, 0) // 2
        self._bag: _OpenBag | None = None  # the writer thread's open bag
        self._thread = threading.Thread(target=self._run, name="bag-writer", daemon=True)
        self._thread.start()

    # ---- transport thread ----------------------------------------------------------------
    def add_topic(self, topic: str, msgtype: str) -> None:
        """Declare a topic before putting its messages."""
        with self._lock:
            self._types[topic] = msgtype
            self.stats.written.setdefault(topic, 0)
            self.stats.dropped.setdefault(topic, 0)

    def set_offered_qos(self, topic: str, offered: list[Qos]) -> None:
        """The QoS profiles the topic's publishers offer, recorded with its connection (only
        effective before the topic's first message is written in a file)."""
        with self._lock:
            self._qos[topic] = list(offered)

    def put(self, topic: str, recv_ns: int, samples: list[tuple[bytes, int]]) -> int:
        """Queue samples (CDR, send ns) received at `recv_ns`; returns how many were dropped."""
        nbytes = sum(len(data) for data, _ in samples)
        with self._lock:
            if self._closing or self.stats.queue_bytes + nbytes > self.options.queue_limit_bytes:
                self.stats.dropped[topic] += len(samples)
                return len(samples)
            self._queue.append((topic, recv_ns, samples))
            self.stats.queue_messages += len(samples)
            self.stats.queue_bytes += nbytes
            self._lock.notify()
        return 0

    @property
    def stopped(self) -> bool:
        """True once the writer stopped by itself (disk nearly full or a write error)."""
        return self.stop_reason is not None

    def close(self) -> SinkStats:
        """Write what is queued, close the bag, stop the thread."""
        with self._lock:
            self._closing = True
            self._lock.notify()
        self._thread.join()
        return self.stats

    # ---- writer thread -------------------------------------------------------------------
    def _run(self) -> None:
        """Write batches until closed or stopped. Any failure to create or write a bag (the
        first one, a split) stops the sink with the reason, and every message not written,
        queued or in hand, is counted as dropped: never a writer that died in silence."""
        last_flush = time.monotonic()
        try:
            self._bag = _OpenBag(self._next_path(), self.options, self._qos)
            while True:
                with self._lock:
                    if not self._queue and not self._closing:  # sleep until the next flush is due
                        next_flush = last_flush + self.options.flush_interval_s
                        self._lock.wait(timeout=max(0.0, next_flush - time.monotonic()))
                    items = list(self._queue)
                    self._queue.clear()
                    done = self._closing
                self._write_all(items)
                if time.monotonic() - last_flush >= self.options.flush_interval_s:
                    self._bag.flush()
                    last_flush = time.monotonic()
                    self._check_disk()
                if done or self.stop_reason:
                    break
        except (*WRITE_ERRORS, BagError) as err:
            where = self.stats.bags[-1] if self.stats.bags else self.path
            self.stop_reason = _failure(err, where)
        except Exception as err:  # a bug: stop loudly rather than let the thread die unseen
            log.exception("the bag writer thread failed")
            self.stop_reason = f"the bag writer failed ({type(err).__name__}: {err})"
        finally:
            self._close_bag()
            with self._lock:
                self._closing = True
                self._drop_queued()

    def _write_all(self, items: list[tuple[str, int, list[tuple[bytes, int]]]]) -> None:
        """Write a batch of queued items; what is not written goes back to the queue's front
        (the disk check stopped us, or a write failed), where it is counted as dropped."""
        for n, (topic, recv_ns, samples) in enumerate(items):
            if self.stop_reason:  # the disk check stopped us mid-batch
                with self._lock:
                    self._queue.extendleft(reversed(items[n:]))
                return
            try:
                self._write(topic, recv_ns, samples)
            except BaseException:
                with self._lock:
                    self._queue.extendleft(reversed(items[n:]))
                raise

    def _close_bag(self) -> None:
        bag, self._bag = self._bag, None
        if bag is None:
            return
        try:
            bag.close(self.options.custom_data)
            self._finish_split(bag)
        except (*WRITE_ERRORS, BagError) as err:
            hint = f"run `robot-logger repair {bag.path}`"
            self.stop_reason = (
                f"{self.stop_reason}; the bag could not be closed, {hint}"
                if self.stop_reason
                else f"cannot close {bag.path}: {err}; {hint}"
            )

    def _write(self, topic: str, recv_ns: int, samples: list[tuple[bytes, int]]) -> None:
        assert self._bag is not None
        if self._bag.should_split(recv_ns):
            self._close_bag()
            self._bag = _OpenBag(self._next_path(), self.options, self._qos)
        bag = self._bag
        msgtype = self._types[topic]
        nbytes = 0
        for data, send_ns in samples:
            bag.write(topic, msgtype, recv_ns, send_ns, data)
            nbytes += len(data)
        with self._lock:
            self.stats.written[topic] += len(samples)
            self.stats.bytes_written += nbytes
            self.stats.queue_messages -= len(samples)
            self.stats.queue_bytes -= nbytes
        self._unchecked_bytes += nbytes
        if self._unchecked_bytes >= self._check_after_bytes:
            self._check_disk()

    def _drop_queued(self) -> None:
        """Count everything still queued as dropped (called once the writer has stopped)."""
        for topic, _recv_ns, samples in self._queue:
            self.stats.dropped[topic] = self.stats.dropped.get(topic, 0) + len(samples)
        self._queue.clear()
        self.stats.queue_messages = self.stats.queue_bytes = 0

    def _check_disk(self) -> None:
        """Stop when free space is below the minimum. Checked every flush and, between flushes,
        whenever half of the space left above the minimum has been written (a burst faster than
        min_free per flush interval would otherwise fill the disk before the next check)."""
        free = shutil.disk_usage(self.path.parent).free
        self.stats.disk_free_bytes = free
        self._unchecked_bytes = 0
        self._check_after_bytes = max(free - self.options.min_free_bytes, 0) // 2
        if free < self.options.min_free_bytes:
            self.stop_reason = (
                f"disk nearly full: {free / MIB:.0f} MiB free under {self.path.parent}, "
                f"below the minimum of {self.options.min_free_bytes / MIB:.0f} MiB; "
                "recording stopped and the bag was closed cleanly"
            )

    @property
    def _splitting(self) -> bool:
        return bool(self.options.split_size_bytes or self.options.split_duration_ns)

    def _next_path(self) -> Path:
        """Where the next file is written: the bag itself, or (splits) `OUT/OUT_<n>/`."""
        if not self._splitting:
            self.stats.bags.append(self.path)
            return self.path
        if not self.stats.bags:
            self.path.mkdir()
            self.stats.bags.append(self.path)
        return self.path / f"{self.path.name}_{len(self._parts)}"

    def _finish_split(self, bag: _OpenBag) -> None:
        """A closed split file moves up into the bag folder, and metadata.yaml is rewritten to
        list every finished file."""
        if not self._splitting or not bag.path.is_dir():
            return
        part = read_metadata(bag.path)
        for name in part["relative_file_paths"]:
            (bag.path / name).rename(self.path / name)
        shutil.rmtree(bag.path)
        self._parts.append(part)
        write_metadata(self.path, merge_splits(self._parts))


def _failure(err: BaseException, path: Path) -> str:
    """The stop reason for a failed create or write: BagError says it all, else say where."""
    if isinstance(err, BagError):
        return str(err)
    return f"cannot write {path}: {err}"


class _OpenBag:
    """One rosbags Writer plus the bookkeeping for flushes and splits."""

    def __init__(self, path: Path, options: SinkOptions, qos: dict[str, list[Qos]]) -> None:
        self.path = path
        self._options = options
        self._qos = qos
        try:
            self._writer = SendTimeWriter(
                path,
                version=METADATA_VERSION,
                storage_plugin=StoragePlugin[options.storage.upper()],
            )
            if options.compression:
                mode = (
                    CompressionMode.STORAGE
                    if options.storage == "mcap"
                    else CompressionMode.MESSAGE
                )
                self._writer.set_compression(mode, CompressionFormat.ZSTD)
            self._writer.open()
        except (*WRITE_ERRORS, BagError) as err:
            raise BagError(f"cannot create bag {path}: {reason(err)}") from err
        self._connections: dict[str, Connection] = {}
        self._first_ns = 0
        self._nbytes = 0

    def write(self, topic: str, msgtype: str, recv_ns: int, send_ns: int, data: bytes) -> None:
        conn = self._connections.get(topic)
        if conn is None:
            conn = self._writer.add_connection(
                topic, msgtype, typestore=typestore(),
                offered_qos_profiles=self._qos.get(topic, ()),
            )
            self._connections[topic] = conn
        self._writer.write_message(conn, recv_ns, send_ns, data)
        self._first_ns = self._first_ns or recv_ns
        self._nbytes += len(data)

    def should_split(self, recv_ns: int) -> bool:
        opts = self._options
        return bool(self._first_ns) and bool(
            (opts.split_size_bytes and self._nbytes >= opts.split_size_bytes)
            or (opts.split_duration_ns and recv_ns - self._first_ns >= opts.split_duration_ns)
        )

    def flush(self) -> None:
        storage = self._writer.storage
        if isinstance(storage, McapStorage):
            storage.flush()
        elif isinstance(storage, Sqlite3Writer):
            storage.conn.commit()

    def close(self, custom_data: dict[str, str]) -> None:
        if self._writer.storage is None:
            return
        for key, value in custom_data.items():
            self._writer.set_custom_data(key, value)
        self._writer.close()

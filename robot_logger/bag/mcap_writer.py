"""rosbags' Writer with each message's send time kept and a flush that closes the pending chunk.

MCAP messages carry `log_time` (receive time) and `publish_time`; rosbag2 reads `publish_time` as
the message's send timestamp, so that is where the transport's source timestamp goes. rosbags
0.11.9 writes `publish_time = log_time`; SendTimeMcapWriter.write is its `write` with the send time
added and the payload copied once (not twice) into the chunk; its close_chunk writes the chunk
without rosbags' two intermediate copies of the chunk body (the same records, byte for byte).
sqlite3 bags have no column for a send time (rosbag2 stores none either): there it is not kept.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from io import BytesIO

from rosbags.interfaces import Connection
from rosbags.rosbag2 import Writer
from rosbags.rosbag2.enums import StoragePlugin
from rosbags.rosbag2.storage_mcap import McapWriter, PendingChunk
from rosbags.rosbag2.storage_sqlite3 import Sqlite3Writer

__all__ = ["SendTimeMcapWriter", "SendTimeWriter"]

CHUNK_LIMIT = 1 << 20  # rosbags' chunk size
_MESSAGE = struct.Struct("<BQHIQQ")  # opcode, record length, channel, sequence, log, publish
_MESSAGE_BODY = _MESSAGE.size - 9
_RECORD = struct.Struct("<BQ")  # opcode, record length
_CHUNK = struct.Struct(
    "<QQQII"
)  # start, end, uncompressed size, crc (0: none), compression length


class SendTimeMcapWriter(McapWriter):
    """MCAP storage that writes `send_ns` (set before each write) as publish_time."""

    send_ns = 0

    def write(self, connection: Connection, timestamp: int, data: bytes | memoryview) -> None:
        """Append a message record (log_time = timestamp, publish_time = send_ns or timestamp)."""
        chunk = self.chunk
        self.message_start_time = min(timestamp, self.message_start_time)
        self.message_end_time = max(timestamp, self.message_end_time)
        self.channel_stats[connection.id] += 1
        chunk.message_start_time = min(timestamp, chunk.message_start_time)
        chunk.message_end_time = max(timestamp, chunk.message_end_time)
        chunk.msgs[connection.id].append((timestamp, chunk.bio.tell()))
        chunk.bio.write(
            _MESSAGE.pack(
                0x05,
                _MESSAGE_BODY + len(data),
                connection.id,
                0,
                timestamp,
                self.send_ns or timestamp,
            )
        )
        chunk.bio.write(data)
        if chunk.bio.tell() > CHUNK_LIMIT:
            self.close_chunk()

    def close_chunk(self) -> None:
        """rosbags' close_chunk, writing the chunk body from its buffer (two fewer copies)."""
        chunk = self.chunk
        size = chunk.bio.tell()
        compression = self.compression.encode()
        start = self.bio.tell()
        with chunk.bio.getbuffer() as body:
            payload = self.compressor(bytes(body)) if self.compression else body
            head = _CHUNK.pack(
                chunk.message_start_time, chunk.message_end_time, size, 0, len(compression)
            )
            self.bio.write(_RECORD.pack(0x06, len(head) + len(compression) + 8 + len(payload)))
            self.bio.write(head + compression + struct.pack("<Q", len(payload)))
            self.bio.write(payload)
            payload_size = len(payload)
            del payload
        end = self.bio.tell()
        offsets = []
        for cid, msgs in chunk.msgs.items():
            offsets.append((cid, self.bio.tell()))
            flat = [value for pair in msgs for value in pair]
            index = struct.pack(f"<HI{len(flat)}Q", cid, len(msgs) * 16, *flat)
            self.bio.write(_RECORD.pack(0x07, len(index)) + index)
        entry = BytesIO()
        entry.write(
            struct.pack(
                "<QQQQI",
                chunk.message_start_time,
                chunk.message_end_time,
                start,
                end - start,
                len(offsets) * 10,
            )
        )
        for cid, offset in offsets:
            entry.write(struct.pack("<HQ", cid, offset))
        entry.write(struct.pack("<QI", self.bio.tell() - end, len(compression)) + compression)
        entry.write(struct.pack("<QQ", payload_size, size))
        self.chunks.append(entry)
        self.chunk = PendingChunk(2**63 - 1, 0, BytesIO(), defaultdict(list))

    def flush_chunk(self) -> None:
        """Close the pending chunk (if any) and hand everything written to the OS."""
        if self.chunk.bio.tell():
            self.close_chunk()
        self.bio.flush()


class SendTimeWriter(Writer):
    """rosbags Writer whose MCAP storage keeps send times; `write_message` passes one along."""

    STORAGE_PLUGINS = {
        StoragePlugin.SQLITE3: Sqlite3Writer,
        StoragePlugin.MCAP: SendTimeMcapWriter,
    }

    def write_message(
        self, connection: Connection, log_ns: int, send_ns: int, data: bytes | memoryview
    ) -> None:
        """Write one message with its receive time (`log_ns`) and send time (0: unknown)."""
        if isinstance(self.storage, SendTimeMcapWriter):
            self.storage.send_ns = send_ns
        self.write(connection, log_ns, data)

"""rosbags' Writer with MCAP storage written by the `mcap` package's own Writer, send times kept.

rosbags' `Writer` stays the one that makes a bag (folder, connections, QoS strings, type hashes,
metadata.yaml); it picks its storage backend from `STORAGE_PLUGINS`, and for MCAP that is
McapStorage here: the backend interface (`add_msgtype`, `add_connection`, `write`, `close`,
`abort`) implemented with `mcap.writer.Writer`, so no rosbags internals are subclassed or
re-implemented. MCAP messages carry `log_time` (receive time) and `publish_time`; rosbag2 reads
`publish_time` as the message's send timestamp, so that is where the transport's source timestamp
goes (rosbags' own MCAP backend writes `publish_time = log_time`). sqlite3 bags have no column
for a send time (rosbag2 stores none either): there it is not kept.

The file is what rosbag2's MCAP plugin writes: profile `ros2`, `ros2msg`/`ros2idl` schemas, `cdr`
channels with `offered_qos_profiles` metadata, 1 MiB chunks (zstd when compressed), message
indexes, the `rosbag2` metadata record and a full summary. Chunk CRCs are left 0 (optional in
MCAP, and rosbags writes none either): computing them cut the recorder's writer from about 1,040
to 560-620 MB of camera frames per CPU-second (tools/bench_bagsink.py, reference cell).
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from mcap.writer import CompressionType
from mcap.writer import Writer as McapFileWriter
from rosbags.interfaces import Connection, ConnectionExtRosbag2, MessageDefinitionFormat
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.rosbag2.enums import CompressionMode
from rosbags.rosbag2.storage_sqlite3 import Sqlite3Writer

__all__ = ["CHUNK_SIZE", "McapStorage", "SendTimeWriter"]

CHUNK_SIZE = 1 << 20  # bytes of records per chunk, as rosbags and rosbag2's default
LIBRARY = "robot_logger"
SCHEMA_ENCODINGS = {MessageDefinitionFormat.MSG: "ros2msg", MessageDefinitionFormat.IDL: "ros2idl"}


class McapStorage:
    """One .mcap storage file of a bag, written with `mcap.writer.Writer`.

    `send_ns`, set before each `write`, becomes the message's publish_time (0: the log time).
    """

    def __init__(self, path: Path, compression: CompressionMode) -> None:
        self.path = path / f"{path.name}.mcap"
        self.send_ns = 0
        self._file: BinaryIO = self.path.open("xb")
        self._mcap = McapFileWriter(
            self._file,
            chunk_size=CHUNK_SIZE,
            compression=(
                CompressionType.ZSTD
                if compression == CompressionMode.STORAGE
                else CompressionType.NONE
            ),
            enable_crcs=False,
        )
        self._mcap.start(profile="ros2", library=LIBRARY)
        self._schemas: dict[str, int] = {}  # msgtype -> schema id
        self._channels: dict[int, int] = {}  # rosbags connection id -> channel id

    def add_msgtype(self, connection: Connection) -> None:
        """Register the schema of a message type (once per type)."""
        msgdef = connection.msgdef
        self._schemas[connection.msgtype] = self._mcap.register_schema(
            connection.msgtype, SCHEMA_ENCODINGS[msgdef.format], msgdef.data.encode()
        )

    def add_connection(self, connection: Connection, offered_qos_profiles: str) -> None:
        """Register a topic as a channel of its type's schema."""
        ext = connection.ext
        assert isinstance(ext, ConnectionExtRosbag2)  # rosbags' Writer makes only these
        self._channels[connection.id] = self._mcap.register_channel(
            connection.topic,
            ext.serialization_format,
            self._schemas[connection.msgtype],
            {"offered_qos_profiles": offered_qos_profiles},
        )

    def write(self, connection: Connection, timestamp: int, data: bytes | memoryview) -> None:
        """Append one message (log_time = timestamp, publish_time = send_ns or timestamp)."""
        channel, publish_ns = self._channels[connection.id], self.send_ns or timestamp
        # mcap types `data` as bytes; it only writes it into a BytesIO, so a memoryview is fine
        self._mcap.add_message(channel, timestamp, data, publish_ns)  # type: ignore[arg-type]

    def flush(self) -> None:
        """Close the pending chunk (if any) and hand everything written to the OS."""
        self._mcap.flush()  # type: ignore[no-untyped-call]

    def close(self, version: int, metadata: str) -> None:
        """Write the rosbag2 metadata record, the summary and the footer; close the file."""
        del version  # the MCAP layout does not depend on the metadata.yaml version
        self._mcap.add_metadata("rosbag2", {"serialized_metadata": metadata})
        self._mcap.finish()  # type: ignore[no-untyped-call]
        self._file.close()

    def abort(self) -> None:
        """Close the file as it is (no summary: `robot-logger repair` recovers it)."""
        self._file.close()


class SendTimeWriter(Writer):
    """rosbags Writer whose MCAP storage keeps send times; `write_message` passes one along."""

    STORAGE_PLUGINS = {
        StoragePlugin.SQLITE3: Sqlite3Writer,
        StoragePlugin.MCAP: McapStorage,
    }

    def write_message(
        self, connection: Connection, log_ns: int, send_ns: int, data: bytes | memoryview
    ) -> None:
        """Write one message with its receive time (`log_ns`) and send time (0: unknown)."""
        if isinstance(self.storage, McapStorage):
            self.storage.send_ns = send_ns
        self.write(connection, log_ns, data)

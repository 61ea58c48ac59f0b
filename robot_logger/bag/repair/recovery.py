"""What one storage file gave back: the record both scans (`mcap`, `sqlite`) fill and `recover`
turns into metadata.yaml and the repair report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = ["FileRecovery", "RecoveredTopic"]


class RecoveredTopic(NamedTuple):
    """A topic as metadata.yaml's `topic_metadata` lists it."""

    name: str
    msgtype: str
    serialization_format: str  # "cdr"
    offered_qos_profiles: str  # rosbag2's YAML string ("" when the file kept none)
    type_description_hash: str = ""  # RIHS01_... (Jazzy+; MCAP files do not carry it)


@dataclass
class FileRecovery:
    """Topics and messages recovered from one storage file. Keys are the source file's own
    topic ids (sqlite3 `topics.id`, MCAP channel ids), unique within that file only."""

    topics: dict[int, RecoveredTopic] = field(default_factory=dict)
    counts: dict[int, int] = field(default_factory=dict)  # messages kept per topic id
    start_ns: int | None = None  # log time of the first and last message kept
    end_ns: int | None = None
    lost_bytes: int = 0  # cut-off bytes at the end of the file
    damaged: int = 0  # chunks, pages, rows or records skipped as unreadable
    notes: list[str] = field(default_factory=list)

    def add_time(self, log_ns: int) -> None:
        """Widen the time range by one kept message's log time."""
        self.start_ns = log_ns if self.start_ns is None else min(self.start_ns, log_ns)
        self.end_ns = log_ns if self.end_ns is None else max(self.end_ns, log_ns)

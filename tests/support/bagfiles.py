"""Peeking into bag files that a running recorder is still writing."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def committed_rows(bag: Path) -> int:
    """Messages a running sqlite3 recording has committed so far (0 before the first commit)."""
    try:
        with sqlite3.connect(f"file:{next(bag.glob('*.db3'))}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    except (StopIteration, sqlite3.Error):
        return 0

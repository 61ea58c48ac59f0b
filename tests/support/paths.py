"""Where the repository's own test inputs live, so no test depends on anything outside it."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config"
DATA = REPO / "tests" / "data"
REAL_BAGS = DATA / "real-bags"

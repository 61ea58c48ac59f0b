"""Where the repository's own test inputs live, so no test depends on anything outside it."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config"
DATA = REPO / "tests" / "data"
REAL_BAGS = DATA / "real-bags"

# What an installable copy of the package needs, as git tracks it: a clone's files, no build
# artefacts, no tests.
PACKAGE_DIRS = ("robot_logger/", "launch/", "config/", "resource/")
PACKAGE_FILES = ("setup.py", "setup.cfg", "pyproject.toml", "package.xml", "README.md")


def package_sources(dest: Path) -> Path:
    """Copy the package's tracked files (PACKAGE_DIRS, PACKAGE_FILES) into `dest`, so an install
    or `colcon build` works on what a user clones and never writes into this repository."""
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    for name in files:
        if name.startswith(PACKAGE_DIRS) or name in PACKAGE_FILES:
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).write_bytes((REPO / name).read_bytes())
    return dest

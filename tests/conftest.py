"""Shared fixtures: `make_bag` writes small simulated cell bags for any test."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from robot_logger.sim import Cell, CellSpec, parse_faults, write_bag

SMALL_CELL = {"duration_s": 2.0, "image_height": 48, "image_width": 64, "lidar_points": 512}

MakeBag = Callable[..., tuple[Path, Cell]]


@pytest.fixture
def make_bag(tmp_path: Path) -> MakeBag:
    """Factory: make_bag(name="bag", faults="", storage="mcap", **CellSpec fields) -> (path, cell).

    Defaults are small (2 s, 48x64 images, 512 LiDAR points) so a bag takes well under a second.
    A relative name is created under tmp_path; the path must not exist yet.
    """
    def make(name: str | Path = "bag", *, faults: str = "", storage: str = "mcap",
             **spec_fields: object) -> tuple[Path, Cell]:
        path = Path(name)
        if not path.is_absolute():
            path = tmp_path / path
        cell = Cell(CellSpec(**{**SMALL_CELL, **spec_fields}), parse_faults(faults))
        write_bag(path, cell, storage=storage)
        return path, cell
    return make

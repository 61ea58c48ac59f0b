"""Small datasets for loader/stats/preview tests, built the real way: simulated bag -> build.

One writer of the HDF5 layout (dataset/build.py); these helpers only pick small, varied inputs.
"""

from __future__ import annotations

from pathlib import Path

from robot_logger.dataset.build.pipeline import build_dataset
from robot_logger.sim import Cell, CellSpec, parse_faults, write_bag

# 3 short episodes, 48x64 cameras, gaps in cam1 and arm2 so validity has something to show.
SMALL_DATASET = {"duration_s": 4.0, "episodes": 3, "image_height": 48, "image_width": 64,
                 "lidar_points": 512}
SMALL_FAULTS = "/cell/cam1/image_raw:drop=0.2;/cell/arm2/joint_states:outage=2-2.4"


def built_dataset(root: Path, *, rate_hz: float = 20.0, faults: str = SMALL_FAULTS,
                  **spec: object) -> Path:
    """Simulate a cell bag under `root` and build `root/dataset.h5` from it."""
    root.mkdir(parents=True, exist_ok=True)
    cell = Cell(CellSpec(**{**SMALL_DATASET, **spec}), parse_faults(faults))
    write_bag(root / "bag", cell)
    output = root / "dataset.h5"
    build_dataset([root / "bag"], output, rate_hz=rate_hz)
    return output

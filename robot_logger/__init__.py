"""robot_logger: record a robot cell into rosbag2 bags and turn bags into HDF5 training datasets.

The names a user needs are importable from here; each is loaded on first use (PEP 562), so
`import robot_logger` stays light (no numpy, h5py, rosbags or cyclonedds until a name asks for it):

    from robot_logger import build_dataset, SequenceDataset, open_bag
    build_dataset(["bags/"], "cell.h5", config_path="dataset.yaml", workers=2)
    for sample in SequenceDataset("cell.h5", obs_keys=["arm1_pos"], seq_length=10): ...

The package's layers, top to bottom: `cli` / `nodes` (shells), `sim` / `dataset`, `record`,
`transport` / `bag`, `core`, `errors`. A module imports only from layers below its own.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "open_bag": "robot_logger.bag.reader",
    "BagReader": "robot_logger.bag.reader",
    "inspect_bag": "robot_logger.bag.info",
    "BagInfo": "robot_logger.bag.info",
    "repair_bag": "robot_logger.bag.repair.recover",
    "RepairReport": "robot_logger.bag.repair.recover",
    "build_dataset": "robot_logger.dataset.build.pipeline",
    "BuildSummary": "robot_logger.dataset.build.pipeline",
    "load_config": "robot_logger.dataset.build.config",
    "discover_config": "robot_logger.dataset.build.config",
    "BuildConfig": "robot_logger.dataset.build.config",
    "SequenceDataset": "robot_logger.dataset.read.loader",
    "validate_dataset": "robot_logger.dataset.read.validate",
    "ValidationReport": "robot_logger.dataset.read.validate",
    "dataset_summary": "robot_logger.dataset.read.summary",
    "save_preview": "robot_logger.dataset.read.preview",
    "Cell": "robot_logger.sim.cell",
    "CellSpec": "robot_logger.sim.spec",
    "write_bag": "robot_logger.sim.writer",
    "parse_faults": "robot_logger.sim.faults",
    "RobotLoggerError": "robot_logger.errors",
    "BagError": "robot_logger.errors",
    "ConfigError": "robot_logger.errors",
    "DatasetError": "robot_logger.errors",
    "TransportError": "robot_logger.errors",
}

__all__ = ["__version__", *sorted(_EXPORTS)]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from robot_logger.bag.info import BagInfo as BagInfo
    from robot_logger.bag.info import inspect_bag as inspect_bag
    from robot_logger.bag.reader import BagReader as BagReader
    from robot_logger.bag.reader import open_bag as open_bag
    from robot_logger.bag.repair.recover import RepairReport as RepairReport
    from robot_logger.bag.repair.recover import repair_bag as repair_bag
    from robot_logger.dataset.build.config import BuildConfig as BuildConfig
    from robot_logger.dataset.build.config import discover_config as discover_config
    from robot_logger.dataset.build.config import load_config as load_config
    from robot_logger.dataset.build.pipeline import BuildSummary as BuildSummary
    from robot_logger.dataset.build.pipeline import build_dataset as build_dataset
    from robot_logger.dataset.read.loader import SequenceDataset as SequenceDataset
    from robot_logger.dataset.read.preview import save_preview as save_preview
    from robot_logger.dataset.read.summary import dataset_summary as dataset_summary
    from robot_logger.dataset.read.validate import ValidationReport as ValidationReport
    from robot_logger.dataset.read.validate import validate_dataset as validate_dataset
    from robot_logger.errors import BagError as BagError
    from robot_logger.errors import ConfigError as ConfigError
    from robot_logger.errors import DatasetError as DatasetError
    from robot_logger.errors import RobotLoggerError as RobotLoggerError
    from robot_logger.errors import TransportError as TransportError
    from robot_logger.sim.cell import Cell as Cell
    from robot_logger.sim.faults import parse_faults as parse_faults
    from robot_logger.sim.spec import CellSpec as CellSpec
    from robot_logger.sim.writer import write_bag as write_bag


def __getattr__(name: str) -> Any:
    """Import the module behind a public name on first use and cache the name here."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'robot_logger' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))

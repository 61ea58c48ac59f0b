"""Shared for the read side: one format-1.1 dataset of a cell with every optional stream, built
once per session."""

from pathlib import Path

import pytest

from robot_logger.sim import Cell
from tests.support.dataset_factory import sensor_dataset


@pytest.fixture(scope="session")
def sensor_built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Cell]:
    """(dataset path, Cell): commands, F/T, gripper, depth on a device clock, calibration,
    frames, outcome/task masks, next_obs (tests.support.dataset_factory.SENSOR_CONFIG)."""
    return sensor_dataset(tmp_path_factory.mktemp("sensors"))

"""sim.params: one table for `robot-logger sim` and the sim_cell node; values -> Cell."""

from __future__ import annotations

import pytest

from robot_logger.errors import ConfigError
from robot_logger.sim.params import CELL_PARAMS, SIM_PARAMS, cell_from_params
from robot_logger.sim.spec import CellSpec


def test_defaults_are_the_cell_specs_defaults():
    spec = cell_from_params({}).spec
    default = CellSpec()
    assert (spec.duration_s, spec.arms, spec.cameras, spec.lidar, spec.episodes, spec.seed,
            spec.image_width, spec.image_height, spec.lidar_points) == (
        default.duration_s, default.arms, default.cameras, default.lidar, default.episodes,
        default.seed, default.image_width, default.image_height, default.lidar_points)


def test_values_as_rclpy_gives_them():
    cell = cell_from_params({"duration": 2.0, "arms": 1, "lidar": False, "episodes": 0,
                             "image_size": "64x48", "wait_subscribers": 5.0, "qos": ""})
    spec = cell.spec
    assert (spec.duration_s, spec.arms, spec.lidar, spec.episodes) == (2.0, 1, False, None)
    assert (spec.image_width, spec.image_height) == (64, 48)


@pytest.mark.parametrize("values, message", [
    ({"image_size": "big"}, "image_size 'big' is not WIDTHxHEIGHT"),
    ({"colour": 1}, "unknown sim parameter 'colour'"),
    ({"arms": 0}, "arms must be"),
])
def test_bad_values_are_config_errors(values, message):
    with pytest.raises(ConfigError, match=message):
        cell_from_params(values)


def test_the_table_has_unique_names_and_cell_params_first():
    names = [p.name for p in SIM_PARAMS]
    assert len(set(names)) == len(names) and SIM_PARAMS[:len(CELL_PARAMS)] == CELL_PARAMS

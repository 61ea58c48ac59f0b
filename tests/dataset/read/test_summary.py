"""`robot-logger stats` / dataset_summary: counts recomputed from the file with plain h5py."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from robot_logger.cli import main
from robot_logger.dataset.read.summary import dataset_summary
from robot_logger.sim import Cell
from tests.support.dataset_factory import built_dataset


@pytest.fixture(scope="module")
def dataset_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_dataset(tmp_path_factory.mktemp("summary"))


def _recount(path: Path) -> dict:
    """The same facts, counted independently of summary.py."""
    outcomes, phases, invalid, frames = Counter(), Counter(), Counter(), 0
    with h5py.File(path, "r") as f:
        for demo in f["data"].values():
            n = len(demo["timestamps"])
            frames += n
            outcomes[demo.attrs["outcome"]] += 1
            names = json.loads(demo["labels/phase"].attrs["names"])
            phases.update(names[i] if i >= 0 else "(none)" for i in demo["labels/phase"][()])
            for stream, valid in demo["valid"].items():
                invalid[stream] += int((~valid[()]).sum())
        stats = {key: {s: f[f"meta/stats/{key}/{s}"][()] for s in f[f"meta/stats/{key}"]}
                 for key in f["meta/stats"]}
    return {"frames": frames, "outcomes": outcomes, "phases": phases, "stats": stats,
            "invalid": {s: n / frames for s, n in invalid.items()}}


def test_summary_matches_an_independent_count(dataset_path: Path) -> None:
    summary, truth = dataset_summary(dataset_path), _recount(dataset_path)
    assert summary["episodes"] == 3 and summary["frames"] == truth["frames"]
    assert summary["outcomes"] == dict(truth["outcomes"])
    assert summary["phase_frames"] == dict(truth["phases"])
    assert sum(summary["phase_frames"].values()) == truth["frames"]
    assert summary["invalid_share"] == pytest.approx(truth["invalid"], abs=1e-6)
    assert summary["invalid_share"]["arm2_pos"] > 0  # the arm2 outage
    assert summary["splits"]["train"] + summary["splits"]["valid"] == 3
    assert summary["streams"]["cam1"] == {"kind": "image", "shape": [48, 64, 3], "dtype": "uint8"}
    assert summary["streams"]["lidar"]["kind"] == "lidar"
    assert "lidar_mask" not in summary["streams"]
    for key, stats in truth["stats"].items():
        for name, value in stats.items():
            np.testing.assert_allclose(summary["stats"][key][name], value, atol=1e-5)


def test_stats_cli_json_and_text(dataset_path: Path) -> None:
    runner = CliRunner()
    as_json = runner.invoke(main, ["stats", str(dataset_path), "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output)["frames"] == _recount(dataset_path)["frames"]
    text = runner.invoke(main, ["stats", str(dataset_path)])
    assert text.exit_code == 0, text.output
    assert "3 episodes" in text.output and "outcomes:" in text.output
    assert "arm2_pos" in text.output and "q99" in text.output


def test_stats_cli_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["stats", str(tmp_path / "nope.h5")])
    assert result.exit_code == 2
    assert result.output == f"error: cannot open dataset {tmp_path / 'nope.h5'}: no such file\n"


def test_stats_lists_calibration_frames_extrinsics_and_clocks(
        sensor_built: tuple[Path, Cell]) -> None:
    path, cell = sensor_built
    summary = dataset_summary(path)
    cams = summary["cameras"]
    assert set(cams) == {"cam1", "depth"}
    for stream, depth in (("cam1", False), ("depth", True)):
        truth = cell.calibration(1, depth=depth)
        assert (cams[stream]["width"], cams[stream]["height"]) == (64, 48)
        assert cams[stream]["frame_id"] == truth.frame_id
        assert cams[stream]["distortion_model"] == "plumb_bob"
        np.testing.assert_allclose(cams[stream]["K"], truth.k, atol=1e-9)
        np.testing.assert_allclose(cams[stream]["P"], truth.p, atol=1e-9)
    frames = [(t["parent"], t["child"]) for t in summary["frames_tf"]]
    assert frames == [(t.parent, t.child) for t in cell.static_transforms()]
    for got, want in zip(summary["frames_tf"], cell.static_transforms()):
        np.testing.assert_allclose(got["xyz"], want.translation, atol=1e-6)
        np.testing.assert_allclose(got["xyzw"], want.rotation, atol=1e-6)
    for stream, frame in (("cam1", "cam1_optical_frame"), ("depth", "cam1_depth_optical_frame"),
                          ("lidar", "lidar")):
        assert summary["extrinsics"][stream]["frame_id"] == frame
        np.testing.assert_allclose(summary["extrinsics"][stream]["matrix"],
                                   cell.frame_pose(frame), atol=1e-6)
    clock = summary["clocks"]["depth"]
    assert clock["method"] == "auto" and -352 < clock["offset_ms"] < -340
    assert set(summary["clocks"]) == set(summary["streams"])     # every stream has a record
    assert summary["clocks"]["arm1_pos"] == {"method": "none", "time_source": "header",
                                             "offset_ms": 0.0, "drift_ppm": 0.0}


def test_stats_text_shows_the_records(sensor_built: tuple[Path, Cell],
                                      dataset_path: Path) -> None:
    runner = CliRunner()
    text = runner.invoke(main, ["stats", str(sensor_built[0])]).output
    assert "camera calibration (size, fx fy cx cy, model, frame):" in text
    assert re.search(r"\n  depth +64x48 +54\.4 +54\.4 +31\.5 +23\.5 +plumb_bob +"
                     r"cam1_depth_optical_frame\n", text), text
    assert re.search(r"\n  world -> cam1_link: +0 +-4\.1 +2\.3 \|", text), text
    assert re.search(r"\n  lidar +lidar -> world: +0 +-2\.2 +2\.4\n", text), text
    assert re.search(r"\n  depth +header +auto +-3\d\d\.\d{3} ", text), text
    assert re.search(r"\n  cam1 +header +none +0\.000 +0\.000\n", text), text
    old = runner.invoke(main, ["stats", str(dataset_path)]).output
    assert "camera calibration (size, fx fy cx cy, model, frame): none" in old
    assert "clocks (time source, method, offset ms, drift ppm):\n  arm1_pos " in old

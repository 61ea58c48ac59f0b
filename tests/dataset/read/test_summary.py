"""`robot-logger stats` / dataset_summary: counts recomputed from the file with plain h5py."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from robot_logger.cli import main
from robot_logger.dataset.read.summary import dataset_summary
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

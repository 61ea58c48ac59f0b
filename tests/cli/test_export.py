"""`robot-logger export --format lerobot` from the command line: text, --json, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import pytest
from click.testing import CliRunner, Result

from robot_logger.cli import main
from tests.support.dataset_factory import built_dataset


def run(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_dataset(tmp_path_factory.mktemp("export_cli"), duration_s=2.0, episodes=2)


def test_export_json_and_text(dataset: Path, tmp_path: Path) -> None:
    result = run("export", dataset, "-o", tmp_path / "out", "--vcodec", "h264", "--crf", "20",
                 "--repo-id", "lab/cell", "--workers", "2", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    with h5py.File(dataset) as handle:
        frames = int(handle["data"].attrs["total"])
    assert summary["frames"] == frames and summary["repo_id"] == "lab/cell"
    assert summary["vcodec"] == "h264" and summary["crf"] == 20
    assert {v["feature"] for v in summary["videos"]} == {"observation.images.cam1",
                                                         "observation.images.cam2"}
    info = json.loads((tmp_path / "out" / "meta" / "info.json").read_text())
    assert info["features"]["observation.images.cam1"]["info"]["video.codec"] == "h264"
    text = run("export", dataset, "-o", tmp_path / "out", "--overwrite", "--quiet")
    assert text.exit_code == 0, text.output
    assert "videos (libsvtav1, crf 30):" in text.output
    assert "obs/lidar -> extras/lidar/episode-NNNNNN.npz#points" in text.output
    assert "/meta/shard (build bookkeeping" in text.output
    assert "LeRobotDataset(" in text.output


@pytest.mark.parametrize("args, fragment", [
    (("missing.h5", "-o", "{tmp}/o"), "cannot open dataset missing.h5: no such file"),
    (("{dataset}", "-o", "{tmp}"), "already exists (pass --overwrite to replace it)"),
    # seen failing before: av.error.ValueError / InvalidDataError tracebacks (exit 1)
    (("{dataset}", "-o", "{tmp}/o", "--preset", "bogus"),
     "the libsvtav1 encoder refused its options (crf 30, preset bogus): "),
    (("{dataset}", "-o", "{tmp}/o", "--vcodec", "hevc", "--crf", "63"),
     "the hevc encoder refused its options (crf 63): "),
])
def test_bad_input_is_one_error_line(dataset: Path, tmp_path: Path, args: tuple[str, ...],
                                     fragment: str) -> None:
    result = run("export", *(a.format(tmp=tmp_path, dataset=dataset) for a in args))
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0]
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.partial").exists()


def test_build_format_lerobot_is_build_then_export(tmp_path: Path) -> None:
    from robot_logger.sim import Cell, CellSpec, write_bag

    write_bag(tmp_path / "bag", Cell(CellSpec(duration_s=2.0, episodes=1, image_height=48,
                                              image_width=64, lidar=False)))
    result = run("build", tmp_path / "bag", "-o", tmp_path / "cell", "--format", "lerobot",
                 "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["export"]["frames"] == report["build"]["frames"] > 0
    assert (tmp_path / "cell" / "meta" / "info.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bag", "cell"]  # no HDF5 left
    again = run("build", tmp_path / "bag", "-o", tmp_path / "cell", "--format", "lerobot")
    assert again.exit_code == 2 and "already exists" in again.output

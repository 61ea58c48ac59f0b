"""LeRobot v3.0 export, read back by lerobot 0.6.1's own LeRobotDataset (Python 3.12 env).

The dataset is the simulator's, built the real way (bag -> build) at 320x240 -- the smallest size
where the default quality's PSNR floor (4:2:0 chroma) is well above 32 dB: 34.2 dB worst frame --
plus a depth stream with an analytic ramp added to the built file, since the simulator has no
depth camera. The oracle for every value is the HDF5 file read with h5py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pyarrow.parquet as pq
import pytest

from robot_logger.dataset.build.pipeline import build_dataset
from robot_logger.dataset.export import ExportSummary, Kind, VideoOptions, export_lerobot
from robot_logger.errors import DatasetError
from robot_logger.sim import Cell, CellSpec, parse_faults, write_bag
from tests.support.lerobot_env import read_back

CELL = {"duration_s": 3.0, "episodes": 2, "image_height": 240, "image_width": 320,
        "lidar_points": 256}
FAULTS = "/cell/cam1/image_raw:drop=0.2;/cell/arm2/joint_states:outage=1-1.4"
RATE_HZ = 10.0
REPO_ID = "lab/cell"
Exported = tuple[ExportSummary, Path, list[tuple[str, int, int]]]
DEPTH_HW = (60, 80)


def _depth_ramp(length: int) -> np.ndarray:
    """(T, 60, 80) uint16 mm: 0.5 m to 4.5 m, moving 10 mm a frame."""
    y, x = np.mgrid[0:DEPTH_HW[0], 0:DEPTH_HW[1]]
    t = np.arange(length)[:, None, None]
    return (500 + 40 * x[None] + 30 * y[None] + 10 * t).astype(np.uint16)


def _build(root: Path, bags: int = 1, **spec: object) -> Path:
    paths = []
    for index in range(bags):
        cell = Cell(CellSpec(**{**CELL, "seed": index, **spec}), parse_faults(FAULTS))
        paths.append(root / f"bag{index}")
        write_bag(paths[-1], cell)
    output = root / "cell.h5"
    build_dataset(paths, output, rate_hz=RATE_HZ)
    return output


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The simulator's dataset with a depth stream added to every episode."""
    path = _build(tmp_path_factory.mktemp("lerobot_src"))
    with h5py.File(path, "a") as handle:
        for demo in handle["data"].values():
            demo["obs"].create_dataset("depth", data=_depth_ramp(demo["actions"].shape[0]))
    return path


@pytest.fixture(scope="module")
def exported(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    events: list[tuple[str, int, int]] = []
    out = tmp_path_factory.mktemp("lerobot_out") / "cell_lerobot"
    summary = export_lerobot(dataset, out, repo_id=REPO_ID, workers=2,
                             progress=lambda item, done, total: events.append((item, done, total)))
    return summary, out, events


def _demos(handle: h5py.File) -> list[h5py.Group]:
    return [handle["data"][f"demo_{i}"] for i in range(len(handle["data"]))]


def _column(handle: h5py.File, member: str) -> np.ndarray:
    return np.concatenate([demo[member][()] for demo in _demos(handle)])


def _psnr(decoded: np.ndarray, reference: np.ndarray) -> float:
    mse = float(np.mean((decoded.astype(np.float64) - reference.astype(np.float64)) ** 2))
    return 10.0 * np.log10(255.0**2 / mse)


def test_summary_places_every_member_and_writes_lerobot_layout(dataset: Path,
                                                               exported: Exported) -> None:
    summary, out, events = exported
    with h5py.File(dataset) as handle:
        members: list[str] = []
        handle["data/demo_0"].visititems(
            lambda name, node: members.append(name) if isinstance(node, h5py.Dataset) else None)
        frames = sum(d["actions"].shape[0] for d in _demos(handle))
        lidar = [d["obs/lidar"][()] for d in _demos(handle)]
        masks = [d["obs/lidar_mask"][()] for d in _demos(handle)]
    placed = {p.source: p for p in summary.placements}
    assert sorted(set(members) - set(placed)) == []
    assert placed["obs/cam1"].kind is Kind.VIDEO
    assert placed["obs/depth"].kind is Kind.DEPTH_VIDEO
    assert placed["obs/lidar"].kind is placed["obs/lidar_mask"].kind is Kind.SIDECAR
    assert placed["/meta/shard"].kind is Kind.SKIPPED and placed["/meta/shard"].note
    assert summary.frames == frames and summary.episodes == 2 and summary.fps == 10
    assert summary.vcodec == "libsvtav1" and summary.crf == 30
    assert {v.stream for v in summary.videos} == {"cam1", "cam2", "depth"}
    assert all(v.frames == frames and v.bytes > 0 for v in summary.videos)
    for index, (points, mask) in enumerate(zip(lidar, masks, strict=True)):
        with np.load(out / "extras" / "lidar" / f"episode-{index:06d}.npz") as side:
            np.testing.assert_array_equal(side["points"], points)
            np.testing.assert_array_equal(side["mask"], mask)
    info = json.loads((out / "meta" / "info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["total_frames"] == frames
    assert info["features"]["observation.images.depth"]["info"]["is_depth_map"] is True
    assert (out / "videos" / "observation.images.cam1" / "chunk-000" / "file-000.mp4").is_file()
    assert not out.with_name(out.name + ".partial").exists()
    assert events[-1][1] == events[-1][2] == frames * 4  # data + three videos
    assert [e[1] for e in events] == sorted(e[1] for e in events)
    extras = json.loads((out / "meta" / "robot_logger.json").read_text())
    assert extras["phase_names"]
    assert [e["demo"] for e in extras["episodes"]] == ["demo_0", "demo_1"]


def test_lerobot_dataset_reads_the_export(dataset: Path, exported: Exported,
                                          lerobot_python: Path, tmp_path: Path) -> None:
    summary, out, _ = exported
    result, frames = read_back(lerobot_python, out, REPO_ID, tmp_path / "read")
    with h5py.File(dataset) as handle:
        demos = _demos(handle)
        lengths = [d["actions"].shape[0] for d in demos]
        assert result["num_frames"] == sum(lengths) and result["num_episodes"] == len(demos)
        starts = np.cumsum([0] + lengths)
        assert result["bounds"] == [[int(a), int(b)] for a, b in zip(starts, starts[1:])]
        assert result["tasks"] == list(dict.fromkeys(d.attrs["task"] for d in demos))
        state = np.concatenate([_column(handle, f"obs/{s}") for s in
                                ("arm1_pos", "arm1_vel", "arm2_pos", "arm2_vel")], axis=1)
        np.testing.assert_array_equal(frames["observation.state"], state)
        np.testing.assert_array_equal(frames["action"], _column(handle, "actions"))
        np.testing.assert_array_equal(frames["streams.arm2_vel"], _column(handle, "obs/arm2_vel"))
        np.testing.assert_array_equal(frames["next.reward"], _column(handle, "rewards"))
        np.testing.assert_array_equal(frames["next.done"], _column(handle, "dones") > 0)
        np.testing.assert_array_equal(frames["valid.cam1"], _column(handle, "valid/cam1"))
        np.testing.assert_array_equal(frames["age_ns.arm2_pos"],
                                      _column(handle, "age_ns/arm2_pos"))
        np.testing.assert_array_equal(frames["phase_index"], _column(handle, "labels/phase"))
        np.testing.assert_array_equal(frames["timestamp_ns"], _column(handle, "timestamps"))
        frame_index = np.concatenate([np.arange(n) for n in lengths])
        np.testing.assert_array_equal(frames["frame_index"], frame_index)
        np.testing.assert_array_equal(frames["timestamp"],
                                      (frame_index / summary.fps).astype(np.float32))
        psnr = {cam: _psnr(frames[f"pyav:observation.images.{cam}"], _column(handle, f"obs/{cam}"))
                for cam in ("cam1", "cam2")}
        assert min(psnr.values()) >= 32.0, psnr
        depth_mm = frames["observation.images.depth"][:, 0]
        step_mm = (4.5 + 3.5) * np.log(13.5 / 3.51) / 4095 * 1000  # 12-bit log step at 4.5 m
        assert np.abs(depth_mm - _column(handle, "obs/depth")).max() <= step_mm / 2 + 0.5
    assert result["depth_keys"] == ["observation.images.depth"]
    assert not any(f.startswith("observation.") and f != "observation.state"
                   and not f.startswith("observation.images.") for f in result["features"])


@pytest.mark.slow
def test_lerobot_tools_accept_the_export(dataset: Path, exported: Exported,
                                         lerobot_python: Path, tmp_path: Path) -> None:
    """torchcodec decoding, delta_timestamps chunks, stats tools and delete_episodes."""
    _, out, _ = exported
    result, frames = read_back(lerobot_python, out, REPO_ID, tmp_path / "read", full=True)
    with h5py.File(dataset) as handle:
        demos = _demos(handle)
        actions = [d["actions"][()] for d in demos]
        for cam in ("cam1", "cam2"):
            if "torchcodec" in result["backends"]:
                assert _psnr(frames[f"torchcodec:observation.images.{cam}"],
                             _column(handle, f"obs/{cam}")) >= 32.0
    chunk, pad = frames["chunk.action"], frames["chunk.action_is_pad"]
    row = 0
    for episode in actions:
        for t in range(len(episode)):
            want = episode[np.minimum(np.arange(t, t + 4), len(episode) - 1)]
            np.testing.assert_array_equal(chunk[row], want)
            np.testing.assert_array_equal(pad[row], np.arange(t, t + 4) >= len(episode))
            row += 1
    for key in ("action", "observation.state", "next.reward"):
        for stat in ("mean", "std", "min", "max"):
            ours = np.asarray(result["stats"][key][stat])
            np.testing.assert_allclose(result["aggregated"][key][stat], ours, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(result["recomputed"][key][stat], ours, rtol=1e-5, atol=1e-6)
    assert result["edited_episodes"] == 1 and result["edited_frames"] == len(actions[1])
    np.testing.assert_array_equal(result["edited_first_action"], actions[1][0])


def test_sharded_dataset_exports_like_its_episodes(tmp_path: Path) -> None:
    path = _build(tmp_path, bags=2, image_height=48, image_width=64)
    with h5py.File(path) as handle:
        assert any(isinstance(handle["data"].get(k, getlink=True), h5py.ExternalLink)
                   for k in handle["data"])
        actions = _column(handle, "actions")
        tasks = [d.attrs["task"] for d in _demos(handle)]
    summary = export_lerobot(path, tmp_path / "out", options=VideoOptions(vcodec="h264", crf=23,
                                                                          preset="veryfast"))
    table = pq.read_table(tmp_path / "out" / "data" / "chunk-000" / "file-000.parquet")
    np.testing.assert_array_equal(np.stack(table.column("action").to_pylist()), actions)
    assert summary.tasks == tuple(dict.fromkeys(tasks)) and summary.vcodec == "h264"
    episodes = pq.read_table(tmp_path / "out" / "meta" / "episodes" / "chunk-000" /
                             "file-000.parquet").to_pylist()
    assert [e["length"] for e in episodes] == np.bincount(
        table.column("episode_index").to_numpy()).tolist()


def test_refuses_existing_output_and_non_datasets(dataset: Path, tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    with pytest.raises(DatasetError, match="taken: already exists"):
        export_lerobot(dataset, tmp_path / "taken")
    (tmp_path / "notes.h5").write_text("not hdf5")
    with pytest.raises(DatasetError, match="notes.h5: not an HDF5 file"):
        export_lerobot(tmp_path / "notes.h5", tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()
    shutil.rmtree(tmp_path / "taken")


def test_fractional_rate_is_refused_naming_whole_rates(tmp_path: Path) -> None:
    """lerobot's timestamps are frame_index / fps with an integer fps: 12.5 Hz cannot be kept."""
    path = _build(tmp_path, image_height=48, image_width=64, lidar=False, duration_s=2.0,
                  episodes=1)
    with h5py.File(path, "a") as handle:
        handle["data"].attrs["rate_hz"] = 12.5
    with pytest.raises(DatasetError, match=r"rate_hz 12.5 .* --rate 12 or 13"):
        export_lerobot(path, tmp_path / "out")


def test_member_without_a_place_is_listed_and_strict_refuses(tmp_path: Path) -> None:
    path = _build(tmp_path, image_height=48, image_width=64, lidar=False, duration_s=2.0,
                  episodes=1)
    with h5py.File(path, "a") as handle:
        handle["data/demo_0"].create_dataset("labels/calibration_run", data=np.arange(3))
    with pytest.raises(DatasetError, match="1 member.* skipped .*labels/calibration_run"):
        export_lerobot(path, tmp_path / "strict", strict=True)
    assert not (tmp_path / "strict").exists()
    summary = export_lerobot(path, tmp_path / "out")
    skipped = [p for p in summary.placements if p.kind is Kind.SKIPPED]
    assert [(p.source, p.note) for p in skipped if not p.source.startswith("/")] == [
        ("labels/calibration_run", "shape (3,) is not per-frame")]


def test_a_dataset_without_actions_exports_and_lerobot_reads_it(tmp_path: Path,
                                                                lerobot_python: Path) -> None:
    """`actions: {stream: []}` (documented: A = 0), or a discovered build of a bag with no
    JointState (a real robot's /odom as the reference stream), gives actions of shape (T, 0).
    Seen failing before: pyarrow raised `list_size needs to be a strict positive integer` as a
    traceback. Now `actions` is listed as skipped (no columns) and the rest exported."""
    cell = Cell(CellSpec(**{**CELL, "duration_s": 2.0, "episodes": 1, "image_height": 48,
                            "image_width": 64, "lidar": False}))
    write_bag(tmp_path / "bag", cell)
    config = tmp_path / "config.yaml"
    config.write_text("rate_hz: 10\nstreams: {arm1: {topic: /cell/arm1/joint_states}}\n"
                      "actions: {stream: []}\n")
    build_dataset([tmp_path / "bag"], tmp_path / "cell.h5", config_path=config)
    with pytest.raises(DatasetError, match="1 member.* skipped .*actions: no columns"):
        export_lerobot(tmp_path / "cell.h5", tmp_path / "strict", strict=True)
    summary = export_lerobot(tmp_path / "cell.h5", tmp_path / "out")
    assert [(p.source, p.note) for p in summary.placements if p.kind is Kind.SKIPPED
            and not p.source.startswith("/")] == [("actions", "no columns (shape (T, 0))")]
    result, frames = read_back(lerobot_python, tmp_path / "out", "robot_logger/cell",
                               tmp_path / "read")
    assert "action" not in result["features"]
    with h5py.File(tmp_path / "cell.h5") as handle:
        np.testing.assert_array_equal(frames["observation.state"], _column(handle, "obs/arm1"))

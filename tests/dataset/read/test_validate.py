"""`validate`: a built dataset passes; each kind of broken file is caught with a reason."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from robot_logger.cli import main
from robot_logger.core import messages
from robot_logger.dataset.build.pipeline import build_dataset
from robot_logger.dataset.read.validate import validate_dataset
from robot_logger.errors import DatasetError
from robot_logger.sim import Cell, CellSpec, write_bag
from tests.support import bag_factory


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small dataset with 3 episodes, joints, a camera and a LiDAR."""
    folder = tmp_path_factory.mktemp("validate")
    spec = CellSpec(duration_s=2.0, episodes=3, cameras=1, image_height=24, image_width=32,
                    lidar_points=128)
    write_bag(folder / "bag", Cell(spec))
    build_dataset([folder / "bag"], folder / "good.h5")
    return folder / "good.h5"


def broken(built: Path, tmp_path: Path, damage: Callable[[h5py.File], None]) -> list[str]:
    path = tmp_path / "broken.h5"
    shutil.copy(built, path)
    with h5py.File(path, "r+") as h5:
        damage(h5)
    return validate_dataset(path).problems


def test_a_built_dataset_is_valid(built: Path) -> None:
    report = validate_dataset(built)
    assert report.ok, report.problems
    assert report.episodes == 3 and report.frames > 0


def replace(h5: h5py.File, key: str, data: np.ndarray) -> None:
    attrs = dict(h5[key].attrs)
    del h5[key]
    h5[key] = data
    h5[key].attrs.update(attrs)


def set_values(h5: h5py.File, key: str, features: list[int], value: float) -> None:
    h5[key][features] = value


DAMAGE = {
    "missing timestamps": (lambda h5: h5.__delitem__("data/demo_1/timestamps"),
                           "data/demo_1/timestamps: missing"),
    "timestamps go back": (lambda h5: replace(h5, "data/demo_0/timestamps",
                                              h5["data/demo_0/timestamps"][()][::-1]),
                           "data/demo_0/timestamps: not strictly increasing"),
    "wrong dtype": (lambda h5: replace(h5, "data/demo_0/actions",
                                       h5["data/demo_0/actions"][()].astype(np.float64)),
                    "data/demo_0/actions: is float64"),
    "T differs in an episode": (lambda h5: replace(h5, "data/demo_2/obs/arm1_pos",
                                                   h5["data/demo_2/obs/arm1_pos"][1:]),
                                "data/demo_2/obs/arm1_pos: has"),
    "mask names a missing episode": (
        lambda h5: replace(h5, "mask/valid", np.array([b"demo_7"])),
        "mask/valid: names demo_7, which is no episode"),
    "stats missing": (lambda h5: h5.__delitem__("meta/stats/arm1_pos"),
                      "meta/stats/arm1_pos/mean: missing"),
    "stats NaN": (lambda h5: set_values(h5, "meta/stats/arm1_pos/std", [1], np.nan),
                  "meta/stats/arm1_pos: std holds NaN or inf at feature(s) [1]:"),
    "stats inf": (lambda h5: (set_values(h5, "meta/stats/actions/mean", [0], np.inf),
                              set_values(h5, "meta/stats/actions/q99", [2], -np.inf)),
                  "meta/stats/actions: mean, q99 hold NaN or inf at feature(s) [0, 2]:"),
    "format version": (lambda h5: h5.attrs.__setitem__("format_version", "0.9"),
                       "format_version is '0.9'"),
    "valid without obs": (lambda h5: h5.__setitem__("data/demo_0/valid/ghost",
                                                    np.ones(3, bool)),
                          "data/demo_0/valid/ghost: no obs/ghost"),
    "point mask missing": (lambda h5: h5.__delitem__("data/demo_0/obs/lidar_mask"),
                           "point mask obs/lidar_mask missing"),
    "image chunks": (lambda h5: replace(h5, "data/demo_0/obs/cam1",
                                        h5["data/demo_0/obs/cam1"][()]),
                     "chunks are None"),
    "total attr": (lambda h5: h5["data"].attrs.__setitem__("total", 1),
                   "attr total is 1"),
    "phase index": (lambda h5: replace(h5, "data/demo_0/labels/phase",
                                       np.full(h5["data/demo_0/labels/phase"].shape, 99,
                                               np.int16)),
                    "index outside -1.."),
    "stream missing in one episode": (lambda h5: (h5.__delitem__("data/demo_2/obs/cam1")),
                                      "data/demo_2/valid/cam1: no obs/cam1"),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_broken_files_are_caught(built: Path, tmp_path: Path, case: str) -> None:
    damage, expected = DAMAGE[case]
    problems = broken(built, tmp_path, damage)
    assert any(expected in p for p in problems), problems


def test_stats_a_build_left_undefined_are_a_problem_naming_file_and_key(tmp_path: Path) -> None:
    """A driver filling JointState velocity with NaN (no velocity sensor): the build's stats
    skip non-finite values, so both columns' stats are NaN, which would make every normalised
    velocity NaN in training. Seen failing before: validate called the file valid, and the
    build said nothing."""
    msgs = []
    for i in range(100):
        stamp = bag_factory.START_NS + i * 10_000_000
        joints = messages.joint_state(stamp, ["a", "b"], [float(i), 1.0], [np.nan, np.nan],
                                      [0.0, 0.0])
        msgs.append(bag_factory.Msg("/j", messages.JOINT_STATE, stamp + 1_000_000,
                                    messages.serialize(joints, messages.JOINT_STATE)))
    bag = bag_factory.write_bag(tmp_path / "bag", msgs)
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({"rate_hz": 10, "split": {"valid_fraction": 0.0},
                                  "streams": {"vel": {"topic": "/j", "field": "velocity"}}}))
    out = tmp_path / "nan.h5"
    summary = build_dataset([bag], out, config_path=config)
    assert summary.warnings == [
        "stream vel: column(s) a, b hold no finite value in the train episodes, so "
        "/meta/stats/vel is NaN there and validate rejects the dataset; leave them out (joints:, "
        "or another field)"]
    done = CliRunner().invoke(main, ["validate", str(out)])
    assert done.exit_code == 1
    assert done.output.splitlines() == [
        f"{out}: INVALID, 1 problem(s):",
        "  meta/stats/vel: mean, std, min, max, q01, q99 hold NaN or inf at feature(s) [0, 1]: "
        "normalising by them makes those features NaN in training"]


def test_external_links_are_followed(built: Path, tmp_path: Path) -> None:
    shard = tmp_path / "shard.h5"
    shutil.copy(built, shard)
    top = tmp_path / "top.h5"
    with h5py.File(built, "r") as src, h5py.File(top, "w") as h5:
        h5.attrs.update(src.attrs)
        data = h5.create_group("data")
        data.attrs.update(src["data"].attrs)
        for name in src["data"]:
            data[name] = h5py.ExternalLink(shard.name, f"/data/{name}")
        for key in ("mask", "meta"):
            h5[key] = h5py.ExternalLink(shard.name, f"/{key}")
    assert validate_dataset(top).ok
    shard.unlink()
    problems = validate_dataset(top).problems
    assert any("data/demo_0" in p and "cannot open" in p for p in problems), problems


def test_not_hdf5_and_missing(tmp_path: Path) -> None:
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all")
    assert "not a readable HDF5 file" in validate_dataset(junk).problems[0]
    with pytest.raises(DatasetError, match="no such file"):
        validate_dataset(tmp_path / "missing.h5")


def test_cli_exit_codes_and_json(built: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    good = runner.invoke(main, ["validate", str(built)])
    assert good.exit_code == 0 and "valid (3 episodes" in good.output
    bad = tmp_path / "bad.h5"
    shutil.copy(built, bad)
    with h5py.File(bad, "r+") as h5:
        del h5["data/demo_0/dones"]
    result = runner.invoke(main, ["validate", str(bad), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False and "data/demo_0/dones: missing" in report["problems"]
    missing = runner.invoke(main, ["validate", str(tmp_path / "nope.h5")])
    assert missing.exit_code == 2 and missing.output.startswith("error: ")


# --- format 1.1: next_obs, depth, masks, calibration, frames, extrinsics, clocks ----------------

def test_a_format_1_1_dataset_is_valid(sensor_built: tuple[Path, object]) -> None:
    path, _ = sensor_built
    report = validate_dataset(path)
    assert report.ok, report.problems
    with h5py.File(path, "r") as h5:
        assert h5.attrs["format_version"] == "1.1"
        assert {"next_obs", "obs"} <= set(h5["data/demo_0"])
        assert h5["data/demo_0/obs/depth"].dtype == np.uint16
        assert {"success", "failure"} <= set(h5["mask"])
        assert {"cameras", "frames", "extrinsics", "clocks", "action_names"} <= set(h5["meta"])
        assert set(h5["meta/clocks"]) == set(h5["data/demo_0/obs"]) - {"lidar_mask"}


def test_a_format_1_0_dataset_is_still_valid(built: Path, tmp_path: Path) -> None:
    def as_1_0(h5: h5py.File) -> None:
        h5.attrs["format_version"] = "1.0"
        for name in h5["data"]:
            h5["data"][name].pop("next_obs", None)
            h5["data"][name]["valid"].pop("actions", None)
        for key in ("cameras", "frames", "extrinsics", "clocks", "action_names"):
            h5["meta"].pop(key, None)
    assert broken(built, tmp_path, as_1_0) == []


def test_clock_records_of_corrected_streams_only_stay_valid(sensor_built: tuple[Path, object],
                                                            tmp_path: Path) -> None:
    """Files built before every stream got a record: only corrected ones, no time_source."""
    def corrected_only(h5: h5py.File) -> None:
        for name, group in list(h5["meta/clocks"].items()):
            if group.attrs["method"] == "none":
                del h5["meta/clocks"][name]
            else:
                del group.attrs["time_source"]
    assert broken(sensor_built[0], tmp_path, corrected_only) == []


def _rewrite(key: str, change: Callable[[np.ndarray], np.ndarray]) -> Callable[[h5py.File], None]:
    return lambda h5: replace(h5, key, change(h5[key][()]))


DAMAGE_1_1 = {
    "next_obs not shifted": (
        lambda h5: replace(h5, "data/demo_1/next_obs/wrench", h5["data/demo_1/obs/wrench"][()]),
        "data/demo_1/next_obs/wrench: is not obs/wrench shifted by one frame"),
    "next_obs of an image": (
        lambda h5: h5.__setitem__("data/demo_0/next_obs/cam1", h5["data/demo_0/obs/cam1"][()]),
        "data/demo_0/next_obs/cam1: no low-dim obs/cam1"),
    "depth chunks": (_rewrite("data/demo_0/obs/depth", lambda a: a),
                     "data/demo_0/obs/depth: chunks are None"),
    "extra mask names no episode": (_rewrite("mask/success", lambda a: np.array([b"demo_9"])),
                                    "mask/success: names demo_9, which is no episode"),
    "action names": (_rewrite("meta/action_names", lambda a: a[:3]),
                     "meta/action_names: has shape (3,), the actions have 7 columns"),
    "camera K shape": (_rewrite("meta/cameras/cam1/K", lambda a: a.reshape(-1)),
                       "meta/cameras/cam1/K: is float64 (9,)"),
    "camera size": (lambda h5: h5["meta/cameras/depth"].attrs.__setitem__("width", 99),
                    "meta/cameras/depth: is 99x48 px, obs/depth is 64x48"),
    "camera of no stream": (lambda h5: h5.copy("meta/cameras/cam1", "meta/cameras/ghost"),
                            "meta/cameras/ghost: no image or depth obs/ghost"),
    "frames quaternion": (_rewrite("meta/frames/xyzw", lambda a: a * 1.01),
                          "meta/frames/xyzw: a quaternion is not unit"),
    "frames count": (_rewrite("meta/frames/child", lambda a: a[1:]),
                     "meta/frames/child: expected"),
    "extrinsic not rigid": (_rewrite("meta/extrinsics/cam1", lambda a: a * [[1.1], [1], [1], [1]]),
                            "meta/extrinsics/cam1: is not a rigid transform"),
    "extrinsic of a low-dim stream": (
        lambda h5: h5.copy("meta/extrinsics/cam1", "meta/extrinsics/wrench"),
        "meta/extrinsics/wrench: no camera, depth or LiDAR obs/wrench"),
    "clock method": (lambda h5: h5["meta/clocks/depth"].attrs.__setitem__("method", "guess"),
                     "meta/clocks/depth: method is 'guess'"),
    "clock attr": (lambda h5: h5["meta/clocks/depth"].attrs.__delitem__("drift_ppm"),
                   "meta/clocks/depth: attr drift_ppm missing"),
    "clock time source": (
        lambda h5: h5["meta/clocks/cam1"].attrs.__setitem__("time_source", "gps"),
        "meta/clocks/cam1: time_source is 'gps'"),
    "clock corrected on log time": (
        lambda h5: h5["meta/clocks/depth"].attrs.__setitem__("time_source", "log"),
        "meta/clocks/depth: method auto corrects header stamps, but the stream is on log time"),
    "clock none with an offset": (
        lambda h5: h5["meta/clocks/cam1"].attrs.__setitem__("offset_ns", 5),
        "meta/clocks/cam1: method none with a non-zero offset_ns"),
    "clock record missing": (lambda h5: h5.__delitem__("meta/clocks/wrench"),
                             "meta/clocks: no record for obs/wrench"),
}


@pytest.mark.parametrize("case", sorted(DAMAGE_1_1))
def test_broken_1_1_files_are_caught(sensor_built: tuple[Path, object], tmp_path: Path,
                                     case: str) -> None:
    damage, expected = DAMAGE_1_1[case]
    problems = broken(sensor_built[0], tmp_path, damage)
    assert any(expected in p for p in problems), problems

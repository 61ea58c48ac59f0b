"""`build` against the simulator's analytic truth, storage and worker invariance, CLI behaviour."""

from __future__ import annotations

import json
from io import BytesIO
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from PIL import Image as PILImage

from robot_logger.cli import main
from robot_logger.core import events, messages
from robot_logger.core.messages import IMAGE, deserialize
from robot_logger.dataset.build.pipeline import build_dataset
from robot_logger.dataset.build.plan import find_bags
from robot_logger.dataset.ops.images import decode_image
from robot_logger.dataset.read.validate import validate_dataset
from robot_logger.errors import BagError
from robot_logger.sim import Cell
from tests.support.bag_factory import START_NS, Msg, joint_msgs, text_msgs, write_bag
from tests.support.dataset_compare import assert_same_dataset
from tests.support.paths import REAL_BAGS

MS = 1_000_000
CAM = "/cell/cam1/image_raw"
ARM = "/cell/arm1/joint_states"


def write_config(tmp_path: Path, **overrides: Any) -> Path:
    """A config with arm1 position, cam1 and overrides (`streams` entries merge)."""
    streams = {"arm1_pos": {"topic": ARM, "field": "position", "tolerance_ms": 20},
               "cam1": {"topic": CAM, "align": "nearest", "tolerance_ms": 20}}
    streams.update(overrides.pop("streams", {}))
    data = {"rate_hz": 10, "streams": streams, "split": {"valid_fraction": 0.0}, **overrides}
    path = tmp_path / f"config_{len(list(tmp_path.glob('config_*')))}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def build(tmp_path: Path, bag: Path, name: str = "out.h5", **kwargs: Any) -> h5py.File:
    out = tmp_path / name
    build_dataset([bag], out, **kwargs)
    assert validate_dataset(out).problems == []
    return h5py.File(out, "r")


def demos(h5: h5py.File) -> list[h5py.Group]:
    return [h5["data"][f"demo_{i}"] for i in range(len(h5["data"]))]


def delivered(cell: Cell, topic: str) -> dict[int, bytes]:
    """Header stamp -> CDR of every message the bag holds on `topic` (first of duplicates)."""
    out: dict[int, bytes] = {}
    for msg in cell.messages():
        if msg.topic == topic:
            out.setdefault(msg.stamp_ns, msg.data)
    return out


def joint_error(h5: h5py.File, cell: Cell) -> float:
    worst = 0.0
    for demo in demos(h5):
        truth = cell.joint_truth(1, demo["timestamps"][()])[0]
        worst = max(worst, float(np.abs(demo["obs/arm1_pos"][()] - truth).max()))
    return worst


def test_joint_positions_match_the_true_trajectory_on_header_time(make_bag, tmp_path) -> None:
    bag, cell = make_bag(duration_s=3.0, cameras=1, lidar=False)
    with build(tmp_path, bag, config_path=write_config(tmp_path)) as h5:
        assert joint_error(h5, cell) < 1e-4
        assert all(d["valid/arm1_pos"][()].all() for d in demos(h5))
    log_config = write_config(tmp_path, time_source="log")
    with build(tmp_path, bag, "log.h5", config_path=log_config) as h5:
        assert joint_error(h5, cell) > 1e-4          # receive time is not sample time


def check_images(h5: h5py.File, cell: Cell, method: str, *, header: bool = True) -> int:
    """Frames whose image is not the header-nearest (or previous) one; content checked too.

    The chosen message is ref + age: a header stamp, or a log time when built on log time.
    """
    messages = {}
    for msg in cell.messages():
        if msg.topic == CAM:
            messages.setdefault(msg.stamp_ns if header else msg.log_ns, msg)
    stamps = np.array(sorted({m.stamp_ns for m in messages.values()}))
    wrong = 0
    for demo in demos(h5):
        ref = demo["timestamps"][()]
        for i, (t, age) in enumerate(zip(ref, demo["age_ns/cam1"][()])):
            msg = messages[int(t + age)]
            image = decode_image(deserialize(msg.data, IMAGE), IMAGE)
            assert np.array_equal(demo["obs/cam1"][i], image)
            if method == "previous":
                expected = stamps[stamps <= t].max()
            else:
                expected = stamps[np.argmin(np.abs(stamps - t))]
            wrong += int(msg.stamp_ns != expected)
    return wrong


@pytest.mark.parametrize("method", ["nearest", "previous"])
def test_each_image_is_the_one_nearest_by_header_stamp(make_bag, tmp_path, method) -> None:
    bag, cell = make_bag(duration_s=2.5, arms=1, cameras=1, lidar=False)
    streams = {"cam1": {"topic": CAM, "align": method, "tolerance_ms": 40}}
    # 13 Hz: reference times fall at every phase of the 30 Hz camera clock
    with build(tmp_path, bag, config_path=write_config(tmp_path, streams=streams,
                                                       rate_hz=13)) as h5:
        assert check_images(h5, cell, method) == 0
    log_config = write_config(tmp_path, streams=streams, time_source="log", rate_hz=13)
    with build(tmp_path, bag, "log.h5", config_path=log_config) as h5:
        assert check_images(h5, cell, method, header=False) > 0   # log time: other frames


def test_an_outage_invalidates_exactly_the_frames_without_a_sample(make_bag, tmp_path) -> None:
    faults = f"{CAM}:outage=0.8-1.5;{ARM}:outage=1.6-2.1"
    bag, cell = make_bag(duration_s=3.0, arms=1, cameras=1, lidar=False, faults=faults)
    with build(tmp_path, bag, config_path=write_config(tmp_path)) as h5:
        cams = np.array(sorted(delivered(cell, CAM)))
        arm = np.array(sorted(delivered(cell, ARM)))
        invalid = {"cam1": 0, "arm1_pos": 0}
        for demo in demos(h5):
            ref = demo["timestamps"][()]
            cam_ok = np.array([np.abs(cams - t).min() <= 20 * MS for t in ref])
            assert demo["valid/cam1"][()].tolist() == cam_ok.tolist()
            before = np.array([t - arm[arm <= t].max() if (arm <= t).any() else 10**12
                               for t in ref])
            after = np.array([arm[arm >= t].min() - t if (arm >= t).any() else 10**12
                              for t in ref])
            arm_ok = (before <= 20 * MS) & (after <= 20 * MS)
            assert demo["valid/arm1_pos"][()].tolist() == arm_ok.tolist()
            invalid["cam1"] += int((~cam_ok).sum())
            invalid["arm1_pos"] += int((~arm_ok).sum())
            assert np.isfinite(demo["obs/arm1_pos"][()]).all()
        assert invalid["cam1"] >= 5 and invalid["arm1_pos"] >= 3


def phase_truth(t: int, cell: Cell) -> str | None:
    for episode in cell.episodes():
        for name, start, end in episode.phases:
            if start <= t < end:
                return name
    return None


def test_episodes_and_phases_match_the_events(make_bag, tmp_path) -> None:
    bag, cell = make_bag(duration_s=3.0, episodes=3, arms=1, cameras=0, lidar=False)
    config = write_config(tmp_path, streams={"cam1": None})
    config.write_text(config.read_text().replace("cam1: null\n", ""))
    with build(tmp_path, bag, config_path=config) as h5:
        truth = cell.episodes()
        assert len(h5["data"]) == len(truth) == 3
        for demo, episode in zip(demos(h5), truth):
            assert (demo.attrs["task"], demo.attrs["outcome"]) == (episode.task, episode.outcome)
            assert abs(int(demo.attrs["t_start_ns"]) - episode.start_ns) < 5 * MS
            names = json.loads(demo["labels/phase"].attrs["names"])
            for t, label in zip(demo["timestamps"][()], demo["labels/phase"][()]):
                near_boundary = any(abs(int(t) - b) < 5 * MS for _, s, e in episode.phases
                                    for b in (s, e))
                if not near_boundary:
                    assert (names[label] if label >= 0 else None) == phase_truth(int(t), cell)
            rewards, dones = demo["rewards"][()], demo["dones"][()]
            assert dones[-1] == 1 and dones[:-1].sum() == 0
            assert rewards[-1] == (1.0 if episode.outcome == "success" else 0.0)


def test_a_labels_file_overrides_the_events(make_bag, tmp_path) -> None:
    bag, _cell = make_bag(duration_s=3.0, episodes=3, arms=1, cameras=0, lidar=False)
    labels = tmp_path / "labels.yaml"
    labels.write_text(yaml.safe_dump({"episodes": [
        {"start": 0.5, "end": 1.5, "task": "inspect", "outcome": "failure",
         "phases": [{"name": "look", "start": 0.5, "end": 1.0}]},
        {"start": 2.0, "end": 2.5, "task": "inspect", "outcome": "success"}]}))
    config = tmp_path / "labels_config.yaml"
    config.write_text(yaml.safe_dump({"streams": {"arm1_pos": {"topic": ARM}},
                                      "episodes": {"labels_file": "labels.yaml"}}))
    with build(tmp_path, bag, config_path=config) as h5:
        first, second = demos(h5)
        assert [d.attrs["outcome"] for d in (first, second)] == ["failure", "success"]
        assert len(first["timestamps"]) == 11 and len(second["timestamps"]) == 6
        assert json.loads(first["labels/phase"].attrs["names"]) == ["look"]
        assert first["labels/phase"][()].tolist() == [0] * 5 + [-1] * 6


def test_sqlite3_and_mcap_bags_give_identical_datasets(make_bag, tmp_path) -> None:
    mcap, _ = make_bag("mcap_bag", duration_s=2.0, storage="mcap")
    sqlite, _ = make_bag("sqlite_bag", duration_s=2.0, storage="sqlite3")
    build_dataset([mcap], tmp_path / "mcap.h5")
    build_dataset([sqlite], tmp_path / "sqlite.h5")
    assert assert_same_dataset(tmp_path / "mcap.h5", tmp_path / "sqlite.h5",
                               skip_attrs=("source_bag", "source_bags")) > 20


def test_two_workers_write_the_same_dataset_as_one(make_bag, tmp_path) -> None:
    make_bag("bags/b_second", duration_s=2.0, episodes=2, seed=1, cameras=1)
    make_bag("bags/a_first", duration_s=1.5, episodes=1, seed=2, cameras=1)
    bags = tmp_path / "bags"
    one = build_dataset([bags], tmp_path / "one.h5", workers=1)
    two = build_dataset([bags], tmp_path / "two.h5", workers=4)
    assert one.episodes == two.episodes == 3
    assert assert_same_dataset(tmp_path / "one.h5", tmp_path / "two.h5") > 40
    with h5py.File(tmp_path / "one.h5") as h5:   # numbered by bag path, then time
        assert [h5["data"][f"demo_{i}"].attrs["source_bag"].endswith(name)
                for i, name in enumerate(["a_first", "b_second", "b_second"])] == [True] * 3


def test_find_bags_searches_folders_that_are_not_bags(make_bag, tmp_path) -> None:
    inner, _ = make_bag("many/x/inner", duration_s=1.0, cameras=0, lidar=False)
    outer, _ = make_bag("many/a", duration_s=1.0, cameras=0, lidar=False)
    assert find_bags([tmp_path / "many"]) == [outer, inner]
    assert find_bags([inner]) == [inner]


def test_bare_bag_files_in_a_folder_are_found_and_built(make_bag, tmp_path) -> None:
    """A folder of bag folders plus bare .mcap/.db3 files (as `info` reads them): every one is a
    bag. The folder is no bag (it has no metadata.yaml): no healthy file is sent to repair."""
    many = tmp_path / "many"
    folder, _ = make_bag("many/a", duration_s=1.0, cameras=0, lidar=False)
    mcap_bag, _ = make_bag("src/m", duration_s=1.0, cameras=0, lidar=False, seed=3)
    db3_bag, _ = make_bag("src/d", duration_s=1.0, cameras=0, lidar=False, seed=4,
                          storage="sqlite3")
    loose = many / "loose.mcap"
    loose.write_bytes(next(mcap_bag.glob("*.mcap")).read_bytes())
    (many / "sub").mkdir()
    bare_db3 = many / "sub" / "loose.db3"
    bare_db3.write_bytes(next(db3_bag.glob("*.db3")).read_bytes())
    assert find_bags([many]) == [folder, loose, bare_db3]
    assert find_bags([loose]) == [loose]
    summary = build_dataset([many], tmp_path / "all.h5")
    assert sorted(summary.bags) == sorted(map(str, [folder, loose, bare_db3]))
    with h5py.File(tmp_path / "all.h5") as h5:
        sources = {h5["data"][d].attrs["source_bag"] for d in h5["data"]}
    assert sources == {str(folder), str(loose), str(bare_db3)}
    killed = tmp_path / "killed" / "rec"          # split files, no metadata.yaml: still one bag
    killed.mkdir(parents=True)
    (killed / "rec_000.mcap").write_bytes(loose.read_bytes())
    assert find_bags([killed.parent]) == [killed] and find_bags([killed]) == [killed]
    with pytest.raises(BagError, match="robot-logger repair"):
        build_dataset([killed.parent], tmp_path / "killed.h5")


def test_an_unsplit_recording_without_metadata_is_sent_to_repair(make_bag, tmp_path) -> None:
    """A recorder killed between two sqlite3 commits leaves OUT/OUT.db3 whole, with no journal and
    no metadata.yaml: `info OUT` asks for a repair, so `build` of OUT or its parent must too,
    instead of building the .db3 as a bare file (a CI run of test_faults_kill found this)."""
    db3_bag, _ = make_bag("src/d", duration_s=1.0, cameras=0, lidar=False, storage="sqlite3")
    killed = tmp_path / "killed" / "rec"
    killed.mkdir(parents=True)
    (killed / "rec.db3").write_bytes(next(db3_bag.glob("*.db3")).read_bytes())
    assert find_bags([killed.parent]) == [killed] and find_bags([killed]) == [killed]
    for given in (killed, killed.parent):
        with pytest.raises(BagError, match="robot-logger repair"):
            build_dataset([given], tmp_path / "killed.h5")


def test_malformed_events_and_unknown_outcomes_are_reported_and_strict_fails(tmp_path) -> None:
    texts = [events.episode_start("a"), "{not json", '{"type": "episode_end", "outcome": '
             '"succeeded"}', events.episode_start("b"), events.episode_end("success")]
    bag = write_bag(tmp_path / "bag", joint_msgs(ARM, 150, 20 * MS)
                    + text_msgs(messages.EVENTS_TOPIC, texts, 500 * MS, START_NS + 100 * MS))
    done = CliRunner().invoke(main, ["build", str(bag), "-o", str(tmp_path / "out.h5"),
                                     "--rate", "10"])
    assert done.exit_code == 0, done.output
    assert "1 malformed events skipped" in done.output and "'{not json'" in done.output
    assert "outcome 'succeeded'" in done.output and "labelled unknown" in done.output
    with h5py.File(tmp_path / "out.h5") as h5:
        assert [h5[f"data/demo_{i}"].attrs["outcome"] for i in range(2)] == ["unknown",
                                                                            "success"]
    strict = CliRunner().invoke(main, ["build", str(bag), "-o", str(tmp_path / "strict.h5"),
                                       "--rate", "10", "--strict"])
    assert strict.exit_code == 2 and "Traceback" not in strict.output
    assert strict.output.startswith("error: ") and "malformed" in strict.output
    assert "--strict; 1 more warnings" in strict.output
    assert not list(tmp_path.glob("strict.h5*"))


def test_real_turtlebot_bag_builds_by_discovery(tmp_path) -> None:
    bag = REAL_BAGS / "tb3_walker_gazebo_humble"
    summary = build_dataset([bag], tmp_path / "tb3.h5", rate_hz=5)
    assert summary.episodes == 1 and summary.frames > 100
    with build_factory_open(tmp_path / "tb3.h5") as h5:
        demo = h5["data/demo_0"]
        assert set(demo["obs"]) == {"joint_states_pos", "joint_states_vel", "scan", "scan_mask"}
        assert demo["obs/scan_mask"][()].any(axis=1).mean() > 0.9
        assert h5["meta/joint_names/joint_states_pos"].shape == (2,)


def build_factory_open(path: Path) -> h5py.File:
    assert validate_dataset(path).problems == []
    return h5py.File(path, "r")


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args])


def test_cli_build_prints_a_summary_and_json(make_bag, tmp_path) -> None:
    bag, _ = make_bag(duration_s=1.5)
    result = run_cli("build", bag, "-o", tmp_path / "a.h5", "--quiet")
    assert result.exit_code == 0, result.output
    assert "episodes" in result.output and "/cell/cam1/image_raw" in result.output
    assert "log time minus header stamp" in result.output
    result = run_cli("build", bag, "-o", tmp_path / "a.h5", "--json", "--overwrite",
                     "--rate", "5")
    summary = json.loads(result.output)
    assert summary["episodes"] == 1 and summary["valid_share"]["cam1"] == 1.0
    assert 5 <= summary["offsets_ms"]["/cell/cam1/image_raw"]["mean"] <= 40


def test_cli_errors_are_one_line_and_exit_2(make_bag, tmp_path) -> None:
    bag, _ = make_bag(duration_s=1.0, cameras=0, lidar=False)
    bad_topic = write_config(tmp_path)   # cam1 is not in this bag
    cases = {
        (bag, "--config", bad_topic): "topic '/cell/cam1/image_raw' is not in",
        (tmp_path / "nope",): "no such file or directory",
        (REAL_BAGS / "r2_sqlite3_empty_v4",): "(topics: /parameter_events, /rosout)",
        (REAL_BAGS / "r2_mcap_wrong_serialization_v6",): "r2_mcap_wrong_serialization_v6",
        (REAL_BAGS / "r2_sqlite3_talker_v4",): "no JointState",
    }
    for args, message in cases.items():
        result = run_cli("build", *args, "-o", tmp_path / "x.h5")
        assert result.exit_code == 2, (args, result.output)
        assert result.output.startswith("error: ") and message in result.output, result.output
        assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert not list(tmp_path.glob("x.h5*"))


def test_joints_matched_by_name_and_zero_stamps_fall_back_to_log_time(tmp_path) -> None:
    """Messages reorder names and publish subsets; a CompressedImage camera has no stamps."""
    slope = {"a": 1.0, "b": -2.0, "c": 0.5}
    msgs = []
    for i in range(300):                                   # 2 ms period, 0.6 s
        stamp = START_NS + i * 2 * MS
        names = [["a", "b", "c"], ["c", "a"], ["b"]][i % 3]
        pos = [slope[n] * (stamp - START_NS) / 1e9 for n in names]
        msg = messages.joint_state(stamp, names, pos, np.zeros(len(names)), np.zeros(0))
        msgs.append(Msg("/arm/joint_states", messages.JOINT_STATE, stamp + MS,
                        messages.serialize(msg, messages.JOINT_STATE)))
    compressed = messages.typestore().types[messages.COMPRESSED_IMAGE]
    for i in range(20):                                    # 30 ms period, header stamp 0
        png = BytesIO()
        PILImage.fromarray(np.full((8, 10, 3), i, np.uint8)).save(png, format="png")
        msg = compressed(header=messages.header(0, "cam"), format="png",
                         data=np.frombuffer(png.getvalue(), np.uint8))
        msgs.append(Msg("/cam/image_raw/compressed", messages.COMPRESSED_IMAGE,
                        START_NS + 3 * MS + i * 30 * MS,
                        messages.serialize(msg, messages.COMPRESSED_IMAGE)))
    bag = write_bag(tmp_path / "bag", msgs)
    with build(tmp_path, bag, rate_hz=50) as h5:
        demo = h5["data/demo_0"]
        assert h5["meta/joint_names/arm_pos"][()].tolist() == [b"a", b"b", b"c"]
        t = (demo["timestamps"][()] - START_NS) / 1e9
        expected = np.stack([slope[n] * t for n in "abc"], axis=1)
        np.testing.assert_allclose(demo["obs/arm_pos"][()], expected, atol=1e-6)
        assert demo["valid/arm_pos"][()].all()
        logs = START_NS + 3 * MS + np.arange(20) * 30 * MS
        for ref, frame in zip(demo["timestamps"][()], demo["obs/cam"][()]):
            assert frame[0, 0, 0] == np.argmin(np.abs(logs - ref))


def test_a_stream_as_reference_clock_and_actions_from_a_shift(make_bag, tmp_path) -> None:
    bag, cell = make_bag(duration_s=2.0, arms=1, cameras=1, lidar=False)
    config = write_config(tmp_path, rate_hz=None, reference="cam1",
                          actions={"stream": "arm1_pos", "shift": 2})
    with build(tmp_path, bag, config_path=config) as h5:
        stamps = np.array(sorted(delivered(cell, CAM)))
        for demo in demos(h5):
            ref = demo["timestamps"][()]
            inside = stamps[(stamps >= ref[0]) & (stamps <= ref[-1])]
            assert ref.tolist() == inside.tolist() and len(ref) > 20
            assert not demo["age_ns/cam1"][()].any() and demo["valid/cam1"][()].all()
            pos, actions = demo["obs/arm1_pos"][()], demo["actions"][()]
            np.testing.assert_array_equal(actions[:-2], pos[2:])
            np.testing.assert_array_equal(actions[-2:], pos[[-1, -1]])


def test_a_reference_stream_on_log_time_clocks_the_frames_by_receive_time(make_bag,
                                                                           tmp_path) -> None:
    """cam1 stamps 300 ms ahead; on its own time_source: log its receive times are the frames,
    while arm1 stays on header time (exact truth at the header stamp it used)."""
    bag, cell = make_bag(duration_s=2.0, arms=1, cameras=1, lidar=False,
                         faults=f"{CAM}:offset_ms=300")
    config = write_config(tmp_path, rate_hz=None, reference="cam1", streams={
        "cam1": {"topic": CAM, "time_source": "log"},
        "arm1_pos": {"topic": ARM, "align": "nearest", "tolerance_ms": 20}})
    logs = np.array(sorted(m.log_ns for m in cell.messages() if m.topic == CAM))
    with build(tmp_path, bag, config_path=config) as h5:
        for demo in demos(h5):
            ref = demo["timestamps"][()]
            assert ref.tolist() == logs[(logs >= ref[0]) & (logs <= ref[-1])].tolist()
            assert len(ref) > 20 and not demo["age_ns/cam1"][()].any()
            used = ref + demo["age_ns/arm1_pos"][()]
            np.testing.assert_allclose(demo["obs/arm1_pos"][()], cell.joint_truth(1, used)[0],
                                       atol=1e-5, rtol=0)


def test_a_killed_recording_is_a_clear_error(make_bag, tmp_path) -> None:
    bag, _ = make_bag(duration_s=2.0, cameras=0, lidar=False, faults="truncate=0.5")
    result = run_cli("build", bag, "-o", tmp_path / "x.h5")
    assert result.exit_code == 2 and result.output.startswith("error: ")
    assert "repair" in result.output and "Traceback" not in result.output


def ouster_cloud_msgs(n: int, period_ns: int) -> list[Msg]:
    """PointCloud2 as ouster-ros' native point type lays it out: no `intensity`; reflectivity
    and signal uint16. Cloud i: 5 points, reflectivity 10*i + k, signal 1000 + k."""
    field = messages.typestore().types["sensor_msgs/msg/PointField"]
    layout = [("x", 0, 7), ("y", 4, 7), ("z", 8, 7), ("reflectivity", 12, 4), ("signal", 14, 4)]
    dtype = np.dtype({"names": [n for n, _, _ in layout], "formats": ["<f4"] * 3 + ["<u2"] * 2,
                      "offsets": [o for _, o, _ in layout], "itemsize": 16})
    out = []
    for i in range(n):
        stamp = START_NS + i * period_ns
        cells = np.zeros(5, dtype)
        cells["x"], cells["y"], cells["z"] = np.arange(5), 1.0, 0.5
        cells["reflectivity"], cells["signal"] = 10 * i + np.arange(5), 1000 + np.arange(5)
        msg = messages.typestore().types[messages.POINTCLOUD2](
            header=messages.header(stamp, "os_sensor"), height=1, width=5,
            fields=[field(name=n, offset=o, datatype=t, count=1) for n, o, t in layout],
            is_bigendian=False, point_step=16, row_step=80, data=cells.view(np.uint8),
            is_dense=True)
        out.append(Msg("/ouster/points", messages.POINTCLOUD2, stamp + 5 * MS,
                       messages.serialize(msg, messages.POINTCLOUD2)))
    return out


@pytest.mark.parametrize("intensity_field, expected", [(None, "reflectivity"),
                                                      ("signal", "signal")])
def test_lidar_intensity_from_reflectivity_or_the_configured_field(
        tmp_path, intensity_field, expected) -> None:
    bag = write_bag(tmp_path / "bag",
                    joint_msgs(ARM, 40, 50 * MS) + ouster_cloud_msgs(20, 100 * MS))
    lidar: dict[str, Any] = {"topic": "/ouster/points", "points": 8, "tolerance_ms": 20}
    if intensity_field:
        lidar["intensity_field"] = intensity_field
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"rate_hz": 10, "split": {"valid_fraction": 0.0},
                                      "streams": {"lidar": lidar}}))
    with build(tmp_path, bag, config_path=config) as h5:
        points, mask = h5["data/demo_0/obs/lidar"][()], h5["data/demo_0/obs/lidar_mask"][()]
    assert mask.sum(axis=1).tolist() == [5] * len(mask)
    for i, (cloud, keep) in enumerate(zip(points, mask)):
        got = sorted(cloud[keep, 3].tolist())
        assert got == ([10 * i + k for k in range(5)] if expected == "reflectivity"
                       else [1000 + k for k in range(5)])

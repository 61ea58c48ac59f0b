"""A real cell's sensor mix built from the simulator (`--sensors`), checked against its truth:
commands and F/T at every frame, depth pixels, calibration (also resized), extrinsics from
/tf_static, LiDAR moved into a tf frame, a camera on its own drifting clock, and a driver with
broken header stamps aligned on log time while the other streams stay on header time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import yaml

from robot_logger.bag.reader import open_bag
from robot_logger.core.messages import header_stamp_ns
from robot_logger.dataset.build.pipeline import BuildSummary, build_dataset
from robot_logger.dataset.read.validate import validate_dataset
from robot_logger.sim.cell import LATENCY_MS
from robot_logger.sim.spec import command_topic, depth_topic, joint_topic, wrench_topic

MS = 1_000_000
SENSORS = {"commands": True, "gripper": True, "wrench": True, "depth": True,
           "camera_info": True, "tf_static": True}
CAM = "/cell/cam1/image_raw"


def build(tmp_path: Path, bag: Path, config: dict[str, Any], name: str = "out.h5"
          ) -> tuple[h5py.File, BuildSummary]:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"rate_hz": 10, "split": {"valid_fraction": 0.0}, **config}))
    out = tmp_path / name
    summary = build_dataset([bag], out, config_path=path)
    assert validate_dataset(out).problems == []
    return h5py.File(out, "r"), summary


def demos(h5: h5py.File) -> list[h5py.Group]:
    return [h5["data"][name] for name in sorted(h5["data"], key=lambda n: int(n[5:]))]


def chosen(demo: h5py.Group, name: str) -> np.ndarray:
    """The stamp of the sample each frame used: reference time plus its age."""
    return demo["timestamps"][()] + demo[f"age_ns/{name}"][()]


def test_commands_and_wrench_match_the_truth_at_every_frame(make_bag, tmp_path) -> None:
    bag, cell = make_bag(duration_s=3.0, cameras=0, lidar=False, **SENSORS)
    h5, _ = build(tmp_path, bag, {
        "streams": {"cmd": {"topic": command_topic(1), "align": "previous", "tolerance_ms": 30},
                    "force": {"topic": wrench_topic(1), "field": "wrench.force",
                              "align": "nearest", "tolerance_ms": 10},
                    "torque": {"topic": wrench_topic(1), "field": "wrench.torque",
                               "align": "nearest", "tolerance_ms": 10}},
        "actions": {"stream": ["cmd"], "shift": 0}})
    with h5:
        assert h5["meta/joint_names/cmd"][()].astype(str).tolist() == cell.joint_names(1)
        for demo in demos(h5):
            assert demo["valid/cmd"][()].all() and demo["valid/force"][()].all()
            position, _ = cell.command_truth(1, chosen(demo, "cmd"))
            assert np.abs(demo["obs/cmd"][()] - position).max() < 1e-4
            assert np.abs(demo["actions"][()] - position).max() < 1e-4
            force, _ = cell.wrench_truth(1, chosen(demo, "force"))
            _, torque = cell.wrench_truth(1, chosen(demo, "torque"))
            assert np.abs(demo["obs/force"][()] - force).max() < 1e-4
            assert np.abs(demo["obs/torque"][()] - torque).max() < 1e-4
        contact = np.concatenate([d["obs/force"][()] for d in demos(h5)])
        assert np.abs(contact).max() > 1.0           # the phases with contact forces are in


def test_depth_pixels_and_calibration_are_exact_also_resized(make_bag, tmp_path) -> None:
    bag, cell = make_bag(duration_s=2.0, cameras=1, lidar=False, **SENSORS)
    topic = depth_topic(1)
    h5, _ = build(tmp_path, bag, {"streams": {
        "depth": {"topic": topic, "align": "nearest", "tolerance_ms": 40},
        "small": {"topic": topic, "align": "nearest", "tolerance_ms": 40, "resize": [24, 32]},
        "cam1": {"topic": CAM, "resize": [24, 32]}}})
    with h5:
        for demo in demos(h5):
            depth, small = demo["obs/depth"], demo["obs/small"]
            assert depth.dtype == np.uint16 and depth.shape[1:] == (48, 64)
            assert small.shape[1:] == (24, 32)
            for i, stamp in enumerate(chosen(demo, "depth").tolist()):
                truth = cell.depth_truth(1, stamp)
                np.testing.assert_array_equal(depth[i], truth)
                np.testing.assert_array_equal(small[i], truth[1::2, 1::2])
            assert (depth[()] > 255).any()
        for stream, depth_camera, resized in (("depth", True, False), ("small", True, True),
                                              ("cam1", False, True)):
            calib = cell.calibration(1, depth=depth_camera)
            group = h5[f"meta/cameras/{stream}"]
            k, p = calib.k.copy(), calib.p.copy()
            if resized:       # 64x48 -> 32x24: f/2, c' = (c + 0.5)/2 - 0.5, P's Tx/2
                for m in (k, p):
                    m[0] *= 0.5
                    m[1] *= 0.5
                    m[0, 2] -= 0.25
                    m[1, 2] -= 0.25
            np.testing.assert_array_equal(group["K"][()], k)
            np.testing.assert_array_equal(group["P"][()], p)
            np.testing.assert_array_equal(group["D"][()], calib.d)
            np.testing.assert_array_equal(group["R"][()], calib.r)
            assert (group.attrs["width"], group.attrs["height"]) == \
                ((32, 24) if resized else (calib.width, calib.height))
            assert group.attrs["frame_id"] == calib.frame_id
            assert group.attrs["distortion_model"] == calib.distortion_model


def test_extrinsics_and_lidar_frame_from_tf_static(make_bag, tmp_path) -> None:
    bag, cell = make_bag(duration_s=1.0, cameras=2, **SENSORS)
    lidar = {"topic": "/cell/lidar/points", "points": 256}
    h5, _ = build(tmp_path, bag, {
        "streams": {"cam1": {"topic": CAM}, "cam2_depth": {"topic": depth_topic(2)},
                    "lidar": lidar, "lidar_world": {**lidar, "frame": "world"}},
        "frames": {"base": "arm1_base_link"}})
    with h5:
        for stream, frame in (("cam1", "cam1_optical_frame"),
                              ("cam2_depth", "cam2_depth_optical_frame"),
                              ("lidar", "lidar"), ("lidar_world", "world")):
            expected = cell.frame_pose(frame, "arm1_base_link")
            np.testing.assert_allclose(h5[f"meta/extrinsics/{stream}"][()], expected,
                                       atol=1e-6, rtol=0)
        children = set(h5["meta/frames/child"][()].astype(str))
        assert children == {t.child for t in cell.static_transforms()}
        world_from_lidar = cell.frame_pose("lidar", "world")
        for demo in demos(h5):
            raw, moved = demo["obs/lidar"][()], demo["obs/lidar_world"][()]
            mask = demo["obs/lidar_mask"][()]
            np.testing.assert_array_equal(mask, demo["obs/lidar_world_mask"][()])
            xyz = raw[..., :3] @ world_from_lidar[:3, :3].T + world_from_lidar[:3, 3]
            np.testing.assert_allclose(moved[..., :3][mask], xyz[mask], atol=1e-4)


@pytest.fixture(scope="module")
def clock_bags(tmp_path_factory) -> dict[str, Any]:
    """The same 12 s cell twice: cam1 on the cell clock, and on a device clock 350 ms ahead
    gaining 50 ppm."""
    from robot_logger.sim import Cell, CellSpec, parse_faults, write_bag
    root = tmp_path_factory.mktemp("clock")
    spec = CellSpec(duration_s=12.0, cameras=1, lidar=False, image_height=24, image_width=32)
    out = {}
    for name, faults in (("sync", ""), ("device", f"{CAM}:clock_offset_ms=350,drift_ppm=50")):
        cell = Cell(spec, parse_faults(faults))
        write_bag(root / name, cell)
        out[name] = root / name
    with open_bag(out["device"]) as bag:
        stamps = [(header_stamp_ns(raw), log_ns) for _, _, log_ns, raw in bag.messages([CAM])]
    header, log = np.array(stamps, np.int64).T
    out["min_latency_ns"] = int((log - cell.sample_ns(CAM, header)).min())
    return out


def test_a_device_clock_fitted_with_auto_gives_the_synchronised_frames(clock_bags,
                                                                       tmp_path) -> None:
    cam = {"topic": CAM, "align": "nearest", "tolerance_ms": 20}
    sync, _ = build(tmp_path, clock_bags["sync"], {"streams": {"cam1": cam}}, "sync.h5")
    fixed, summary = build(tmp_path, clock_bags["device"],
                           {"streams": {"cam1": {**cam, "clock_offset_ms": "auto"}}}, "auto.h5")
    with sync, fixed:
        same = total = 0
        for a, b in zip(demos(sync), demos(fixed)):
            frames_a, frames_b = a["obs/cam1"][()], b["obs/cam1"][()]
            same += sum(np.array_equal(x, y) for x, y in zip(frames_a, frames_b))
            total += len(frames_a)
            assert b["valid/cam1"][()].mean() > 0.99
        assert same / total >= 0.99, (same, total)
        clock = fixed["meta/clocks/cam1"].attrs
        assert clock["method"] == "auto"
        # corrected = header + offset. The device stamps 350 ms ahead; a one-way estimate cannot
        # tell the smallest transport latency from the offset, so its analytic target is
        # -350 ms + the smallest (log - true sample time) of the stream (5-6 ms in the sim)
        target = -350 * MS + clock_bags["min_latency_ns"]
        assert abs(clock["offset_ns"] - target) < 2 * MS, (clock["offset_ns"], target)
        assert abs(clock["offset_ns"] + 350 * MS) < 10 * MS
        # 50 ppm is 0.6 ms over these 12 s, below the latency noise of the envelope, so the drift
        # is checked where it matters: the fitted line stays within 2 ms of the true one to the end
        span = 11.5e9
        end = clock["offset_ns"] + clock["drift_ppm"] * 1e-6 * span
        assert abs(end - (target - 50e-6 * span)) < 2 * MS, (end, target)
    assert summary.clocks["cam1"]["method"] == "auto"


def test_an_uncorrected_device_clock_is_a_warning_naming_the_stream(clock_bags,
                                                                     tmp_path) -> None:
    _, summary = build(tmp_path, clock_bags["device"],
                       {"streams": {"cam1": {"topic": CAM}}}, "plain.h5")
    [warning] = [w for w in summary.warnings if "clock" in w]
    assert "stream cam1 (/cell/cam1/image_raw)" in warning
    assert "clock_offset_ms: auto on streams.cam1" in warning
    path = tmp_path / "strict.yaml"
    path.write_text(yaml.safe_dump({"streams": {"cam1": {"topic": CAM}}}))
    with pytest.raises(Exception, match="stream cam1 .*--strict"):
        build_dataset([clock_bags["device"]], tmp_path / "strict.h5", config_path=path,
                      strict=True)
    assert not list(tmp_path.glob("strict.h5*"))


def test_one_stream_on_log_time_beside_streams_on_header_time(make_bag, tmp_path) -> None:
    """arm2's driver stamps 400 ms ahead (a broken stamp, not a clock), the depth camera stamps
    on a device clock 350 ms ahead (corrected by clock_offset_ms: -350). arm2 with its own
    time_source: log is the truth at its receive time less the sim's joint latency (so are
    actions from its topic on log time); arm1 and the depth stay on (corrected) header time
    exactly; /meta/clocks records each stream."""
    faults = f"{joint_topic(2)}:offset_ms=400;{depth_topic(1)}:clock_offset_ms=350"
    bag, cell = make_bag(duration_s=3.0, arms=2, cameras=1, lidar=False, depth=True,
                         faults=faults)
    joints = {"align": "nearest", "tolerance_ms": 20}
    streams = {"arm1": {"topic": joint_topic(1), **joints},
               "arm2": {"topic": joint_topic(2), **joints},
               "depth": {"topic": depth_topic(1), "clock_offset_ms": -350, "tolerance_ms": 40}}
    plain, plain_summary = build(tmp_path, bag, {"streams": streams}, "plain.h5")
    streams["arm2"]["time_source"] = "log"
    actions = {"topic": joint_topic(2), **joints, "time_source": "log", "shift": 0}
    h5, summary = build(tmp_path, bag, {"streams": streams, "actions": actions}, "log.h5")
    low_ms, high_ms = LATENCY_MS["joints"]
    with plain, h5:
        worst_log = worst_header = 0.0
        for demo, header_demo in zip(demos(h5), demos(plain)):
            arm1 = cell.joint_truth(1, chosen(demo, "arm1"))[0]
            assert np.abs(demo["obs/arm1"][()] - arm1).max() < 1e-5
            received = chosen(demo, "arm2")         # log times: sample + latency
            middle = received - int((low_ms + high_ms) / 2 * MS)
            position, velocity, _ = cell.joint_truth(2, middle)
            bound = np.abs(velocity).max() * (high_ms - low_ms) / 2e3 + 1e-5
            assert demo["valid/arm2"][()].all()
            np.testing.assert_array_equal(demo["actions"][()], demo["obs/arm2"][()])
            worst_log = max(worst_log, float(np.abs(demo["obs/arm2"][()] - position).max()
                                             / bound))
            truth = cell.joint_truth(2, chosen(header_demo, "arm2"))[0]
            worst_header = max(worst_header, float(np.abs(header_demo["obs/arm2"][()]
                                                          - truth).max() / bound))
            for i, stamp in enumerate(chosen(demo, "depth").tolist()):
                np.testing.assert_array_equal(demo["obs/depth"][i], cell.depth_truth(1, stamp))
        assert worst_log <= 1.0, worst_log
        assert worst_header > 20.0, worst_header    # on its header stamps arm2 is 400 ms off
        clocks = {name: dict(group.attrs) for name, group in h5["meta/clocks"].items()}
        assert {name: (c["time_source"], c["method"], c["offset_ns"], c["drift_ppm"])
                for name, c in clocks.items()} == {"arm1": ("header", "none", 0, 0.0),
                                                   "arm2": ("log", "none", 0, 0.0),
                                                   "depth": ("header", "fixed", -350 * MS, 0.0)}
        assert plain["meta/clocks/arm2"].attrs["time_source"] == "header"
    assert [w for w in plain_summary.warnings if "stream arm2" in w]
    assert not [w for w in summary.warnings if "clock" in w], summary.warnings


def test_a_bag_with_a_depth_topic_builds_by_discovery(make_bag, tmp_path) -> None:
    bag, cell = make_bag(duration_s=1.0, cameras=1, lidar=False, depth=True, camera_info=True)
    out = tmp_path / "auto.h5"
    build_dataset([bag], out)
    assert validate_dataset(out).problems == []
    with h5py.File(out, "r") as h5:
        demo = demos(h5)[0]
        assert demo["obs/depth"].dtype == np.uint16 and demo["obs/depth"].ndim == 3
        assert demo["obs/cam1"].dtype == np.uint8 and demo["obs/cam1"].ndim == 4
        assert "depth" in h5["meta/cameras"] and "cam1" in h5["meta/cameras"]
        stamp = int(chosen(demo, "depth")[0])
        np.testing.assert_array_equal(demo["obs/depth"][0], cell.depth_truth(1, stamp))

"""Low-dim streams from any message (`field:` paths), one joint order per dataset, actions from
any low-dim streams, masks by outcome/task and next_obs: built from small bags whose every value
is a known function of time, so each frame is checked against that function."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import yaml

from robot_logger.core import messages
from robot_logger.dataset.build.config import config_from_dict, resolve_streams
from robot_logger.dataset.build.pipeline import build_dataset
from robot_logger.dataset.read.validate import validate_dataset
from robot_logger.errors import ConfigError
from tests.support.bag_factory import START_NS, Msg, event_msgs, image_msgs, write_bag

MS = 1_000_000
S = 1_000_000_000
TYPES = messages.typestore().types
CELL_TOPICS = {"/arm/joint_states": messages.JOINT_STATE, "/cam/image_raw": messages.IMAGE}
SLOPE = {"a": 1.0, "b": -2.0, "c": 0.5}


def truth(name: str, stamp_ns: np.ndarray | int) -> Any:
    """Joint `name`'s value at a time: a line, so linear interpolation is exact."""
    return SLOPE[name] * (np.asarray(stamp_ns) - START_NS) / 1e9


def joint_msgs(topic: str, names_at: Any, period_ns: int, count: int) -> list[Msg]:
    """JointStates whose names (and order) come from names_at(stamp); position = truth."""
    out = []
    for i in range(count):
        stamp = START_NS + i * period_ns
        names = names_at(stamp)
        msg = messages.joint_state(stamp, names, [truth(n, stamp) for n in names],
                                   np.zeros(len(names)), np.zeros(0))
        out.append(Msg(topic, messages.JOINT_STATE, stamp + MS,
                       messages.serialize(msg, messages.JOINT_STATE)))
    return out


def typed(topic: str, msgtype: str, log_ns: int, msg: Any) -> Msg:
    return Msg(topic, msgtype, log_ns, messages.serialize(msg, msgtype))


def wrench(stamp: int) -> Any:
    t = (stamp - START_NS) / 1e9
    vec = TYPES["geometry_msgs/msg/Vector3"]
    frame = "tool" if stamp < START_NS + 2 * S else "tool_b"   # layout changes at 2 s
    return TYPES["geometry_msgs/msg/WrenchStamped"](
        header=messages.header(stamp, frame),
        wrench=TYPES["geometry_msgs/msg/Wrench"](force=vec(x=t, y=2 * t, z=-t),
                                                 torque=vec(x=0.1, y=0.2, z=0.3)))


def trajectory(stamp: int, names: list[str]) -> Any:
    point = TYPES["trajectory_msgs/msg/JointTrajectoryPoint"](
        positions=np.array([truth(n, stamp) + 1.0 for n in names]), velocities=np.zeros(0),
        accelerations=np.zeros(0), effort=np.zeros(0),
        time_from_start=TYPES["builtin_interfaces/msg/Duration"](sec=0, nanosec=10 * MS))
    return TYPES["trajectory_msgs/msg/JointTrajectory"](
        header=messages.header(stamp, ""), joint_names=names, points=[point])


def write_config(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / f"config_{len(list(tmp_path.glob('config_*')))}.yaml"
    path.write_text(yaml.safe_dump({"rate_hz": 20, "split": {"valid_fraction": 0.0}, **data}))
    return path


def build(tmp_path: Path, bag: Path, config: dict[str, Any], name: str = "out.h5"
          ) -> tuple[h5py.File, Any]:
    out = tmp_path / name
    summary = build_dataset([bag], out, config_path=write_config(tmp_path, config))
    assert validate_dataset(out).problems == []
    return h5py.File(out, "r"), summary


# --- issue 14 item 5: actions config defects -----------------------------------------------

def test_actions_from_an_image_stream_is_an_error_naming_the_key() -> None:
    """Seen failing before: `actions: {stream: cam}` passed and died later while writing."""
    config = config_from_dict({"streams": {"arm": {"topic": "/arm/joint_states"},
                                           "cam": {"topic": "/cam/image_raw"}},
                               "actions": {"stream": "cam"}}, "c.yaml")
    with pytest.raises(ConfigError, match=r"^c.yaml: actions.stream: 'cam' is a"):
        resolve_streams(config, CELL_TOPICS, "bag")


@pytest.mark.parametrize("actions, key", [({"shift": 2}, "actions.shift"),
                                          ({}, "actions.stream"),
                                          ({"stream": "arm", "field": "velocity"},
                                           "actions.field")])
def test_actions_without_a_source_are_an_error_naming_the_key(actions: dict, key: str) -> None:
    """Seen failing before: `actions: {shift: 2}` alone gave zero-width actions."""
    with pytest.raises(ConfigError, match=f"^c.yaml: {key}"):
        config_from_dict({"streams": {"arm": {"topic": "/arm/joint_states"}},
                          "actions": actions}, "c.yaml")


def test_an_action_topic_that_is_not_low_dim_is_an_error() -> None:
    config = config_from_dict({"streams": {"arm": {"topic": "/arm/joint_states"}},
                               "actions": {"topic": "/cam/image_raw"}}, "c.yaml")
    with pytest.raises(ConfigError, match="^c.yaml: actions.topic: '/cam/image_raw' is a image"):
        resolve_streams(config, CELL_TOPICS, "bag")


# --- issue 14 item 6: one joint order -------------------------------------------------------

def test_one_joint_order_for_the_whole_dataset(tmp_path: Path) -> None:
    """Seen failing before ("joint names differ between episodes"): episode 2 publishes a
    reordered subset, its command topic another order; columns and actions stay matched by name.
    A joint missing from an episode is 0.0 with valid false and a warning."""
    def order(stamp: int) -> list[str]:          # episodes: 0-2 s and 3-5 s
        return ["a", "b", "c"] if stamp < START_NS + 2_450 * MS else ["c", "a"]

    def cmd_order(stamp: int) -> list[str]:
        return ["b", "c", "a"] if stamp < START_NS + 2_450 * MS else ["a", "c", "b"]

    msgs = joint_msgs("/arm/joint_states", order, 5 * MS, 1100)
    msgs += joint_msgs("/arm/command", cmd_order, 5 * MS, 1100)
    msgs += event_msgs([("pick", "success"), ("place", "failure")], period_ns=S)
    bag = write_bag(tmp_path / "bag", msgs)
    h5, summary = build(tmp_path, bag, {
        "streams": {"arm": {"topic": "/arm/joint_states"}},
        "actions": {"topic": "/arm/command", "align": "interpolate", "tolerance_ms": 10,
                    "shift": 0}})
    with h5:
        assert h5["meta/joint_names/arm"][()].tolist() == [b"a", b"b", b"c"]
        assert h5["meta/action_names"][()].tolist() == [b"b", b"c", b"a"]
        first, second = h5["data/demo_0"], h5["data/demo_1"]
        t = first["timestamps"][()]
        np.testing.assert_allclose(first["obs/arm"][()],
                                   np.stack([truth(n, t) for n in "abc"], 1), atol=1e-6)
        np.testing.assert_allclose(first["actions"][()],
                                   np.stack([truth(n, t) for n in "bca"], 1), atol=1e-6)
        assert first["valid/arm"][()].all() and first["valid/actions"][()].all()
        t = second["timestamps"][()]
        obs = second["obs/arm"][()]
        np.testing.assert_allclose(obs[:, [0, 2]], np.stack([truth(n, t) for n in "ac"], 1),
                                   atol=1e-6)
        assert (obs[:, 1] == 0).all() and not second["valid/arm"][()].any()
        np.testing.assert_allclose(second["actions"][()],
                                   np.stack([truth(n, t) for n in "bca"], 1), atol=1e-6)
    assert any("stream arm" in w and "joint(s) b" in w for w in summary.warnings)


# --- `field:` into any message ---------------------------------------------------------------

def sensor_bag(tmp_path: Path) -> Path:
    """F/T at 250 Hz, a gripper Float64 at 100 Hz, JointTrajectory commands at 100 Hz with
    another joint order than the JointStates, two episodes (success, failure). The F/T frame_id
    changes at 2 s, so episode 1 reads it by the raw-CDR fast path and episode 2 (whose window
    holds both layouts) by deserializing: both are checked against the truth."""
    msgs = joint_msgs("/arm/joint_states", lambda _s: ["a", "b", "c"], 4 * MS, 700)
    for i in range(700):
        stamp = START_NS + i * 4 * MS
        msgs.append(typed("/arm/ft", "geometry_msgs/msg/WrenchStamped", stamp + MS,
                          wrench(stamp)))
    for i in range(280):
        stamp = START_NS + i * 10 * MS
        gripper = TYPES["std_msgs/msg/Float64"](data=float(i))
        msgs.append(typed("/arm/gripper", "std_msgs/msg/Float64", stamp, gripper))
        msgs.append(typed("/arm/cmd", "trajectory_msgs/msg/JointTrajectory", stamp + MS,
                          trajectory(stamp, ["c", "b", "a"])))
    msgs += event_msgs([("weld seam A3", "success"), ("pick", "failure")])
    return write_bag(tmp_path / "bag", msgs)


SENSOR_STREAMS = {
    "arm": {"topic": "/arm/joint_states"},
    "force": {"topic": "/arm/ft", "field": "wrench.force", "align": "interpolate"},
    "ft": {"topic": "/arm/ft"},
    "gripper": {"topic": "/arm/gripper", "align": "previous", "tolerance_ms": 15},
    "cmd": {"topic": "/arm/cmd"},
}


def test_numeric_fields_of_any_message_match_their_truth(tmp_path: Path) -> None:
    bag = sensor_bag(tmp_path)
    h5, _ = build(tmp_path, bag, {"streams": SENSOR_STREAMS,
                                  "actions": {"stream": ["cmd", "gripper"], "shift": 0},
                                  "masks": {"by": ["outcome", "task"]}})
    with h5:
        assert h5["meta/joint_names/force"][()].tolist() == [b"x", b"y", b"z"]
        assert h5["meta/joint_names/ft"][()].tolist() == [
            b"force.x", b"force.y", b"force.z", b"torque.x", b"torque.y", b"torque.z"]
        assert h5["meta/joint_names/cmd"][()].tolist() == [b"c", b"b", b"a"]
        assert h5["meta/action_names"][()].tolist() == [
            b"cmd/c", b"cmd/b", b"cmd/a", b"gripper/data"]
        for demo in (h5["data/demo_0"], h5["data/demo_1"]):
            ref = demo["timestamps"][()]
            t = (ref - START_NS) / 1e9
            np.testing.assert_allclose(demo["obs/force"][()], np.stack([t, 2 * t, -t], 1),
                                       atol=1e-4)
            assert demo["obs/ft"].shape == (len(ref), 6)
            held = np.floor((ref - START_NS) / (10 * MS))        # previous sample's index
            np.testing.assert_array_equal(demo["obs/gripper"][()][:, 0], held)
            # commands: previous by default (a command holds), stamped at the header
            cmd_stamp = START_NS + held * 10 * MS
            expected = np.stack([truth(n, cmd_stamp) + 1.0 for n in "cba"], 1)
            np.testing.assert_allclose(demo["obs/cmd"][()], expected, atol=1e-6)
            np.testing.assert_allclose(demo["actions"][()],
                                       np.concatenate([expected, held[:, None]], 1), atol=1e-6)
            assert demo["valid/actions"][()].all()
            np.testing.assert_array_equal(demo["next_obs/force"][()][:-1],
                                          demo["obs/force"][()][1:])
            np.testing.assert_array_equal(demo["next_obs/force"][()][-1],
                                          demo["obs/force"][()][-1])
        assert h5["mask/success"][()].tolist() == [b"demo_0"]
        assert h5["mask/failure"][()].tolist() == [b"demo_1"]
        assert h5["mask/weld_seam_a3"][()].tolist() == [b"demo_0"]
        assert h5["mask/pick"][()].tolist() == [b"demo_1"]


@pytest.mark.parametrize("stream, match", [
    ({"topic": "/arm/ft", "field": "wrench.forse"},
     r"streams.x.field: 'wrench.forse' in geometry_msgs/msg/WrenchStamped: wrench has no field "
     r"'forse' \(fields: force, torque\)"),
    ({"topic": "/arm/ft", "field": "header.frame_id"}, "streams.x.field: .* is text"),
    ({"topic": "/arm/gripper", "field": "data", "resize": [2, 2]}, "streams.x.resize"),
    ({"topic": "/arm/gripper", "clock_offset_ms": 5}, "streams.x.clock_offset_ms: .* no header"),
])
def test_field_errors_name_the_stream_key(tmp_path: Path, stream: dict, match: str) -> None:
    bag = sensor_bag(tmp_path)
    with pytest.raises(ConfigError, match=match):
        build_dataset([bag], tmp_path / "x.h5",
                      config_path=write_config(tmp_path, {"streams": {"x": stream}}))
    assert not list(tmp_path.glob("x.*"))


def test_image_streams_keep_working_beside_new_streams(tmp_path: Path) -> None:
    msgs = image_msgs("/cam/image_raw", 30, 50 * MS) + \
        joint_msgs("/arm/joint_states", lambda _s: ["a", "b"], 10 * MS, 150)
    bag = write_bag(tmp_path / "bag", msgs)
    h5, _ = build(tmp_path, bag, {"streams": {"cam": {"topic": "/cam/image_raw"},
                                              "arm": {"topic": "/arm/joint_states"}}})
    with h5:
        demo = h5["data/demo_0"]
        assert demo["obs/cam"].dtype == np.uint8 and demo["next_obs"].keys() == {"arm"}
        assert h5["meta/action_names"].shape == (0,)


# --- depth and calibration from hand-made messages -------------------------------------------

def camera_info(stamp: int, fx: float) -> Any:
    k = np.array([fx, 0, 3.5, 0, fx, 2.5, 0, 0, 1])
    return TYPES["sensor_msgs/msg/CameraInfo"](
        header=messages.header(stamp, "depth_optical"), height=6, width=8,
        distortion_model="plumb_bob", d=np.zeros(5), k=k, r=np.eye(3).reshape(-1),
        p=np.concatenate([k.reshape(3, 3), np.zeros((3, 1))], 1).reshape(-1), binning_x=0,
        binning_y=0, roi=TYPES["sensor_msgs/msg/RegionOfInterest"](
            x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))


def test_a_16_bit_png_depth_topic_builds_exact_and_a_changed_calibration_warns(tmp_path) -> None:
    """Before, a 16-bit png was converted to 8 bits (values clipped at 255) and discovery took
    it for a colour camera."""
    from io import BytesIO

    from PIL import Image as PILImage
    rng = np.random.default_rng(3)
    frames = rng.integers(256, 65535, (20, 6, 8), dtype=np.uint16)
    msgs = []
    for i, pixels in enumerate(frames):
        stamp = START_NS + i * 50 * MS
        png = BytesIO()
        PILImage.fromarray(pixels).save(png, format="png")
        msg = TYPES[messages.COMPRESSED_IMAGE](header=messages.header(stamp, "depth_optical"),
                                               format="16UC1; png compressed",
                                               data=np.frombuffer(png.getvalue(), np.uint8))
        msgs.append(typed("/cam/depth/image_raw/compressed", messages.COMPRESSED_IMAGE,
                          stamp + 5 * MS, msg))
        msgs.append(typed("/cam/depth/camera_info", "sensor_msgs/msg/CameraInfo", stamp + 5 * MS,
                          camera_info(stamp, 100.0 if i < 12 else 101.0)))
    bag = write_bag(tmp_path / "bag", msgs)
    out = tmp_path / "auto.h5"
    summary = build_dataset([bag], out, rate_hz=20)
    assert validate_dataset(out).problems == []
    with h5py.File(out, "r") as h5:
        demo = h5["data/demo_0"]
        depth = demo["obs/depth"][()]
        assert depth.dtype == np.uint16 and depth.shape[1:] == (6, 8)
        index = (demo["timestamps"][()] + demo["age_ns/depth"][()] - START_NS) // (50 * MS)
        np.testing.assert_array_equal(depth, frames[index])
        assert h5["meta/cameras/depth/K"][0, 0] == 100.0
    [warning] = [w for w in summary.warnings if "calibration" in w]
    assert "stream depth" in warning and "/cam/depth/camera_info" in warning
    assert f"{(START_NS + 12 * 50 * MS + 5 * MS) / 1e9:.3f} s" in warning


def tf_message(stamp: int, edges: list[tuple[str, str, tuple[float, float, float]]]) -> Any:
    quat = TYPES["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0)
    return TYPES["tf2_msgs/msg/TFMessage"](transforms=[
        TYPES["geometry_msgs/msg/TransformStamped"](
            header=messages.header(stamp, parent), child_frame_id=child,
            transform=TYPES["geometry_msgs/msg/Transform"](
                translation=TYPES["geometry_msgs/msg/Vector3"](*xyz), rotation=quat))
        for parent, child, xyz in edges])


def test_extrinsics_through_a_moving_frame_use_its_first_pose_with_a_warning(tmp_path) -> None:
    msgs = [typed("/tf_static", "tf2_msgs/msg/TFMessage", START_NS,
                  tf_message(START_NS, [("world", "base_link", (1.0, 0.0, 0.0)),
                                        ("flange", "/wrist_cam", (0.0, 0.0, 0.1))]))]
    for i in range(100):
        stamp = START_NS + i * 10 * MS
        msgs.append(typed("/tf", "tf2_msgs/msg/TFMessage", stamp,
                          tf_message(stamp, [("base_link", "flange", (0.0, 0.01 * i, 0.5))])))
    msgs += [typed("/cam/image_raw", messages.IMAGE, START_NS + i * 50 * MS + MS,
                   messages.image(START_NS + i * 50 * MS, np.zeros((4, 4, 3), np.uint8),
                                  frame_id="wrist_cam")) for i in range(20)]
    bag = write_bag(tmp_path / "bag", msgs)
    h5, summary = build(tmp_path, bag, {"streams": {"cam": {"topic": "/cam/image_raw"}},
                                        "frames": {"base": "world"}})
    with h5:
        expected = np.eye(4)
        expected[:3, 3] = [1.0, 0.0, 0.6]          # first pose of the flange + the camera
        np.testing.assert_allclose(h5["meta/extrinsics/cam"][()], expected, atol=1e-12)
        assert set(h5["meta/frames/child"][()].astype(str)) == {"base_link", "wrist_cam"}
    assert any("stream cam" in w and "through /tf" in w for w in summary.warnings)


def test_float64_multi_array_commands_are_named_by_joints(tmp_path) -> None:
    """ros2_control's forward controllers publish Float64MultiArray (no header: log time)."""
    layout = TYPES["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0)
    msgs = [typed("/arm/commands", "std_msgs/msg/Float64MultiArray", START_NS + i * 10 * MS,
                  TYPES["std_msgs/msg/Float64MultiArray"](
                      layout=layout, data=np.array([i, -i, 2.0 * i], np.float64)))
            for i in range(120)]
    bag = write_bag(tmp_path / "bag", msgs)
    h5, _ = build(tmp_path, bag, {
        "streams": {"fwd": {"topic": "/arm/commands", "joints": ["j1", "j2", "j3"],
                            "tolerance_ms": 15}},
        "actions": {"stream": "fwd", "shift": 0}})
    with h5:
        assert h5["meta/joint_names/fwd"][()].tolist() == [b"j1", b"j2", b"j3"]
        demo = h5["data/demo_0"]
        held = (demo["timestamps"][()] - START_NS) // (10 * MS)   # previous: commands hold
        np.testing.assert_array_equal(demo["obs/fwd"][()],
                                      np.stack([held, -held, 2.0 * held], 1))
        assert h5["meta/action_names"][()].tolist() == [b"fwd/j1", b"fwd/j2", b"fwd/j3"]
    with pytest.raises(ConfigError, match="streams.fwd.joints: 2 names for the 3 values"):
        build_dataset([bag], tmp_path / "bad.h5", config_path=write_config(
            tmp_path, {"streams": {"fwd": {"topic": "/arm/commands", "joints": ["a", "b"]}}}))


def test_joints_listed_in_the_config_leave_the_rest_out_without_a_warning(tmp_path) -> None:
    bag = write_bag(tmp_path / "bag", joint_msgs("/arm/joint_states",
                                                 lambda _s: ["a", "b", "c"], 10 * MS, 100))
    h5, summary = build(tmp_path, bag, {"streams": {"arm": {"topic": "/arm/joint_states",
                                                            "joints": ["c", "a"]}}})
    with h5:
        assert h5["meta/joint_names/arm"][()].tolist() == [b"c", b"a"]
        t = h5["data/demo_0/timestamps"][()]
        np.testing.assert_allclose(h5["data/demo_0/obs/arm"][()],
                                   np.stack([truth("c", t), truth("a", t)], 1), atol=1e-6)
    assert not [w for w in summary.warnings if "stream arm" in w]


def test_camera_info_named_in_the_config(tmp_path) -> None:
    msgs = image_msgs("/cam/image_raw", 20, 50 * MS, shape=(6, 8))
    msgs += [typed("/calib/cam_info", "sensor_msgs/msg/CameraInfo", START_NS + i * 50 * MS,
                   camera_info(START_NS + i * 50 * MS, 100.0)) for i in range(20)]
    bag = write_bag(tmp_path / "bag", msgs)
    stream = {"topic": "/cam/image_raw", "camera_info": "/calib/cam_info", "resize": [3, 4]}
    h5, _ = build(tmp_path, bag, {"streams": {"cam": stream}})
    with h5:
        k = h5["meta/cameras/cam/K"][()]
        np.testing.assert_array_equal(k, [[50.0, 0, 1.5], [0, 50.0, 1.0], [0, 0, 1]])
        assert (h5["meta/cameras/cam"].attrs["width"], h5["meta/cameras/cam"].attrs["height"]) \
            == (4, 3)
    with pytest.raises(ConfigError, match="streams.cam.camera_info: topic '/nope' is not in"):
        build_dataset([bag], tmp_path / "x.h5", config_path=write_config(
            tmp_path, {"streams": {"cam": {**stream, "camera_info": "/nope"}}}))

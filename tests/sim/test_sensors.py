"""The simulator's optional streams against their analytic truth: JointTrajectory commands,
gripper, wrist F/T, depth, CameraInfo, /tf_static and device clocks (sim/tool.py, sim/frames.py,
the depth renderer in sim/camera.py, the clock faults in sim/faults.py)."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from click.testing import CliRunner
from rosbags.highlevel import AnyReader

from robot_logger.cli import main
from robot_logger.core.messages import (
    CAMERA_INFO,
    FLOAT64,
    IMAGE,
    JOINT_TRAJECTORY,
    TF_MESSAGE,
    WRENCH_STAMPED,
    deserialize,
    header,
    image,
    serialize,
    stamp_to_ns,
    typestore,
)
from robot_logger.errors import ConfigError
from robot_logger.sim import Cell, CellSpec, parse_faults
from robot_logger.sim.camera import camera_pose
from robot_logger.sim.cdr import (
    float64_template,
    image_template,
    trajectory_template,
    wrench_template,
)
from robot_logger.sim.cell import COMMAND_LOOKAHEAD_NS, COMMAND_POINTS, COMMAND_STEP_NS
from robot_logger.sim.kinematics import LINK_RADII
from robot_logger.sim.spec import SENSORS
from robot_logger.sim.tool import (
    CONTACTS,
    GRASP_AT,
    GRIPPER_MOVE_S,
    OPEN_M,
    PART_WIDTH_M,
    RELEASE_AT,
    TOOL_TIP_M,
)

SMALL = {"duration_s": 2.0, "image_height": 48, "image_width": 64, "lidar_points": 512}
ALL = dict.fromkeys(SENSORS, True)
CMD1 = "/cell/arm1/joint_trajectory_controller/joint_trajectory"
FT1, DEPTH1 = "/cell/arm1/ft", "/cell/cam1/depth/image_raw"


def cell_with(faults: str = "", **fields: object) -> Cell:
    return Cell(CellSpec(**{**SMALL, **ALL, **fields}), parse_faults(faults))


def decoded(cell: Cell, topic: str) -> list[tuple[int, object]]:
    """(SimMessage.stamp_ns, message) of one topic."""
    return [(m.stamp_ns, deserialize(m.data, m.msgtype)) for m in cell.messages()
            if m.topic == topic]


def test_optional_streams_are_off_by_default_and_leave_other_topics_untouched():
    plain = Cell(CellSpec(**SMALL))
    full = cell_with()
    assert not any(getattr(plain.spec, name) for name in SENSORS)
    assert list(full.topics())[:len(plain.topics())] == list(plain.topics())
    old = set(plain.topics())
    assert [m for m in full.messages() if m.topic in old] == list(plain.messages())


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_bag_with_every_stream_decodes_with_anyreader(make_bag, storage):
    path, cell = make_bag(storage=storage, **ALL)
    with AnyReader([path], default_typestore=typestore()) as reader:
        counts = Counter(c.topic for c, _, raw in reader.messages()
                         if reader.deserialize(raw, c.msgtype) is not None)
        qos = {c.topic: c.ext.offered_qos_profiles for c in reader.connections}
        types = {c.topic: c.msgtype for c in reader.connections}
    assert types == cell.topics()
    for arm in (1, 2):
        assert counts[f"/cell/arm{arm}/joint_trajectory_controller/joint_trajectory"] == 200
        assert counts[f"/cell/arm{arm}/gripper/position"] == 200
        assert counts[f"/cell/arm{arm}/gripper/command"] == 200
        assert counts[f"/cell/arm{arm}/ft"] == 500
    for cam in (1, 2):
        assert counts[f"/cell/cam{cam}/camera_info"] == counts[f"/cell/cam{cam}/image_raw"] == 60
        assert counts[f"/cell/cam{cam}/depth/image_raw"] == 30
        assert counts[f"/cell/cam{cam}/depth/camera_info"] == 30
    assert counts["/tf_static"] == 1
    (tf_qos,) = qos["/tf_static"]
    assert (tf_qos.reliability.name, tf_qos.durability.name, tf_qos.depth) == \
        ("RELIABLE", "TRANSIENT_LOCAL", 1)


def test_cdr_templates_of_the_new_streams_match_the_rosbags_serializer():
    types = typestore().types
    rng = np.random.default_rng(1)
    names = [f"j{i}" for i in range(6)]
    ahead = [50_000_000, 1_070_000_000]
    cols = rng.normal(size=(4, 2, 6))
    stamps = np.array([1_700_000_000_123_456_789, 3])
    rows = trajectory_template(names, ahead, "base").batch(stamps, *cols)
    for k in range(2):
        points = [types["trajectory_msgs/msg/JointTrajectoryPoint"](
            positions=cols[2 * p][k], velocities=cols[2 * p + 1][k], accelerations=np.empty(0),
            effort=np.empty(0), time_from_start=types["builtin_interfaces/msg/Duration"](
                sec=ns // 10**9, nanosec=ns % 10**9)) for p, ns in enumerate(ahead)]
        want = types[JOINT_TRAJECTORY](header=header(stamps[k], "base"), joint_names=names,
                                       points=points)
        assert rows[k].tobytes() == serialize(want, JOINT_TRAJECTORY)
    force, torque = rng.normal(size=(2, 2, 3))
    rows = wrench_template("ft").batch(stamps, force, torque)
    vec = types["geometry_msgs/msg/Vector3"]
    for k in range(2):
        want = types[WRENCH_STAMPED](header=header(stamps[k], "ft"), wrench=types[
            "geometry_msgs/msg/Wrench"](force=vec(*force[k]), torque=vec(*torque[k])))
        assert rows[k].tobytes() == serialize(want, WRENCH_STAMPED)
    (row,) = float64_template().batch(stamps[:1], np.array([0.0425]))
    assert row.tobytes() == serialize(types[FLOAT64](data=0.0425), FLOAT64)
    depth = rng.integers(0, 65535, (5, 7), dtype=np.uint16)
    assert image_template(5, 7, "d", "16UC1").encode(42, depth.tobytes()) == \
        serialize(image(42, depth, "16UC1", "d"), IMAGE)


# --- commands ------------------------------------------------------------------------------------

def test_trajectory_commands_equal_the_plan_ahead_of_the_joints():
    cell = cell_with(duration_s=4.0, episodes=1, cameras=0, lidar=False)
    msgs = decoded(cell, CMD1)
    stamps = np.array([stamp_to_ns(m.header.stamp) for _, m in msgs])
    assert msgs[0][1].joint_names == cell.joint_names(1)
    assert [len(m.points) for _, m in msgs] == [COMMAND_POINTS] * len(msgs) == [3] * 400
    for k in range(COMMAND_POINTS):
        pos, vel = cell.command_truth(1, stamps + k * COMMAND_STEP_NS)
        np.testing.assert_array_equal(np.stack([m.points[k].positions for _, m in msgs]), pos)
        np.testing.assert_array_equal(np.stack([m.points[k].velocities for _, m in msgs]), vel)
        assert {stamp_to_ns(m.points[k].time_from_start) for _, m in msgs} == \
            {COMMAND_LOOKAHEAD_NS + k * COMMAND_STEP_NS}
    measured_later, _, _ = cell.joint_truth(1, stamps + COMMAND_LOOKAHEAD_NS)
    np.testing.assert_array_equal(cell.command_truth(1, stamps)[0], measured_later)
    measured_now, speed, _ = cell.joint_truth(1, stamps)
    moving = np.abs(speed).max(axis=1) > 0.5
    assert moving.sum() > 50, "the arm should move"
    lead = cell.command_truth(1, stamps)[0] - measured_now
    fast = np.abs(speed) > 0.5
    assert (np.sign(lead[fast]) == np.sign(speed[fast])).all(), "the command is ahead"


# --- gripper -------------------------------------------------------------------------------------

def test_gripper_follows_the_pick_and_place_phases():
    cell = cell_with(duration_s=16.0, episodes=4, cameras=0, lidar=False, arms=1, seed=5)
    positions = decoded(cell, "/cell/arm1/gripper/position")
    commands = decoded(cell, "/cell/arm1/gripper/command")
    stamps = np.array([s for s, _ in positions])
    opening, command = cell.gripper_truth(1, stamps)
    np.testing.assert_array_equal([m.data for _, m in positions], opening)
    np.testing.assert_array_equal([m.data for _, m in commands],
                                  cell.gripper_truth(1, np.array([s for s, _ in commands]))[1])
    kinds = {e.task.split(" ")[0] for e in cell.episodes()}
    assert kinds == {"pick", "weld"}
    for episode in cell.episodes():
        inside = (stamps >= episode.start_ns) & (stamps < episode.end_ns)
        if episode.task.startswith("weld"):
            assert (opening[inside] == OPEN_M).all() and (command[inside] == OPEN_M).all()
            continue
        phases = {name: (a, b) for name, a, b in episode.phases}
        (a, b), place = phases["grasp"], phases.get("place", phases["retreat"])
        close = a + int(GRASP_AT * (b - a))
        release = place[0] + int(RELEASE_AT * (place[1] - place[0])) if "place" in phases \
            else place[0]
        closing = (stamps >= close) & (stamps < release)
        holding = (stamps >= close + GRIPPER_MOVE_S * 1e9) & (stamps < release)
        assert holding.sum() > 10 and (command[closing] == 0.0).all()
        assert (opening[holding] == PART_WIDTH_M).all()
        assert (command[inside & ~closing] == OPEN_M).all()
        assert (opening[inside] >= PART_WIDTH_M).all()
    assert (opening[stamps < cell.episodes()[0].start_ns] == OPEN_M).all()
    speed = np.abs(np.diff(opening)) / (np.diff(stamps) * 1e-9)
    assert speed.max() <= (OPEN_M - PART_WIDTH_M) * 1.875 / GRIPPER_MOVE_S + 1e-9


# --- wrist force/torque --------------------------------------------------------------------------

def test_wrench_equals_truth_with_contact_only_in_contact_phases():
    cell = cell_with(duration_s=16.0, episodes=4, cameras=0, lidar=False, seed=5)
    for arm in (1, 2):
        msgs = decoded(cell, f"/cell/arm{arm}/ft")
        stamps = np.array([stamp_to_ns(m.header.stamp) for _, m in msgs])
        force, torque = cell.wrench_truth(arm, stamps)
        got_f = np.array([[m.wrench.force.x, m.wrench.force.y, m.wrench.force.z] for _, m in msgs])
        got_t = np.array([[m.wrench.torque.x, m.wrench.torque.y, m.wrench.torque.z]
                          for _, m in msgs])
        np.testing.assert_array_equal(got_f, force)
        np.testing.assert_array_equal(got_t, torque)
        assert msgs[0][1].header.frame_id == f"arm{arm}_ft_sensor"
        np.testing.assert_allclose(torque, np.cross([0.0, 0.0, TOOL_TIP_M], force), atol=1e-12)
        contact = np.zeros(len(stamps), bool)
        for episode in cell.episodes():
            for name, a, b in episode.phases:
                if name in CONTACTS:
                    contact |= (stamps >= a) & (stamps < b)
                    peak = np.abs(force[(stamps >= a) & (stamps < b), 2]).max()
                    scale = 1.0 + 0.1 * (arm - 1)
                    assert 0.9 * CONTACTS[name].magnitude * scale < peak \
                        <= CONTACTS[name].magnitude * scale
        assert (force[~contact] == 0.0).all() and contact.any()
    weld = [p for e in cell.episodes() for p in e.phases if p[0] == "weld"]
    assert weld, "seed 5 has a weld episode"
    edges = np.array([t for _, a, b in weld for t in (a, b)])
    for side in (edges - 1, edges + 1):
        np.testing.assert_allclose(cell.wrench_truth(1, side)[0], 0.0, atol=1e-6)


# --- depth, calibration, frames ------------------------------------------------------------------

def test_depth_frames_equal_truth_and_the_floor_where_geometry_says():
    cell = cell_with(duration_s=3.0, episodes=1, lidar=False)
    msgs = [m for m in cell.messages() if m.topic == DEPTH1]
    first = deserialize(msgs[0].data, IMAGE)
    assert (first.encoding, first.height, first.width, first.step, first.is_bigendian) == \
        ("16UC1", 48, 64, 128, 0)
    frames = []
    for m in msgs:
        depth = deserialize(m.data, IMAGE).data.view("<u2").reshape(48, 64)
        np.testing.assert_array_equal(depth, cell.depth_truth(1, m.stamp_ns))
        frames.append(depth)
    # the floor, from the published K and the /tf_static pose alone
    calib = cell.calibration(1, depth=True)
    world_T_cam = cell.frame_pose(calib.frame_id)
    v, u = np.mgrid[0:48, 0:64]
    rays = np.stack([(u - calib.k[0, 2]) / calib.k[0, 0], (v - calib.k[1, 2]) / calib.k[1, 1],
                     np.ones(u.shape)], axis=-1) @ world_T_cam[:3, :3].T
    z_floor = -world_T_cam[2, 3] / rays[..., 2]       # camera z of the floor hit (ray z-unit)
    hit = world_T_cam[:3, 3] + rays * z_floor[..., None]
    in_room = (rays[..., 2] < 0) & (np.abs(hit[..., 0]) < 4) & (hit[..., 1] > -5) & \
        (hit[..., 1] < 3)
    expected = np.rint(z_floor * 1000)
    still = frames[0]
    assert (still[in_room] <= expected[in_room] + 1).all(), "nothing is beyond the floor"
    floor = in_room & (np.abs(still - expected) <= 1)
    assert floor.sum() > 0.3 * still.size
    assert (still[floor] == expected[floor]).mean() > 0.99


def test_calibration_and_frames_put_the_arm_where_the_cameras_draw_it():
    cell = cell_with(duration_s=3.0, episodes=1, lidar=False, arms=1)
    msgs = {m.topic: m for m in reversed(list(cell.messages()))}   # the first of each
    info = deserialize(msgs["/cell/cam1/camera_info"].data, CAMERA_INFO)
    calib = cell.calibration(1)
    np.testing.assert_array_equal(info.k.reshape(3, 3), calib.k)
    np.testing.assert_array_equal(info.p.reshape(3, 4), calib.p)
    np.testing.assert_array_equal(info.r.reshape(3, 3), np.eye(3))
    np.testing.assert_array_equal(info.d, np.zeros(5))
    assert (info.width, info.height, info.distortion_model, info.header.frame_id) == \
        (64, 48, "plumb_bob", "cam1_optical_frame")
    np.testing.assert_allclose(calib.k, [[54.4, 0, 31.5], [0, 54.4, 23.5], [0, 0, 1]])
    image_stamps = [m.stamp_ns for m in cell.messages() if m.topic == "/cell/cam1/image_raw"]
    info_stamps = [m.stamp_ns for m in cell.messages() if m.topic == "/cell/cam1/camera_info"]
    assert image_stamps == info_stamps
    # the middle of the upper arm, projected with K and the published pose, is orange and near
    t = image_stamps[0]
    shoulder, elbow = cell.skeletons(np.array([t]))[0, 0, 1:3]
    point = (shoulder + elbow) / 2
    cam_T_world = np.linalg.inv(cell.frame_pose("cam1_optical_frame"))
    x, y, z = cam_T_world[:3, :3] @ point + cam_T_world[:3, 3]
    u, v = (calib.k @ [x / z, y / z, 1.0])[:2]
    pixel = (int(round(v)), int(round(u)))
    colour = deserialize(msgs["/cell/cam1/image_raw"].data, IMAGE).data.reshape(48, 64, 3)
    r, g, b = colour[pixel].astype(int)
    assert r > 150 and r > g + 40 > b + 40, (r, g, b)
    depth_mm = cell.depth_truth(1, t)[pixel]
    assert abs(depth_mm / 1000 - (z - LINK_RADII[1])) < 0.03


def test_static_transforms_compose_to_the_sensor_poses():
    cell = cell_with(arms=3, cameras=3)
    (msg,) = [deserialize(m.data, TF_MESSAGE) for m in cell.messages() if m.topic == "/tf_static"]
    truth = cell.static_transforms()
    assert [(t.header.frame_id, t.child_frame_id) for t in msg.transforms] == \
        [(t.parent, t.child) for t in truth]
    for got, want in zip(msg.transforms, truth):
        tr, q = got.transform.translation, got.transform.rotation
        np.testing.assert_array_equal([tr.x, tr.y, tr.z], want.translation)
        np.testing.assert_array_equal([q.x, q.y, q.z, q.w], want.rotation)
        assert abs(np.linalg.norm(want.rotation) - 1) < 1e-12 and want.rotation[3] >= 0
        assert stamp_to_ns(got.header.stamp) == cell.spec.start_ns
    children = [t.child for t in truth]
    assert len(set(children)) == len(children)
    assert all(t.parent == "world" or t.parent in children[:k] or t.parent.endswith("_flange")
               for k, t in enumerate(truth))
    optical = {t.child: t.rotation for t in truth}["cam1_optical_frame"]
    np.testing.assert_allclose(optical, [-0.5, 0.5, -0.5, 0.5], atol=1e-12)
    for cam in (1, 2, 3):
        position, world_to_optical = camera_pose(cam)
        for frame in (f"cam{cam}_optical_frame", f"cam{cam}_depth_optical_frame"):
            pose = cell.frame_pose(frame)
            np.testing.assert_allclose(pose[:3, :3], world_to_optical.T, atol=1e-12)
            np.testing.assert_allclose(pose[:3, 3], position, atol=1e-12)
    np.testing.assert_allclose(cell.frame_pose("lidar", "arm2_base_link")[:3, 3],
                               [0.0, -2.2, 2.4])
    with pytest.raises(KeyError, match="not connected"):
        cell.frame_pose("arm1_ft_sensor")


# --- device clocks -------------------------------------------------------------------------------

def test_device_clock_offsets_and_drifts_header_stamps_only():
    clean = cell_with(duration_s=3.0, cameras=1, lidar=False, arms=1)
    faults = f"{DEPTH1}:clock_offset_ms=350,drift_ppm=50;{FT1}:clock_offset_ms=-12.5,drift_ppm=-80"
    skewed = cell_with(faults, duration_s=3.0, cameras=1, lidar=False, arms=1)
    start = clean.spec.start_ns
    for topic, offset_ms, ppm in ((DEPTH1, 350.0, 50.0), (FT1, -12.5, -80.0)):
        before = [m for m in clean.messages() if m.topic == topic]
        after = [m for m in skewed.messages() if m.topic == topic]
        sample = np.array([m.stamp_ns for m in before])
        stamps = np.array([m.stamp_ns for m in after])
        np.testing.assert_array_equal(stamps, sample + np.rint(
            offset_ms * 1e6 + ppm * 1e-6 * (sample - start)).astype(np.int64))
        np.testing.assert_array_equal([stamp_to_ns(deserialize(m.data, m.msgtype).header.stamp)
                                       for m in after], stamps)
        assert [m.log_ns for m in after] == [m.log_ns for m in before]
        np.testing.assert_array_equal(skewed.sample_ns(topic, stamps), sample)
    untouched = {m.topic for m in clean.messages()} - {DEPTH1, FT1}
    assert [m for m in skewed.messages() if m.topic in untouched] == \
        [m for m in clean.messages() if m.topic in untouched]


# --- spec and CLI --------------------------------------------------------------------------------

def test_cli_sim_sensors_all_and_bad_names(tmp_path):
    out = tmp_path / "bag"
    args = ["sim", "-o", str(out), "--duration", "1", "--image-size", "64x48", "--no-lidar",
            "--lidar-points", "256", "--arms", "1", "--cameras", "1", "--sensors", "all",
            "--faults", "/cell/cam1/depth/*:clock_offset_ms=350,drift_ppm=50", "--json",
            "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    topics = json.loads(result.output)["topics"]
    assert topics[CMD1] == 100 and topics[DEPTH1] == 15 and topics["/tf_static"] == 1
    bad = CliRunner().invoke(main, ["sim", "-o", str(tmp_path / "x"), "--sensors", "lidar2"])
    assert bad.exit_code == 2 and "--sensors: unknown sensor 'lidar2'" in bad.output
    with pytest.raises(ConfigError, match="depth must be true or false"):
        CellSpec(depth=1)
    with pytest.raises(ConfigError, match="wrench_rate_hz must be a positive number"):
        CellSpec(wrench_rate_hz=0)

"""The simulator's optional streams (`sim --sensors all`) in real ROS 2 Humble and Jazzy: rclpy
deserializes every message of every new type (JointTrajectory, Float64, WrenchStamped, 16UC1
Image, CameraInfo, TFMessage) from both storages and serializes it back to the same bytes, and the
values it sees are the simulator's truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from robot_logger.sim import Cell, CellSpec, write_bag
from robot_logger.sim.spec import SENSORS
from tests.support.ros2 import Ros2

pytestmark = pytest.mark.ros2

SPEC = {"duration_s": 1.0, "image_height": 24, "image_width": 32, "lidar_points": 64,
        "arms": 1, "cameras": 1, **dict.fromkeys(SENSORS, True)}

# Run with ROS 2's python: every message through rclpy's own type support, as JSON
# {bag: {"counts": {topic: n}, "same": {topic: n re-serialized identically}, "values": {...}}}.
RCLPY_READ = """
import json, sys
import rosbag2_py
from rclpy.serialization import deserialize_message, serialize_message
from rosidl_runtime_py.utilities import get_message
out = {}
for uri in sys.argv[1:]:
    meta = rosbag2_py.Info().read_metadata(uri, "")
    reader = rosbag2_py.SequentialReader()
    reader.open(rosbag2_py.StorageOptions(uri=uri, storage_id=meta.storage_identifier),
                rosbag2_py.ConverterOptions("", ""))
    types = {t.name: t.type for t in reader.get_all_topics_and_types()}
    counts, same, first = {}, {}, {}
    while reader.has_next():
        topic, data, _ = reader.read_next()
        data = bytes(data)
        msg = deserialize_message(data, get_message(types[topic]))
        again = bytes(serialize_message(msg))
        padded = data + bytes(-len(data) % 4)
        counts[topic] = counts.get(topic, 0) + 1
        same[topic] = same.get(topic, 0) + (again in (data, padded))
        first.setdefault(topic, msg)
    info = first["/cell/cam1/depth/camera_info"]
    depth = first["/cell/cam1/depth/image_raw"]
    command = first["/cell/arm1/joint_trajectory_controller/joint_trajectory"]
    wrench = first["/cell/arm1/ft"]
    values = {
        "tf": [[t.header.frame_id, t.child_frame_id, t.transform.translation.x,
                t.transform.translation.y, t.transform.translation.z, t.transform.rotation.x,
                t.transform.rotation.y, t.transform.rotation.z, t.transform.rotation.w]
               for t in first["/tf_static"].transforms],
        "k": list(info.k), "p": list(info.p), "frame": info.header.frame_id,
        "depth": [depth.encoding, depth.step, depth.is_bigendian, list(depth.data[:64])],
        "command": [command.joint_names, list(command.points[0].positions),
                    command.points[0].time_from_start.nanosec],
        "wrench": [wrench.header.stamp.sec, wrench.header.stamp.nanosec,
                   wrench.wrench.force.z, wrench.wrench.torque.y],
        "gripper": first["/cell/arm1/gripper/position"].data,
    }
    out[uri] = {"counts": counts, "same": same, "values": values}
print(json.dumps(out))
"""


def test_rclpy_reads_every_new_message_as_the_simulator_means_it(ros2: Ros2,
                                                                  tmp_path: Path) -> None:
    cell = Cell(CellSpec(**SPEC))
    bags = []
    for storage in ("mcap", "sqlite3"):
        bags.append(tmp_path / storage)
        counts = write_bag(bags[-1], cell, storage=storage)
    result = json.loads(ros2.run(["python3", "-c", RCLPY_READ, *map(str, bags)]).stdout)
    messages = {m.topic: m for m in reversed(list(cell.messages()))}     # the first of each
    for bag in bags:
        got = result[str(bag)]
        assert got["counts"] == counts and got["same"] == counts, bag.name
        values = got["values"]
        truth = cell.static_transforms()
        assert [row[:2] for row in values["tf"]] == [[t.parent, t.child] for t in truth]
        np.testing.assert_array_equal([row[2:] for row in values["tf"]],
                                      [[*t.translation, *t.rotation] for t in truth])
        calib = cell.calibration(1, depth=True)
        np.testing.assert_array_equal(values["k"], calib.k.reshape(-1))
        np.testing.assert_array_equal(values["p"], calib.p.reshape(-1))
        assert values["frame"] == "cam1_depth_optical_frame"
        depth_msg = messages["/cell/cam1/depth/image_raw"]
        truth_depth = cell.depth_truth(1, depth_msg.stamp_ns)
        assert values["depth"][:3] == ["16UC1", 64, 0]
        assert values["depth"][3] == list(truth_depth.reshape(-1)[:32].astype("<u2").tobytes())
        stamp = messages["/cell/arm1/joint_trajectory_controller/joint_trajectory"].stamp_ns
        assert values["command"][0] == cell.joint_names(1)
        np.testing.assert_array_equal(values["command"][1], cell.command_truth(1, stamp)[0][0])
        assert values["command"][2] == 50_000_000
        sec, nanosec, force_z, torque_y = values["wrench"]
        force, torque = cell.wrench_truth(1, np.array([sec * 10**9 + nanosec]))
        assert (force_z, torque_y) == (force[0, 2], torque[0, 1])
        assert values["gripper"] == cell.gripper_truth(
            1, np.array([messages["/cell/arm1/gripper/position"].stamp_ns]))[0][0]

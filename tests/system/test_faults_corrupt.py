"""Corrupt input through `info`, `build` and `repair`: each command ends with `error: …` and exit
2 naming what is wrong, or succeeds and counts what it skipped as a warning (`--strict`: an
error).

Each bag is written with rosbags' own Writer and robot_logger.core.messages (tests/bag_factory.py):
one good stream plus one broken in a single, known way.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from rosbags.rosbag2 import StoragePlugin, Writer

from robot_logger.cli import main
from robot_logger.core import messages as m
from tests.support.bag_factory import (
    START_NS,
    Msg,
    event_msgs,
    joint_msgs,
    storage_file,
    write_bag,
)
from tests.support.fault_log import cli_outcome, log_fault

PERIOD_NS = 100_000_000
BAD_AT = 5                       # the broken message is the sixth of its stream


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def base() -> list[Msg]:
    return (joint_msgs("/arm", 40, 50_000_000)
            + event_msgs([("weld", "success")], 600_000_000, START_NS + 100_000_000))


def with_bad(topic: str, msgtype: str, good: Callable[[int], object], bad: object) -> list[Msg]:
    """Ten messages of a stream (every PERIOD_NS), the BAD_AT-th replaced by `bad`."""
    out = []
    for i in range(10):
        msg = bad if i == BAD_AT else good(i)
        out.append(Msg(topic, msgtype, START_NS + i * PERIOD_NS + 1000, m.serialize(msg, msgtype)))
    return base() + out


def image(i: int) -> object:
    return m.image(START_NS + i * PERIOD_NS, np.full((48, 64, 3), 7, np.uint8))


def cloud(i: int) -> object:
    return m.pointcloud2(START_NS + i * PERIOD_NS, np.ones((100, 4), np.float32))


def bad_image(delta: int) -> object:
    msg = image(BAD_AT)
    data = msg.data[:delta] if delta < 0 else np.concatenate([msg.data, np.zeros(delta, np.uint8)])
    return dataclasses.replace(msg, data=data)


def bad_cloud(**changes: object) -> object:
    msg = cloud(BAD_AT)
    if changes.pop("cut", None):
        changes["data"] = msg.data[:-5]
    return dataclasses.replace(msg, **changes)


def payload_bag(path: Path, msgs: list[Msg]) -> Path:
    return write_bag(path, msgs)


def unknown_type_bag(path: Path) -> Path:
    """A custom type with its definition, and one whose definition is unreadable."""
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conns = {"/arm": writer.add_connection("/arm", m.JOINT_STATE, typestore=m.typestore()),
                 "/blob": writer.add_connection("/blob", "my_pkg/msg/Blob", msgdef="uint8[] data",
                                                rihs01="RIHS01_" + "0" * 64),
                 "/mystery": writer.add_connection("/mystery", "my_pkg/msg/Mystery",
                                                   msgdef="not a ( definition",
                                                   rihs01="RIHS01_" + "1" * 64)}
        for msg in sorted(base(), key=lambda x: x.log_ns):
            conn = conns.get(msg.topic) or conns.setdefault(msg.topic, writer.add_connection(
                msg.topic, msg.msgtype, typestore=m.typestore()))
            writer.write(conn, msg.log_ns, msg.raw)
            if msg.topic == "/arm":
                writer.write(conns["/blob"], msg.log_ns, b"\x00\x01\x00\x00\x02\x00\x00\x00ab")
                writer.write(conns["/mystery"], msg.log_ns, b"\x00\x01\x00\x00garbage!")
    return path


def redefined_pointfield_bag(path: Path) -> Path:
    """The bag defines PointField with `coukt` for `count` (same bytes, another layout; found by
    tests/test_fuzz.py flipping a byte of an MCAP schema: build escaped with AttributeError)."""
    msgdef, _ = m.typestore().generate_msgdef(m.POINTCLOUD2, ros_version=2)
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conns = {"/lidar": writer.add_connection(
            "/lidar", m.POINTCLOUD2, msgdef=msgdef.replace("uint32 count", "uint32 coukt"),
            rihs01="RIHS01_" + "2" * 64)}
        for msg in sorted(with_bad("/lidar", m.POINTCLOUD2, cloud, cloud(BAD_AT)),
                          key=lambda x: x.log_ns):
            conn = conns.get(msg.topic) or conns.setdefault(msg.topic, writer.add_connection(
                msg.topic, msg.msgtype, typestore=m.typestore()))
            writer.write(conn, msg.log_ns, msg.raw)
    return path


def redefined_image_bag(path: Path) -> Path:
    """The bag defines Image with `heaxer` for `header` (same bytes, another layout; found by the
    fuzzer flipping a byte of an MCAP schema: build escaped with AttributeError 'header' while
    reading the camera's frame_id at plan time)."""
    msgdef, _ = m.typestore().generate_msgdef(m.IMAGE, ros_version=2)
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conns = {"/cam": writer.add_connection(
            "/cam", m.IMAGE, rihs01="RIHS01_" + "3" * 64,
            msgdef=msgdef.replace("std_msgs/Header header", "std_msgs/Header heaxer"))}
        for msg in sorted(with_bad("/cam", m.IMAGE, image, image(BAD_AT)), key=lambda x: x.log_ns):
            conn = conns.get(msg.topic) or conns.setdefault(msg.topic, writer.add_connection(
                msg.topic, msg.msgtype, typestore=m.typestore()))
            writer.write(conn, msg.log_ns, msg.raw)
    return path


def missing_storage_bag(path: Path) -> Path:
    write_bag(path, base())
    storage_file(path).unlink()
    return path


def metadata_bag(text: str) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        write_bag(path, base())
        (path / "metadata.yaml").write_text(text)
        return path
    return make


def future_metadata(path: Path) -> Path:
    write_bag(path, base())
    meta = path / "metadata.yaml"
    meta.write_text(meta.read_text().replace("version: 9", "version: 99"))
    return path


def count_not_a_number(path: Path) -> Path:
    """A topic's message_count is a list (found by tests/test_fuzz.py: it escaped as TypeError)."""
    write_bag(path, base())
    meta = path / "metadata.yaml"
    meta.write_text(re.sub(r"message_count: \d+\n(?=\s+topic_metadata)", "message_count: []\n",
                           meta.read_text(), count=1))
    return path


def topic_name_not_a_string(path: Path) -> Path:
    """A topic's name is a list (found by tests/test_fuzz.py: repair escaped with a TypeError)."""
    write_bag(path, base())
    meta = path / "metadata.yaml"
    meta.write_text(meta.read_text().replace("name: /arm", "name: []", 1))
    return path


BAGS: dict[str, Callable[[Path], Path]] = {
    "image data shorter than height x step":
        lambda p: payload_bag(p, with_bad("/cam", m.IMAGE, image, bad_image(-10))),
    "image data longer than height x step":
        lambda p: payload_bag(p, with_bad("/cam", m.IMAGE, image, bad_image(30))),
    "PointCloud2 data shorter than width x point_step":
        lambda p: payload_bag(p, with_bad("/lidar", m.POINTCLOUD2, cloud, bad_cloud(cut=True))),
    "PointCloud2 field outside point_step":
        lambda p: payload_bag(p, with_bad("/lidar", m.POINTCLOUD2, cloud,
                                          bad_cloud(point_step=8))),
    "PointCloud2 width larger than its data":
        lambda p: payload_bag(p, with_bad("/lidar", m.POINTCLOUD2, cloud, bad_cloud(width=1000))),
    "unknown message types (custom, unparsable definition)": unknown_type_bag,
    "PointCloud2 with the bag's own PointField layout": redefined_pointfield_bag,
    "Image whose bag definition has no header": redefined_image_bag,
    "storage file missing": missing_storage_bag,
    "metadata.yaml not YAML": metadata_bag("rosbag2_bagfile_information: [unclosed\n"),
    "metadata.yaml of another format": metadata_bag("hello: world\n"),
    "metadata.yaml version from the future": future_metadata,
    "metadata.yaml message_count not a number": count_not_a_number,
    "metadata.yaml topic name not a string": topic_name_not_a_string,
}


# What each command must do: "error" + a fragment of the one line, or "ok" (+ "warns" when the
# report must count the skipped part, so that --strict fails).
EXPECT: dict[str, dict[str, tuple[str, str]]] = {
    "image data shorter than height x step": {"build": ("error", "/cam: the message stamped")},
    "image data longer than height x step": {"build": ("error", "/cam: the message stamped")},
    "PointCloud2 data shorter than width x point_step": {"build": ("error", "/lidar")},
    "PointCloud2 field outside point_step": {"build": ("error", "/lidar")},
    "PointCloud2 width larger than its data": {"build": ("error", "/lidar")},
    "unknown message types (custom, unparsable definition)": {"info": ("warns", "my_pkg/msg/")},
    "PointCloud2 with the bag's own PointField layout": {
        "build": ("error", "does not have the layout of a ROS 2 sensor_msgs/msg/PointCloud2")},
    "Image whose bag definition has no header": {
        "build": ("error", "/cam: its messages have no header.frame_id")},
    "storage file missing": {"info": ("error", ".mcap"), "build": ("error", ".mcap"),
                             "repair": ("error", "")},
    "metadata.yaml not YAML": {"info": ("error", "robot-logger repair"),
                               "build": ("error", "robot-logger repair")},
    "metadata.yaml of another format": {"info": ("error", "robot-logger repair"),
                                        "build": ("error", "robot-logger repair")},
    "metadata.yaml version from the future": {"info": ("error", "version"),
                                              "build": ("error", "version")},
    "metadata.yaml message_count not a number": {"info": ("error", "robot-logger repair"),
                                                 "build": ("error", "robot-logger repair")},
    "metadata.yaml topic name not a string": {"info": ("warns", "storage files directly")},
}
COMMANDS = {
    "info": lambda bag, tmp: ["info", bag],
    "build": lambda bag, tmp: ["build", bag, "-o", tmp / "out.h5", "--rate", "10", "--quiet"],
    "repair": lambda bag, tmp: ["repair", bag, "-o", tmp / "fixed"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("case", list(BAGS))
def test_corrupt_input_is_one_clear_line_or_a_counted_warning(tmp_path, case, command):
    bag = BAGS[case](tmp_path / "bag")
    kept = {p.name: p.read_bytes() for p in bag.iterdir()}
    result = run(*COMMANDS[command](bag, tmp_path))
    outcome = cli_outcome(result)
    expected, fragment = EXPECT[case].get(command, ("ok", ""))
    log_fault(f"corrupt input: {case}", f"{command}: {outcome}")
    if expected == "error":
        assert outcome == "error", result.output
        assert fragment in result.stderr, result.stderr
        assert not (tmp_path / "out.h5").exists() and not (tmp_path / "fixed").exists()
    else:
        assert outcome == "ok", result.output
    if expected == "warns":
        assert fragment in result.output                      # the warning is reported ...
        strict = run(*COMMANDS[command](bag, tmp_path), "--strict")
        assert cli_outcome(strict) == "error" and "--strict" in strict.stderr, strict.output
    assert {p.name: p.read_bytes() for p in bag.iterdir()} == kept   # input never modified
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    assert not leftovers


def test_repair_rewrites_a_wrong_metadata_file_from_the_storage(tmp_path):
    bag = metadata_bag("hello: world\n")(tmp_path / "bag")
    assert cli_outcome(run("repair", bag)) == "ok"
    assert cli_outcome(run("build", tmp_path / "bag.repaired", "-o", tmp_path / "out.h5",
                           "--rate", "10", "--quiet")) == "ok"


def test_a_bag_deleted_while_building_is_an_error(tmp_path):
    """The storage file vanishes between planning and reading (a user cleaning up)."""
    bag = payload_bag(tmp_path / "bag", base())
    shutil.rmtree(bag)
    result = run("build", bag, "-o", tmp_path / "out.h5")
    assert cli_outcome(result) == "error" and str(bag) in result.stderr

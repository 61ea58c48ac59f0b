"""Build config: loading, validation errors naming file and key, discovery, resolution per bag."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from robot_logger.core import messages
from robot_logger.dataset.build.config import (
    config_from_dict,
    discover_config,
    load_config,
    resolve_streams,
)
from robot_logger.dataset.schema import StreamKind
from robot_logger.errors import ConfigError
from tests.support.paths import CONFIG

EXAMPLE = CONFIG / "dataset.yaml"
CELL_TOPICS = {
    "/cell/arm1/joint_states": messages.JOINT_STATE,
    "/cell/arm2/joint_states": messages.JOINT_STATE,
    "/cell/cam1/image_raw": messages.IMAGE,
    "/cell/cam2/image_raw": messages.IMAGE,
    "/cell/lidar/points": messages.POINTCLOUD2,
    messages.EVENTS_TOPIC: messages.STRING,
}
MINIMAL = {"streams": {"arm1_pos": {"topic": "/cell/arm1/joint_states"}}}


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "build.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_example_config_loads_and_matches_the_simulated_cell() -> None:
    config = load_config(EXAMPLE)
    kinds = resolve_streams(config, CELL_TOPICS, "sim_bag")
    assert kinds == {"arm1_pos": "lowdim", "arm1_vel": "lowdim", "arm2_pos": "lowdim",
                     "arm2_vel": "lowdim", "cam1": "image", "cam2": "image", "lidar": "lidar"}
    assert config.rate_hz == 10 and config.time_source == "header"
    assert config.stream("cam2").resize == (240, 320)
    assert config.stream("lidar").crop == ((-3.9, -2.7, -2.3), (3.9, 5.1, 0.5))
    assert config.actions.streams == ("arm1_pos", "arm2_pos")
    assert config.stream("arm1_pos").tolerance_ns(StreamKind.LOWDIM) == 20_000_000


def test_defaults_fill_what_is_left_out(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    stream = config.stream("arm1_pos")
    assert (stream.field_for(messages.JOINT_STATE), stream.align_for(StreamKind.LOWDIM),
            stream.tolerance_ns(StreamKind.LOWDIM)) == ("position", "interpolate", 20_000_000)
    assert config.rate_hz == 10 and config.split.valid_fraction == 0.1
    assert config.compression.images == "gzip" and config.compression.level == 1
    assert config.actions.streams == ("arm1_pos",)


@pytest.mark.parametrize("data, key", [
    ({**MINIMAL, "rate": 10}, "rate"),
    ({**MINIMAL, "rate_hz": -1}, "rate_hz"),
    ({**MINIMAL, "rate_hz": "fast"}, "rate_hz"),
    ({**MINIMAL, "rate_hz": float("inf")}, "rate_hz"),
    ({**MINIMAL, "rate_hz": 1e-9}, "rate_hz: must be between 1e-06 and 1e+06 Hz"),
    ({**MINIMAL, "rate_hz": 1e12}, "rate_hz: must be between 1e-06 and 1e+06 Hz"),
    ({"streams": {"arm": {"topic": "/a", "clock_offset_ms": float("nan")}}},
     "streams.arm.clock_offset_ms"),
    # beyond any real sensor; seen failing before: an int64 OverflowError traceback (offset,
    # shift), a 14.6 TiB MemoryError (points) and the OOM killer (resize)
    ({"streams": {"arm": {"topic": "/a", "clock_offset_ms": 1e30}}},
     "streams.arm.clock_offset_ms: must be between -4e+12 and 4e+12 ms"),
    ({"streams": {"l": {"topic": "/l", "points": 10**12}}},
     "streams.l.points: must be between 1 and 10000000"),
    ({"streams": {"cam": {"topic": "/c", "resize": [10**6, 10**6]}}}, "streams.cam.resize"),
    ({**MINIMAL, "actions": {"stream": "arm1_pos", "shift": 10**20}},
     "actions.shift: must be between 0 and 1000000"),
    # seen failing before: accepted, then 'PointCloud2 has no x field (fields: x, y, z, ...)'
    ({"streams": {"l": {"topic": "/l", "intensity_field": "x"}}},
     "streams.l.intensity_field: 'x' is a coordinate of every point"),
    ({**MINIMAL, "time_source": "gps"}, "time_source"),
    ({"streams": {"arm": {"topic": "/a", "align": "cubic"}}}, "streams.arm.align"),
    ({"streams": {"arm": {"topic": "/a", "tolerance_ms": -5}}}, "streams.arm.tolerance_ms"),
    ({"streams": {"arm": {"topic": "/a", "colour": "red"}}}, "streams.arm.colour"),
    ({"streams": {"arm": {"field": "position"}}}, "streams.arm.topic"),
    ({"streams": {"cam": {"topic": "/c", "resize": [48]}}}, "streams.cam.resize"),
    ({"streams": {"l": {"topic": "/l", "crop": [[1, 1, 1], [0, 0, 0]]}}}, "streams.l.crop"),
    ({"streams": {"l": {"topic": "/l", "points": 0}}}, "streams.l.points"),
    ({"streams": {"2arm": {"topic": "/a"}}}, "streams"),
    ({"streams": {}}, "streams"),
    ({**MINIMAL, "split": {"valid_fraction": 1.5}}, "split.valid_fraction"),
    ({**MINIMAL, "compression": {"images": "zip"}}, "compression.images"),
    ({**MINIMAL, "compression": {"level": 12}}, "compression.level"),
    ({**MINIMAL, "actions": {"stream": "nope"}}, "actions.stream"),
    ({**MINIMAL, "reference": "nope", "rate_hz": None}, "reference"),
    ({**MINIMAL, "reference": "arm1_pos", "rate_hz": 10}, "reference"),
    ({**MINIMAL, "episodes": {"labels_file": "missing.yaml"}}, "episodes.labels_file"),
    ({"streams": {"arm": {"topic": "/a", "time_source": "gps"}}}, "streams.arm.time_source"),
    ({**MINIMAL, "actions": {"stream": [], "time_source": "log"}}, "actions.time_source"),
    ({**MINIMAL, "actions": {"topic": "/c", "time_source": "gps"}}, "actions.time_source"),
    ({"streams": {"arm": {"topic": "/a", "time_source": 5}}}, "streams.arm.time_source"),
    ({"streams": {"arm": {"topic": "/a", "time_source": "log", "clock_offset_ms": "auto"}}},
     "streams.arm.clock_offset_ms"),
    ({"time_source": "log", "streams": {"arm": {"topic": "/a", "clock_offset_ms": 5}}},
     "streams.arm.clock_offset_ms"),
])
def test_every_bad_key_is_named_with_the_file(tmp_path: Path, data: dict, key: str) -> None:
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: {key}")


def test_a_stream_takes_the_top_level_time_source_unless_it_names_its_own(tmp_path) -> None:
    config = load_config(write(tmp_path, {"time_source": "log", "streams": {
        "arm": {"topic": "/a"}, "cam": {"topic": "/c", "time_source": "header",
                                        "clock_offset_ms": "auto"}}}))
    assert config.time_source_of(config.stream("arm")) == "log"
    assert config.time_source_of(config.stream("cam")) == "header"
    plain = load_config(write(tmp_path, {"streams": {
        "arm": {"topic": "/a"}, "drv": {"topic": "/d", "time_source": "log"}}}))
    assert [plain.time_source_of(s) for s in plain.streams] == ["header", "log"]
    hidden = load_config(write(tmp_path, {**MINIMAL, "actions": {"topic": "/cmd",
                                                                 "time_source": "log"}}))
    assert hidden.time_source_of(hidden.stream("actions")) == "log"


def test_a_clock_offset_on_log_time_says_why(tmp_path: Path) -> None:
    path = write(tmp_path, {"time_source": "log", "streams": {
        "cam": {"topic": "/c", "clock_offset_ms": "auto"}}})
    with pytest.raises(ConfigError, match="streams.cam.clock_offset_ms: corrects header stamps, "
                                          "but the top-level time_source is log"):
        load_config(path)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read build config"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("streams: {a: [1, 2\n")
    with pytest.raises(ConfigError, match=f"{bad}: invalid YAML at line"):
        load_config(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="top level: must be a mapping"):
        load_config(bad)


def test_unknown_topic_lists_the_topics_of_the_bag() -> None:
    config = config_from_dict({"streams": {"cam": {"topic": "/cell/cam9/image_raw"}}}, "c.yaml")
    with pytest.raises(ConfigError) as err:
        resolve_streams(config, CELL_TOPICS, "bag_x")
    message = str(err.value)
    assert message.startswith("c.yaml: streams.cam.topic: topic '/cell/cam9/image_raw' is not in "
                              "bag_x")
    assert "/cell/cam1/image_raw" in message and "/cell/lidar/points" in message


def test_keys_that_do_not_fit_the_message_type() -> None:
    interp = config_from_dict({"streams": {"cam": {"topic": "/cell/cam1/image_raw",
                                                   "align": "interpolate"}}}, "c.yaml")
    with pytest.raises(ConfigError, match="streams.cam.align: interpolate works only"):
        resolve_streams(interp, CELL_TOPICS, "bag")
    events = config_from_dict({"streams": {"ev": {"topic": messages.EVENTS_TOPIC}}}, "c.yaml")
    with pytest.raises(ConfigError, match="std_msgs/msg/String, which cannot be a dataset"):
        resolve_streams(events, CELL_TOPICS, "bag")
    resize = config_from_dict({"streams": {"a": {"topic": "/cell/arm1/joint_states",
                                                 "resize": [2, 2]}}}, "c.yaml")
    with pytest.raises(ConfigError, match="streams.a.resize"):
        resolve_streams(resize, CELL_TOPICS, "bag")


def test_discovery_names_streams_from_topics() -> None:
    config = discover_config(CELL_TOPICS)
    assert [s.name for s in config.streams] == [
        "arm1_pos", "arm1_vel", "arm2_pos", "arm2_vel", "cam1", "cam2", "lidar"]
    assert config.stream("arm1_vel").field == "velocity"
    assert config.actions.streams == ("arm1_pos", "arm2_pos")
    assert resolve_streams(config, CELL_TOPICS, "bag")["lidar"] == "lidar"


def test_discovery_of_generic_and_colliding_topic_names() -> None:
    topics = {"/joint_states": messages.JOINT_STATE, "/scan": messages.LASER_SCAN,
              "/left/cam/image_raw": messages.IMAGE,
              "/right/cam/image_raw/compressed": messages.COMPRESSED_IMAGE,
              "/imu": "sensor_msgs/msg/Imu"}
    names = [s.name for s in discover_config(topics).streams]
    assert names == ["joint_states_pos", "joint_states_vel", "left_cam", "right_cam", "scan"]


def test_discovery_without_usable_topics() -> None:
    with pytest.raises(ConfigError, match="no JointState, Image"):
        discover_config({"/chatter": messages.STRING})


def test_rate_override_replaces_reference(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, {**MINIMAL, "reference": "arm1_pos"}))
    assert config.rate_hz is None and config.reference == "arm1_pos"
    fixed = config.with_rate(25)
    assert fixed.rate_hz == 25 and fixed.reference is None
    with pytest.raises(ConfigError, match="--rate"):
        config.with_rate(0)
    # seen failing before: each of these ended in a traceback (OverflowError from the exact
    # fraction of inf, ZeroDivisionError from 1e-9 Hz rounding to 0, a 70 TiB MemoryError)
    for rate in (float("inf"), float("nan"), 1e-9, 1e12):
        with pytest.raises(ConfigError, match=r"--rate: must be between 1e-06 and 1e\+06 Hz"):
            config.with_rate(rate)


def test_the_readme_example_for_a_real_cell_is_a_valid_config() -> None:
    readme = (CONFIG.parent / "README.md").read_text()
    block = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    config = config_from_dict(yaml.safe_load(block), "README.md")
    assert config.stream("cam_wrist").clock_offset_ms == "auto"
    assert config.actions.streams == ("arm1_cmd", "gripper") and config.actions.shift == 0
    assert config.frames.base == "base_link" and config.masks.by == ("outcome", "task")


@pytest.mark.parametrize("field, what", [("header.stamp", "sec, nanosec"),
                                         ("position.0", "one number")])
def test_a_joint_field_must_be_one_value_per_joint(field: str, what: str) -> None:
    """JointState columns are matched by joint name, so the field must be a per-joint array.
    Seen failing before: `header.stamp` passed the check and the build died in a TypeError
    traceback; `position.0` skipped every message."""
    sample = messages.joint_state(1, ["a", "b"], [1.0, 2.0], [0.0, 0.0], [0.0, 0.0])
    config = config_from_dict({"streams": {"arm": {"topic": "/cell/arm1/joint_states",
                                                   "field": field}}}, "c.yaml")
    with pytest.raises(ConfigError) as err:
        resolve_streams(config, CELL_TOPICS, "bag", {"/cell/arm1/joint_states": sample})
    assert str(err.value) == (
        f"c.yaml: streams.arm.field: {field!r} in sensor_msgs/msg/JointState: its columns are "
        f"matched by joint name, so the field must hold one value per joint (an array such as "
        f"position), not {what}")

"""Bad config, systematically: every key of the documented build config (config/dataset.yaml, plus
the keys it only mentions in comments) made wrong, out of range, unknown or missing, run through
`robot-logger build`. Each must end with one `error: …` line naming the file and the key path;
an unknown topic names the topics the bag does have. The same for the recorder's QoS file and
the labels file, through their commands.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from robot_logger.cli import main
from robot_logger.sim import Cell, CellSpec, write_bag
from tests.support.fault_log import cli_outcome, log_fault
from tests.support.paths import CONFIG

EXAMPLE = yaml.safe_load((CONFIG / "dataset.yaml").read_text())
# Keys the example only shows in comments, each with a valid value to place.
OPTIONAL = {("streams", "arm1_pos", "joints"): ["arm1_joint1"],
            ("streams", "cam2", "clock_offset_ms"): 0.0,
            ("streams", "arm2_vel", "time_source"): "log",
            ("frames", "base"): "base_link",
            ("episodes", "labels_file"): "labels.yaml"}
# A value outside the allowed range (or set of choices) per leaf that has one.
OUT_OF_RANGE = {
    "rate_hz": 0, "time_source": "gps", "latency_margin_ms": -1, "field": "torque",
    "align": "cubic", "tolerance_ms": -5, "resize": [0, 320], "points": 0, "voxel_size": 0,
    "crop": [[4, 4, 3], [-4, -4, -0.5]], "shift": -1, "valid_fraction": 1.0, "images": "zip",
    "lidar": "zip", "level": 10, "joints": [], "labels_file": "no_such_labels.yaml",
    "stream": "no_such_stream", "by": ["colour"], "clock_offset_ms": "soon",
}


def leaves(node: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(node, dict):
        return [leaf for key, value in node.items() for leaf in leaves(value, path + (key,))]
    return [path]


def full_config() -> dict[str, Any]:
    config = copy.deepcopy(EXAMPLE)
    for path, value in OPTIONAL.items():
        node = config
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return config


def wrong_type(value: Any) -> Any:
    """A value of a type the key never accepts."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "abc"
    if isinstance(value, str):
        return 5
    return "abc"


def mutate(path: tuple[str, ...], how: str) -> dict[str, Any]:
    config = full_config()
    node = config
    for key in path[:-1]:
        node = node[key]
    leaf = path[-1]
    if how == "wrong type":
        node[leaf] = wrong_type(node[leaf]) if not isinstance(node[leaf], list) else {"a": 1}
    elif how == "out of range":
        node[leaf] = OUT_OF_RANGE[leaf]
    elif how == "unknown key":
        node[f"{leaf}_typo"] = node[leaf]
    elif how == "missing":
        del node[leaf]
    return config


ALL_LEAVES = leaves(full_config())
CASES = ([(p, "wrong type") for p in ALL_LEAVES]
         + [(p, "out of range") for p in ALL_LEAVES if p[-1] in OUT_OF_RANGE]
         + [(p, "unknown key") for p in ALL_LEAVES]
         + [(("streams",), "missing")]
         + [(p, "missing") for p in ALL_LEAVES if p[:1] == ("streams",) and p[-1] == "topic"])


def named_key(path: tuple[str, ...], how: str) -> str:
    """The key path the error must name."""
    if how == "unknown key":
        return ".".join(path[:-1] + (f"{path[-1]}_typo",))
    return ".".join(path)


@pytest.fixture(scope="module")
def cell_bag(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cell") / "bag"
    write_bag(path, Cell(CellSpec(duration_s=1.0, image_height=24, image_width=32,
                                  lidar_points=64)))
    return path


def build_with(config: Any, cell_bag: Path, tmp_path: Path):
    (tmp_path / "labels.yaml").write_text("- {start: 0.1, end: 0.9, task: weld}\n")
    path = tmp_path / "build.yaml"
    if isinstance(config, bytes):
        path.write_bytes(config)
    else:
        path.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    result = CliRunner().invoke(main, ["build", str(cell_bag), "-o", str(tmp_path / "out.h5"),
                                       "--config", str(path), "--quiet"])
    return result, path


def test_the_full_config_is_valid(cell_bag, tmp_path):
    """The baseline every mutation starts from builds (so each error comes from one change)."""
    result, _ = build_with(full_config(), cell_bag, tmp_path)
    assert cli_outcome(result) == "ok", result.output


@pytest.mark.parametrize("path, how", CASES, ids=[f"{'.'.join(p)}-{h}" for p, h in CASES])
def test_every_bad_key_is_named_with_its_file(cell_bag, tmp_path, path, how):
    result, config_file = build_with(mutate(path, how), cell_bag, tmp_path)
    outcome = cli_outcome(result)
    log_fault(f"bad build config key ({how})", outcome)
    assert outcome == "error", result.output
    assert str(config_file) in result.stderr and named_key(path, how) in result.stderr, \
        result.stderr
    assert not (tmp_path / "out.h5").exists()


def test_a_clock_offset_on_a_stream_on_log_time_is_named(cell_bag, tmp_path):
    config = full_config()
    config["streams"]["cam2"]["time_source"] = "log"      # cam2 has clock_offset_ms: 0.0
    result, config_file = build_with(config, cell_bag, tmp_path)
    assert cli_outcome(result) == "error", result.output
    assert f"{config_file}: streams.cam2.clock_offset_ms: corrects header stamps, but its " \
           "time_source is log" in result.stderr, result.stderr


@pytest.mark.parametrize("text, fragment", [
    ("streams: [unclosed\n", "invalid YAML at line"),
    ("- just\n- a list\n", "must be a mapping"),
    ("", "must be a mapping"),
    (b"\xff\xfe\x00", "not UTF-8"),
])
def test_a_config_file_that_is_not_a_mapping(cell_bag, tmp_path, text, fragment):
    result, config_file = build_with(text, cell_bag, tmp_path)
    log_fault("build config file not a YAML mapping", cli_outcome(result))
    assert cli_outcome(result) == "error" and str(config_file) in result.stderr
    assert fragment in result.stderr, result.stderr


@pytest.mark.parametrize("key", ["streams.cam1.topic", "actions.topic"])
def test_an_unknown_topic_names_the_topics_that_exist(cell_bag, tmp_path, key):
    config = full_config()
    if key == "actions.topic":
        config["actions"] = {"topic": "/cell/arm9/command"}
    else:
        config["streams"]["cam1"]["topic"] = "/cell/cam9/image_raw"
    result, config_file = build_with(config, cell_bag, tmp_path)
    log_fault("build config names a topic the bag lacks", cli_outcome(result))
    assert cli_outcome(result) == "error"
    assert f"{config_file}: {key}" in result.stderr
    assert "/cell/cam1/image_raw" in result.stderr and "/cell/arm1/joint_states" in result.stderr


@pytest.mark.parametrize("labels, key", [
    ("- {end: 0.9, task: weld}\n", "start"),
    ("- {start: 0.1, end: 0.9, task: 7}\n", "task"),
    ("- {start: 0.1, end: 0.9, task: weld, outcome: great}\n", "outcome"),
    ("- {start: 0.9, end: 0.1, task: weld}\n", "end"),
    ("- {start: abc, end: 0.9, task: weld}\n", "start"),
    ("- {start: 0.1, end: 0.9, task: weld, colour: red}\n", "colour"),
    ("- {start: 0.1, end: 0.9, task: weld, phases: [{name: a, start: 0.5}]}\n", "phases"),
    ("{start: 0.1}\n", ""),
])
def test_every_bad_labels_key_is_named_with_its_file(cell_bag, tmp_path, labels, key):
    config = {"streams": {"arm1_pos": {"topic": "/cell/arm1/joint_states"}},
              "episodes": {"labels_file": "labels.yaml"}}
    (tmp_path / "build.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "labels.yaml").write_text(labels)
    result = CliRunner().invoke(main, ["build", str(cell_bag), "-o", str(tmp_path / "out.h5"),
                                       "--config", str(tmp_path / "build.yaml"), "--quiet"])
    log_fault("bad labels file key", cli_outcome(result))
    assert cli_outcome(result) == "error", result.output
    assert "labels.yaml" in result.stderr and key in result.stderr, result.stderr


@pytest.mark.parametrize("qos, fragment", [
    ("/cell/cam1/image_raw: {reliability: sometimes}\n", "reliability"),
    ("/cell/cam1/image_raw: {durability: forever}\n", "durability"),
    ("/cell/cam1/image_raw: {history: all}\n", "history"),
    ("/cell/cam1/image_raw: {depth: 0}\n", "depth"),
    ("/cell/cam1/image_raw: {depth: many}\n", "depth"),
    ("/cell/cam1/image_raw: {deadline: 5}\n", "deadline"),
    ("cell/cam1/image_raw: {depth: 5}\n", "cell/cam1/image_raw"),
    ("/cell/cam1/image_raw: reliable\n", "/cell/cam1/image_raw"),
    ("[1, 2]\n", "mapping"),
])
def test_every_bad_qos_key_is_named_with_its_file(tmp_path, qos, fragment):
    """`record --qos FILE` validates the file before it touches the network."""
    (tmp_path / "qos.yaml").write_text(qos)
    result = CliRunner().invoke(main, ["record", "-o", str(tmp_path / "bag"), "--all",
                                       "--transport", "dds", "--qos", str(tmp_path / "qos.yaml")])
    log_fault("bad recorder QoS file key", cli_outcome(result))
    assert cli_outcome(result) == "error", result.output
    assert str(tmp_path / "qos.yaml") in result.stderr and fragment in result.stderr, \
        result.stderr
    assert not (tmp_path / "bag").exists()

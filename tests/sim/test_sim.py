"""robot_logger.sim: counts, ground truth, sensors, events, faults, determinism, storages, CLI."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import tracemalloc
import zlib
from collections import Counter

import numpy as np
import pytest
from click.testing import CliRunner
from mcap.exceptions import McapError
from mcap.records import Message
from mcap.stream_reader import StreamReader
from mcap.writer import MCAP0_MAGIC
from rosbags.highlevel import AnyReader

from robot_logger.cli import main
from robot_logger.core import events
from robot_logger.core.messages import (
    IMAGE,
    JOINT_STATE,
    POINTCLOUD2,
    deserialize,
    image,
    joint_state,
    pointcloud2,
    serialize,
    stamp_to_ns,
    typestore,
)
from robot_logger.errors import BagError, ConfigError
from robot_logger.sim import Cell, CellSpec, parse_faults, write_bag
from robot_logger.sim.cdr import JointStateTemplate, image_template, pointcloud_template
from robot_logger.sim.faults import TopicFaults

SMALL = {"duration_s": 2.0, "image_height": 48, "image_width": 64, "lidar_points": 512}
ARM1, CAM1 = "/cell/arm1/joint_states", "/cell/cam1/image_raw"
LIDAR, EVENTS = "/cell/lidar/points", "/robot_logger/events"


def small_cell(faults: str = "", **fields: object) -> Cell:
    return Cell(CellSpec(**{**SMALL, **fields}), parse_faults(faults))


def stream(cell: Cell, topic: str) -> list:
    return [m for m in cell.messages() if m.topic == topic]


def read_bag(path) -> list[tuple[str, int, object]]:
    with AnyReader([path], default_typestore=typestore()) as reader:
        return [(c.topic, t, reader.deserialize(raw, c.msgtype))
                for c, t, raw in reader.messages()]


# --- bags: exact counts, both storages -----------------------------------------------------------

@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_bag_has_exact_counts_and_decodes(make_bag, storage):
    path, cell = make_bag(storage=storage, seed=3)
    messages = read_bag(path)
    counts = Counter(topic for topic, _, _ in messages)
    episode = cell.episodes()[0]
    assert len(cell.episodes()) == 1
    assert counts == {"/cell/arm1/joint_states": 1000, "/cell/arm2/joint_states": 1000,
                      "/cell/cam1/image_raw": 60, "/cell/cam2/image_raw": 60, LIDAR: 20,
                      EVENTS: 2 + len(episode.phases)}
    log_times = [t for _, t, _ in messages]
    assert log_times == sorted(log_times)
    assert (path / "metadata.yaml").exists()


def test_counts_follow_rates_and_duration():
    cell = small_cell(duration_s=1.5, arms=3, cameras=1, lidar=False, joint_rate_hz=200.0,
                      camera_rate_hz=15.0)
    counts = Counter(m.topic for m in cell.messages())
    assert counts == {"/cell/arm1/joint_states": 300, "/cell/arm2/joint_states": 300,
                      "/cell/arm3/joint_states": 300, CAM1: 22, EVENTS: counts[EVENTS]}
    assert cell.topics() == {**{f"/cell/arm{i}/joint_states": JOINT_STATE for i in (1, 2, 3)},
                             CAM1: IMAGE, EVENTS: "std_msgs/msg/String"}


# --- joint ground truth --------------------------------------------------------------------------

def test_joint_states_equal_truth_at_their_stamps():
    cell = small_cell(cameras=0, lidar=False)
    msgs = stream(cell, ARM1)
    decoded = [deserialize(m.data, JOINT_STATE) for m in msgs]
    stamps = np.array([stamp_to_ns(d.header.stamp) for d in decoded])
    pos, vel, eff = cell.joint_truth(1, stamps)
    assert decoded[0].name == cell.joint_names(1) == [f"arm1_joint{j}" for j in range(1, 7)]
    np.testing.assert_array_equal(np.stack([d.position for d in decoded]), pos)
    np.testing.assert_array_equal(np.stack([d.velocity for d in decoded]), vel)
    np.testing.assert_array_equal(np.stack([d.effort for d in decoded]), eff)
    assert np.ptp(pos, axis=0).max() > 0.3, "the arm should move during an episode"


def test_joint_truth_velocity_is_derivative_of_position():
    cell = small_cell(duration_s=6.0, cameras=0, lidar=False)
    start = cell.spec.start_ns
    t = start + np.linspace(1e6, 5.99e9, 20_011).astype(np.int64)
    h_ns = 1000
    pos, vel, _ = cell.joint_truth(2, t)
    ahead, _, _ = cell.joint_truth(2, t + h_ns)
    behind, _, _ = cell.joint_truth(2, t - h_ns)
    np.testing.assert_allclose((ahead - behind) / (2 * h_ns * 1e-9), vel, atol=1e-4)
    assert np.abs(vel).max() > 0.5


def test_joint_truth_is_continuous_and_at_rest_at_episode_edges():
    cell = small_cell(duration_s=4.0, episodes=2, arms=1, cameras=0, lidar=False)
    for episode in cell.episodes():
        edges = np.array([episode.start_ns, episode.end_ns] + [p[1] for p in episode.phases])
        before, vel, _ = cell.joint_truth(1, edges - 1)
        after, _, _ = cell.joint_truth(1, edges + 1)
        np.testing.assert_allclose(before, after, atol=1e-8)
        np.testing.assert_allclose(vel, 0.0, atol=1e-5)


def test_joint_truth_rejects_unknown_arm():
    with pytest.raises(ConfigError, match="arm must be from 1 to 2"):
        small_cell().joint_truth(3, np.array([0]))


# --- cameras and LiDAR ---------------------------------------------------------------------------

def frames(cell: Cell, topic: str = CAM1) -> tuple[np.ndarray, np.ndarray]:
    msgs = [deserialize(m.data, IMAGE) for m in stream(cell, topic)]
    assert {(m.height, m.width, m.encoding, m.step) for m in msgs} == {(48, 64, "rgb8", 64 * 3)}
    stamps = np.array([stamp_to_ns(m.header.stamp) for m in msgs])
    return stamps, np.stack([m.data.reshape(48, 64, 3) for m in msgs]).astype(np.int16)


def test_images_move_with_the_arms_and_compress_like_images():
    cell = small_cell(duration_s=3.0, lidar=False, episodes=1)
    stamps, images = frames(cell)
    speed = sum(np.abs(cell.joint_truth(arm, stamps)[1]).sum(axis=1) for arm in (1, 2))
    changed = (np.abs(np.diff(images, axis=0)).max(axis=3) > 40).sum(axis=(1, 2))
    moving, still = changed[speed[1:] > 1.0], changed[speed[1:] < 1e-9]
    assert len(moving) and len(still)
    assert moving.mean() > 5 and still.max() == 0, "only arm motion changes pixels beyond noise"
    raw = images[len(images) // 2].astype(np.uint8).tobytes()
    assert 0.05 < len(zlib.compress(raw)) / len(raw) < 0.8


def test_pointcloud_fields_shape_and_moving_arms():
    cell = small_cell(cameras=0, episodes=1)
    clouds = [deserialize(m.data, POINTCLOUD2) for m in stream(cell, LIDAR)]
    first = clouds[0]
    assert [(f.name, f.offset, f.datatype, f.count) for f in first.fields] == [
        ("x", 0, 7, 1), ("y", 4, 7, 1), ("z", 8, 7, 1), ("intensity", 12, 7, 1)]
    assert (first.height, first.width, first.point_step, first.row_step) == (1, 512, 16, 512 * 16)
    points = [c.data.view(np.float32).reshape(-1, 4) for c in clouds]
    assert all(np.isfinite(p).all() and ((p[:, 3] >= 0) & (p[:, 3] <= 1)).all() for p in points)
    arm = points[0][:, 3] == points[0][:, 3].max()
    assert 0 < arm.sum() < 512 * 0.2
    travel = max(np.abs(p[arm, :3] - points[0][arm, :3]).max() for p in points)
    assert travel > 0.2, "points on the arms follow the arms"


def test_cdr_templates_match_the_rosbags_serializer():
    names = [f"j{i}" for i in range(6)]
    rng = np.random.default_rng(0)
    pos, vel, eff = rng.normal(size=(3, 2, 6))
    stamps = np.array([1_700_000_000_123_456_789, 5])
    rows = JointStateTemplate(names).batch(stamps, pos, vel, eff)
    for k in range(2):
        expected = joint_state(stamps[k], names, pos[k], vel[k], eff[k])
        assert rows[k].tobytes() == serialize(expected, JOINT_STATE)
    pixels = rng.integers(0, 255, (5, 7, 3), dtype=np.uint8)
    assert image_template(5, 7, "cam").encode(42, pixels.tobytes()) == \
        serialize(image(42, pixels, "rgb8", "cam"), IMAGE)
    cloud = rng.normal(size=(9, 4)).astype(np.float32)
    assert pointcloud_template(9, "lidar").encode(7, cloud.tobytes()) == \
        serialize(pointcloud2(7, cloud), POINTCLOUD2)


# --- latency -------------------------------------------------------------------------------------

@pytest.mark.parametrize("topic, low_ms, high_ms",
                         [(ARM1, 0.1, 2.0), (CAM1, 5.0, 40.0), (LIDAR, 10.0, 60.0)])
def test_log_time_lags_header_stamp_by_transport_latency(topic, low_ms, high_ms):
    msgs = stream(small_cell(duration_s=3.0), topic)
    latency_ms = np.array([m.log_ns - m.stamp_ns for m in msgs]) / 1e6
    assert latency_ms.min() >= low_ms
    assert low_ms < np.median(latency_ms) < high_ms
    assert np.all(np.diff([m.log_ns for m in msgs]) > 0)


# --- episode events ------------------------------------------------------------------------------

def test_events_decode_into_the_planned_episodes():
    cell = small_cell(duration_s=20.0, episodes=8, cameras=0, lidar=False, arms=1, seed=5)
    decoded = [(m.log_ns, events.decode(deserialize(m.data, "std_msgs/msg/String").data))
               for m in stream(cell, EVENTS)]
    rebuilt, current = [], None
    for log_ns, event in decoded:
        assert event is not None
        if event.type == "episode_start":
            assert current is None
            current = {"start": log_ns, "task": event.task, "phases": []}
        elif event.type == "phase":
            current["phases"].append((event.name, log_ns))
        else:
            rebuilt.append({**current, "end": log_ns, "outcome": event.outcome})
            current = None
    truth = cell.episodes()
    assert current is None and len(rebuilt) == len(truth) == 8
    for got, want in zip(rebuilt, truth):
        assert got["task"] == want.task and got["outcome"] == want.outcome
        assert [name for name, _ in got["phases"]] == [p[0] for p in want.phases]
        assert 0 < got["start"] - want.start_ns < 2_000_000
        assert 0 < got["end"] - want.end_ns < 2_000_000
        assert want.phases[0][1] == want.start_ns and want.phases[-1][2] == want.end_ns
        assert all(a[2] == b[1] for a, b in zip(want.phases, want.phases[1:]))
    assert {e.outcome for e in truth} == {"success", "failure"}
    assert {e.task.split(" ")[0] for e in truth} == {"pick", "weld"}
    assert all(a.end_ns < b.start_ns for a, b in zip(truth, truth[1:]))
    assert cell.spec.start_ns < truth[0].start_ns
    assert truth[-1].end_ns < cell.spec.start_ns + cell.spec.duration_ns


def test_default_episode_count_fills_the_duration():
    assert len(small_cell(duration_s=33.0, cameras=0, lidar=False).episodes()) == 4
    assert len(small_cell(duration_s=1.0, cameras=0, lidar=False).episodes()) == 1


# --- faults --------------------------------------------------------------------------------------

JOINTS_ONLY = {"arms": 1, "cameras": 0, "lidar": False, "duration_s": 4.0}


def joint_stream(faults: str = "") -> tuple[np.ndarray, np.ndarray, list[bytes]]:
    msgs = stream(small_cell(faults, **JOINTS_ONLY), ARM1)
    return (np.array([m.stamp_ns for m in msgs]), np.array([m.log_ns for m in msgs]),
            [m.data for m in msgs])


def cdr_stamps(datas: list[bytes]) -> np.ndarray:
    return np.array([stamp_to_ns(deserialize(d, JOINT_STATE).header.stamp) for d in datas])


def test_fault_drop_removes_about_that_fraction():
    stamps, _, _ = joint_stream()
    dropped, _, _ = joint_stream(f"{ARM1}:drop=0.3")
    assert set(dropped) < set(stamps)
    assert 0.25 < 1 - len(dropped) / len(stamps) < 0.35


def test_fault_outage_removes_exactly_the_interval():
    stamps, _, _ = joint_stream()
    kept, _, _ = joint_stream("*:outage=1-1.5+3-3.25")
    start = small_cell(**JOINTS_ONLY).spec.start_ns
    gone = ((stamps >= start + 10**9) & (stamps < start + 1_500_000_000)) | \
           ((stamps >= start + 3 * 10**9) & (stamps < start + 3_250_000_000))
    np.testing.assert_array_equal(kept, stamps[~gone])
    assert gone.sum() == 250 + 125


def test_fault_offset_moves_header_stamps_not_log_times():
    stamps, logs, datas = joint_stream()
    shifted, shifted_logs, shifted_datas = joint_stream(f"{ARM1}:offset_ms=-30")
    np.testing.assert_array_equal(shifted, stamps - 30_000_000)
    np.testing.assert_array_equal(cdr_stamps(shifted_datas), shifted)
    np.testing.assert_array_equal(shifted_logs, logs)
    assert datas[0] != shifted_datas[0]


def test_fault_jitter_is_gaussian_noise_on_stamps():
    stamps, _, _ = joint_stream()
    noisy, _, datas = joint_stream("*:jitter_ms=2")
    error_ms = (noisy - stamps) / 1e6
    assert abs(error_ms.mean()) < 0.2 and 1.8 < error_ms.std() < 2.2
    np.testing.assert_array_equal(cdr_stamps(datas), noisy)


def test_fault_dup_repeats_messages_with_same_stamp_and_data():
    stamps, _, _ = joint_stream()
    dup_stamps, dup_logs, datas = joint_stream(f"{ARM1}:dup=0.05")
    repeats = np.flatnonzero(np.diff(dup_stamps) == 0)
    assert 0.03 * len(stamps) < len(repeats) == len(dup_stamps) - len(stamps) < 0.07 * len(stamps)
    assert all(datas[i] == datas[i + 1] for i in repeats)
    assert np.all(np.diff(dup_logs) > 0)
    np.testing.assert_array_equal(np.unique(dup_stamps), stamps)


def test_fault_reorder_makes_stamps_go_backwards():
    stamps, logs, _ = joint_stream()
    swapped, swapped_logs, datas = joint_stream(f"{ARM1}:reorder=0.02")
    backwards = np.flatnonzero(np.diff(swapped) < 0)
    assert 0.01 * len(stamps) < len(backwards) < 0.03 * len(stamps)
    np.testing.assert_array_equal(np.sort(swapped), stamps)
    np.testing.assert_array_equal(swapped_logs, logs)
    np.testing.assert_array_equal(cdr_stamps(datas), swapped)


def test_faults_leave_other_topics_untouched():
    clean = [m for m in small_cell(cameras=1, lidar=False).messages() if m.topic != CAM1]
    faulty = [m for m in small_cell(f"{CAM1}:drop=0.5,dup=0.2", cameras=1, lidar=False).messages()
              if m.topic != CAM1]
    assert clean == faulty


def test_truncated_mcap_looks_like_a_killed_recorder(make_bag):
    path, cell = make_bag(faults="truncate=0.6", duration_s=4.0, lidar_points=8192)
    kill_ns = cell.spec.start_ns + int(0.6 * cell.spec.duration_ns)
    assert [f.name for f in path.iterdir()] == ["bag.mcap"]
    data = (path / "bag.mcap").read_bytes()
    assert data.startswith(MCAP0_MAGIC) and not data.endswith(MCAP0_MAGIC)
    log_times = []
    with (path / "bag.mcap").open("rb") as f, pytest.raises(McapError):
        for record in StreamReader(f).records:
            if isinstance(record, Message):
                log_times.append(record.log_time)
    assert 0 < len(log_times) and max(log_times) < kill_ns


def test_truncated_sqlite3_keeps_committed_messages_without_metadata(make_bag):
    path, cell = make_bag(faults="truncate=0.5", storage="sqlite3")
    kill_ns = cell.spec.start_ns + cell.spec.duration_ns // 2
    assert [f.name for f in path.iterdir()] == ["bag.db3"]
    with sqlite3.connect(path / "bag.db3") as db:
        count, last = db.execute("SELECT COUNT(*), MAX(timestamp) FROM messages").fetchone()
        assert db.execute("SELECT COUNT(*) FROM metadata").fetchone() == (0,)
    full = sum(1 for m in small_cell().messages() if m.log_ns < kill_ns)
    assert count == full and last < kill_ns


@pytest.mark.parametrize("text, part", [
    ("drop=1.5", "drop='1.5'"), ("/a:drop", "'drop'"), ("*:outage=3-2", "'3-2'"),
    ("*:outage=2", "'2'"),
    ("*:bogus=1", "'bogus'"), ("/cell/arm1/joint_states:truncate=0.5", "truncate"),
    ("truncate=1", "truncate='1'"), ("*:jitter_ms=-1", "jitter_ms"),
    ("*:offset_ms=abc", "offset_ms"),
])
def test_parse_faults_names_the_bad_part(text, part):
    with pytest.raises(ConfigError, match=part.replace("*", r"\*")):
        parse_faults(text)


def test_parse_faults_later_rules_override_key_by_key():
    faults = parse_faults(" *:drop=0.1,jitter_ms=1 ; /cell/cam*/image_raw:drop=0.5 ;truncate=0.8")
    assert faults.truncate == 0.8
    assert faults.for_topic(CAM1) == TopicFaults(drop=0.5, jitter_ms=1.0)
    assert faults.for_topic(ARM1) == TopicFaults(drop=0.1, jitter_ms=1.0)
    assert parse_faults("") == parse_faults(" ; ")
    with pytest.raises(ConfigError, match="'/cell/cam9/image_raw' matches no topic"):
        small_cell("/cell/cam9/image_raw:drop=0.1")


# --- determinism, spec validation, CLI -----------------------------------------------------------

def digest(cell: Cell) -> str:
    h = hashlib.sha256()
    for m in cell.messages():
        h.update(f"{m.topic}{m.log_ns}{m.stamp_ns}".encode())
        h.update(m.data)
    return h.hexdigest()


def test_same_seed_same_bag_other_seed_other_bag():
    faults = "*:drop=0.1,jitter_ms=1,dup=0.05,reorder=0.05"
    first, again, other = (digest(small_cell(faults, seed=s, duration_s=1.0)) for s in (7, 7, 8))
    assert first == again != other


@pytest.mark.parametrize("field, value", [
    ("arms", 0), ("cameras", -1), ("duration_s", 0), ("episodes", 0), ("image_width", 8),
    ("lidar", "yes"), ("joint_rate_hz", float("nan"))])
def test_cellspec_rejects_bad_fields_by_name(field, value):
    with pytest.raises(ConfigError, match=field):
        CellSpec(**{field: value})


def test_cellspec_rejects_episodes_that_do_not_fit():
    with pytest.raises(ConfigError, match="episodes: 30 work cycles do not fit in duration_s=2"):
        CellSpec(duration_s=2.0, episodes=30)
    with pytest.raises(ConfigError, match="episodes: 1 work cycles do not fit in duration_s=0.05"):
        CellSpec(duration_s=0.05)


def test_cli_sim_writes_bag_and_json_summary(tmp_path):
    out = tmp_path / "cli_bag"
    args = ["sim", "-o", str(out), "--duration", "1", "--image-size", "64x48",
            "--lidar-points", "256", "--cameras", "1", "--storage", "sqlite3",
            "--faults", f"{CAM1}:drop=0.5", "--json", "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["storage"] == "sqlite3" and summary["size_bytes"] > 0
    assert summary["topics"]["/cell/arm2/joint_states"] == 500 and summary["topics"][CAM1] < 30
    assert Counter(t for t, _, _ in read_bag(out)) == summary["topics"]


@pytest.mark.parametrize("extra, message", [
    ([], "exists already"), (["--faults", "drop=7"], "drop='7'"),
    (["--arms", "0"], "arms must be"),
    (["--image-size", "big"], "WIDTHxHEIGHT"),
])
def test_cli_sim_errors_are_one_line_exit_2(tmp_path, extra, message):
    out = tmp_path / "exists"
    if not extra:
        out.mkdir()
    result = CliRunner().invoke(main, ["sim", "-o", str(out), "--duration", "1", *extra])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_write_bag_reports_progress_and_rejects_bad_storage(tmp_path):
    seen: list[float] = []
    counts = write_bag(tmp_path / "bag", small_cell(cameras=0, lidar=False), progress=seen.append)
    assert counts[ARM1] == 1000
    assert seen == sorted(seen) and 0.1 <= seen[0] and 1.9 <= seen[-1] <= 2.0
    with pytest.raises(ConfigError, match="storage must be one of mcap, sqlite3, not 'rosbag'"):
        write_bag(tmp_path / "other", small_cell(), storage="rosbag")
    with pytest.raises(BagError, match="exists already"):
        write_bag(tmp_path / "bag", small_cell())


def traced_peak(duration_s: float) -> tuple[int, int]:
    """Bytes streamed and peak traced memory while iterating a default-size cell."""
    tracemalloc.start()
    try:
        total = sum(len(m.data) for m in Cell(CellSpec(duration_s=duration_s)).messages())
        return total, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_memory_stays_flat_while_streaming_a_full_size_cell():
    short_total, short_peak = traced_peak(2.0)
    long_total, long_peak = traced_peak(12.0)
    assert long_total > 5 * short_total > 500e6
    assert long_peak < short_peak + 20e6, "memory must not grow with the bag's length"

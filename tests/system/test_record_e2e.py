"""End to end over real Cyclone DDS (loopback, private domain): `sim --publish` -> `record` -> bag.

Each test runs the two CLI processes exactly as a user would, then checks the bag against what the
publisher says it sent: zero loss, episodes present, clean shutdown on SIGINT/SIGTERM, a QoS
mismatch named in the recorder's output, a clean stop before the disk is full.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from robot_logger.bag.reader import open_bag
from robot_logger.core import events
from robot_logger.core import messages as m
from tests.support.bagfiles import committed_rows
from tests.support.dds_env import private_domain, wait_until

CLI = [sys.executable, "-c", "from robot_logger.cli import main; main()"]
SMALL = ["--image-size", "64x48", "--lidar-points", "256"]
CAM = "/cell/cam1/image_raw"
SENSORS = [
    "/cell/arm1/joint_states",
    "/cell/arm2/joint_states",
    CAM,
    "/cell/cam2/image_raw",
    "/cell/lidar/points",
]
RELIABLE_QOS = "".join(f"{t}: {{reliability: reliable, history: keep_all}}\n" for t in SENSORS)


def start_recorder(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        CLI + ["record", "--transport", "dds", "--json", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def publish(env: dict[str, str], *args: str, timeout_s: float = 120, wait_s: float = 10) -> dict:
    done = subprocess.run(
        CLI
        + [
            "sim",
            "--publish",
            "--transport",
            "dds",
            "--json",
            "--wait-subscribers",
            str(wait_s),
            *args,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@contextmanager
def publishing(env: dict[str, str], *args: str) -> Iterator[subprocess.Popen]:
    """`sim --publish` for up to 20 s in the background; stopped (SIGINT) on leaving."""
    publisher = subprocess.Popen(
        CLI + ["sim", "--publish", "--transport", "dds", "--duration", "20",
               "--wait-subscribers", "10", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield publisher
    finally:
        publisher.send_signal(signal.SIGINT)
        publisher.wait(30)


def stop(recorder: subprocess.Popen, sig: int = signal.SIGINT) -> tuple[dict, str]:
    recorder.send_signal(sig)
    out, err = recorder.communicate(timeout=30)
    assert recorder.returncode == 0, err
    return json.loads(out), err


def bag_counts(path: Path) -> dict[str, int]:
    with open_bag(path) as bag:
        return {topic: info.count for topic, info in bag.topics.items()}


def recorded_events(path: Path) -> list[events.Event]:
    with open_bag(path) as bag:
        return [
            events.decode(m.deserialize(raw, m.STRING).data)
            for _, _, _, raw in bag.messages([m.EVENTS_TOPIC])
        ]


def test_small_cell_is_recorded_without_loss_and_sigint_closes_the_bag(monkeypatch, tmp_path):
    dds_env = private_domain(monkeypatch)
    recorder = start_recorder(dds_env, "-o", str(tmp_path / "bag"), "--all", "--quiet")
    sent = publish(dds_env, "--duration", "2", *SMALL)
    final, _ = stop(recorder, signal.SIGINT)
    assert final["stop_reason"] == "stopped"
    assert bag_counts(tmp_path / "bag") == sent["published"]  # zero loss, every topic
    assert final["written"] == sent["published"]
    assert sum(final["dropped_queue"].values()) == 0
    assert sum(final["dropped_at_stop"].values()) == 0
    kinds = [e.type for e in recorded_events(tmp_path / "bag")]
    assert kinds[0] == "episode_start" and kinds[-1] == "episode_end" and "phase" in kinds
    assert all(t["drops"] == 0 for t in final["topics"].values())
    info = subprocess.run(
        CLI + ["info", str(tmp_path / "bag"), "--json"],
        env=dds_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert info.returncode == 0, info.stderr


@pytest.mark.slow
def test_sigterm_mid_stream_leaves_a_readable_bag(monkeypatch, tmp_path):
    dds_env = private_domain(monkeypatch)
    recorder = start_recorder(
        dds_env,
        "-o",
        str(tmp_path / "bag"),
        "--topics",
        "/cell/arm1/joint_states",
        "--storage",
        "sqlite3",
    )
    with publishing(dds_env, "--arms", "1", "--cameras", "0", "--no-lidar"):
        assert wait_until(lambda: committed_rows(tmp_path / "bag") >= 200, 30.0, step_s=0.2)
        final, _ = stop(recorder, signal.SIGTERM)
    counts = bag_counts(tmp_path / "bag")
    assert counts["/cell/arm1/joint_states"] == final["written"]["/cell/arm1/joint_states"] > 100
    assert (tmp_path / "bag" / "metadata.yaml").is_file()


@pytest.mark.slow
def test_qos_mismatch_is_reported_naming_the_topic(monkeypatch, tmp_path):
    """The CLI view of tests/test_transport.py's mismatch test (the cam1 reader never matches)."""
    dds_env = private_domain(monkeypatch)
    qos_file = tmp_path / "qos.yaml"
    qos_file.write_text(f"{CAM}: {{reliability: reliable}}\n")
    recorder = start_recorder(
        dds_env, "-o", str(tmp_path / "bag"), "--all", "--qos", str(qos_file)
    )
    publish(dds_env, "--duration", "5", *SMALL, wait_s=4)
    final, err = stop(recorder)
    expected = (
        f"{CAM}: never matched: QoS mismatch: the recorder requests reliable "
        "but the publisher offers best_effort"
    )
    assert expected in final["warnings"]
    assert expected in err  # the live lines say it too
    assert CAM not in bag_counts(tmp_path / "bag")
    assert bag_counts(tmp_path / "bag")["/cell/cam2/image_raw"] > 0


@pytest.mark.slow
def test_min_free_stops_cleanly_with_a_clear_error(monkeypatch, tmp_path):
    dds_env = private_domain(monkeypatch)
    recorder = start_recorder(
        dds_env, "-o", str(tmp_path / "bag"), "--all", "--min-free", "1000000000"
    )
    with publishing(dds_env, *SMALL):
        out, err = recorder.communicate(timeout=30)
    assert recorder.returncode == 2
    assert err.strip().splitlines()[-1].startswith("error: disk nearly full")
    assert "Traceback" not in err
    final = json.loads(out)
    assert bag_counts(tmp_path / "bag") == {t: n for t, n in final["written"].items() if n}


@pytest.mark.slow
def test_default_cell_ten_seconds_zero_loss_then_build_and_validate(monkeypatch, tmp_path):
    """The issue's acceptance run: full-size default cell, 10 s.

    Reliable QoS on both sides so the check is about the recorder, not about best-effort UDP on a
    machine shared by many processes.
    """
    dds_env = private_domain(monkeypatch)
    qos_file = tmp_path / "reliable.yaml"
    qos_file.write_text(RELIABLE_QOS)
    recorder = start_recorder(
        dds_env, "-o", str(tmp_path / "bag"), "--all", "--qos", str(qos_file), "--quiet"
    )
    sent = publish(dds_env, "--duration", "10", "--qos", str(qos_file), timeout_s=300)
    final, _ = stop(recorder)
    assert bag_counts(tmp_path / "bag") == sent["published"]
    assert final["written"] == sent["published"]
    assert any(e.type == "episode_start" for e in recorded_events(tmp_path / "bag"))
    build = subprocess.run(
        CLI + ["build", str(tmp_path / "bag"), "-o", str(tmp_path / "cell.h5"), "--quiet"],
        env=dds_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr
    check = subprocess.run(
        CLI + ["validate", str(tmp_path / "cell.h5")],
        env=dds_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.slow
def test_sim_publish_with_every_sensor_is_recorded_and_tf_static_reaches_a_late_joiner(
        monkeypatch, tmp_path):
    """The cell with every optional stream published live: the recorder gets every topic without
    loss, and a reader that subscribes to /tf_static a second after it went out still gets it
    (transient-local, as tf2's static broadcaster offers it), byte for byte the simulator's."""
    import threading

    from robot_logger.sim import Cell, CellSpec
    from robot_logger.sim.publisher import PublishResult, publish_cell
    from robot_logger.transport import open_transport
    from robot_logger.transport.qos import TF_STATIC

    dds_env = private_domain(monkeypatch)
    recorder = start_recorder(dds_env, "-o", str(tmp_path / "bag"), "--all", "--quiet")
    spec = CellSpec(arms=1, cameras=1, lidar=False, duration_s=3.0, image_height=48,
                    image_width=64, commands=True, gripper=True, wrench=True, depth=True,
                    camera_info=True, tf_static=True)
    one_second_in = threading.Event()
    result: list[PublishResult] = []
    with open_transport("dds") as pub, open_transport("dds") as late:
        thread = threading.Thread(target=lambda: result.append(publish_cell(
            pub, Cell(spec), wait_subscribers_s=20,
            progress=lambda s: one_second_in.set() if s >= 1.0 else None)))
        thread.start()
        assert one_second_in.wait(60), "the cell did not start publishing"
        late.subscribe(m.TF_STATIC_TOPIC, m.TF_MESSAGE, TF_STATIC)
        got: list[bytes] = []
        assert wait_until(lambda: got.extend(data for batch in late.take(0.1)
                                             for data, _ in batch.samples) or got, 10.0)
        thread.join(60)
    final, _ = stop(recorder, signal.SIGINT)
    (sent,) = result
    assert set(sent.counts) == set(spec.topics()) and not sent.stopped_early
    assert bag_counts(tmp_path / "bag") == sent.counts       # zero loss, every topic
    assert sent.counts["/tf_static"] == 1
    assert sent.counts["/cell/arm1/joint_trajectory_controller/joint_trajectory"] == 300
    stamp = m.deserialize(got[0], m.TF_MESSAGE).transforms[0].header.stamp
    live = Cell(CellSpec(**{**spec.describe(), "start_ns": m.stamp_to_ns(stamp)}))
    assert got == [msg.data for msg in live.messages() if msg.topic == m.TF_STATIC_TOPIC]

"""Live recording benchmark (issue 6): zero loss on the reference cell, and the lossless ceiling.

    .venv/bin/python tools/bench_record.py            # ~4 min: 60 s reference cell + two ramps
    .venv/bin/python tools/bench_record.py --quick    # ~1.5 min: 10 s reference, shorter ramps

(a) The reference cell (2 arms JointState 500 Hz, 2 cameras 640x480 rgb8 30 Hz, LiDAR 30k points
    10 Hz) published over Cyclone DDS (loopback, best-effort sensor QoS as by default) and recorded
    by `robot-logger record --all`: messages lost, recorder CPU share of one core, peak RSS.
(b) Camera bandwidth ramped in steps (arms and LiDAR keep running) until messages are lost, twice
    in the same run: once into `robot-logger record` (to disk, MCAP) and once into a bare raw
    Cyclone receiver (no disk): the max lossless MB/s of each, their ratio, and the ratio against
    the 110-120 MB/s at which rosbag2's recorder users report drops (ros2/rosbag2#1787).
(c) Message rate (issue 16): N arms x 500 Hz JointState (N stepped up to 60) plus the two
    cameras, best-effort, each step on its own topics, into the recorder and into the bare
    receiver: offered msg/s, losses, and the max lossless msg/s (goal >= 30,000 with the cameras
    on). The publisher is split over `--publishers` processes (one Python process tops out near
    the goal by itself); the achieved rate is what the table shows, not the plan's.

(d) `--vs-rosbag2 SETUP_BASH`: rosbag2's own recorder side by side on the same load in the same
    run: the camera ramp (b, best-effort) and the rate ramp (c) into `robot-logger record` and into
    `ros2 bag record -a` of that ROS 2 (rmw_cyclonedds_cpp, its default adaptive QoS), in each
    storage: max lossless MB/s and msg/s, ours / rosbag2's.

        .venv/bin/python tools/bench_record.py --vs-rosbag2 ~/ros2_jazzy/setup.bash --quick

The publisher replays pre-rendered CDR frames with fresh header stamps (rendering is the
simulator's cost, not the recorder's). Writes go to the page cache (no fsync), as rosbag2's do.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

from robot_logger.bag.reader import open_bag
from robot_logger.core import messages as m
from robot_logger.errors import TransportError
from robot_logger.transport import open_transport, qos
from robot_logger.transport.base import wait_for_subscribers
from robot_logger.transport.dds import LOOPBACK_CONFIG

ROSBAG2_DROP_MBPS = 115.0  # middle of the 110-120 MB/s users of rosbag2's recorder report
FRAME_MB = 640 * 480 * 3 / 1e6
CLI = [sys.executable, "-c", "from robot_logger.cli import main; main()"]
_STAMP = struct.Struct("<iI")


# ---- stream plans -----------------------------------------------------------------------------
def base_streams(prefix: str) -> list[dict]:
    """Arms and LiDAR of the reference cell."""
    return [
        {"topic": f"{prefix}/arm{i}/joint_states", "kind": "joints", "rate_hz": 500.0}
        for i in (1, 2)
    ] + [{"topic": f"{prefix}/lidar/points", "kind": "lidar", "rate_hz": 10.0}]


def reference_plan(duration_s: float) -> list[dict]:
    cams = [
        {"topic": f"/bench/ref/cam{i}/image_raw", "kind": "camera", "rate_hz": 30.0}
        for i in (1, 2)
    ]
    return [
        {
            "name": "reference",
            "duration_s": duration_s,
            "reliable": False,
            "streams": base_streams("/bench/ref") + cams,
        }
    ]


def ramp_plan(targets_mbps: list[float], step_s: float, reliable: bool) -> list[dict]:
    """One phase per camera bandwidth target; each phase has its own camera topics."""
    phases = []
    for k, target in enumerate(targets_mbps):
        fps = target / 2 / FRAME_MB
        cams = [
            {"topic": f"/bench/s{k}/cam{i}/image_raw", "kind": "camera", "rate_hz": fps}
            for i in (1, 2)
        ]
        phases.append(
            {
                "name": f"{target:.0f} MB/s",
                "duration_s": step_s,
                "reliable": reliable,
                "streams": base_streams(f"/bench/s{k}") + cams,
            }
        )
    return phases


def rate_plan(arm_counts: list[int], step_s: float) -> list[dict]:
    """(c): one phase per arm count, each on its own topics, with the two reference cameras."""
    return [
        {
            "name": f"{n} arms",
            "duration_s": step_s,
            "reliable": False,
            "streams": [
                {"topic": f"/bench/r{k}/arm{i}/joint_states", "kind": "joints", "rate_hz": 500.0}
                for i in range(1, n + 1)
            ] + [
                {"topic": f"/bench/r{k}/cam{i}/image_raw", "kind": "camera", "rate_hz": 30.0}
                for i in (1, 2)
            ],
        }
        for k, n in enumerate(arm_counts)
    ]


def template(kind: str, rng: np.random.Generator) -> tuple[str, bytes]:
    if kind == "joints":
        names = [f"joint{j}" for j in range(1, 7)]
        return m.JOINT_STATE, m.serialize(
            m.joint_state(0, names, rng.normal(size=6), rng.normal(size=6), rng.normal(size=6)),
            m.JOINT_STATE,
        )
    if kind == "camera":
        pixels = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
        return m.IMAGE, m.serialize(m.image(0, pixels), m.IMAGE)
    points = rng.normal(size=(30000, 4)).astype(np.float32)
    return m.POINTCLOUD2, m.serialize(m.pointcloud2(0, points), m.POINTCLOUD2)


# ---- roles (child processes) ------------------------------------------------------------------
def reader_qos(reliable: bool) -> qos.QosProfile:
    return qos.QosProfile("reliable", "volatile", "keep_all", 1) if reliable else qos.SENSOR_READER


def writer_qos(reliable: bool) -> qos.QosProfile:
    """Sensor writers: best-effort (default) or reliable keep-all (flow control, no UDP loss)."""
    return qos.QosProfile("reliable", "volatile", "keep_all", 1) if reliable else qos.SENSOR_WRITER


def run_publisher(plan: list[dict]) -> dict:
    """Publish every phase of `plan` on the wall clock; per-topic counts, bytes, achieved rates."""
    rng = np.random.default_rng(0)
    cache: dict[str, tuple[str, bytes]] = {}
    counts: dict[str, int] = {}
    nbytes: dict[str, int] = {}
    phases = []
    with open_transport("dds") as transport:
        for phase in plan:
            pubs, frames = {}, {}
            for s in phase["streams"]:
                msgtype, raw = cache.setdefault(s["kind"], template(s["kind"], rng))
                pubs[s["topic"]] = transport.publisher(
                    s["topic"], msgtype, writer_qos(phase["reliable"])
                )
                frames[s["topic"]] = raw
            missing = wait_for_subscribers(list(pubs.values()), 15.0)
            start = time.monotonic()
            due = [(start + 0.0, s["topic"], 1.0 / s["rate_hz"]) for s in phase["streams"]]
            heapq.heapify(due)
            end, lag, failed = start + phase["duration_s"], 0.0, 0
            while due and due[0][0] < end:
                when, topic, period = heapq.heappop(due)
                ahead = when - time.monotonic()
                if ahead > 0.0005:
                    time.sleep(ahead)
                else:
                    lag = max(lag, -ahead)
                frame = bytearray(frames[topic])
                _STAMP.pack_into(frame, 4, *divmod(time.time_ns(), 1_000_000_000))
                try:
                    pubs[topic].publish(frame)
                except TransportError:  # a reliable write blocked longer than its limit: lost
                    failed += 1
                    continue
                counts[topic] = counts.get(topic, 0) + 1
                nbytes[topic] = nbytes.get(topic, 0) + len(frame)
                heapq.heappush(due, (when + period, topic, period))
            wall = time.monotonic() - start
            sent = sum(counts.get(s["topic"], 0) for s in phase["streams"])
            cam_bytes = sum(nbytes[s["topic"]] for s in phase["streams"] if s["kind"] == "camera")
            all_bytes = sum(nbytes[s["topic"]] for s in phase["streams"])
            phases.append(
                {
                    "name": phase["name"],
                    "wall_s": wall,
                    "max_lag_ms": lag * 1e3,
                    "msgs_per_s": sent / wall,
                    "failed": failed,
                    "camera_mbps": cam_bytes / wall / 1e6,
                    "total_mbps": all_bytes / wall / 1e6,
                    "unmatched": missing,
                    "topics": [s["topic"] for s in phase["streams"]],
                }
            )
            time.sleep(0.5)
    return {"counts": counts, "bytes": nbytes, "phases": phases}


def run_receiver(stop: threading.Event, reliable: bool) -> dict:
    """Bare raw Cyclone receive: discover, subscribe, take, count. No disk."""
    counts: dict[str, int] = {}
    with open_transport("dds") as transport:
        subscribed: set[str] = set()
        next_discovery = 0.0
        while not stop.is_set():
            if time.monotonic() >= next_discovery:
                for topic, types in transport.discover().items():
                    if topic.startswith("/bench") and topic not in subscribed:
                        transport.subscribe(topic, types[0], reader_qos(reliable))
                        subscribed.add(topic)
                next_discovery = time.monotonic() + 0.5
            for batch in transport.take(0.05):
                counts[batch.topic] = counts.get(batch.topic, 0) + len(batch.samples)
    return {"counts": counts}


# ---- orchestration ----------------------------------------------------------------------------
class Watch(threading.Thread):
    """Samples a process's peak RSS; CPU comes from its cpu_times at the end."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc, self.peak_rss, self.cpu_s = psutil.Process(pid), 0, 0.0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                self.peak_rss = max(self.peak_rss, self.proc.memory_info().rss)
                times = self.proc.cpu_times()
                self.cpu_s = times.user + times.system
            except psutil.Error:
                return
            time.sleep(0.1)


def session(
    sink_args: list[str] | None,
    plan: list[dict],
    env: dict[str, str],
    workdir: Path,
    reliable: bool = False,
    publishers: int = 1,
    rosbag2: tuple[dict[str, str], str] | None = None,
) -> dict:
    """Start the receiving side (recorder CLI, raw receiver, or `ros2 bag record` with the given
    ROS environment and storage), publish `plan`, stop, collect."""
    if rosbag2 is not None:
        ros_env, storage = rosbag2
        receiver = subprocess.Popen(
            ["ros2", "bag", "record", "-a", "-s", storage, "-o", str(workdir / "rosbag2")],
            env={**ros_env, "ROS_DOMAIN_ID": env["ROS_DOMAIN_ID"],
                 "CYCLONEDDS_URI": env["CYCLONEDDS_URI"]},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            start_new_session=True,  # `ros2` ignores a SIGINT to itself alone: signal the group
        )
    elif sink_args is None:
        receiver = subprocess.Popen(
            [sys.executable, __file__, "--role", "receive"] + (["--reliable"] if reliable else []),
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
    else:
        receiver = subprocess.Popen(
            CLI + ["record", "--transport", "dds", "--json", "--quiet", *sink_args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    watch = Watch(receiver.pid)
    watch.start()
    time.sleep(3.0 if rosbag2 else 2.0)  # imports and participant discovery
    if receiver.poll() is not None:
        raise SystemExit(f"error: the receiving side exited early: {receiver.communicate()}")
    procs = []
    for k, part in enumerate(split_plan(plan, publishers)):
        plan_file = workdir / f"plan{k}.json"
        plan_file.write_text(json.dumps(part))
        procs.append(subprocess.Popen(
            [sys.executable, __file__, "--role", "publish", "--plan", str(plan_file)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    start = time.monotonic()
    outputs = [p.communicate() for p in procs]
    for p, (_out, err) in zip(procs, outputs):
        if p.returncode:
            raise SystemExit(f"error: a publisher failed: {err[-2000:]}")
    pub = merge_published([json.loads(out) for out, _err in outputs])
    wall = time.monotonic() - start
    time.sleep(1.5)
    cpu_before_stop = watch.cpu_s
    if rosbag2 is not None:
        os.killpg(receiver.pid, signal.SIGINT)
        _, err = receiver.communicate(timeout=120)
        if not (workdir / "rosbag2" / "metadata.yaml").exists():
            raise SystemExit(f"error: ros2 bag record wrote no bag (exit {receiver.returncode}):"
                             f" {err[-2000:]}")
        out = "{}"
    else:
        receiver.send_signal(signal.SIGINT)
        out, _ = receiver.communicate(timeout=120)
    watch.done.set()
    return {
        "published": pub,
        "received": json.loads(out),
        "wall_s": wall,
        "cpu_s": cpu_before_stop,
        "peak_rss": watch.peak_rss,
    }


def split_plan(plan: list[dict], parts: int) -> list[list[dict]]:
    """The plan's streams dealt round-robin to `parts` publishers (same phases, own topics)."""
    return [[{**phase, "streams": phase["streams"][k::parts]} for phase in plan]
            for k in range(parts)]


def merge_published(results: list[dict]) -> dict:
    """One publisher result from several with disjoint topics (phase by phase)."""
    merged = {"counts": {}, "bytes": {}, "phases": []}
    for result in results:
        merged["counts"].update(result["counts"])
        merged["bytes"].update(result["bytes"])
    for phases in zip(*(r["phases"] for r in results)):
        merged["phases"].append({
            "name": phases[0]["name"],
            "wall_s": max(p["wall_s"] for p in phases),
            "max_lag_ms": max(p["max_lag_ms"] for p in phases),
            "msgs_per_s": sum(p["msgs_per_s"] for p in phases),
            "failed": sum(p["failed"] for p in phases),
            "camera_mbps": sum(p["camera_mbps"] for p in phases),
            "total_mbps": sum(p["total_mbps"] for p in phases),
            "unmatched": [t for p in phases for t in p["unmatched"]],
            "topics": [t for p in phases for t in p["topics"]],
        })
    return merged


def rate_ramp(arm_counts: list[int], step_s: float, publishers: int, env: dict[str, str],
              workdir: Path) -> None:
    """(c): the message-rate ramp into the recorder and into the bare receiver."""
    plan = rate_plan(arm_counts, step_s)
    rec = session(["-o", str(workdir / "rate"), "--all"], plan, env, workdir,
                  publishers=publishers)
    got_rec = received_counts(rec, workdir / "rate")
    shutil.rmtree(workdir / "rate")
    raw = session(None, plan, env, workdir, publishers=publishers)
    got_raw = received_counts(raw, None)
    print(f"\n(c) message rate: N arms x 500 Hz JointState + 2 cameras 640x480 30 Hz, "
          f"best-effort, {step_s:g} s per step, {publishers} publisher processes:")
    print(f"    {'step':>8} {'offered/s':>10} {'rec lost':>9} {'worst topic':>12} "
          f"{'raw offered/s':>14} {'raw lost':>9}")
    ceilings = {"rec": 0.0, "raw": 0.0}
    clean = {"rec": True, "raw": True}
    for r, w in zip(rec["published"]["phases"], raw["published"]["phases"]):
        row = {}
        for name, result, got, phase in (("rec", rec, got_rec, r), ("raw", raw, got_raw, w)):
            sent = result["published"]["counts"]
            per_topic = {t: sent.get(t, 0) - got.get(t, 0) for t in phase["topics"]}
            lost = sum(per_topic.values()) + phase["failed"]
            worst = max(per_topic.values(), default=0)
            row[name] = (lost, worst)
            clean[name] = clean[name] and lost == 0
            if clean[name]:
                ceilings[name] = max(ceilings[name], phase["msgs_per_s"])
        print(f"    {r['name']:>8} {r['msgs_per_s']:>10,.0f} {row['rec'][0]:>9} "
              f"{row['rec'][1]:>12} {w['msgs_per_s']:>14,.0f} {row['raw'][0]:>9}")
    queue_drops = sum(rec["received"]["dropped_queue"].values())
    print(f"    recorder: {queue_drops} dropped at its writer queue (the rest never reached its "
          f"readers); CPU {rec['cpu_s']:.1f} s over {rec['wall_s']:.1f} s")
    print(f"    max lossless msg/s: recorder {ceilings['rec']:,.0f}, bare receiver "
          f"{ceilings['raw']:,.0f} (goal >= 30,000: "
          f"{'met' if ceilings['rec'] >= 30000 else 'NOT met'})")


def ros_environment(setup_bash: str) -> dict[str, str]:
    """The environment a shell has after sourcing ROS 2's setup.bash (rmw_cyclonedds_cpp)."""
    out = subprocess.run(["bash", "-c", f"source {setup_bash} && env -0"], capture_output=True,
                         check=True).stdout.decode()
    env = dict(item.split("=", 1) for item in out.split("\0") if "=" in item)
    return {**env, "RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"}


def step_losses(result: dict, got: dict[str, int]) -> list[tuple[str, float, float, int]]:
    """Per step: name, offered MB/s, offered msg/s, messages lost (sent - recorded, failed)."""
    sent = result["published"]["counts"]
    return [(phase["name"], phase["total_mbps"], phase["msgs_per_s"],
             sum(sent.get(t, 0) - got.get(t, 0) for t in phase["topics"]) + phase["failed"])
            for phase in result["published"]["phases"]]


def vs_rosbag2(setup_bash: str, storages: list[str], targets: list[float], arm_counts: list[int],
               step_s: float, publishers: int, env: dict[str, str], workdir: Path) -> None:
    """(d): the camera ramp and the rate ramp into our recorder and into `ros2 bag record`."""
    ros_env = ros_environment(setup_bash)
    distro = ros_env.get("ROS_DISTRO", "?")
    # a first, unscored warm-up step: startup (discovery, first subscriptions) lost rosbag2 some
    # messages of its first step in trials here, which would hide its steady-state ceiling
    plans = {"camera": (ramp_plan(targets[:1] + targets, step_s, False), 1),
             "rate": (rate_plan(arm_counts[:1] + arm_counts, step_s), publishers)}
    print(f"\n(d) side by side with rosbag2 (ROS 2 {distro}, `ros2 bag record -a`, "
          f"rmw_cyclonedds_cpp), same load, same run, {step_s:g} s per step; lost messages "
          "per step, max lossless = the highest step before the first lossy one:")
    summary = []
    for storage in storages:
        for ramp_name, (plan, pubs) in plans.items():
            steps = {}
            for who in ("ours", "rosbag2"):
                bag = workdir / who
                if who == "ours":
                    result = session(["-o", str(bag), "--all", "--storage", storage], plan, env,
                                     workdir, publishers=pubs)
                else:
                    result = session(None, plan, env, workdir, publishers=pubs,
                                     rosbag2=(ros_env, storage))
                steps[who] = step_losses(result, received_counts(result, bag))
                shutil.rmtree(bag, ignore_errors=True)
            unit, col = ("MB/s", 1) if ramp_name == "camera" else ("msg/s", 2)
            print(f"    {storage} {ramp_name} ramp: {'step':>9} {'offered ' + unit:>15} "
                  f"{'ours lost':>10} {'rosbag2 lost':>13}")
            ceilings = {"ours": 0.0, "rosbag2": 0.0}
            clean = {"ours": True, "rosbag2": True}
            for k, (ours, theirs) in enumerate(zip(steps["ours"], steps["rosbag2"])):
                name = "warm-up" if k == 0 else ours[0]
                print(f"    {'':>{len(storage) + len(ramp_name) + 7}} {name:>9} "
                      f"{ours[col]:>15,.0f} {ours[3]:>10} {theirs[3]:>13}")
                if k == 0:
                    continue
                for who, row in (("ours", ours), ("rosbag2", theirs)):
                    clean[who] = clean[who] and row[3] == 0
                    if clean[who]:
                        ceilings[who] = max(ceilings[who], row[col])
            summary.append((storage, ramp_name, unit, ceilings["ours"], ceilings["rosbag2"]))
            lost = {who: sum(row[3] for row in rows[1:]) for who, rows in steps.items()}
            print(f"    {'':>{len(storage) + len(ramp_name) + 7}} lost in all scored steps: "
                  f"ours {lost['ours']}, rosbag2 {lost['rosbag2']}")
    print("    max lossless, ours / rosbag2:")
    for storage, ramp_name, unit, ours, theirs in summary:
        ratio = f"{ours / theirs:.2f}" if theirs else "n/a (rosbag2 lost in the first step)"
        ratio = ratio if ours else "n/a (we lost in the first step)"
        print(f"    {storage:>8} {ramp_name:>6}: {ours:>9,.0f} / {theirs:>9,.0f} {unit}  "
              f"ratio {ratio}")


def received_counts(result: dict, bag: Path | None) -> dict[str, int]:
    if bag is None:
        return result["received"]["counts"]
    with open_bag(bag) as reader:
        return {t: info.count for t, info in reader.topics.items()}


def ramp_ceiling(result: dict, bag: Path | None) -> tuple[float, list[dict]]:
    """Highest achieved total MB/s among the zero-loss steps before the first lossy one; rows."""
    got = received_counts(result, bag)
    sent = result["published"]["counts"]
    rows, ceiling, clean = [], 0.0, True
    for phase in result["published"]["phases"]:
        lost = sum(sent.get(t, 0) - got.get(t, 0) for t in phase["topics"]) + phase["failed"]
        rows.append(
            {
                "step": phase["name"],
                "total_mbps": round(phase["total_mbps"], 1),
                "lost": lost,
                "max_lag_ms": round(phase["max_lag_ms"], 1),
            }
        )
        clean = clean and lost == 0
        if clean:
            ceiling = max(ceiling, phase["total_mbps"])
    return ceiling, rows


def ramp(
    targets: list[float], step_s: float, reliable: bool, env: dict[str, str], workdir: Path
) -> None:
    """(b): the same ramp into the recorder and into the bare receiver; print table and ratios."""
    plan = ramp_plan(targets, step_s, reliable)
    sink_args = ["-o", str(workdir / "ramp"), "--all"]
    if reliable:
        topics = {s["topic"] for phase in plan for s in phase["streams"]}
        (workdir / "qos.yaml").write_text(
            "".join(f"{t}: {{reliability: reliable, history: keep_all}}\n" for t in sorted(topics))
        )
        sink_args += ["--qos", str(workdir / "qos.yaml")]
    rec = session(sink_args, plan, env, workdir)
    rec_ceiling, rec_rows = ramp_ceiling(rec, workdir / "ramp")
    shutil.rmtree(workdir / "ramp")
    raw = session(None, plan, env, workdir, reliable)
    raw_ceiling, raw_rows = ramp_ceiling(raw, None)
    mode = (
        "reliable keep-all (publisher is flow-controlled)"
        if reliable
        else "best-effort (default QoS)"
    )
    print(f"\n(b) camera bandwidth ramp, {mode}, {step_s:g} s per step, arms + LiDAR running:")
    print(
        f"    {'step':>10} {'rec MB/s':>9} {'rec lost':>9} {'raw MB/s':>9} {'raw lost':>9}"
        f" {'rec lag ms':>11}"
    )
    for r, w in zip(rec_rows, raw_rows):
        print(
            f"    {r['step']:>10} {r['total_mbps']:>9.1f} {r['lost']:>9}"
            f" {w['total_mbps']:>9.1f} {w['lost']:>9}"
            f" {r['max_lag_ms']:>11.1f}"
        )
    queue_drops = sum(rec["received"]["dropped_queue"].values())
    blocked = sum(phase["failed"] for phase in rec["published"]["phases"])
    print(
        f"    recorder losses: {queue_drops} dropped at its writer queue, "
        f"{blocked} writes blocked > 5 s at the publisher, "
        "the rest never arrived (UDP / reader history)"
    )
    ratio = rec_ceiling / raw_ceiling if raw_ceiling else float("nan")
    print(
        f"    max lossless to disk: {rec_ceiling:.0f} MB/s; "
        f"raw Cyclone receive: {raw_ceiling:.0f} MB/s; ratio {ratio:.2f}; "
        f"vs rosbag2's ~{ROSBAG2_DROP_MBPS:.0f} MB/s: {rec_ceiling / ROSBAG2_DROP_MBPS:.2f}x "
        f"(target >= 200 MB/s: {'met' if rec_ceiling >= 200 else 'NOT met'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", choices=["publish", "receive"], help=argparse.SUPPRESS)
    parser.add_argument("--plan", help=argparse.SUPPRESS)
    parser.add_argument("--reliable", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--duration", type=float, default=60.0, help="reference cell seconds")
    parser.add_argument("--step-s", type=float, default=4.0, help="seconds per ramp step")
    parser.add_argument("--quick", action="store_true", help="10 s reference, 3 s steps")
    parser.add_argument("--workdir", default=None, help="where bags go (default: a temp dir)")
    parser.add_argument("--arms", default="10,20,40,60",
                        help="(c): arm counts to step through (500 Hz JointState each)")
    parser.add_argument("--publishers", type=int, default=2, help="(c): publisher processes")
    parser.add_argument("--only-rate", action="store_true", help="run (c) only")
    parser.add_argument("--vs-rosbag2", metavar="SETUP_BASH",
                        help="(d) only: side by side with this ROS 2's `ros2 bag record`")
    parser.add_argument("--storages", default="mcap,sqlite3", help="(d): storages to compare")
    args = parser.parse_args()
    if args.role == "publish":
        print(json.dumps(run_publisher(json.loads(Path(args.plan).read_text()))))
        return
    if args.role == "receive":
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        print(json.dumps(run_receiver(stop, args.reliable)))
        return

    duration, step_s = (10.0, 3.0) if args.quick else (args.duration, args.step_s)
    targets = [55, 110, 165, 220, 275, 330, 440, 550, 660]
    env = dict(
        os.environ, ROS_DOMAIN_ID=str(random.randint(1, 230)), CYCLONEDDS_URI=LOOPBACK_CONFIG
    )
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench_record_"))
    print(
        f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
        f"bags in {workdir}"
    )

    if args.vs_rosbag2:
        vs_rosbag2(args.vs_rosbag2, args.storages.split(","), targets,
                   [int(n) for n in args.arms.split(",")], step_s, args.publishers, env, workdir)
        return
    if args.only_rate:
        rate_ramp([int(n) for n in args.arms.split(",")], step_s, args.publishers, env, workdir)
        return
    ref = session(["-o", str(workdir / "ref"), "--all"], reference_plan(duration), env, workdir)
    got = received_counts(ref, workdir / "ref")
    lost = {
        t: n - got.get(t, 0) for t, n in ref["published"]["counts"].items() if n != got.get(t, 0)
    }
    phase = ref["published"]["phases"][0]
    print(f"\n(a) reference cell, {duration:g} s, {phase['total_mbps']:.1f} MB/s offered:")
    print(
        f"    published {sum(ref['published']['counts'].values())} messages, "
        f"recorded {sum(got.values())}, "
        f"lost {sum(lost.values())} {lost or ''}"
    )
    print(
        f"    recorder CPU {ref['cpu_s']:.1f} s over {ref['wall_s']:.1f} s = "
        f"{100 * ref['cpu_s'] / ref['wall_s']:.0f} % of one core (incl. startup); "
        f"peak RSS {ref['peak_rss'] / 1e6:.0f} MB"
    )
    shutil.rmtree(workdir / "ref")

    for reliable in (False, True):
        ramp(targets, step_s, reliable, env, workdir)
    rate_ramp([int(n) for n in args.arms.split(",")], step_s, args.publishers, env, workdir)
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

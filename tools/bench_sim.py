"""Benchmark: how fast `robot-logger sim` simulates the default cell, against the bag writer alone.

    .venv/bin/python tools/bench_sim.py [--duration 20] [--storage mcap] [--sensors all]

Default cell: 2 arms (JointState 500 Hz), 2 cameras (rgb8 640x480 30 Hz), LiDAR (30k points 10 Hz).
`--sensors` adds optional streams (`sim --sensors`): with `all`, per arm a JointTrajectory
(100 Hz), gripper position and command (100 Hz each), wrist F/T (250 Hz); per camera a 16UC1
depth image (15 Hz) and CameraInfo beside colour and depth; /tf_static.
Prints simulated seconds per wall second and per CPU second (target >= 1.0: faster than real
time) for
  generate  Cell.messages() only (no disk),
  sim       write_bag(): generate + rosbags Writer to disk (what `robot-logger sim` does),
  baseline  the rosbags Writer alone writing the same volume of pre-generated messages
            (the first seconds of the same cell, replayed with shifted log times),
and sim/baseline, what the simulation costs relative to just writing its bytes, measured in the
same run (robust to machine noise). CPU time is the number a busy shared machine inflates least.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from rosbags.rosbag2 import StoragePlugin, Writer

from robot_logger.bag.reader import STORAGES
from robot_logger.core.messages import typestore
from robot_logger.sim import Cell, CellSpec, SimMessage, write_bag
from robot_logger.sim.cell import parse_sensors

REPLAY_S = 2.0


class Timer:
    """Wall and CPU seconds of a `with` block."""

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def bench_generate(spec: CellSpec) -> tuple[Timer, int]:
    """Time and payload bytes to produce every message without writing."""
    with Timer() as timer:
        size = sum(len(m.data) for m in Cell(spec).messages())
    return timer, size


def bench_sim(spec: CellSpec, path: Path, storage: str) -> Timer:
    """Time of write_bag for the whole cell."""
    with Timer() as timer:
        write_bag(path, Cell(spec), storage=storage)
    return timer


def bench_writer(spec: CellSpec, path: Path, storage: str) -> Timer:
    """Time for rosbags' Writer alone to write spec.duration_s of pre-generated messages."""
    cell = Cell(spec)
    window_ns = int(REPLAY_S * 1e9)
    first = list(_until(cell, spec.start_ns + window_ns))
    repeats = max(1, round(spec.duration_s / REPLAY_S))
    with Timer() as timer, Writer(path, version=Writer.VERSION_LATEST,
                                  storage_plugin=StoragePlugin[storage.upper()]) as writer:
        connections = {topic: writer.add_connection(topic, msgtype, typestore=typestore())
                       for topic, msgtype in cell.topics().items()}
        for k in range(repeats):
            for m in first:
                writer.write(connections[m.topic], m.log_ns + k * window_ns, m.data)
    return timer


def _until(cell: Cell, end_ns: int) -> Iterator[SimMessage]:
    """The cell's messages logged before end_ns."""
    for message in cell.messages():
        if message.log_ns >= end_ns:
            return
        yield message


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=20.0,
                        help="simulated seconds (default 20)")
    parser.add_argument("--storage", choices=STORAGES, default="mcap")
    parser.add_argument("--sensors", default="",
                        help="optional streams as in `sim --sensors` (default: none)")
    args = parser.parse_args()
    spec = CellSpec(duration_s=args.duration, **parse_sensors(args.sensors))
    workdir = Path(tempfile.mkdtemp(prefix="bench_sim_"))
    try:
        generate, size = bench_generate(spec)
        sim = bench_sim(spec, workdir / "sim", args.storage)
        baseline = bench_writer(spec, workdir / "baseline", args.storage)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"default cell{' + ' + args.sensors if args.sensors else ''},"
          f" {args.duration:g} s simulated, {size / 1e9:.2f} GB of messages,"
          f" storage {args.storage}")
    print(f"{'stage':<10} {'wall s':>7} {'cpu s':>7} {'sim s/wall s':>13} {'sim s/cpu s':>12}"
          f" {'MB/s wall':>10}")
    for name, t in (("generate", generate), ("sim", sim), ("baseline", baseline)):
        print(f"{name:<10} {t.wall:7.2f} {t.cpu:7.2f} {args.duration / t.wall:13.2f}"
              f" {args.duration / t.cpu:12.2f} {size / t.wall / 1e6:10.0f}")
    print(f"sim / baseline: wall {sim.wall / baseline.wall:.2f}, cpu {sim.cpu / baseline.cpu:.2f}"
          f"  (target: sim >= 1.0 simulated s per wall s)")


if __name__ == "__main__":
    main()

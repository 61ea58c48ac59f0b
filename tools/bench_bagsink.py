"""Recorder disk side alone (issue 11): how fast BagSink writes the reference cell into MCAP.

    .venv/bin/python tools/bench_bagsink.py               # 20 s of cell, ~1.3 GB, ~1 min
    .venv/bin/python tools/bench_bagsink.py --seconds 5   # quick

The reference cell's messages (2 arms JointState 500 Hz, 2 cameras 640x480 rgb8 30 Hz, LiDAR 30k
points 10 Hz: 64 MB/s) are pre-serialized and handed to `BagSink.put` as fast as it accepts
them; the time until `close()` returns is the writer thread's (every write, the 0.5 s flushes,
the summary). The baseline, measured in the same run on the same messages, is rosbags' own
`Writer` (MCAP, the same 1 MiB chunks) in a plain loop with no queue and no flushes. Printed:
MB per second of wall time and per second of CPU time (this process, all threads) of each, and
their ratios, uncompressed and zstd. On a shared machine the CPU figure is the steadier one (wall
time includes waiting for a core). Writes go to the page cache (no fsync), as the recorder's do;
best of `--repeat` runs.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer

from robot_logger.core import messages as m
from robot_logger.record.bagsink import BagSink, SinkOptions

NS = 1_000_000_000


def cell_messages(seconds: float) -> list[tuple[str, str, int, bytes]]:
    """(topic, msgtype, log ns, CDR) of the reference cell in log-time order."""
    rng = np.random.default_rng(0)
    names = [f"joint{j}" for j in range(1, 7)]
    joint = m.serialize(m.joint_state(0, names, *rng.normal(size=(3, 6))), m.JOINT_STATE)
    frame = m.serialize(m.image(0, rng.integers(0, 255, (480, 640, 3), np.uint8)), m.IMAGE)
    cloud = m.serialize(m.pointcloud2(0, rng.normal(size=(30000, 4)).astype(np.float32)),
                        m.POINTCLOUD2)
    streams = [(f"/cell/arm{i}/joint_states", m.JOINT_STATE, 500, joint) for i in (1, 2)]
    streams += [(f"/cell/cam{i}/image_raw", m.IMAGE, 30, frame) for i in (1, 2)]
    streams += [("/cell/lidar/points", m.POINTCLOUD2, 10, cloud)]
    out = []
    for topic, msgtype, rate, data in streams:
        for k in range(int(seconds * rate)):
            out.append((topic, msgtype, 1_700_000_000 * NS + k * NS // rate, data))
    out.sort(key=lambda x: x[2])
    return out


def run_sink(path: Path, msgs: list, compression: str | None) -> tuple[float, float]:
    options = SinkOptions(compression=compression, queue_limit_bytes=1 << 40, min_free_bytes=0)
    start, cpu = time.perf_counter(), time.process_time()
    sink = BagSink(path, options)
    for topic in {t: ty for t, ty, _, _ in msgs}.items():
        sink.add_topic(*topic)
    for topic, _msgtype, log_ns, data in msgs:
        sink.put(topic, log_ns, [(data, log_ns - 1_000_000)])
    stats = sink.close()
    elapsed = time.perf_counter() - start, time.process_time() - cpu
    assert sum(stats.dropped.values()) == 0 and sink.stop_reason is None, sink.stop_reason
    return elapsed


def run_rosbags(path: Path, msgs: list, compression: str | None) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    writer = Writer(path, version=Writer.VERSION_LATEST, storage_plugin=StoragePlugin.MCAP)
    if compression:
        writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
    with writer:
        conns = {}
        for topic, msgtype, log_ns, data in msgs:
            if topic not in conns:
                conns[topic] = writer.add_connection(topic, msgtype, typestore=m.typestore())
            writer.write(conns[topic], log_ns, data)
    return time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds of cell to write")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; best is kept")
    args = parser.parse_args()
    msgs = cell_messages(args.seconds)
    mb = sum(len(d) for *_, d in msgs) / 1e6
    print(f"{len(msgs)} messages, {mb:.0f} MB ({args.seconds:g} s of the reference cell)")
    work = Path(tempfile.mkdtemp(prefix="bench_bagsink_"))
    try:
        for compression in (None, "zstd"):
            wall = {"BagSink": float("inf"), "rosbags Writer": float("inf")}
            cpu = dict(wall)
            for run in range(args.repeat):
                for name, fn in (("BagSink", run_sink), ("rosbags Writer", run_rosbags)):
                    path = work / f"{name.split()[0]}_{run}"
                    wall_s, cpu_s = fn(path, msgs, compression)
                    wall[name], cpu[name] = min(wall[name], wall_s), min(cpu[name], cpu_s)
                    shutil.rmtree(path)
            for what, best in (("wall", wall), ("CPU", cpu)):
                sink, base = mb / best["BagSink"], mb / best["rosbags Writer"]
                print(f"{compression or 'uncompressed':>12}, MB per {what:>4} s: BagSink "
                      f"{sink:6.0f}, rosbags Writer {base:6.0f}, ratio {sink / base:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

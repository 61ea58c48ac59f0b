"""Benchmark `robot-logger build`: ratios against baselines measured in the same run.

    .venv/bin/python tools/bench_build.py --work /tmp/bench            # 60 s + 600 s cells
    .venv/bin/python tools/bench_build.py --work /tmp/bench --quick    # 6 s + 30 s, smoke test
    .venv/bin/python tools/bench_build.py --work /tmp/bench --profile  # + cProfile, full build

Measured, each in a fresh child process (time and peak RSS of that process and its workers):
1. I/O path (joints + images, compression none, 1 worker) vs reading every message raw with
   rosbags AnyReader (no deserialize): throughput in payload bytes/s, as a ratio.
2. Full config (config/dataset.yaml without resize: LiDAR crop/voxel/FPS, gzip-1 images) vs a
   naive converter (deserialize every message into Python lists, np.stack, nearest frames per
   reference time, same LiDAR sampling, h5py gzip-1): speedup; real-time factor, 1 and 2 workers.
3. Peak RSS of the full build on a short vs a 10x longer cell bag (flat memory). The long bag
   uses smaller camera images when the disk is short of room (a 600 s default bag is ~34 GB).
4. The issue-16 bag: 20 s, two 640x480 cameras, joints at 500 and ~250 Hz (arm2 drops half its
   messages), a 2k-point LiDAR; 12 Hz clock, images uncompressed, LiDAR sampled. Marginal build
   throughput (one worker building 3 copies minus building 1, in one process, so start-up
   cancels) against reading the same 2 copies raw with rosbags AnyReader: target >= 0.5.
5. The documented config/dataset.yaml as it is (gzip-1 images, cam2 resized) on the short cell
   bag, 1 worker: real-time factor (bag seconds per build second), target >= 20 on one core, in
   wall and in CPU seconds (all threads: CPU is what one core would take, and robust to load);
   the same with `compression: {images: fast}`; and the floor: the CPU seconds that compressing
   the same frames alone takes (gzip-1 with ISA-L, one thread; bitshuffle-LZ4 for fast), per bag
   second, and the RTF that alone allows; the exact FPS and the rest of the LiDAR path alone on
   the same frames; and the marginal RTF (a second copy of the bag built in the same process,
   so imports and one-off set-up such as open3d's 0.35 s cancel: the steady state of a long
   recording); and what checking chunk CRCs over the whole bag costs (rosbag2's writer sets
   them; the sim's bags have none), zlib vs ISA-L. Median of --repeats runs (`--rtf-only`:
   just this).
Machines are noisy: compare the ratios of one run, not absolute times across runs.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
JOINTS_AND_IMAGES = {
    "rate_hz": 10,
    "streams": {**{f"arm{a}_{f[:3]}": {"topic": f"/cell/arm{a}/joint_states", "field": f}
                   for a in (1, 2) for f in ("position", "velocity")},
                **{f"cam{c}": {"topic": f"/cell/cam{c}/image_raw"} for c in (1, 2)}},
    "compression": {"images": "none"},
}


def full_config() -> dict[str, Any]:
    """The documented example config with images kept at full size."""
    config = yaml.safe_load((ROOT / "config" / "dataset.yaml").read_text())
    for stream in config["streams"].values():
        stream.pop("resize", None)
    return config


def peak_rss_mb() -> float:
    """Peak RSS of this process or any of its (waited) children, MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


# ---------------------------------------------------------------- child-process jobs
def job_raw_read(bag: str) -> dict[str, Any]:
    from rosbags.highlevel import AnyReader

    from robot_logger.core.messages import typestore

    per_topic: dict[str, int] = defaultdict(int)
    started = time.perf_counter()
    with AnyReader([Path(bag)], default_typestore=typestore()) as reader:
        for conn, _log_ns, raw in reader.messages():
            per_topic[conn.topic] += len(raw)
    return {"seconds": time.perf_counter() - started, "bytes": dict(per_topic)}


def remove_output(out: Path) -> None:
    """Delete an output and its shard folder, so no build can reuse an earlier one."""
    out.unlink(missing_ok=True)
    for shards in [*out.parent.glob(out.stem + ".shards*"), *out.parent.glob(out.name + ".*")]:
        if shards.is_dir():
            shutil.rmtree(shards, ignore_errors=True)
        else:
            shards.unlink(missing_ok=True)


def job_build(bag: str, out: str, config: str, workers: int) -> dict[str, Any]:
    from robot_logger.dataset.build.pipeline import build_dataset

    remove_output(Path(out))
    started, cpu_started = time.perf_counter(), cpu_seconds()
    summary = build_dataset([bag], out, config_path=config, workers=workers, overwrite=True)
    return {"seconds": time.perf_counter() - started, "cpu": cpu_seconds() - cpu_started,
            "bag_seconds": summary.bag_seconds, "frames": summary.frames}


def job_floor(out: str, level: int) -> dict[str, Any]:
    """CPU seconds to compress a built dataset's image frames alone, one frame at a time on this
    thread: gzip `level` through the writer's own `deflate` (ISA-L), and the `fast` profile's
    bitshuffle-LZ4 through h5py into an in-memory file (its filter runs inside HDF5)."""
    import h5py

    from robot_logger.dataset.build.writer import deflate, h5_filter

    frames: list[np.ndarray] = []
    with h5py.File(out, "r") as h5:
        for demo in h5["data"].values():
            for dset in demo["obs"].values():
                if dset.dtype == np.uint8 and dset.ndim == 4:
                    frames.extend(dset[i] for i in range(dset.shape[0]))
    nbytes = sum(f.nbytes for f in frames)
    started = cpu_seconds()
    packed = sum(len(deflate(f.data.cast("B"), level)) for f in frames)
    gzip_cpu = cpu_seconds() - started
    with h5py.File("floor.h5", "w", driver="core", backing_store=False) as mem:
        sets = {shape: mem.create_dataset(str(shape), shape=(len(frames),) + shape, dtype=np.uint8,
                                          chunks=(1,) + shape, **h5_filter("fast", level))
                for shape in {f.shape for f in frames}}
        started = cpu_seconds()
        for i, frame in enumerate(frames):
            sets[frame.shape][i] = frame
        fast_cpu = cpu_seconds() - started
    return {"frames": len(frames), "bytes": nbytes, "gzip_cpu": gzip_cpu, "gzip_bytes": packed,
            "fast_cpu": fast_cpu}


def job_naive(bag: str, out: str, config_path: str) -> dict[str, Any]:
    """Deserialize everything into lists, np.stack, pick nearest frames, write with h5py."""
    import h5py
    from rosbags.highlevel import AnyReader

    from robot_logger.core import events, messages
    from robot_logger.core.events import episodes_from_events
    from robot_logger.dataset.ops.align import reference_times
    from robot_logger.dataset.ops.pointcloud import downsample, points_from_pointcloud2

    config = yaml.safe_load(Path(config_path).read_text())
    remove_output(Path(out))
    started = time.perf_counter()
    stamps: dict[str, list[int]] = defaultdict(list)
    values: dict[str, list[Any]] = defaultdict(list)
    found: list[tuple[int, events.Event]] = []
    with AnyReader([Path(bag)], default_typestore=messages.typestore()) as reader:
        start_ns, end_ns = reader.start_time, reader.end_time
        for conn, log_ns, raw in reader.messages():
            msg = reader.deserialize(raw, conn.msgtype)
            if conn.msgtype == messages.STRING:
                event = events.decode(msg.data)
                if event:
                    found.append((log_ns, event))
                continue
            stamps[conn.topic].append(messages.stamp_to_ns(msg.header.stamp))
            if conn.msgtype == messages.JOINT_STATE:
                values[conn.topic].append([list(msg.position), list(msg.velocity)])
            elif conn.msgtype == messages.IMAGE:
                values[conn.topic].append(msg.data.reshape(msg.height, msg.width, -1).copy())
            else:
                values[conn.topic].append(points_from_pointcloud2(msg))
    stacked = {t: np.stack(v) if "lidar" not in t else v for t, v in values.items()}
    order = {t: np.asarray(s, np.int64) for t, s in stamps.items()}
    with h5py.File(out, "w") as h5:
        for i, episode in enumerate(episodes_from_events(found, start_ns, end_ns)):
            ref = reference_times(episode.start_ns, episode.end_ns, config["rate_hz"])
            demo = h5.create_group(f"data/demo_{i}")
            demo["timestamps"] = ref
            for name, stream in config["streams"].items():
                s = order[stream["topic"]]
                idx = np.clip(np.searchsorted(s, ref), 1, len(s) - 1)
                idx -= (ref - s[idx - 1]) < (s[idx] - ref)
                data = stacked[stream["topic"]]
                if "field" in stream:
                    column = ["position", "velocity"].index(stream["field"])
                    demo[f"obs/{name}"] = np.asarray(data[idx, column], np.float32)
                elif "points" in stream:
                    pts = [downsample(data[j], crop=stream.get("crop"),
                                      voxel_size=stream.get("voxel_size"),
                                      n_points=stream["points"])[0] for j in idx]
                    demo[f"obs/{name}"] = np.stack(pts)
                else:
                    demo.create_dataset(f"obs/{name}", data=data[idx],
                                        chunks=(1,) + data.shape[1:], compression="gzip",
                                        compression_opts=1)
    return {"seconds": time.perf_counter() - started}


def job_sim(bag: str, duration_s: float, height: int, width: int, lidar_points: int = 30000,
            faults: str = "") -> dict[str, Any]:
    from robot_logger.sim import Cell, CellSpec, parse_faults, write_bag

    started = time.perf_counter()
    spec = CellSpec(duration_s=duration_s, image_height=height, image_width=width,
                    lidar_points=lidar_points)
    write_bag(bag, Cell(spec, parse_faults(faults) if faults else None))
    return {"seconds": time.perf_counter() - started}


def job_marginal(bags: list[str], out: str, config: str) -> dict[str, Any]:
    """Build the first bag, then all of them, in one process: the difference is the marginal
    cost of the other bags, with imports and other start-up paid once."""
    from robot_logger.dataset.build.pipeline import build_dataset

    seconds, cpu = [], []
    for chosen in (bags[:1], bags):
        remove_output(Path(out))
        started, cpu_started = time.perf_counter(), cpu_seconds()
        build_dataset(chosen, out, config_path=config, workers=1, overwrite=True)
        seconds.append(time.perf_counter() - started)
        cpu.append(cpu_seconds() - cpu_started)
    remove_output(Path(out))
    return {"one": seconds[0], "all": seconds[1], "cpu_one": cpu[0], "cpu_all": cpu[1]}


def cpu_seconds() -> float:
    """User + system CPU of this process (all its threads) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def job_raw_reads(bags: list[str]) -> dict[str, Any]:
    """Raw AnyReader reads of several bags, one after another, after a warm-up read of the
    first (so the timed reads, like the builds, find the page cache warm)."""
    job_raw_read(bags[0])
    started, cpu_started = time.perf_counter(), cpu_seconds()
    total = sum(sum(job_raw_read(bag)["bytes"].values()) for bag in bags)
    return {"seconds": time.perf_counter() - started, "bytes": total,
            "cpu": cpu_seconds() - cpu_started}


def job_lidar(bag: str, config_path: str, frames: int) -> dict[str, Any]:
    """CPU seconds of the config's LiDAR stream alone for `frames` frames: parse + crop + voxel,
    and the exact farthest-point sampling (open3d), each timed per cloud over every cloud of the
    bag and scaled to the frames the build picks (open3d imported before timing)."""
    from robot_logger.bag.reader import open_bag
    from robot_logger.dataset.ops import pointcloud

    stream = yaml.safe_load(Path(config_path).read_text())["streams"]["lidar"]
    pointcloud._open3d()
    prep = fps = 0.0
    clouds = 0
    with open_bag(bag) as reader:
        for _topic, msgtype, _log, raw in reader.messages([stream["topic"]]):
            msg = reader.deserialize(raw, msgtype)
            started = cpu_seconds()
            points = pointcloud.points_from_pointcloud2(msg)
            points = pointcloud._voxelize(pointcloud._crop(points, stream["crop"]),
                                          float(stream["voxel_size"]))
            prepared = cpu_seconds()
            if len(points) > stream["points"]:
                pointcloud._farthest_points(points, stream["points"], 0)
            fps += cpu_seconds() - prepared
            prep += prepared - started
            clouds += 1
    return {"prep_cpu": prep / clouds * frames, "fps_cpu": fps / clouds * frames}


def job_crc(bag: str) -> dict[str, Any]:
    """CPU seconds to CRC-32 every byte of the bag's MCAP files in 1 MiB pieces (what checking
    rosbag2-written chunk CRCs costs; sim bags carry none): zlib's crc32 against ISA-L's."""
    import mmap
    import zlib

    from isal import isal_zlib

    seconds = {"zlib": 0.0, "isal": 0.0}
    total = 0
    for path in sorted(Path(bag).glob("*.mcap")):
        with path.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as m:
            view = memoryview(m)
            total += len(view)
            for name, crc32 in (("zlib", zlib.crc32), ("isal", isal_zlib.crc32)):
                started = cpu_seconds()
                for at in range(0, len(view), 1 << 20):
                    crc32(view[at:at + (1 << 20)])
                seconds[name] += cpu_seconds() - started
            view.release()
    return {"bytes": total, **seconds}


JOBS = {"raw": job_raw_read, "build": job_build, "naive": job_naive, "sim": job_sim,
        "marginal": job_marginal, "raw_reads": job_raw_reads, "floor": job_floor,
        "lidar": job_lidar, "crc": job_crc}


def child(job: str, *args: Any) -> dict[str, Any]:
    """Run a job in a fresh interpreter; its result plus peak RSS (MB) of it and its workers."""
    cmd = [sys.executable, __file__, "--child", job, json.dumps(args)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise SystemExit(f"error: bench job {job} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_child_job(job: str, args_json: str) -> None:
    result = JOBS[job](*json.loads(args_json))
    result["rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


# ---------------------------------------------------------------- the benchmark
def ensure_bag(path: Path, duration_s: float, size_hw: tuple[int, int], *extra: Any) -> None:
    if not (path / "metadata.yaml").exists():
        shutil.rmtree(path, ignore_errors=True)
        child("sim", str(path), duration_s, *size_hw, *extra)


def linked_copy(bag: Path, copy: Path) -> Path:
    """A second bag folder with hard links to the same files (same bytes, other path)."""
    if not copy.exists():
        copy.mkdir()
        for file in bag.iterdir():
            os.link(file, copy / file.name)
    return copy


def held_out_rows(work: Path) -> list[tuple[str, str, str, str]]:
    """Section 4 of the module docstring: marginal build vs raw-read throughput."""
    bag = work / "issue16_20s"
    ensure_bag(bag, 20.0, (480, 640), 2000, "/cell/arm2/joint_states:drop=0.5")
    copies = [linked_copy(bag, work / f"issue16_20s_copy{i}") for i in (1, 2)]
    config = full_config()
    config.update(rate_hz=12, compression={"images": "none", "lidar": "none"})
    cfg = write_yaml(work / "issue16.yaml", config)
    marginal = child("marginal", [str(b) for b in (bag, *copies)], str(work / "out16.h5"), cfg)
    raw = child("raw_reads", [str(c) for c in copies])
    build_s = marginal["all"] - marginal["one"]
    build_cpu = marginal["cpu_all"] - marginal["cpu_one"]
    ratio = raw["seconds"] / build_s
    return [("issue-16 bag: raw AnyReader read of 2 copies", f"{raw['seconds']:.2f} s",
             f"{raw['bytes'] / raw['seconds'] / 1e9:.2f} GB/s", "baseline"),
            ("issue-16 bag: marginal build of 2 copies, 1 worker", f"{build_s:.2f} s",
             f"{raw['bytes'] / build_s / 1e9:.2f} GB/s", f"{ratio:.2f}x read (target >= 0.5)"),
            ("  the same in CPU seconds (robust to load)", f"{build_cpu:.2f} s",
             f"raw {raw['cpu']:.2f} s", f"{raw['cpu'] / build_cpu:.2f}x read")]


def long_image_size(work: Path, long_s: float) -> tuple[int, int]:
    """Full 480x640 if the long bag fits with room to spare, else a smaller camera."""
    free = shutil.disk_usage(work).free
    per_s_full = 57e6   # bytes a second of the default cell (2 x 640x480 rgb8 @ 30 Hz + LiDAR)
    return (480, 640) if per_s_full * long_s * 2.5 < free else (120, 160)


def write_yaml(path: Path, data: dict[str, Any]) -> str:
    path.write_text(yaml.safe_dump(data))
    return str(path)


def run(work: Path, short_s: float, long_s: float, profile: bool, repeats: int) -> None:
    work.mkdir(parents=True, exist_ok=True)
    bag = work / f"cell_{short_s:g}s"
    ensure_bag(bag, short_s, (480, 640))
    io_cfg = write_yaml(work / "io_path.yaml", JOINTS_AND_IMAGES)
    full_cfg = write_yaml(work / "full.yaml", full_config())
    out = str(work / "out.h5")

    raw = child("raw", str(bag))
    io = child("build", str(bag), out, io_cfg, 1)
    full1 = child("build", str(bag), out, full_cfg, 1)
    full2 = child("build", str(bag), out, full_cfg, 2)
    naive = child("naive", str(bag), out, full_cfg)

    default = rtf_rows(work, bag, repeats)

    size_hw = long_image_size(work, long_s)
    small = work / f"cell_{short_s:g}s_{size_hw[1]}x{size_hw[0]}"
    long = work / f"cell_{long_s:g}s_{size_hw[1]}x{size_hw[0]}"
    ensure_bag(small, short_s, size_hw)
    ensure_bag(long, long_s, size_hw)
    rss_short = child("build", str(small), out, full_cfg, 1)
    rss_long = child("build", str(long), out, full_cfg, 1)
    remove_output(Path(out))

    all_bytes = sum(raw["bytes"].values())
    io_bytes = sum(n for t, n in raw["bytes"].items() if "joint" in t or "image" in t)
    read_tp, io_tp = all_bytes / raw["seconds"], io_bytes / io["seconds"]
    rows = [
        ("raw AnyReader read, all messages", f"{raw['seconds']:.1f} s",
         f"{read_tp / 1e9:.2f} GB/s", "baseline"),
        ("I/O path: joints+images, no compression, 1 worker", f"{io['seconds']:.1f} s",
         f"{io_tp / 1e9:.2f} GB/s", f"{io_tp / read_tp:.2f}x read (target >= 0.5)"),
        ("naive converter (deserialize all, stack, h5py)", f"{naive['seconds']:.1f} s",
         f"RSS {naive['rss_mb']:.0f} MB", "baseline"),
        ("full config, 1 worker", f"{full1['seconds']:.1f} s",
         f"RTF {full1['bag_seconds'] / full1['seconds']:.2f}",
         f"{naive['seconds'] / full1['seconds']:.2f}x naive (target >= 5)"),
        ("full config, 2 workers", f"{full2['seconds']:.1f} s",
         f"RTF {full2['bag_seconds'] / full2['seconds']:.2f}",
         f"{naive['seconds'] / full2['seconds']:.2f}x naive"),
        (f"peak RSS, {short_s:g} s bag {size_hw[1]}x{size_hw[0]}", f"{rss_short['rss_mb']:.0f} MB",
         f"{rss_short['seconds']:.1f} s", "baseline"),
        (f"peak RSS, {long_s:g} s bag {size_hw[1]}x{size_hw[0]}", f"{rss_long['rss_mb']:.0f} MB",
         f"{rss_long['seconds']:.1f} s",
         f"{rss_long['rss_mb'] / rss_short['rss_mb']:.2f}x (target <= 1.2)"),
        *default,
        *held_out_rows(work),
    ]
    print(f"bag: {bag} ({all_bytes / 1e9:.2f} GB payload, {short_s:g} s)")
    print(f"{'what':<52} {'time':>9} {'rate':>16}  ratio")
    print_rows(rows)
    if profile:
        profile_full(bag, full_cfg, work / "profile.h5")


def median_build(bag: Path, out: str, config: str, repeats: int) -> dict[str, Any]:
    """The run with the median wall time, and the median CPU seconds, of `repeats` builds."""
    runs = sorted((child("build", str(bag), out, config, 1) for _ in range(repeats)),
                  key=lambda r: r["seconds"])
    return {**runs[len(runs) // 2], "cpu": float(np.median([r["cpu"] for r in runs]))}


def rtf_rows(work: Path, bag: Path, repeats: int) -> list[tuple[str, str, str, str]]:
    """Section 5 of the module docstring: the documented config's RTF and its floor."""
    out = str(work / "out_default.h5")
    documented = yaml.safe_load((ROOT / "config" / "dataset.yaml").read_text())
    level = int(documented["compression"].get("level", 1))
    fast_cfg = write_yaml(work / "fast.yaml", {**documented, "compression": {
        **documented["compression"], "images": "fast"}})
    fast = median_build(bag, out, fast_cfg, repeats)
    default = median_build(bag, out, str(ROOT / "config" / "dataset.yaml"), repeats)
    floor = child("floor", out, level)
    lidar = child("lidar", str(bag), str(ROOT / "config" / "dataset.yaml"), default["frames"])
    crc = child("crc", str(bag))
    copy = linked_copy(bag, work / f"{bag.name}_copy")
    marginals = [child("marginal", [str(bag), str(copy)], out,
                       str(ROOT / "config" / "dataset.yaml")) for _ in range(repeats)]
    remove_output(Path(out))
    bag_s = default["bag_seconds"]
    more = {"seconds": float(np.median([m["all"] - m["one"] for m in marginals])),
            "cpu": float(np.median([m["cpu_all"] - m["cpu_one"] for m in marginals]))}

    def rtf(build: dict[str, Any]) -> str:
        return f"RTF {bag_s / build['seconds']:.1f} / {bag_s / build['cpu']:.1f}"

    mb = floor["bytes"] / 1e6
    rest = default["cpu"] - floor["gzip_cpu"] - lidar["prep_cpu"] - lidar["fps_cpu"]
    return [
        (f"config/dataset.yaml as documented, 1 worker (median of {repeats})",
         f"{default['seconds']:.1f} s", rtf(default), "wall / CPU; target RTF >= 20"),
        ("  its CPU seconds (all threads)", f"{default['cpu']:.1f} s", f"{bag_s:.1f} bag s",
         f"{default['frames']} frames"),
        ("  the same with compression: {images: fast}", f"{fast['seconds']:.1f} s", rtf(fast),
         f"CPU {fast['cpu']:.1f} s"),
        ("  marginal: a second copy in the same process", f"{more['seconds']:.1f} s", rtf(more),
         f"CPU {more['cpu']:.1f} s (start-up cancels)"),
        (f"  floor: gzip-{level} (ISA-L) of its {floor['frames']} frames alone",
         f"{floor['gzip_cpu']:.2f} s", f"{mb / floor['gzip_cpu']:.0f} MB/s",
         f"RTF <= {bag_s / floor['gzip_cpu']:.1f} on one core ({mb:.0f} MB, "
         f"{floor['bytes'] / floor['gzip_bytes']:.2f}x)"),
        ("  floor: fast (bitshuffle-LZ4) of the same frames", f"{floor['fast_cpu']:.2f} s",
         f"{mb / floor['fast_cpu']:.0f} MB/s", f"RTF <= {bag_s / floor['fast_cpu']:.1f}"),
        ("  floor: exact FPS (open3d) of its LiDAR frames alone", f"{lidar['fps_cpu']:.2f} s",
         f"{lidar['fps_cpu'] / default['frames'] * 1e3:.2f} ms/frame",
         f"RTF <= {bag_s / (floor['gzip_cpu'] + lidar['fps_cpu']):.1f} with gzip-1 alone"),
        ("  LiDAR parse + crop + voxel of the same frames", f"{lidar['prep_cpu']:.2f} s",
         f"{lidar['prep_cpu'] / default['frames'] * 1e3:.2f} ms/frame", ""),
        ("  the rest: build CPU minus all the above", f"{rest:.2f} s",
         f"{rest / bag_s:.3f} s/bag s", "reading, resize, HDF5, Python, start-up"),
        (f"  chunk CRCs of all {crc['bytes'] / 1e9:.1f} GB, zlib (rosbag2 bags)",
         f"{crc['zlib']:.2f} s", f"{crc['bytes'] / crc['zlib'] / 1e9:.1f} GB/s", "baseline"),
        ("  the same with ISA-L (what the reader uses)", f"{crc['isal']:.2f} s",
         f"{crc['bytes'] / crc['isal'] / 1e9:.1f} GB/s", f"{crc['zlib'] / crc['isal']:.1f}x"),
    ]


def print_rows(rows: list[tuple[str, str, str, str]]) -> None:
    for what, t, rate, ratio in rows:
        print(f"{what:<52} {t:>9} {rate:>16}  {ratio}")


def profile_full(bag: Path, config: str, out: Path) -> None:
    from robot_logger.dataset.build.pipeline import build_dataset

    remove_output(out)
    prof = cProfile.Profile()
    prof.runcall(build_dataset, [bag], out, config_path=config, overwrite=True)
    remove_output(out)
    print("\nprofile of the full config, 1 worker (top 14 by own time):")
    pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(14)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/robot_logger_bench"))
    parser.add_argument("--quick", action="store_true", help="6 s and 30 s bags (smoke test)")
    parser.add_argument("--profile", action="store_true", help="cProfile the full config build")
    parser.add_argument("--issue16-only", action="store_true",
                        help="only section 4 (the issue-16 bag: marginal build vs raw read)")
    parser.add_argument("--rtf-only", action="store_true",
                        help="only section 5 (config/dataset.yaml: RTF and its floor)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="builds per section-5 row, median reported (default 3)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child_job(*args.child)
        return
    short_s, long_s = (6.0, 30.0) if args.quick else (60.0, 600.0)
    if args.issue16_only or args.rtf_only:
        args.work.mkdir(parents=True, exist_ok=True)
        if args.issue16_only:
            print_rows(held_out_rows(args.work))
        if args.rtf_only:
            bag = args.work / f"cell_{short_s:g}s"
            ensure_bag(bag, short_s, (480, 640))
            print_rows(rtf_rows(args.work, bag, args.repeats))
        return
    run(args.work, short_s, long_s, args.profile, args.repeats)


if __name__ == "__main__":
    main()

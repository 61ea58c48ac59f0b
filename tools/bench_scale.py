"""Scale-out benchmark: the same bags built with 1 and 2 workers, on the local pool and on Ray.

    .venv/bin/python tools/bench_scale.py [--bags 8] [--duration 10] [--workdir DIR] [--keep]

Bags are default simulated cells (2 arms 500 Hz, 2 cameras 640x480 rgb8 30 Hz, LiDAR 30k points
10 Hz) of `--duration` seconds each, seeds 0..N-1, built with the discovered config (gzip-1
images, 10 Hz clock). Runs, in this order: local x1, ray x1, local x2, ray x2 (interleaved so
that load drift hits both executors alike). Ray runs start a local Ray instance with as many
CPUs as workers; its start time is measured apart and reported, not counted in the build time.
Printed as ratios measured in this run: 2 workers vs 1 (target >= 1.7x on 2 cores) and Ray's
build time over local's at the same worker count (target <= 1.15), plus bag MB/s per core and
what that means for 30 TB. The 1-minute load average is printed before each run: the machine
is shared, so read the numbers with it.

CPU seconds are counted too (this process and every descendant: the pool's fork server and
workers; for Ray every process of the instance: workers, raylet, GCS), since wall-clock ratios
mean little on a loaded machine: `MB per CPU-s` is the per-core throughput,
`2 x cpu(x1) / cpu(x2)` the speedup two idle cores would give at most, and
cpu(ray) / cpu(local) Ray's overhead in work done.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import time
from pathlib import Path

import psutil

from robot_logger.dataset.build.pipeline import build_dataset
from robot_logger.dataset.build.shards import shards_dir
from robot_logger.dataset.read.validate import validate_dataset
from robot_logger.sim import Cell, CellSpec, write_bag

ARCHIVE_BYTES = 30e12
RUNS = (("local", 1), ("ray", 1), ("local", 2), ("ray", 2))


def make_bags(root: Path, count: int, duration_s: float) -> list[Path]:
    """Default cell bags (kept between runs of the benchmark when already there)."""
    paths = []
    for seed in range(count):
        path = root / f"cell_{seed:02d}"
        if not (path / "metadata.yaml").exists():
            shutil.rmtree(path, ignore_errors=True)
            write_bag(path, Cell(CellSpec(duration_s=duration_s, seed=seed)))
        paths.append(path)
    return paths


def bag_bytes(paths: list[Path]) -> int:
    return sum(f.stat().st_size for p in paths for f in p.rglob("*") if f.is_file())


def tree_cpu_s() -> float:
    """CPU seconds of this process and all its descendants, live or reaped: pool workers are
    children of the fork server, Ray workers of the raylet, each counted once."""
    own = [resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)]
    total = sum(u.ru_utime + u.ru_stime for u in own)
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def build_once(bags: Path, out: Path, executor: str, workers: int) -> dict[str, float]:
    """One build from scratch; Ray started (and timed) before it, shut down after."""
    out.unlink(missing_ok=True)
    shutil.rmtree(shards_dir(out), ignore_errors=True)
    load = os.getloadavg()[0]
    ray_start = 0.0
    if executor == "ray":
        import ray
        began = time.perf_counter()
        ray.init(num_cpus=workers, include_dashboard=False, logging_level=logging.ERROR,
                 log_to_driver=False, object_store_memory=128 * 1024 * 1024)
        ray_start = time.perf_counter() - began
    cpu = tree_cpu_s()
    try:
        began = time.perf_counter()
        summary = build_dataset([bags], out, workers=workers, executor=executor)
        seconds = time.perf_counter() - began
        cpu = tree_cpu_s() - cpu           # Ray: before shutdown, while its processes live
    finally:
        if executor == "ray":
            ray.shutdown()
    report = validate_dataset(out)
    if not report.ok:
        raise SystemExit(f"{out}: invalid dataset: {report.problems[:3]}")
    return {"seconds": seconds, "cpu_s": cpu, "ray_start_s": ray_start, "load_1min": load,
            "episodes": summary.episodes, "frames": summary.frames,
            "shards": summary.shards_built, "bag_seconds": summary.bag_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bags", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per bag")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_scale"))
    parser.add_argument("--keep", action="store_true", help="keep bags and datasets")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    bags = make_bags(args.workdir / "bags", args.bags, args.duration)
    generate_s = time.perf_counter() - began
    size = bag_bytes(bags)
    runs = {f"{kind}x{n}": build_once(args.workdir / "bags", args.workdir / f"{kind}{n}.h5",
                                      kind, n) for kind, n in RUNS}
    if len({(r["episodes"], r["frames"]) for r in runs.values()}) != 1:
        raise SystemExit(f"runs disagree on episodes/frames: {runs}")
    t = {name: r["seconds"] for name, r in runs.items()}
    cpu = {name: r["cpu_s"] for name, r in runs.items()}
    per_core = size / cpu["localx1"] / 1e6
    result = {
        "bags": args.bags, "duration_s": args.duration, "bag_MB": size / 1e6,
        "generate_s": generate_s, "cpu_count": os.cpu_count(), "runs": runs,
        "speedup_local_2_vs_1": t["localx1"] / t["localx2"],
        "speedup_ray_2_vs_1": t["rayx1"] / t["rayx2"],
        "ray_over_local_x1": t["rayx1"] / t["localx1"],
        "ray_over_local_x2": t["rayx2"] / t["localx2"],
        "cpu_bound_speedup_local": 2 * cpu["localx1"] / cpu["localx2"],
        "cpu_bound_speedup_ray": 2 * cpu["rayx1"] / cpu["rayx2"],
        "ray_over_local_cpu_x1": cpu["rayx1"] / cpu["localx1"],
        "ray_over_local_cpu_x2": cpu["rayx2"] / cpu["localx2"],
        "MB_per_cpu_s_local_x1": per_core,
        "MB_per_wall_s_per_worker_local_x2": size / t["localx2"] / 2 / 1e6,
        "core_hours_for_30TB": ARCHIVE_BYTES / (per_core * 1e6) / 3600,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{args.bags} bags x {args.duration:g} s, {size / 1e9:.2f} GB "
              f"(generated in {generate_s:.0f} s), {os.cpu_count()} cores")
        print(f"{'run':<9} {'build s':>8} {'CPU s':>7} {'ray start s':>11} {'load 1m':>8} "
              f"{'shards':>6} {'MB/s':>7} {'MB/CPU-s':>9}")
        for name, r in runs.items():
            print(f"{name:<9} {r['seconds']:8.1f} {r['cpu_s']:7.1f} {r['ray_start_s']:11.1f} "
                  f"{r['load_1min']:8.2f} {r['shards']:6d} {size / r['seconds'] / 1e6:7.1f} "
                  f"{size / r['cpu_s'] / 1e6:9.1f}")
        print(f"2 workers vs 1: local {result['speedup_local_2_vs_1']:.2f}x, "
              f"ray {result['speedup_ray_2_vs_1']:.2f}x (target >= 1.7x)")
        print(f"ray / local build time: x1 {result['ray_over_local_x1']:.3f}, "
              f"x2 {result['ray_over_local_x2']:.3f} (target <= 1.15)")
        print(f"from CPU time: 2 idle cores would give at most local "
              f"{result['cpu_bound_speedup_local']:.2f}x, "
              f"ray {result['cpu_bound_speedup_ray']:.2f}x;"
              f" ray / local CPU: x1 {result['ray_over_local_cpu_x1']:.3f}, "
              f"x2 {result['ray_over_local_cpu_x2']:.3f}")
        print(f"bag MB per CPU-second (1 worker): {per_core:.1f}; 30 TB = "
              f"{result['core_hours_for_30TB']:,.0f} core-hours")
    if not args.keep:
        shutil.rmtree(args.workdir)


if __name__ == "__main__":
    main()

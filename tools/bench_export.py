"""Benchmark: LeRobot v3 export of the simulator's default cell -- size, time, quality, reads.

    .venv/bin/python tools/bench_export.py [--duration 60] [--image-size 640x480]
                                           [--dataset cell.h5] [--reads 300]

Builds the default cell (60 s, two 640x480 cameras at 30 Hz, LiDAR, 10 Hz dataset; gzip-1 image
chunks, the build's default) unless --dataset names one, exports it with the default options
(libsvtav1 crf 30) with 1 and 2 workers, and prints, measured in the same run:
  size       camera bytes: raw frames vs the HDF5's gzip chunks vs the MP4s (ratios);
  time       export seconds per camera-minute of recording (1 worker) and the 2-worker speedup;
  psnr_db    per camera over all frames (and the worst frame), decoded with PyAV;
  reads      random single frames (both cameras + state + action) per second through lerobot
             0.6.1's LeRobotDataset (Python 3.12 env, PyAV and torchcodec decoders) vs
             robot_logger's SequenceDataset on the HDF5, same indices.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import h5py
import numpy as np

from robot_logger.dataset.build.pipeline import build_dataset
from robot_logger.dataset.export import export_lerobot
from robot_logger.dataset.read.loader import SequenceDataset
from robot_logger.sim import Cell, CellSpec, write_bag

REPO = Path(__file__).resolve().parents[1]
READ_SCRIPT = """
import json, sys, time
import numpy as np
from lerobot.datasets.lerobot_dataset import LeRobotDataset
root, backend, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
ds = LeRobotDataset("bench/cell", root=root, video_backend=backend)
order = np.random.default_rng(0).integers(0, len(ds), count)
ds[int(order[0])]
start = time.perf_counter()
for i in order:
    ds[int(i)]
print(json.dumps({"per_s": count / (time.perf_counter() - start)}))
"""


def camera_bytes(path: Path) -> dict[str, dict[str, int]]:
    """Raw and stored (gzip chunk) bytes of every camera stream of the HDF5 dataset."""
    out: dict[str, dict[str, int]] = {}
    with h5py.File(path) as handle:
        for demo in handle["data"].values():
            for name, ds in demo["obs"].items():
                if ds.dtype == np.uint8 and ds.ndim == 4:
                    entry = out.setdefault(name, {"raw": 0, "hdf5": 0, "frames": 0})
                    entry["raw"] += ds.size
                    entry["hdf5"] += ds.id.get_storage_size()
                    entry["frames"] += ds.shape[0]
    return out


def psnr(export_dir: Path, dataset: Path, camera: str) -> tuple[float, float]:
    """PSNR of one camera over all frames, and of its worst frame (dB)."""
    video = export_dir / "videos" / f"observation.images.{camera}" / "chunk-000" / "file-000.mp4"
    with h5py.File(dataset) as handle, av.open(str(video)) as container:
        demos = [handle["data"][f"demo_{i}"] for i in range(len(handle["data"]))]
        reference = (frame for demo in demos for frame in demo["obs"][camera])
        errors = []
        for decoded, ref in zip(container.decode(video=0), reference, strict=False):
            diff = decoded.to_ndarray(format="rgb24").astype(np.float64) - ref
            errors.append(float(np.mean(diff**2)))
    mse = np.asarray(errors)
    return float(10 * np.log10(255**2 / mse.mean())), float(10 * np.log10(255**2 / mse.max()))


def sequence_reads(dataset: Path, count: int) -> float:
    keys = ["cam1", "cam2", "arm1_pos", "arm2_pos"]
    ds = SequenceDataset(dataset, keys, split=None)
    order = np.random.default_rng(0).integers(0, len(ds), count)
    ds[int(order[0])]
    start = time.perf_counter()
    for i in order:
        ds[int(i)]
    return count / (time.perf_counter() - start)


def lerobot_reads(export_dir: Path, backend: str, count: int) -> float | None:
    made = subprocess.run(["bash", str(REPO / "tools" / "lerobot_env.sh")], capture_output=True,
                          text=True, check=False)
    if made.returncode != 0:
        print(f"lerobot reads skipped: {made.stderr.strip()}", file=sys.stderr)
        return None
    python = made.stdout.strip().splitlines()[-1]
    done = subprocess.run([python, "-c", READ_SCRIPT, str(export_dir), backend, str(count)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"lerobot {backend} reads failed:\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    return float(json.loads(done.stdout.strip().splitlines()[-1])["per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="simulated seconds")
    parser.add_argument("--image-size", default="640x480", help="WIDTHxHEIGHT of the cameras")
    parser.add_argument("--dataset", type=Path, default=None, help="use this built dataset")
    parser.add_argument("--reads", type=int, default=300, help="random frames per read test")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_export_") as tmp:
        root = Path(tmp)
        dataset = args.dataset
        if dataset is None:
            width, height = (int(v) for v in args.image_size.split("x"))
            write_bag(root / "bag", Cell(CellSpec(duration_s=args.duration, image_width=width,
                                                  image_height=height)))
            dataset = root / "cell.h5"
            build_dataset([root / "bag"], dataset)
        cams = camera_bytes(dataset)
        runs = {}
        for workers in (1, 2):
            out = root / f"export_w{workers}"
            runs[workers] = export_lerobot(dataset, out, repo_id="bench/cell", workers=workers)
        one = runs[1]
        export_dir = root / "export_w1"
        video_bytes = {v.stream: v.bytes for v in one.videos}
        rec_minutes = {name: c["frames"] / one.fps / 60 for name, c in cams.items()}
        result = {
            "dataset": str(dataset), "frames": one.frames, "fps": one.fps,
            "cameras": {name: {
                "raw_mb": c["raw"] / 1e6, "hdf5_gzip_mb": c["hdf5"] / 1e6,
                "mp4_mb": video_bytes[name] / 1e6,
                "raw_over_mp4": c["raw"] / video_bytes[name],
                "hdf5_over_mp4": c["hdf5"] / video_bytes[name],
                "raw_over_hdf5": c["raw"] / c["hdf5"],
                "encode_s_per_camera_minute": next(v.seconds for v in one.videos
                                                   if v.stream == name) / rec_minutes[name],
                "psnr_db": psnr(export_dir, dataset, name)[0],
                "worst_frame_psnr_db": psnr(export_dir, dataset, name)[1]}
                for name, c in cams.items()},
            "export_s": {"workers_1": one.seconds, "workers_2": runs[2].seconds,
                         "speedup_2_over_1": one.seconds / runs[2].seconds},
            "export_s_per_camera_minute": one.seconds / sum(rec_minutes.values()),
            "sizes_mb": {"hdf5_file": dataset.stat().st_size / 1e6, "export_dir": one.bytes / 1e6},
            "reads_per_s": {"sequence_dataset_hdf5": sequence_reads(dataset, args.reads),
                            "lerobot_pyav": lerobot_reads(export_dir, "pyav", args.reads),
                            "lerobot_torchcodec": lerobot_reads(export_dir, "torchcodec",
                                                                args.reads)},
        }
    reads = result["reads_per_s"]
    for backend in ("lerobot_pyav", "lerobot_torchcodec"):
        if reads[backend]:
            reads[f"{backend}_over_sequence"] = reads[backend] / reads["sequence_dataset_hdf5"]
    print(json.dumps(result, indent=2 if not args.json else None))


if __name__ == "__main__":
    main()

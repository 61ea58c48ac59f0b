"""Benchmark image codecs for the dataset's camera frames: the table behind the default.

    .venv/bin/python tools/bench_codecs.py [--work /tmp/bench_codecs] [--seconds 4]
                                           [--size 640x480] [--samples 600] [--noise 2]

A simulated cell (`robot-logger sim`, 2 cameras, one arm, no LiDAR) is built once with images
stored uncompressed; then, for every codec, the camera datasets of that file are written again
with the codec (one frame per chunk, as the build writes them) and read back:
  ratio        raw frame bytes / stored chunk bytes;
  write MB/s   raw MB over the CPU seconds of the writing process (all its threads): per core;
  frames/s     random samples (cam1 + cam2 + an arm) through SequenceDataset in a fresh
               interpreter that imports hdf5plugin, counted in camera frames;
  plain h5py   whether a fresh interpreter with h5py alone (what robomimic uses, no
               hdf5plugin, no HDF5_PLUGIN_PATH) reads a frame.
`gzip 1 isal` is the build's own path (ISA-L deflate + write_direct_chunk); every other row goes
through h5py's filter pipeline. `--noise S` adds a second table on the same frames with Gaussian
sensor noise of sigma S grey levels (clipped): the simulator's flat-shaded frames compress far
better than a real camera's, whose noise floor is what lossless codecs pay for. Blosc runs with
one thread (BLOSC_NTHREADS=1) so every row is per core.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
CAMERAS = ("cam1", "cam2")


def codecs() -> dict[str, Callable[[], dict[str, Any]]]:
    """Codec name -> h5py create_dataset keywords (hdf5plugin imported only when asked)."""
    import hdf5plugin as hp

    return {
        "none": lambda: {},
        "gzip 1 isal": lambda: {"compression": "gzip", "compression_opts": 1},
        "gzip 1": lambda: {"compression": "gzip", "compression_opts": 1},
        "gzip 4": lambda: {"compression": "gzip", "compression_opts": 4},
        "lzf": lambda: {"compression": "lzf"},
        "zstd 1": lambda: dict(hp.Zstd(clevel=1)),
        "zstd 3": lambda: dict(hp.Zstd(clevel=3)),
        "blosc lz4 (shuffle)": lambda: dict(hp.Blosc(cname="lz4", clevel=1)),
        "blosc2 lz4": lambda: dict(hp.Blosc2(cname="lz4", clevel=5, filters=hp.Blosc2.SHUFFLE)),
        "blosc2 zstd 1": lambda: dict(hp.Blosc2(cname="zstd", clevel=1,
                                                filters=hp.Blosc2.SHUFFLE)),
        "blosc2 zstd 5": lambda: dict(hp.Blosc2(cname="zstd", clevel=5,
                                                filters=hp.Blosc2.SHUFFLE)),
        "bitshuffle lz4": lambda: dict(hp.Bitshuffle(cname="lz4")),
        "bitshuffle zstd 3": lambda: dict(hp.Bitshuffle(cname="zstd", clevel=3)),
    }


def make_base(work: Path, seconds: float, size: str) -> Path:
    """A dataset of the simulated cell with uncompressed images (sim + build, via the CLI)."""
    base = work / "base.h5"
    if base.exists():
        return base
    bag = work / "bag"
    shutil.rmtree(bag, ignore_errors=True)
    cli = [sys.executable, "-c", "from robot_logger.cli import main; main()"]
    subprocess.run([*cli, "sim", "-o", str(bag), "--duration", str(seconds), "--arms", "1",
                    "--no-lidar", "--image-size", size, "--episodes", "2", "-q"], check=True)
    config = work / "dataset.yaml"
    streams: dict[str, Any] = {"arm1_pos": {"topic": "/cell/arm1/joint_states",
                                            "field": "position"}}
    streams.update({c: {"topic": f"/cell/{c}/image_raw", "align": "nearest"} for c in CAMERAS})
    config.write_text(yaml.safe_dump({"rate_hz": 30, "streams": streams,
                                      "split": {"valid_fraction": 0.0},
                                      "compression": {"images": "none"}}))
    subprocess.run([*cli, "build", str(bag), "-o", str(base), "--config", str(config), "-q"],
                   check=True)
    return base


def add_noise(frames: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0.0, sigma, frames.shape)
    return np.clip(frames + noise, 0, 255).astype(np.uint8)


def rewrite(base: Path, out: Path, name: str, noise: float) -> dict[str, float]:
    """Copy `base` to `out` with every camera dataset rewritten with codec `name`."""
    from isal import isal_zlib

    kwargs = codecs()[name]()
    shutil.copyfile(base, out)
    raw = stored = 0
    cpu = 0.0
    with h5py.File(out, "r+") as h5:
        for demo in h5["data"]:
            for cam in CAMERAS:
                key = f"data/{demo}/obs/{cam}"
                frames = h5[key][()]
                if noise:
                    frames = add_noise(frames, noise, seed=len(demo) * 7 + len(cam))
                del h5[key]
                started = time.process_time()
                ds = h5.create_dataset(key, shape=frames.shape, dtype=np.uint8,
                                       chunks=(1, *frames.shape[1:]), **kwargs)
                for i, frame in enumerate(frames):
                    if name == "gzip 1 isal":
                        ds.id.write_direct_chunk((i, 0, 0, 0), isal_zlib.compress(frame, 1))
                    else:
                        ds[i] = frame
                h5.flush()
                cpu += time.process_time() - started
                raw += frames.nbytes
                stored += ds.id.get_storage_size()
    return {"ratio": raw / stored, "write_mb_s": raw / 1e6 / cpu, "raw_mb": raw / 1e6}


READ_SNIPPET = """
import json, sys, time
import numpy as np
import hdf5plugin  # noqa: F401  (registers the plugin filters)
from robot_logger.dataset.loader import SequenceDataset
ds = SequenceDataset(sys.argv[1], ["cam1", "cam2", "arm1_pos"], split=None)
order = np.random.default_rng(0).integers(0, len(ds), int(sys.argv[2]))
ds[0]
started = time.perf_counter()
for i in order:
    ds[int(i)]
print(json.dumps({"frames_s": 2 * len(order) / (time.perf_counter() - started)}))
"""

PLAIN_SNIPPET = """
import sys, h5py
with h5py.File(sys.argv[1], "r") as h5:
    h5["data/demo_0/obs/cam1"][0]
"""


def read_rate(path: Path, samples: int) -> float:
    done = subprocess.run([sys.executable, "-c", READ_SNIPPET, str(path), str(samples)],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    return float(json.loads(done.stdout.strip().splitlines()[-1])["frames_s"])


def plain_h5py_reads(path: Path) -> bool:
    env = {k: v for k, v in os.environ.items() if k != "HDF5_PLUGIN_PATH"}
    done = subprocess.run([sys.executable, "-c", PLAIN_SNIPPET, str(path)], env=env,
                          capture_output=True, text=True, check=False)
    return done.returncode == 0


def table(base: Path, work: Path, samples: int, noise: float) -> list[dict[str, Any]]:
    rows = []
    for name in codecs():
        out = work / "codec.h5"
        row: dict[str, Any] = {"codec": name, **rewrite(base, out, name, noise)}
        row["frames_s"] = read_rate(out, samples)
        row["plain_h5py"] = plain_h5py_reads(out)
        rows.append(row)
        out.unlink()
    return rows


def show(title: str, rows: list[dict[str, Any]]) -> None:
    none = next(r for r in rows if r["codec"] == "none")
    print(f"\n{title}")
    print("| codec | ratio | write MB/s per core | random frames/s (vs none) "
          "| h5py/robomimic without hdf5plugin |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['codec']} | {r['ratio']:.2f} | {r['write_mb_s']:,.0f} | "
              f"{r['frames_s']:,.0f} ({r['frames_s'] / none['frames_s']:.2f}x) | "
              f"{'yes' if r['plain_h5py'] else 'no'} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/robot_logger_bench_codecs"))
    parser.add_argument("--seconds", type=float, default=4.0, help="simulated seconds")
    parser.add_argument("--size", default="640x480", help="camera WIDTHxHEIGHT")
    parser.add_argument("--samples", type=int, default=600, help="random samples read per codec")
    parser.add_argument("--noise", type=float, default=2.0,
                        help="sigma of the sensor-noise table (0: skip it)")
    args = parser.parse_args()
    os.environ["BLOSC_NTHREADS"] = "1"
    args.work.mkdir(parents=True, exist_ok=True)
    base = make_base(args.work, args.seconds, args.size)
    with h5py.File(base) as h5:
        frames = sum(h5[f"data/{d}/obs/cam1"].shape[0] for d in h5["data"]) * len(CAMERAS)
    print(f"{frames} frames {args.size} from {args.seconds:g} simulated s; "
          f"{args.samples} random samples of cam1+cam2 per codec")
    show("simulator frames", table(base, args.work, args.samples, 0.0))
    if args.noise:
        show(f"same frames + sensor noise sigma {args.noise:g}",
             table(base, args.work, args.samples, args.noise))


if __name__ == "__main__":
    main()

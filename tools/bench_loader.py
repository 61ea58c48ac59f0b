"""Benchmark: SequenceDataset samples/s against two baselines and with DataLoader workers.

    .venv/bin/python tools/bench_loader.py [--duration 20] [--image-size 320x240] [--samples 3000]

Builds a dataset once (simulated cell bag -> `build`, images stored uncompressed so the loader,
not gzip, is measured; `--compression gzip` shows the decode-bound case, `fast` the bitshuffle-LZ4
profile, whose filters are registered for the bare-h5py baselines too), then reads the same
random sample order (one frame of each camera + a 16-step action chunk, edge-padded) with
  sequence   SequenceDataset (persistent per-process handle, low-dim arrays cached),
  act        an ACT-style loader that opens the HDF5 file in every __getitem__,
  h5py       bare h5py slicing on a persistent handle with dataset objects looked up once,
and SequenceDataset in a torch DataLoader with 1 and 2 workers. Printed ratios, measured in the
same run: sequence/act (target >= 3), sequence/h5py (target >= 0.8), 2 workers/1 (target >= 1.6).
For context, `zeros_workers_1` is a DataLoader with 1 worker over samples of the same shapes
that cost nothing to make: the ceiling torch's worker-to-main transport puts on image batches.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import yaml

from robot_logger.dataset.build.pipeline import build_dataset
from robot_logger.dataset.read.h5 import register_plugin_filters
from robot_logger.dataset.read.loader import SequenceDataset
from robot_logger.sim import Cell, CellSpec, write_bag

CAMERAS = ("cam1", "cam2")
HORIZON = 16
BATCH = 32


def make_dataset(root: Path, duration_s: float, image_hw: tuple[int, int],
                 compression: str) -> Path:
    """Simulate a 2-arm, 2-camera cell and build it at 30 Hz with the given image compression."""
    spec = CellSpec(duration_s=duration_s, image_height=image_hw[0], image_width=image_hw[1],
                    lidar=False)
    write_bag(root / "bag", Cell(spec))
    streams = {f"arm{i}_pos": {"topic": f"/cell/arm{i}/joint_states", "field": "position"}
               for i in (1, 2)}
    streams.update({cam: {"topic": f"/cell/{cam}/image_raw", "align": "nearest"}
                    for cam in CAMERAS})
    config = root / "dataset.yaml"
    config.write_text(yaml.safe_dump({"rate_hz": 30, "streams": streams,
                                      "compression": {"images": compression}}))
    build_dataset([root / "bag"], root / "bench.h5", config_path=config)
    return root / "bench.h5"


class ActStyle:
    """Like ACT's EpisodicDataset: open the file, read one step and its action chunk, close."""

    def __init__(self, path: Path, index: list[tuple[str, int, int]]) -> None:
        self.path, self.index = path, index

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        demo, t, length = self.index[i]
        with h5py.File(self.path, "r") as f:
            group = f[f"data/{demo}"]
            sample = {cam: group[f"obs/{cam}"][t] for cam in CAMERAS}
            actions = group["actions"][t:t + HORIZON]
        padding = np.repeat(actions[-1:], HORIZON - len(actions), axis=0)
        sample["actions"] = np.concatenate([actions, padding])
        sample["is_pad"] = np.arange(t, t + HORIZON) >= length
        return sample


class BareH5py:
    """The floor of h5py cost: one open file, dataset objects looked up once, plain slicing."""

    def __init__(self, path: Path, index: list[tuple[str, int, int]]) -> None:
        self.index = index
        self.file = h5py.File(path, "r")
        demos = {demo for demo, _, _ in index}
        self.datasets = {(d, k): self.file[f"data/{d}/{k}"]
                         for d in demos for k in (*[f"obs/{c}" for c in CAMERAS], "actions")}

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        demo, t, length = self.index[i]
        sample = {cam: self.datasets[demo, f"obs/{cam}"][t] for cam in CAMERAS}
        frames = np.minimum(np.arange(t, t + HORIZON), length - 1)
        block = self.datasets[demo, "actions"][t:int(frames[-1]) + 1]
        sample["actions"] = block[frames - t]
        return sample


def rates(loaders: dict[str, object], order: np.ndarray, rounds: int = 6) -> dict[str, float]:
    """Samples per second of each loader over `order`, read one item at a time.

    The order is cut into `rounds` slices and the loaders take turns on each slice, so load from
    other processes on a shared machine falls on all of them alike; 20 warm-up items first.
    """
    seconds = dict.fromkeys(loaders, 0.0)
    for loader in loaders.values():
        for i in order[:20]:
            loader[int(i)]  # type: ignore[index]
    for part in np.array_split(order, rounds):
        for name, loader in loaders.items():
            start = time.perf_counter()
            for i in part:
                loader[int(i)]  # type: ignore[index]
            seconds[name] += time.perf_counter() - start
    return {name: len(order) / spent for name, spent in seconds.items()}


class Zeros:
    """Samples of the same shapes as `like`'s, all zeros: the DataLoader's own transport cost."""

    def __init__(self, like: dict[str, np.ndarray], length: int) -> None:
        self.sample, self.length = {k: np.zeros_like(v) for k, v in like.items()}, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.sample.items()}


def worker_rates(datasets: dict[str, tuple[object, int]], order: np.ndarray,
                 rounds: int = 3) -> dict[str, float]:
    """Samples per second through torch DataLoaders (name -> (dataset, workers)), taking turns
    on slices of `order` like `rates`; each slice is timed from its first batch on."""
    import torch.utils.data

    seconds, counts = dict.fromkeys(datasets, 0.0), dict.fromkeys(datasets, 0)
    for part in np.array_split(order, rounds):
        for name, (dataset, workers) in datasets.items():
            batches = iter(torch.utils.data.DataLoader(dataset, batch_size=BATCH,  # type: ignore
                                                       sampler=part.tolist(), num_workers=workers))
            next(batches)  # the workers are up
            start = time.perf_counter()
            for batch in batches:
                counts[name] += len(batch["actions"])
            seconds[name] += time.perf_counter() - start
    return {name: counts[name] / seconds[name] for name in datasets}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20.0, help="simulated seconds")
    parser.add_argument("--image-size", default="320x240", help="WIDTHxHEIGHT")
    parser.add_argument("--compression", default="none",
                        choices=("none", "gzip", "lzf", "robomimic", "fast", "small"),
                        help="image compression (profiles: README, tools/bench_codecs.py)")
    parser.add_argument("--samples", type=int, default=3000, help="samples per measurement")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    register_plugin_filters()
    width, height = (int(v) for v in args.image_size.lower().split("x"))
    root = Path(tempfile.mkdtemp(prefix="bench_loader_"))
    try:
        path = make_dataset(root, args.duration, (height, width), args.compression)
        dataset = SequenceDataset(path, CAMERAS, action_horizon=HORIZON, split=None)
        index = []
        for position in range(len(dataset)):
            episode, t = dataset.locate(position)
            index.append((dataset.demos[episode], t, int(dataset.lengths[episode])))
        order = np.random.default_rng(0).integers(0, len(dataset), args.samples)
        results = rates({"sequence": dataset, "act": ActStyle(path, index),
                         "h5py": BareH5py(path, index)}, order)
        results.update(worker_rates({"workers_1": (dataset, 1), "workers_2": (dataset, 2),
                                     "zeros_workers_1": (Zeros(dataset[0], len(dataset)), 1)},
                                    order))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    ratios = {"sequence/act": (results["sequence"] / results["act"], 3.0),
              "sequence/h5py": (results["sequence"] / results["h5py"], 0.8),
              "2 workers/1 worker": (results["workers_2"] / results["workers_1"], 1.6)}
    if args.json:
        print(json.dumps({"samples_per_s": results, "frames": len(dataset),
                          "ratios": {k: v for k, (v, _) in ratios.items()}}, indent=2))
        return
    print(f"{len(dataset)} frames, {args.image_size} images ({args.compression}), "
          f"{args.samples} random samples of 2 camera frames + {HORIZON}-step action chunk")
    for name, value in results.items():
        print(f"  {name:<12} {value:10.0f} samples/s")
    for name, (value, target) in ratios.items():
        print(f"  {name:<20} {value:6.2f}x  (target >= {target}x: "
              f"{'met' if value >= target else 'NOT met'})")


if __name__ == "__main__":
    main()

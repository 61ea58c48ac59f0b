"""Read a LeRobot export back with lerobot 0.6.1 itself; run by the Python 3.12 env, not imported.

    python lerobot_reader.py ROOT REPO_ID OUT_DIR [--full]

Writes OUT_DIR/result.json (counts, episode bounds, tasks, stats.json) and OUT_DIR/arrays.npz
(every frame's non-video features, and every camera frame as uint8 (N,H,W,3) decoded with PyAV).
`--full` adds lerobot's default decoder (torchcodec, when it loads), action chunks through
`delta_timestamps`, lerobot's own stats tools (aggregate_stats over the per-episode stats,
recompute_stats) and its editing tool (delete_episodes, then a load of what it wrote).
Nothing here knows robot_logger: the test compares these against the HDF5 file.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from lerobot.datasets.compute_stats import aggregate_stats
from lerobot.datasets.io_utils import load_episodes, load_stats
from lerobot.datasets.lerobot_dataset import LeRobotDataset
from lerobot.utils.import_utils import get_safe_default_video_backend


def _frames(dataset: LeRobotDataset) -> dict[str, np.ndarray]:
    """Every item of the dataset, stacked per key; video frames back to uint8 HWC."""
    columns: dict[str, list[np.ndarray]] = {}
    for index in range(len(dataset)):
        for key, value in dataset[index].items():
            if not isinstance(value, torch.Tensor):
                continue
            array = value.numpy()
            if key in dataset.meta.video_keys and key not in dataset.meta.depth_keys:
                array = np.rint(array * 255.0).clip(0, 255).astype(np.uint8).transpose(1, 2, 0)
            columns.setdefault(key, []).append(array)
    return {key: np.stack(values) for key, values in columns.items()}


def _chunks(dataset: LeRobotDataset, horizon: int) -> dict[str, np.ndarray]:
    """Action chunks and the previous camera frame through lerobot's delta_timestamps."""
    fps = dataset.fps
    deltas = {"action": [k / fps for k in range(horizon)]}
    deltas.update({key: [-1 / fps, 0.0] for key in dataset.meta.video_keys})
    chunked = LeRobotDataset(dataset.repo_id, root=dataset.root, delta_timestamps=deltas,
                             video_backend="pyav")
    items = [chunked[i] for i in range(len(chunked))]
    return {"chunk.action": np.stack([it["action"].numpy() for it in items]),
            "chunk.action_is_pad": np.stack([it["action_is_pad"].numpy() for it in items])}


def main(root: str, repo_id: str, out_dir: str, full: bool) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    backends = ["pyav"]
    if full and get_safe_default_video_backend() == "torchcodec":
        backends.append("torchcodec")
    arrays: dict[str, np.ndarray] = {}
    for backend in backends:
        dataset = LeRobotDataset(repo_id, root=root, video_backend=backend)
        for key, value in _frames(dataset).items():
            if key in dataset.meta.depth_keys:
                arrays[key] = value
            elif key in dataset.meta.video_keys:
                arrays[f"{backend}:{key}"] = value
            elif backend == "pyav":
                arrays[key] = value
    meta = dataset.meta
    episodes = load_episodes(Path(root))
    result = {
        "backends": backends,
        "num_frames": dataset.num_frames, "num_episodes": dataset.num_episodes,
        "fps": meta.fps, "features": sorted(meta.features),
        "video_keys": meta.video_keys, "depth_keys": meta.depth_keys,
        "tasks": list(meta.tasks.index),
        "bounds": [[int(a), int(b)] for a, b in zip(episodes["dataset_from_index"],
                                                    episodes["dataset_to_index"], strict=True)],
        "stats": _plain(load_stats(Path(root))),
    }
    if full:
        arrays.update(_chunks(dataset, horizon=4))
        result.update(_tools(dataset, repo_id, Path(root), out))
    result["seconds"] = time.perf_counter() - started
    (out / "result.json").write_text(json.dumps(result))
    np.savez(out / "arrays.npz", **arrays)


def _tools(dataset: LeRobotDataset, repo_id: str, root: Path, out: Path) -> dict:
    """lerobot's stats and editing tools run on the export."""
    from lerobot.datasets import dataset_tools

    # lerobot's own aggregation of the per-episode stats in meta/episodes must give stats.json.
    aggregated = aggregate_stats(load_episodes_with_stats(root))
    # lerobot's own recomputation of the numeric stats, on a copy (it rewrites stats.json).
    copy = out / "recomputed"
    shutil.copytree(root, copy)
    dataset_tools.recompute_stats(LeRobotDataset(repo_id, root=copy, video_backend="pyav"))
    recomputed = load_stats(copy)
    # lerobot's editing tool: drop episode 0, load what it wrote.
    dataset_tools.delete_episodes(dataset, [0], output_dir=out / "edited",
                                  repo_id=repo_id + "_edited")
    edited = LeRobotDataset(repo_id + "_edited", root=out / "edited", video_backend="pyav")
    edited_first = edited[0]
    return {"aggregated": _plain(aggregated), "recomputed": _plain(recomputed),
            "edited_frames": edited.num_frames, "edited_episodes": edited.num_episodes,
            "edited_first_action": edited_first["action"].numpy().tolist()}


def load_episodes_with_stats(root: Path) -> list[dict[str, dict[str, np.ndarray]]]:
    """Per-episode stats as lerobot's aggregate_stats takes them (from the stats/ columns)."""
    import pyarrow.parquet as pq

    table = pq.read_table(sorted((root / "meta" / "episodes").glob("*/*.parquet"))[0])
    rows = table.to_pylist()
    out = []
    for row in rows:
        stats: dict[str, dict[str, np.ndarray]] = {}
        for column, value in row.items():
            if column.startswith("stats/"):
                _, feature, name = column.split("/")
                stats.setdefault(feature, {})[name] = np.asarray(value, dtype=np.float64)
        out.append(stats)
    return out


def _plain(stats: dict | None) -> dict:
    return {k: {s: np.asarray(v).tolist() for s, v in d.items()} for k, d in (stats or {}).items()}


if __name__ == "__main__":
    main(*sys.argv[1:4], full="--full" in sys.argv[4:])

"""robot_logger HDF5 dataset -> LeRobot v3.0 dataset that lerobot 0.6's `LeRobotDataset` loads.

    from robot_logger.dataset.export import export_lerobot
    summary = export_lerobot("cell.h5", "cell_lerobot", repo_id="lab/cell", workers=2)
    # then, in a Python >= 3.12 env with lerobot 0.6:
    #   LeRobotDataset("lab/cell", root="cell_lerobot")

lerobot >= 0.5 needs Python >= 3.12 and this package runs on ROS 2's 3.10, so the v3 files are
written here with pyarrow and PyAV, following lerobot 0.6.1's layout:
    meta/info.json, meta/stats.json, meta/tasks.parquet, meta/episodes/chunk-000/file-000.parquet,
    data/chunk-000/file-NNN.parquet (one row group per episode, a new file past 100 MB),
    videos/<feature>/chunk-000/file-NNN.mp4 (video.py),
plus robot_logger's own: meta/robot_logger.json (source, splits, outcomes, phase names, every
/meta group such as calibration and clocks) and extras/<stream>/episode-NNNNNN.npz for point
clouds and any stream lerobot has no feature type for. Nothing is dropped silently: the summary
lists where every HDF5 member went, and what was left out and why (build bookkeeping only).

Cameras are encoded one process per stream (`workers`), while this process writes the frame
table; the output appears as DIR only when complete (written as DIR.partial, then renamed).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from robot_logger.dataset import schema
from robot_logger.dataset.export.layout import Kind, Layout, Placement, inspect
from robot_logger.dataset.export.tables import TableSpec, episode_table, running_to_lerobot
from robot_logger.dataset.export.video import (
    CODEC_NAMES,
    StreamVideo,
    VideoOptions,
    encode_stream,
)
from robot_logger.dataset.read.h5 import open_dataset
from robot_logger.errors import DatasetError, reason

__all__ = ["export_lerobot", "ExportSummary", "Placement", "Kind", "VideoFile", "Progress",
           "CODEBASE_VERSION"]

CODEBASE_VERSION = "v3.0"
DATA_FILE_MB = 100
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-000/file-000.parquet"

Progress = Callable[[str, int, int], None]
"""progress(item, done, total): frames done of all frames to write (item: stream or "data")."""


class VideoFile(NamedTuple):
    """One encoded stream: frames, bytes on disk and encoding time."""

    stream: str
    feature: str
    files: tuple[str, ...]
    frames: int
    bytes: int
    seconds: float


@dataclass(frozen=True)
class ExportSummary:
    """What `export_lerobot` wrote."""

    output: str
    repo_id: str
    codebase_version: str
    fps: int
    episodes: int
    frames: int
    tasks: tuple[str, ...]
    vcodec: str
    crf: int | None
    placements: tuple[Placement, ...]
    videos: tuple[VideoFile, ...]
    bytes: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["placements"] = [{**p._asdict(), "kind": p.kind.value} for p in self.placements]
        out["videos"] = [v._asdict() for v in self.videos]
        return out


def _json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2) + "\n")


def _write_data(layout: Layout, handle: h5py.File, root: Path, spec: TableSpec,
                report: Progress) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The frame table, one row group per episode; per-episode rows and stats for meta."""
    rows: list[dict[str, Any]] = []
    ep_stats = []
    writer: pq.ParquetWriter | None = None
    written = file_number = first = 0
    for index, demo_name in enumerate(layout.demos):
        demo = handle[f"{schema.DATA}/{demo_name}"]
        table, stats = episode_table(spec, demo, episode_index=index,
                                     task_index=layout.task_index[index], first_index=first,
                                     fps=layout.fps)
        if writer is not None and written + table.nbytes > DATA_FILE_MB * (1 << 20):
            writer.close()
            writer, written, file_number = None, 0, file_number + 1
        chunk_index, file_index = divmod(file_number, 1000)
        if writer is None:
            path = root / DATA_PATH.format(chunk_index=chunk_index, file_index=file_index)
            path.parent.mkdir(parents=True, exist_ok=True)
            writer = pq.ParquetWriter(path, spec.schema(), compression="snappy")
        writer.write_table(table)
        written += table.nbytes
        rows.append({"episode_index": index, "tasks": [layout.tasks[layout.task_index[index]]],
                     "length": table.num_rows, "data/chunk_index": chunk_index,
                     "data/file_index": file_index, "dataset_from_index": first,
                     "dataset_to_index": first + table.num_rows})
        ep_stats.append(stats)
        first += table.num_rows
        report("data", table.num_rows, 0)
    if writer is not None:
        writer.close()
    return rows, ep_stats


def _write_sidecars(layout: Layout, handle: h5py.File, root: Path, report: Progress) -> None:
    """Point clouds (and any stream lerobot has no type for) as one .npz per episode."""
    for stream, members in layout.sidecars.items():
        for index, demo_name in enumerate(layout.demos):
            obs = handle[f"{schema.DATA}/{demo_name}/{schema.OBS}"]
            arrays = {key: obs[member][()] for key, member in members.items()}
            path = root / "extras" / stream / f"episode-{index:06d}.npz"
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(path, **arrays)
            report(stream, 0, 0)


def _episode_meta(rows: list[dict[str, Any]], ep_stats: list[dict[str, dict[str, Any]]],
                  videos: list[StreamVideo], layout: Layout) -> pa.Table:
    for index, row in enumerate(rows):
        for video in videos:
            span = video.episodes[index]
            prefix = f"videos/{video.feature}"
            row.update({f"{prefix}/chunk_index": span.chunk_index,
                        f"{prefix}/file_index": span.file_index,
                        f"{prefix}/from_timestamp": span.from_timestamp,
                        f"{prefix}/to_timestamp": span.to_timestamp})
            ep_stats[index][video.feature] = video.episode_stats[index]
        row.update({"meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0,
                    "robot_logger/demo": layout.demos[index],
                    "robot_logger/outcome": layout.outcomes[index],
                    "robot_logger/split": layout.splits.get(layout.demos[index], "")})
        for feature, stats in ep_stats[index].items():
            row.update({f"stats/{feature}/{name}": value for name, value in stats.items()})
    return pa.Table.from_pylist(rows)


def _tasks_table(tasks: list[str]) -> pa.Table:
    """meta/tasks.parquet as pandas writes it: column task_index, index "task" (lerobot reads
    it with pandas.read_parquet and looks tasks up by that index)."""
    pandas_meta = {
        "index_columns": ["task"], "column_indexes": [],
        "columns": [{"name": "task_index", "field_name": "task_index", "pandas_type": "int64",
                     "numpy_type": "int64", "metadata": None},
                    {"name": "task", "field_name": "task", "pandas_type": "unicode",
                     "numpy_type": "object", "metadata": None}],
        "creator": {"library": "pyarrow", "version": pa.__version__}, "pandas_version": "2.0.0"}
    table = pa.table({"task_index": pa.array(range(len(tasks)), pa.int64()),
                      "task": pa.array(tasks, pa.string())})
    return table.replace_schema_metadata({"pandas": json.dumps(pandas_meta)})


def _info(layout: Layout, spec: TableSpec, videos: list[StreamVideo], options: VideoOptions,
          frames: int) -> dict[str, Any]:
    features = {}
    for video in videos:
        info: dict[str, Any] = {"video.height": video.height, "video.width": video.width,
                "video.fps": layout.fps, "video.channels": 1 if video.depth else 3,
                "has_audio": False, "is_depth_map": video.depth}
        if video.depth:
            info.update({"video.codec": "hevc", "video.pix_fmt": "gray12le", "depth_unit": "mm",
                         "video.depth_min": 0.01, "video.depth_max": 10.0, "video.shift": 3.5,
                         "video.use_log": True})
        else:
            info.update({"video.codec": CODEC_NAMES.get(options.vcodec, options.vcodec),
                         "video.pix_fmt": options.pix_fmt, "video.g": options.gop,
                         "video.crf": options.crf, "video.preset": options.preset})
        channels = 1 if video.depth else 3
        features[video.feature] = {"dtype": "video",
                                   "shape": [video.height, video.width, channels],
                                   "names": ["height", "width", "channels"], "info": info}
    features.update(spec.features())
    return {"codebase_version": CODEBASE_VERSION, "robot_type": layout.robot_type,
            "total_episodes": len(layout.demos), "total_frames": frames,
            "total_tasks": len(layout.tasks), "chunks_size": 1000,
            "data_files_size_in_mb": DATA_FILE_MB,
            "video_files_size_in_mb": options.file_size_mb, "fps": layout.fps,
            "splits": {"train": f"0:{len(layout.demos)}"}, "data_path": DATA_PATH,
            "video_path": VIDEO_PATH if videos else None, "features": features}


def _encode_all(layout: Layout, dataset: Path, root: Path, options: VideoOptions, workers: int,
                write_tables: Callable[[], None], report: Progress) -> list[StreamVideo]:
    """Encode every video stream (in `workers` processes when > 1) around `write_tables()`."""
    jobs = [(str(dataset), s.stream, s.feature, layout.demos, str(root), layout.fps, options,
             s.depth) for s in layout.videos]
    if workers <= 1 or not jobs:
        write_tables()
        return [encode_stream(*job, report=lambda item, n: report(item, n, 0)) for job in jobs]
    import multiprocessing

    # fork (0.1 s a worker vs 2-4 s to spawn one that re-imports the CLI); safe because no HDF5
    # file is open here until every job is submitted and the workers started.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with context.Manager() as manager, ProcessPoolExecutor(
            max_workers=min(workers, len(jobs)), mp_context=context) as pool:
        queue = manager.Queue()
        futures: list[Future[StreamVideo]] = [
            pool.submit(encode_stream, *job, report=_QueueReport(queue)) for job in jobs]
        write_tables()
        while not all(f.done() for f in futures) or not queue.empty():
            try:
                item, n = queue.get(timeout=0.2)
            except Exception:  # queue.Empty (from the manager's module)
                continue
            report(item, n, 0)
        return [f.result() for f in futures]


class _QueueReport:
    """Picklable progress callback for worker processes."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue

    def __call__(self, item: str, frames: int) -> None:
        self.queue.put((item, frames))


def export_lerobot(dataset: str | os.PathLike[str], output: str | os.PathLike[str], *,
                   repo_id: str | None = None, options: VideoOptions | None = None,
                   workers: int = 1, overwrite: bool = False, strict: bool = False,
                   progress: Progress | None = None) -> ExportSummary:
    """Write `dataset` (an HDF5 file, sharded or not) as a LeRobot v3.0 dataset in `output`.

    DatasetError when the input is not a robot_logger dataset, has no episodes, or `output`
    exists (unless `overwrite`); with `strict`, also when an episode member would be skipped
    (listed in the summary otherwise). `progress(item, done, total)` gets frame counts.
    """
    started = time.perf_counter()
    options = options or VideoOptions()
    dataset, output = Path(dataset), Path(output)
    if output.exists() and not overwrite:
        raise DatasetError(f"{output}: already exists (pass --overwrite to replace it)")
    with open_dataset(dataset) as handle:
        layout = inspect(handle, dataset)
    skipped = [p for p in layout.placements if p.kind is Kind.SKIPPED
               and not p.source.startswith("/")]
    if strict and skipped:
        raise DatasetError(f"{dataset}: {len(skipped)} member(s) would be skipped (--strict), "
                           f"first {skipped[0].source}: {skipped[0].note}")
    repo_id = repo_id or f"robot_logger/{dataset.stem}"
    partial = output.with_name(output.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    total = layout.frames * (1 + len(layout.videos))
    done = 0

    def report(item: str, frames: int, _total: int) -> None:
        nonlocal done
        done += frames
        if progress is not None:
            progress(item, done, total)

    spec = TableSpec(layout.columns)
    tables: dict[str, Any] = {}

    def write_tables() -> None:
        with open_dataset(dataset) as handle:
            tables["rows"], tables["stats"] = _write_data(layout, handle, partial, spec, report)
            _write_sidecars(layout, handle, partial, report)
            _json(partial / "meta" / "robot_logger.json", layout.metadata(handle))

    try:
        videos = _encode_all(layout, dataset, partial, options, workers, write_tables, report)
        episodes = _episode_meta(tables["rows"], tables["stats"], videos, layout)
        (partial / EPISODES_PATH).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(episodes, partial / EPISODES_PATH)
        pq.write_table(_tasks_table(layout.tasks), partial / "meta" / "tasks.parquet")
        stats = {key: running_to_lerobot(s) for key, s in spec.stats.items()}
        stats.update({v.feature: v.stats for v in videos})
        _json(partial / "meta" / "stats.json", stats)
        _json(partial / "meta" / "info.json", _info(layout, spec, videos, options, layout.frames))
        if output.exists():
            shutil.rmtree(output)
        partial.rename(output)
    except OSError as err:
        raise DatasetError(f"{output}: cannot write the export: {reason(err)}") from err
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    size = sum(p.stat().st_size for p in output.rglob("*") if p.is_file())
    return ExportSummary(
        str(output), repo_id, CODEBASE_VERSION, layout.fps, len(layout.demos), layout.frames,
        tuple(layout.tasks), options.vcodec, options.crf, tuple(layout.placements),
        tuple(VideoFile(v.stream, v.feature, v.files, v.frames, v.bytes, v.seconds)
              for v in videos), size, time.perf_counter() - started)

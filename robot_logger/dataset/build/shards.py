"""Sharded, resumable output: one shard file per task, joined by a small index of external links.

    sharded = ShardedBuild("cell.h5", tasks, config, run_task)  # finds what is reusable
    sharded.run(ExecutorSpec("ray", workers=8))                 # builds the missing shards
    sharded.write(meta)                                         # the index (or the single file)

Layout of `OUT.h5` built from several tasks:

    OUT.shards/part-00000.h5   one per task: /data/demo_<k> (k counts within the shard) and the
                               manifest /meta/shard: attrs key, results, offsets (JSON) and
                               stats/demo_<k>/<key>/... (RunningStats.state() of every episode)
    OUT.h5                     /data/demo_<i> -> external link to /data/demo_<k> of a shard
                               plus masks, merged stats, joint names and provenance (root attrs)

With one task there is no index: the shard becomes `OUT.h5` (a plain file with the manifest).
Episode numbers `i` come from the plan (bag path, then time), never from which task ends first.
Stats are merged from the per-episode states of the train episodes in episode order, so they do
not depend on how episodes were cut into shards; shards keep the state of every episode, so they
do not depend on the split either.

Resuming: a shard is written as `part-XXXXX.h5.partial` and renamed only once complete, manifest
included. A rerun reuses a complete shard whose key (fingerprint.shard_key) matches and rebuilds
the rest; a killed worker's `.partial` is overwritten, never read. When the output exists and
everything matches, the rerun does no work at all.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from robot_logger.dataset import schema
from robot_logger.dataset.build.config import BuildConfig
from robot_logger.dataset.build.episode import EpisodeResult
from robot_logger.dataset.build.executors import ExecutorSpec, WorkerLost, run_tasks
from robot_logger.dataset.build.fingerprint import (
    bag_fingerprint,
    config_hash,
    inputs_key,
    shard_key,
)
from robot_logger.dataset.build.plan import Task
from robot_logger.dataset.build.writer import DatasetWriter, json_attr
from robot_logger.dataset.ops.clocks import OffsetStats
from robot_logger.errors import DatasetError

__all__ = ["CRASH_ONCE_ENV", "MANIFEST", "PROVENANCE_ATTRS", "ShardJob", "Shard", "ShardedBuild",
           "build_shard", "read_shard", "shards_dir", "shard_path", "dataset_bytes",
           "inputs_key_of"]

CRASH_ONCE_ENV = "ROBOT_LOGGER_CRASH_ONCE"   # tests only: see build_shard
MANIFEST = "meta/shard"
ATTR_INPUTS_KEY = "inputs_key"
ATTR_BAG_FINGERPRINTS = "bag_fingerprints"
ATTR_SHARD_KEY = "shard_key"
# Attrs that name the exact inputs (bag fingerprints, keys): differ between equal datasets
# built from different copies of the same recording (an mcap and a sqlite3 bag, say).
PROVENANCE_ATTRS = (ATTR_INPUTS_KEY, ATTR_BAG_FINGERPRINTS, ATTR_SHARD_KEY)
_SHARD_GLOB = "part-*.h5*"   # shards and their .partial files

Progress = Callable[[float], None]
RunTask = Callable[[Task, DatasetWriter, Progress | None],
                   tuple[list[EpisodeResult], dict[str, OffsetStats]]]


def shards_dir(output: str | Path) -> Path:
    """The folder of an output's shards: `OUT.h5` -> `OUT.shards`."""
    return Path(output).with_suffix(".shards")


def shard_path(output: str | Path, number: int) -> Path:
    """Shard `number` of an output."""
    return shards_dir(output) / f"part-{number:05d}.h5"


@dataclass(frozen=True)
class ShardJob:
    """One task to run in a worker: build `task` into the shard at `path` (absolute)."""

    path: Path
    key: str
    task: Task                     # its episodes numbered within the shard
    run: RunTask                   # pipeline.run_task (module-level, so it pickles by name)
    crash_marker: str | None = None


@dataclass
class Shard:
    """A complete shard, as its manifest describes it (episode indices within the shard)."""

    path: Path
    key: str
    results: list[EpisodeResult]
    offsets: dict[str, OffsetStats]


def build_shard(job: ShardJob) -> Path:
    """Worker entry: build one shard, manifest included, as `.partial` renamed when complete.

    With `crash_marker` set (from ROBOT_LOGGER_CRASH_ONCE, for tests), the first task anywhere
    to finish an episode creates the marker file and SIGKILLs its own process: a worker killed
    in the middle of a shard.
    """
    crash = _crash_once(job.crash_marker) if job.crash_marker else None
    with DatasetWriter(job.path, overwrite=True) as writer:
        results, offsets = job.run(job.task, writer, crash)
        _write_manifest(writer.h5, job.key, results, offsets)
    return job.path


def _crash_once(marker: str) -> Progress:
    def crash(_seconds: float) -> None:
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
        os.kill(os.getpid(), signal.SIGKILL)
    return crash


def _write_manifest(h5: h5py.File, key: str, results: list[EpisodeResult],
                    offsets: dict[str, OffsetStats]) -> None:
    group = h5.create_group(MANIFEST)
    group.attrs[ATTR_SHARD_KEY] = key
    group.attrs["results"] = json_attr([{"index": r.index, "frames": r.frames, "valid": r.valid,
                                         "joint_names": r.joint_names, "warnings": r.warnings,
                                         "cameras": r.cameras} for r in results])
    group.attrs["offsets"] = json_attr({t: list(o) for t, o in offsets.items()})
    for result in results:
        for stat_key, state in result.stats.items():
            for name, array in state.items():
                array = np.asarray(array)
                group.create_dataset(f"stats/{schema.demo_name(result.index)}/{stat_key}/{name}",
                                     data=array, **({"compression": "gzip"} if array.size > 64
                                                    else {}))


def read_shard(path: str | Path) -> Shard | None:
    """The manifest of a complete shard; None when the file is missing, partial or unreadable."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with h5py.File(path, "r") as h5:
            group = h5[MANIFEST]
            results = []
            for entry in json.loads(group.attrs["results"]):
                stats = group.get(f"stats/{schema.demo_name(entry['index'])}", {})
                results.append(EpisodeResult(
                    entry["index"], entry["frames"], entry["valid"], entry["joint_names"],
                    {k: {n: a[()] for n, a in stats[k].items()} for k in stats},
                    entry["warnings"], {s: [(int(t), r) for t, r in records]
                                        for s, records in entry["cameras"].items()}))
            offsets = {t: OffsetStats(*o) for t, o in json.loads(group.attrs["offsets"]).items()}
            return Shard(path, str(group.attrs[ATTR_SHARD_KEY]), results, offsets)
    except (OSError, KeyError, ValueError, TypeError):
        return None


def dataset_bytes(output: str | Path) -> int:
    """Bytes of a dataset on disk: the file plus its shards."""
    folder = shards_dir(output)
    shards = list(folder.glob("part-*.h5")) if folder.is_dir() else []
    return Path(output).stat().st_size + sum(p.stat().st_size for p in shards)


def inputs_key_of(path: str | Path) -> str | None:
    """The inputs key a finished dataset was built from, None when absent or unreadable."""
    try:
        with h5py.File(path, "r") as h5:
            value = h5.attrs.get(ATTR_INPUTS_KEY)
    except (OSError, ValueError):
        return None
    return None if value is None else str(value)


class ShardedBuild:
    """The shards of one build: which are reusable, building the rest, writing the output."""

    def __init__(self, output: str | Path, tasks: Sequence[Task], config: BuildConfig,
                 run_task: RunTask, *, overwrite: bool = False) -> None:
        self.output = Path(output).absolute()
        self.fingerprints = {str(p): bag_fingerprint(p)
                             for p in dict.fromkeys(task.bag.path for task in tasks)}
        self.inputs_key = inputs_key(config, self.fingerprints)
        self.jobs = self._jobs(tasks, config, run_task)
        self.train = [[ep.train for ep in task.episodes] for task in tasks]
        self.indices = [[ep.index for ep in task.episodes] for task in tasks]
        single = len(self.jobs) == 1
        where = [self.output] if single else [job.path for job in self.jobs]
        self.shards = [_matching(job, path) for job, path in zip(self.jobs, where)]
        self.up_to_date = (inputs_key_of(self.output) == self.inputs_key
                           and all(s is not None for s in self.shards))
        if not self.up_to_date:
            if self.output.exists() and not overwrite:
                raise DatasetError(f"{output} exists; pass --overwrite to replace it")
            if single:
                self.shards = [_matching(self.jobs[0], self.jobs[0].path)]
        self.skipped = sum(s is not None for s in self.shards)
        self.done = 0

    def _jobs(self, tasks: Sequence[Task], config: BuildConfig, run_task: RunTask
              ) -> list[ShardJob]:
        """Tasks with episodes numbered within their shard (stats kept for every episode)."""
        cfg, marker = config_hash(config), os.environ.get(CRASH_ONCE_ENV)
        jobs = []
        for number, task in enumerate(tasks):
            local = [replace(ep, index=k, train=True) for k, ep in enumerate(task.episodes)]
            key = shard_key(bag=task.episodes[0].bag, fingerprint=self.fingerprints[
                str(task.bag.path)], config=cfg, episodes=local, phase_names=task.phase_names,
                layouts=task.layouts)
            bag = replace(task.bag, path=Path(task.bag.path).absolute())
            jobs.append(ShardJob(shard_path(self.output, number), key,
                                 replace(task, bag=bag, episodes=local), run_task, marker))
        return jobs

    def run(self, spec: ExecutorSpec, progress: Progress | None = None) -> None:
        """Build every shard that is not reusable on `spec`'s workers."""
        for number, shard in enumerate(self.shards):
            if shard is not None:
                self._progress(number, progress)
        todo = [n for n, shard in enumerate(self.shards) if shard is None]
        folder = shards_dir(self.output)
        fresh = bool(todo) and not folder.exists()
        if todo:
            folder.mkdir(exist_ok=True)
        try:
            self._build(todo, spec, progress)
        except BaseException:
            if fresh and folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()          # a failed first build (a full disk, say) leaves nothing
            raise

    def _build(self, todo: list[int], spec: ExecutorSpec, progress: Progress | None) -> None:
        try:
            for position, path in run_tasks(build_shard, [self.jobs[n] for n in todo], spec):
                number = todo[position]
                self.shards[number] = read_shard(path)
                if self.shards[number] is None:
                    raise DatasetError(f"{path}: the shard a worker wrote cannot be read back")
                self.done += 1
                self._progress(number, progress)
        except WorkerLost as err:
            raise WorkerLost(f"{err}; {self.done + self.skipped} of {len(self.jobs)} shards are "
                             f"complete in {shards_dir(self.output)}: run the same command again "
                             "to build only the rest") from err

    def _progress(self, number: int, progress: Progress | None) -> None:
        if progress:
            progress(sum((ep.episode.end_ns - ep.episode.start_ns) / 1e9
                         for ep in self.jobs[number].task.episodes))

    def _built(self) -> list[Shard]:
        missing = [n for n, shard in enumerate(self.shards) if shard is None]
        if missing:
            raise DatasetError(f"shard {missing[0]} of {self.output} was not built")
        return [shard for shard in self.shards if shard is not None]

    @property
    def results(self) -> list[EpisodeResult]:
        """Every episode's result under its global index, stats only for train episodes."""
        out = [replace(r, index=self.indices[n][r.index],
                       stats=r.stats if self.train[n][r.index] else {})
               for n, shard in enumerate(self._built()) for r in shard.results]
        return sorted(out, key=lambda r: r.index)

    @property
    def offsets(self) -> list[dict[str, OffsetStats]]:
        """Header-vs-log offset accumulators of every shard."""
        return [shard.offsets for shard in self._built()]

    def write(self, meta: dict[str, Any]) -> None:
        """Write the output (an index of links, or the only shard made the file) and tidy up."""
        if self.up_to_date:
            return
        meta = {**meta, "root_attrs": {**meta["root_attrs"], ATTR_INPUTS_KEY: self.inputs_key,
                                       ATTR_BAG_FINGERPRINTS: json_attr(self.fingerprints)}}
        shards = self._built()
        if len(shards) == 1:
            with _AdoptedWriter(shards[0].path, self.output) as writer:
                writer.finish(**meta)
        else:
            with DatasetWriter(self.output, overwrite=True) as writer:
                data = writer.h5[schema.DATA]
                for shard, indices in zip(shards, self.indices):
                    target = os.path.relpath(shard.path, self.output.parent)
                    for local, index in enumerate(indices):
                        data[schema.demo_name(index)] = h5py.ExternalLink(
                            target, f"/{schema.DATA}/{schema.demo_name(local)}")
                writer.finish(**meta)
        self._tidy(keep={s.path for s in shards} if len(shards) > 1 else set())

    def _tidy(self, keep: set[Path]) -> None:
        """Remove shards (and .partial files) this output no longer uses."""
        folder = shards_dir(self.output)
        if not folder.is_dir():
            return
        for path in folder.glob(_SHARD_GLOB):
            if path not in keep:
                path.unlink()
        if not keep and not any(folder.iterdir()):
            folder.rmdir()


def _matching(job: ShardJob, path: Path) -> Shard | None:
    shard = read_shard(path)
    return shard if shard is not None and shard.key == job.key else None


class _AdoptedWriter(DatasetWriter):
    """The only shard becomes the output: moved to OUT.partial, index metadata added, renamed."""

    def __init__(self, shard: Path, output: Path) -> None:
        super().__init__(output, overwrite=True)
        self.shard = shard

    def __enter__(self) -> DatasetWriter:
        try:
            os.replace(self.shard, self.partial)
            self.file = h5py.File(self.partial, "r+")
        except OSError as err:
            raise DatasetError(f"{self.shard}: cannot make it {self.path} ({err})") from err
        return self

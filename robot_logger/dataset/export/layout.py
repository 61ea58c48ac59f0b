"""Which HDF5 member of a robot_logger dataset becomes which LeRobot feature, video or file.

Streams are told apart by dtype and shape (the HDF5 layout contract, dataset/schema.py):
- uint8 (T,H,W,3|1): camera -> `observation.images.<s>` video;
- uint16 or float (T,H,W) / (T,H,W,1) without a point mask: depth -> lerobot depth video;
- (T,P,4) with `<s>_mask`: point cloud -> `extras/<s>/episode-NNNNNN.npz` (points, mask);
- (T,D) / (T,): low-dim -> part of `observation.state` and `streams.<s>`;
- anything else in `obs/` -> an .npz sidecar; any other (T,...) member -> a feature or sidecar.
Every member of the first episode is placed or listed as skipped; later episodes must have the
same members (DatasetError naming the episode and member otherwise).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, NamedTuple

import h5py
import numpy as np

from robot_logger.dataset import schema
from robot_logger.dataset.export.tables import Column
from robot_logger.dataset.read.h5 import episode_names
from robot_logger.errors import DatasetError

__all__ = ["Layout", "VideoStream", "Kind", "Placement", "inspect"]

_MAX_META_ELEMENTS = 1_000_000  # larger /meta arrays are described, not copied into JSON


class Kind(str, Enum):
    """How an HDF5 member was exported."""

    VIDEO = "video"
    DEPTH_VIDEO = "depth_video"
    FEATURE = "feature"
    SIDECAR = "sidecar"
    METADATA = "metadata"
    SKIPPED = "skipped"


class Placement(NamedTuple):
    """One HDF5 member (path inside a demo, or /meta/...) and where it went."""

    source: str
    target: str
    kind: Kind
    note: str = ""


class VideoStream(NamedTuple):
    stream: str
    feature: str
    depth: bool


@dataclass
class Layout:
    """The plan of one export, read from the dataset's first episode and attributes."""

    path: str
    demos: list[str]
    fps: int
    frames: int
    tasks: list[str]
    task_index: list[int]
    outcomes: list[str]
    splits: dict[str, str]
    robot_type: str
    videos: list[VideoStream] = field(default_factory=list)
    columns: list[Column] = field(default_factory=list)
    sidecars: dict[str, dict[str, str]] = field(default_factory=dict)
    placements: list[Placement] = field(default_factory=list)
    phase_names: list[str] = field(default_factory=list)

    def metadata(self, handle: h5py.File) -> dict[str, Any]:
        """meta/robot_logger.json: provenance, episodes, splits, phases, sidecars, /meta."""
        data = handle[schema.DATA]
        episodes = []
        for index, name in enumerate(self.demos):
            attrs = {k: _plain(v) for k, v in data[name].attrs.items()}
            episodes.append({"episode_index": index, "demo": name,
                             "split": self.splits.get(name, ""), **attrs})
        split_index = {s: [i for i, d in enumerate(self.demos) if self.splits.get(d) == s]
                       for s in sorted(set(self.splits.values()))}
        meta = {k: _dump(v) for k, v in handle["meta"].items()
                if k not in ("stats", "shard")} if "meta" in handle else {}
        return {"source": self.path,
                "root_attrs": {k: _plain(v) for k, v in handle.attrs.items()},
                "data_attrs": {k: _plain(v) for k, v in data.attrs.items()},
                "fps": self.fps, "episodes": episodes, "splits": split_index,
                "phase_names": self.phase_names,
                "sidecars": {s: {"path": f"extras/{s}/episode-{{episode_index:06d}}.npz",
                                 "arrays": sorted(m)} for s, m in self.sidecars.items()},
                "meta": meta}


def _plain(value: Any) -> Any:
    """An HDF5 attribute as JSON (JSON-looking strings parsed)."""
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if isinstance(value, str):
        if value[:1] in "[{":
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()] if value.dtype.kind in "SO" else value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _dump(node: h5py.Group | h5py.Dataset) -> Any:
    attrs = {k: _plain(v) for k, v in node.attrs.items()}
    if isinstance(node, h5py.Dataset):
        if node.size > _MAX_META_ELEMENTS:
            return {"attrs": attrs, "shape": list(node.shape), "dtype": str(node.dtype)}
        return {"attrs": attrs, "value": _plain(node[()])} if attrs else _plain(node[()])
    return {**({"attrs": attrs} if attrs else {}), **{k: _dump(v) for k, v in node.items()}}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _fps(data: h5py.Group, first: h5py.Group) -> int:
    """lerobot needs integer fps (its timestamps are frame_index / fps): the build's rate, which
    must then be whole (12.5 Hz would replay 4 % fast as 12), else -- a dataset clocked by a
    reference stream -- the median header-stamp step, rounded."""
    where = data.file.filename
    rate = float(data.attrs.get(schema.ATTR_RATE_HZ, 0.0))
    if rate > 0 and abs(rate - round(rate)) > 1e-6:
        raise DatasetError(f"{where}: rate_hz {rate:g} is not a whole number of frames per "
                           f"second, which LeRobot needs; rebuild with --rate {math.floor(rate)} "
                           f"or {math.ceil(rate)}")
    if rate <= 0 and schema.TIMESTAMPS in first and first[schema.TIMESTAMPS].shape[0] > 1:
        rate = 1e9 / float(np.median(np.diff(first[schema.TIMESTAMPS][()])))
    if not rate > 0:
        raise DatasetError(f"{where}: no rate_hz and too few frames to infer fps")
    return max(1, int(round(rate)))


def _names(handle: h5py.File, stream: str, width: int) -> list[str]:
    path = f"{schema.JOINT_NAMES}/{stream}"
    if path in handle and handle[path].shape == (width,):
        return [f"{stream}.{_text(n)}" for n in handle[path][()]]
    return [f"{stream}.{i}" for i in range(width)]


def _is_depth(ds: h5py.Dataset, has_mask: bool) -> bool:
    trailing_one = ds.ndim == 4 and ds.shape[-1] == 1
    return (not has_mask and ds.dtype.kind in "uf" and ds.dtype != np.uint8
            and (ds.ndim == 3 or trailing_one) and min(ds.shape[1:3]) >= 8)


def _scalar_dtype(ds: h5py.Dataset) -> str | None:
    if ds.dtype == np.bool_:
        return "bool"
    return {"i": "int64", "u": "int64", "f": "float32"}.get(ds.dtype.kind)


def _plan_obs(layout: Layout, handle: h5py.File, obs: h5py.Group) -> list[str]:
    lowdim = []
    for name in sorted(obs):
        ds = obs[name]
        has_mask = f"{name}{schema.POINT_MASK_SUFFIX}" in obs
        source = f"{schema.OBS}/{name}"
        if name.endswith(schema.POINT_MASK_SUFFIX) and name[:-5] in obs:
            continue
        if ds.dtype == np.uint8 and ds.ndim == 4 and ds.shape[-1] in (1, 3):
            feature = f"observation.images.{name}"
            layout.videos.append(VideoStream(name, feature, False))
            layout.placements.append(Placement(source, feature, Kind.VIDEO))
        elif _is_depth(ds, has_mask):
            feature = f"observation.images.{name}"
            layout.videos.append(VideoStream(name, feature, True))
            layout.placements.append(Placement(source, feature, Kind.DEPTH_VIDEO,
                                               "12-bit log depth, lossless HEVC, unit mm"))
        elif ds.ndim <= 2 and _scalar_dtype(ds) is not None:
            lowdim.append(name)
        else:
            arrays = {"points" if has_mask else "values": name}
            if has_mask:
                arrays["mask"] = f"{name}{schema.POINT_MASK_SUFFIX}"
            layout.sidecars[name] = arrays
            for key, member in sorted(arrays.items()):
                layout.placements.append(Placement(f"{schema.OBS}/{member}",
                                                   f"extras/{name}/episode-NNNNNN.npz#{key}",
                                                   Kind.SIDECAR))
    return lowdim


def _add_column(layout: Layout, column: Column) -> None:
    """A feature column, or, when it has no values per frame (width 0: a build with
    `actions: {stream: []}`), a skipped placement: Arrow and lerobot have no (0,) feature."""
    if column.width == 0:
        layout.placements += [Placement(source, "", Kind.SKIPPED, "no columns (shape (T, 0))")
                              for source in column.sources]
        return
    layout.columns.append(column)
    layout.placements += [Placement(source, column.feature, Kind.FEATURE)
                          for source in column.sources]


def _plan_columns(layout: Layout, handle: h5py.File, demo: h5py.Group, lowdim: list[str]) -> None:
    def add(feature: str, sources: tuple[str, ...], dtype: str, names: list[str] | None) -> None:
        width = sum(int(np.prod(demo[s].shape[1:], dtype=np.int64)) for s in sources)
        _add_column(layout, Column(feature, sources, dtype, width, names))

    widths = {s: int(np.prod(demo[f"{schema.OBS}/{s}"].shape[1:], dtype=np.int64)) for s in lowdim}
    if lowdim:
        state_names = [n for s in lowdim for n in _names(handle, s, widths[s])]
        layout.columns.append(Column("observation.state",
                                     tuple(f"{schema.OBS}/{s}" for s in lowdim), "float32",
                                     sum(widths.values()), state_names))
        start = 0
        for stream in lowdim:
            layout.placements.append(Placement(f"{schema.OBS}/{stream}", "observation.state",
                                               Kind.FEATURE,
                                               f"[{start}:{start + widths[stream]}]"))
            start += widths[stream]
    action_names = (["action." + _text(n) for n in handle["meta/action_names"][()]]
                    if "meta/action_names" in handle else None)
    add("action", (schema.ACTIONS,), "float32", action_names)
    add("next.reward", (schema.REWARDS,), "float32", None)
    add("next.done", (schema.DONES,), "bool", None)
    for stream in lowdim:
        add(f"streams.{stream}", (f"{schema.OBS}/{stream}",), "float32",
            _names(handle, stream, widths[stream]))
    for group, dtype in ((schema.VALID, "bool"), (schema.AGE_NS, "int64")):
        for stream in sorted(demo[group]) if group in demo else []:
            add(f"{group}.{stream}", (f"{group}/{stream}",), dtype, None)
    if schema.PHASE in demo:
        add("phase_index", (schema.PHASE,), "int64", None)
    add("timestamp_ns", (schema.TIMESTAMPS,), "int64", None)


def _plan_rest(layout: Layout, demo: h5py.Group) -> None:
    """Members outside the contract's fixed set: a feature when (T,) or (T,D), else a sidecar."""
    placed = {p.source for p in layout.placements}
    length = demo[schema.ACTIONS].shape[0]
    extra: list[str] = []
    demo.visititems(lambda name, node: extra.append(name) if isinstance(node, h5py.Dataset)
                    and not name.startswith(f"{schema.OBS}/") and name not in placed else None)
    for name in sorted(extra):
        ds = demo[name]
        dtype = _scalar_dtype(ds)
        if ds.shape[:1] == (length,) and ds.ndim <= 2 and dtype is not None:
            width = int(np.prod(ds.shape[1:], dtype=np.int64))
            _add_column(layout, Column("extra." + name.replace("/", "."), (name,), dtype, width,
                                       None))
        else:
            layout.placements.append(Placement(name, "", Kind.SKIPPED,
                                               f"shape {ds.shape} is not per-frame"))


def inspect(handle: h5py.File, path: str | os.PathLike[str]) -> Layout:
    """Plan the export of an open dataset (see the module docstring)."""

    demos = episode_names(handle, path)
    if not demos:
        raise DatasetError(f"{path}: no episodes to export")
    data = handle[schema.DATA]
    first = data[demos[0]]
    if schema.ACTIONS not in first:
        raise DatasetError(f"{path}: {demos[0]} has no {schema.ACTIONS}")
    tasks: list[str] = []
    task_index, outcomes = [], []
    for name in demos:
        task = _text(data[name].attrs.get("task", "")) or "(no task)"
        if task not in tasks:
            tasks.append(task)
        task_index.append(tasks.index(task))
        outcomes.append(_text(data[name].attrs.get("outcome", "")))
    splits = {}
    for split in sorted(handle[schema.MASK]) if schema.MASK in handle else []:
        for name in handle[schema.MASK][split][()]:
            splits[_text(name)] = split
    env = _plain(data.attrs.get(schema.ATTR_ENV_ARGS, "{}"))
    frames = sum(int(data[d].attrs.get("num_samples", data[d][schema.ACTIONS].shape[0]))
                 for d in demos)
    layout = Layout(str(path), demos, _fps(data, first), frames, tasks, task_index, outcomes,
                    splits, env.get("env_name", "robot_logger") if isinstance(env, dict)
                    else "robot_logger")
    lowdim = _plan_obs(layout, handle, first[schema.OBS]) if schema.OBS in first else []
    _plan_columns(layout, handle, first, lowdim)
    _plan_rest(layout, first)
    if schema.PHASE in first:
        raw = first[schema.PHASE].attrs.get(schema.PHASE_NAMES_ATTR, "[]")
        layout.phase_names = list(json.loads(_text(raw)))
    needed = ({m for c in layout.columns for m in c.sources}
              | {f"{schema.OBS}/{v.stream}" for v in layout.videos}
              | {f"{schema.OBS}/{m}" for s in layout.sidecars.values() for m in s.values()})
    for name in demos[1:]:
        missing = sorted(m for m in needed if m not in data[name])
        if missing:
            raise DatasetError(f"{path}: {name} has no {missing[0]} (episode 0 has it)")
    for key in sorted(handle["meta"]) if "meta" in handle else []:
        if key == "shard":
            layout.placements.append(Placement("/meta/shard", "", Kind.SKIPPED,
                                               "build bookkeeping (per-shard stats, offsets)"))
        elif key == "stats":
            layout.placements.append(Placement("/meta/stats", "meta/stats.json", Kind.METADATA,
                                               "recomputed in lerobot's form"))
        else:
            layout.placements.append(Placement(f"/meta/{key}",
                                               f"meta/robot_logger.json#meta.{key}",
                                               Kind.METADATA))
    layout.placements.append(Placement("/mask", "meta/robot_logger.json#splits", Kind.METADATA,
                                       "and the robot_logger/split episode column"))
    return layout

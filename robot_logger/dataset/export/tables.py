"""The frame table of a LeRobot v3 export: features, one Arrow table per episode, and stats.

Column names follow what lerobot 0.6 treats as what. Every feature whose name starts with
`observation.` becomes a policy input (`dataset_to_policy_features`), so only the state vector
and the cameras carry that prefix; robot_logger's per-stream copies and quality columns sit beside
them (`streams.<s>`, `valid.<s>`, `age_ns.<s>`, `phase_index`, `timestamp_ns`) and are loaded with
every frame but never fed to a policy unless a config names them.

Stats follow lerobot's `compute_stats`: min, max, mean, std, count and q01/q10/q50/q90/q99 per
feature element; per episode exactly (numpy), over the dataset with robot_logger's mergeable
`RunningStats` (quantiles within 0.2 % of the range, memory independent of the frame count).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np
import pyarrow as pa

from robot_logger.dataset import schema
from robot_logger.dataset.ops.stats import RunningStats

__all__ = ["Column", "TableSpec", "episode_table", "array_stats", "QUANTILES"]

QUANTILES = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}
_ARROW = {"float32": pa.float32(), "int64": pa.int64(), "bool": pa.bool_()}


@dataclass(frozen=True)
class Column:
    """One lerobot feature read from one or more HDF5 members of a demo (concatenated)."""

    feature: str
    sources: tuple[str, ...]     # paths inside /data/<demo>, e.g. ("obs/arm1_pos",)
    dtype: str                   # "float32" | "int64" | "bool"
    width: int                   # 1 = scalar feature of shape (1,)
    names: list[str] | None = None

    def spec(self) -> dict[str, Any]:
        """The lerobot `features` entry."""
        return {"dtype": self.dtype, "shape": [self.width], "names": self.names}

    def arrow_type(self) -> pa.DataType:
        base = _ARROW[self.dtype]
        return base if self.width == 1 else pa.list_(base, self.width)


@dataclass
class TableSpec:
    """The non-video columns of the export, in order, and their running dataset stats."""

    columns: list[Column]
    stats: dict[str, RunningStats] = field(default_factory=dict)

    def features(self) -> dict[str, dict[str, Any]]:
        base = {"timestamp": ("float32", 1), "frame_index": ("int64", 1),
                "episode_index": ("int64", 1), "index": ("int64", 1), "task_index": ("int64", 1)}
        out = {c.feature: c.spec() for c in self.columns}
        out.update({k: {"dtype": d, "shape": [w], "names": None} for k, (d, w) in base.items()})
        return out

    def schema(self) -> pa.Schema:
        fields = [pa.field(c.feature, c.arrow_type()) for c in self.columns]
        fields += [pa.field("timestamp", pa.float32())]
        fields += [pa.field(k, pa.int64()) for k in ("frame_index", "episode_index", "index",
                                                   "task_index")]
        return pa.schema(fields)


def _read(demo: h5py.Group, column: Column, length: int) -> np.ndarray:
    parts = []
    for source in column.sources:
        values = np.asarray(demo[source][()])
        parts.append(values.reshape(length, -1))
    out = np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
    return out.astype(column.dtype, copy=False)


def _arrow_array(values: np.ndarray, column: Column) -> pa.Array:
    if column.width == 1:
        return pa.array(values.reshape(-1), type=_ARROW[column.dtype])
    flat = pa.array(values.reshape(-1), type=_ARROW[column.dtype])
    return pa.FixedSizeListArray.from_arrays(flat, column.width)


def array_stats(values: np.ndarray) -> dict[str, list[Any]]:
    """lerobot stats of an (N, D) array, exact (numpy), as JSON-ready lists of length D."""
    x = values.astype(np.float64)
    out: dict[str, list[Any]] = {
        "min": x.min(axis=0).tolist(), "max": x.max(axis=0).tolist(),
        "mean": x.mean(axis=0).tolist(), "std": x.std(axis=0).tolist(), "count": [len(x)]}
    for name, q in QUANTILES.items():
        out[name] = np.quantile(x, q, axis=0).tolist()
    return out


def running_to_lerobot(stats: RunningStats) -> dict[str, list[Any]]:
    """A RunningStats accumulator as lerobot stats (all five quantiles)."""
    base = stats.to_dict()
    out: dict[str, list[Any]] = {k: np.asarray(base[k], np.float64).tolist()
                                 for k in ("min", "max", "mean", "std")}
    out["count"] = [stats.count]
    for name, q in QUANTILES.items():
        out[name] = stats.quantile(q).tolist()
    return out


def episode_table(spec: TableSpec, demo: h5py.Group, *, episode_index: int, task_index: int,
                  first_index: int, fps: int) -> tuple[pa.Table, dict[str, dict[str, list[Any]]]]:
    """One episode as an Arrow table (lerobot's column layout) and its per-feature stats.

    `timestamp` is `frame_index / fps` (lerobot's loader seeks videos at exactly that time);
    the header-stamp clock of the HDF5 stays in `timestamp_ns`. Also updates `spec.stats`.
    """
    length = int(demo.attrs.get("num_samples", demo[schema.ACTIONS].shape[0]))
    arrays: list[pa.Array] = []
    stats: dict[str, dict[str, list[Any]]] = {}
    frame_index = np.arange(length, dtype=np.int64)
    derived: dict[str, np.ndarray] = {
        "timestamp": (frame_index / fps).astype(np.float32),
        "frame_index": frame_index,
        "episode_index": np.full(length, episode_index, np.int64),
        "index": first_index + frame_index,
        "task_index": np.full(length, task_index, np.int64),
    }
    for column in spec.columns:
        values = _read(demo, column, length)
        arrays.append(_arrow_array(values, column))
        stats[column.feature] = array_stats(values)
        spec.stats.setdefault(column.feature, RunningStats()).update(values)
    for key, derived_values in derived.items():
        arrays.append(pa.array(derived_values))
        stats[key] = array_stats(derived_values.reshape(length, 1))
        spec.stats.setdefault(key, RunningStats()).update(derived_values.reshape(length, 1))
    return pa.Table.from_arrays(arrays, schema=spec.schema()), stats

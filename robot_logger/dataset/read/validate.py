"""Check an HDF5 dataset against the layout contract (rules in schema.py), listing every problem.

    report = validate_dataset("cell.h5")
    report.ok, report.problems    # e.g. "data/demo_3/timestamps: not strictly increasing"

HDF5 external links are followed (sharded datasets), so a top-level file of links validates like
one file; a link whose target is missing is a problem.

Format 1.1 (1.0 files, which lack these members, stay valid): next_obs/<s> must be obs/<s> of a
low-dim stream shifted by one frame (the last frame held); depth obs are uint16 mm or float32 m
(T, H, W) chunked one frame at a time; every /mask/<name> lists existing episodes once;
/meta/cameras/<s> belongs to an image or depth stream of that size, with K, R (3, 3), P (3, 4)
and D; /meta/frames quaternions are unit (1e-6); /meta/extrinsics/<s> are rigid transforms
(rotation orthonormal to 1e-6, last row 0 0 0 1) of a camera, depth or LiDAR stream;
/meta/clocks/<s> name an obs stream, a known method and time source (method none: offset and
drift 0; a stream on log time is not corrected), one per obs stream in files whose records carry
a time source; /meta/action_names has one name per action column.

In every format, /meta/stats/<key>/<stat> must be finite: a NaN or inf there poisons every
batch normalised by it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from robot_logger.dataset import schema
from robot_logger.dataset.read.h5 import register_plugin_filters
from robot_logger.errors import DatasetError

__all__ = ["ValidationReport", "validate_dataset", "RIGID_TOL"]

RIGID_TOL = 1e-6   # unit quaternions, orthonormal rotations: float64 composition stays ~1e-12
SENSOR_KINDS = ("image", "depth", "lidar")   # streams that have a frame and extrinsics


@dataclass
class ValidationReport:
    """The result of `validate_dataset`."""

    path: str
    episodes: int = 0
    frames: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_dataset(path: str | Path) -> ValidationReport:
    """Every rule of the layout contract; DatasetError only when the path does not exist."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file")
    report = ValidationReport(str(path))
    register_plugin_filters()
    try:
        with h5py.File(path, "r") as h5:
            _Checker(h5, report).run()
    except OSError as err:
        report.problems.append(f"{path}: not a readable HDF5 file ({str(err).splitlines()[0]})")
    return report


class _Checker:
    def __init__(self, h5: h5py.File, report: ValidationReport) -> None:
        self.h5, self.report = h5, report
        self.shapes: dict[str, tuple[str, tuple[int, ...]]] = {}   # obs key -> kind, trailing
        self.action_dim: int | None = None

    def problem(self, where: str, what: str) -> None:
        self.report.problems.append(f"{where}: {what}")

    def get(self, where: str) -> Any:
        """The object at `where`, or None (with a problem) when missing or a broken link."""
        try:
            return self.h5[where]
        except (KeyError, OSError, ValueError) as err:
            self.problem(where, "missing" if isinstance(err, KeyError) and where.split("/")[-1]
                         not in self._link_names(where) else f"cannot open ({err})")
            return None

    def _link_names(self, where: str) -> list[str]:
        parent = where.rsplit("/", 1)[0] or "/"
        try:
            return list(self.h5[parent].keys())
        except (KeyError, OSError):
            return []

    def run(self) -> None:
        self.attrs("/", schema.ROOT_ATTRS)
        if self.h5.attrs.get(schema.ATTR_FORMAT) != schema.FORMAT:
            self.problem("/", f"attr format is {self.h5.attrs.get(schema.ATTR_FORMAT)!r}, "
                              f"expected {schema.FORMAT!r}")
        version = self.h5.attrs.get(schema.ATTR_FORMAT_VERSION)
        if isinstance(version, bytes):
            version = version.decode()
        if version not in schema.READABLE_VERSIONS:
            self.problem("/", f"format_version is {version!r}; this robot_logger reads "
                              f"{', '.join(map(repr, schema.READABLE_VERSIONS))}")
        data = self.get(schema.DATA)
        if data is None:
            return
        self.attrs(schema.DATA, schema.DATA_ATTRS)
        demos = schema.sorted_demos(data.keys())
        for name in sorted(set(data.keys()) - set(demos)):
            self.problem(f"{schema.DATA}/{name}", "not an episode name (demo_<i>)")
        if not demos:
            self.problem(schema.DATA, "no episode")
        total = 0
        for name in demos:
            total += self.demo(f"{schema.DATA}/{name}")
        self.report.episodes, self.report.frames = len(demos), total
        if schema.ATTR_TOTAL in data.attrs and int(data.attrs[schema.ATTR_TOTAL]) != total:
            self.problem(schema.DATA, f"attr total is {int(data.attrs[schema.ATTR_TOTAL])}, "
                                      f"the episodes hold {total} frames")
        train = self.masks(set(demos))
        self.meta(bool(train))

    def attrs(self, where: str, names: tuple[str, ...]) -> None:
        obj = self.get(where)
        for name in names:
            if obj is not None and name not in obj.attrs:
                self.problem(where, f"attr {name} missing")

    def dataset(self, where: str, dtype: str, rank: int, length: int | None,
                expected: str = "the episode has T") -> h5py.Dataset | None:
        dset = self.get(where)
        if dset is None:
            return None
        if not isinstance(dset, h5py.Dataset):
            self.problem(where, "is a group, expected an array")
            return None
        if dset.dtype != np.dtype(dtype) or dset.ndim != rank:
            self.problem(where, f"is {dset.dtype} with {dset.ndim} dims, expected {dtype} "
                                f"with {rank}")
            return None
        if length is not None and dset.shape[0] != length:
            self.problem(where, f"has {dset.shape[0]} rows, {expected}={length}")
        return dset

    def demo(self, where: str) -> int:
        self.attrs(where, schema.DEMO_ATTRS)
        group = self.get(where)
        if group is None:
            return 0
        stamps = self.dataset(f"{where}/{schema.TIMESTAMPS}", "int64", 1, None)
        length = int(stamps.shape[0]) if stamps is not None else None
        if stamps is not None:
            values = stamps[()]
            if length == 0:
                self.problem(f"{where}/{schema.TIMESTAMPS}", "empty episode")
            elif np.any(np.diff(values) <= 0):
                self.problem(f"{where}/{schema.TIMESTAMPS}", "not strictly increasing")
            if "num_samples" in group.attrs and int(group.attrs["num_samples"]) != length:
                self.problem(where, f"attr num_samples is {int(group.attrs['num_samples'])}, "
                                    f"timestamps has {length}")
        for key, (dtype, rank) in schema.DEMO_MEMBERS.items():
            if key != schema.TIMESTAMPS:
                self.dataset(f"{where}/{key}", dtype, rank, length)
        self.actions_and_labels(where, length)
        streams = self.obs(where, length)
        self.next_obs(where)
        for member, (dtype, rank) in schema.STREAM_MEMBERS.items():
            sub = group.get(member)
            found = set(sub.keys()) if isinstance(sub, h5py.Group) else set()
            for name in sorted(found - streams):
                if f"{member}/{name}" != schema.ACTIONS_VALID:
                    self.problem(f"{where}/{member}/{name}", f"no obs/{name} for it")
            for name in sorted(streams):
                self.dataset(f"{where}/{member}/{name}", dtype, rank, length)
        return length or 0

    def actions_and_labels(self, where: str, length: int | None) -> None:
        actions = self.h5.get(f"{where}/{schema.ACTIONS}")
        if isinstance(actions, h5py.Dataset) and actions.ndim == 2:
            if self.action_dim is None:
                self.action_dim = actions.shape[1]
            elif actions.shape[1] != self.action_dim:
                self.problem(f"{where}/{schema.ACTIONS}", f"has {actions.shape[1]} columns, other "
                                                          f"episodes {self.action_dim}")
        dones = self.h5.get(f"{where}/{schema.DONES}")
        if isinstance(dones, h5py.Dataset) and dones.ndim == 1 and dones.shape[0] and \
                dones[-1] != 1:
            self.problem(f"{where}/{schema.DONES}", "last frame is not done (dones[-1] != 1)")
        phase = self.h5.get(f"{where}/{schema.PHASE}")
        if isinstance(phase, h5py.Dataset) and phase.dtype == np.int16:
            try:
                names = json.loads(phase.attrs[schema.PHASE_NAMES_ATTR])
            except (KeyError, TypeError, ValueError):
                self.problem(f"{where}/{schema.PHASE}", "attr names (JSON list) missing or bad")
                return
            values = phase[()]
            if len(values) and (values.min() < -1 or values.max() >= len(names)):
                self.problem(f"{where}/{schema.PHASE}", f"index outside -1..{len(names) - 1}")

    def next_obs(self, where: str) -> None:
        """next_obs/<s>: a low-dim obs/<s> shifted by one frame, the last frame held."""
        group = self.h5.get(f"{where}/{schema.NEXT_OBS}")
        if group is None:
            return
        if not isinstance(group, h5py.Group):
            self.problem(f"{where}/{schema.NEXT_OBS}", "is an array, expected a group")
            return
        for key in sorted(group.keys()):
            here = f"{where}/{schema.NEXT_OBS}/{key}"
            obs = self.h5.get(f"{where}/{schema.OBS}/{key}")
            nxt = group[key]
            if not isinstance(obs, h5py.Dataset) or \
                    self.shapes.get(key, ("", ()))[0] not in schema.LOWDIM_KINDS:
                self.problem(here, f"no low-dim obs/{key} for it")
                continue
            if not isinstance(nxt, h5py.Dataset) or nxt.dtype != obs.dtype or \
                    nxt.shape != obs.shape:
                shape = f"{nxt.dtype} {nxt.shape}" if isinstance(nxt, h5py.Dataset) \
                    else "a group"
                self.problem(here, f"is {shape}, obs/{key} is {obs.dtype} {obs.shape}")
                continue
            values, shifted = obs[()], nxt[()]
            if len(values) and not (np.array_equal(shifted[:-1], values[1:], equal_nan=True)
                                    and np.array_equal(shifted[-1], values[-1], equal_nan=True)):
                self.problem(here, f"is not obs/{key} shifted by one frame (last frame held)")

    def obs(self, where: str, length: int | None) -> set[str]:
        group = self.get(f"{where}/{schema.OBS}")
        if not isinstance(group, h5py.Group):
            return set()
        keys = set(group.keys())
        masks = {k for k in keys if k.endswith(schema.POINT_MASK_SUFFIX)
                 and k[: -len(schema.POINT_MASK_SUFFIX)] in keys}
        streams = keys - masks
        for key in sorted(streams):
            self.obs_stream(f"{where}/{schema.OBS}/{key}", key, length, masks)
        for key in sorted(set(self.shapes) - streams):
            self.problem(f"{where}/{schema.OBS}", f"{key} missing (other episodes have it)")
        return streams

    def obs_stream(self, where: str, key: str, length: int | None, masks: set[str]) -> None:
        dset = self.get(where)
        if not isinstance(dset, h5py.Dataset):
            self.problem(where, "expected an array")
            return
        kind = next((k for k, (dtype, rank, _) in schema.OBS_KINDS.items()
                     if dset.dtype == np.dtype(dtype) and dset.ndim == rank), None)
        if str(dset.dtype) in schema.DEPTH_DTYPES and \
                schema.depth_shaped(str(dset.dtype), dset.shape):
            kind = schema.StreamKind.DEPTH
        if kind is None:
            self.problem(where, f"{dset.dtype} with {dset.ndim} dims is no obs kind "
                                f"({', '.join(schema.OBS_KINDS)})")
            return
        if length is not None and dset.shape[0] != length:
            self.problem(where, f"has {dset.shape[0]} rows, the episode has T={length}")
        trailing = tuple(dset.shape[1:])
        fixed = schema.OBS_KINDS[kind][2] if kind in schema.OBS_KINDS else None
        if fixed is not None and trailing[-1] != fixed:
            self.problem(where, f"last dimension is {trailing[-1]}, expected {fixed}")
        if kind in ("image", "depth") and dset.chunks != (1,) + trailing:
            self.problem(where, f"chunks are {dset.chunks}, expected {(1,) + trailing}")
        mask_key = key + schema.POINT_MASK_SUFFIX
        if kind == "lidar":
            if mask_key not in masks:
                self.problem(where, f"point mask obs/{mask_key} missing")
            else:
                self.dataset(where + schema.POINT_MASK_SUFFIX, *schema.POINT_MASK, length)
        seen = self.shapes.setdefault(key, (str(kind), trailing))
        if seen != (kind, trailing):
            self.problem(where, f"is {kind} {trailing}, other episodes have {seen[0]} {seen[1]}")

    def masks(self, demos: set[str]) -> list[str]:
        """train and valid (required, disjoint) and any other filter key (`masks:`): lists of
        existing episodes, each once."""
        found: dict[str, list[str]] = {}
        group = self.h5.get(schema.MASK)
        extra = sorted(set(group.keys()) - set(schema.SPLITS)) \
            if isinstance(group, h5py.Group) else []
        for split in (*schema.SPLITS, *extra):
            dset = self.get(f"{schema.MASK}/{split}")
            if not isinstance(dset, h5py.Dataset) or dset.ndim != 1:
                if dset is not None:
                    self.problem(f"{schema.MASK}/{split}", "expected a list of episode names")
                continue
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in dset[()]]
            for name in sorted(set(names) - demos):
                self.problem(f"{schema.MASK}/{split}", f"names {name}, which is no episode")
            if len(set(names)) != len(names):
                self.problem(f"{schema.MASK}/{split}", "lists an episode twice")
            found[split] = names
        both = set(found.get("train", [])) & set(found.get("valid", []))
        if both:
            self.problem(schema.MASK, f"{len(both)} episode(s) in both train and valid")
        return found.get("train", [])

    def meta(self, has_train: bool) -> None:
        lowdim = {k: trailing for k, (kind, trailing) in self.shapes.items()
                  if kind in schema.LOWDIM_KINDS}
        keys = dict(lowdim)
        if self.action_dim is not None:
            keys[schema.ACTIONS] = (self.action_dim,)
        for key, trailing in sorted(keys.items()) if has_train else []:
            self.stats(key, trailing[0])
        for key, trailing in sorted(lowdim.items()):
            names = self.get(f"{schema.JOINT_NAMES}/{key}")
            if isinstance(names, h5py.Dataset) and names.shape != trailing:
                self.problem(f"{schema.JOINT_NAMES}/{key}", f"has {names.shape[0]} names for "
                                                            f"{trailing[0]} joints")
        action_names = self.h5.get(schema.ACTION_NAMES)
        if isinstance(action_names, h5py.Dataset) and self.action_dim is not None and \
                action_names.shape != (self.action_dim,):
            self.problem(schema.ACTION_NAMES, f"has shape {action_names.shape}, the actions have "
                                              f"{self.action_dim} columns")
        self.cameras()
        self.frames()
        self.extrinsics()
        self.clocks()

    def stats(self, key: str, features: int) -> None:
        """/meta/stats/<key>/<stat>: float32 (F,), finite; one problem names every non-finite
        stat of the key and the features where they are."""
        stats, bad = [], np.zeros(features, bool)
        for stat in schema.STAT_NAMES:
            dset = self.dataset(f"{schema.STATS}/{key}/{stat}", "float32", 1, features,
                                "the features are F")
            if dset is not None and dset.shape == (features,):
                finite = np.isfinite(dset[()])
                if not finite.all():
                    stats.append(stat)
                    bad |= ~finite
        if stats:
            verb = "holds" if len(stats) == 1 else "hold"
            self.problem(f"{schema.STATS}/{key}", f"{', '.join(stats)} {verb} NaN or inf at "
                         f"feature(s) {np.flatnonzero(bad).tolist()}: normalising by them makes "
                         "those features NaN in training")

    def _records(self, where: str) -> list[tuple[str, Any]]:
        group = self.h5.get(where)
        return sorted(group.items()) if isinstance(group, h5py.Group) else []

    def matrix(self, where: str, shape: tuple[int, ...]) -> np.ndarray | None:
        dset = self.get(where)
        if not isinstance(dset, h5py.Dataset) or dset.shape != shape or \
                dset.dtype.kind != "f":
            if dset is not None:
                got = f"{dset.dtype} {dset.shape}" if isinstance(dset, h5py.Dataset) \
                    else "a group"
                self.problem(where, f"is {got}, expected floats of shape {shape}")
            return None
        values: np.ndarray = dset[()].astype(np.float64)
        if not np.isfinite(values).all():
            self.problem(where, "holds NaN or inf")
        return values

    def cameras(self) -> None:
        """/meta/cameras/<s>: an image or depth stream's calibration, at its stored size."""
        for stream, group in self._records(schema.CAMERAS):
            where = f"{schema.CAMERAS}/{stream}"
            kind, trailing = self.shapes.get(stream, ("", ()))
            if kind not in ("image", "depth"):
                self.problem(where, f"no image or depth obs/{stream} for it")
            self.attrs(where, schema.CAMERA_ATTRS)
            for key, shape in (("K", (3, 3)), ("R", (3, 3)), ("P", (3, 4))):
                self.matrix(f"{where}/{key}", shape)
            distortion = self.get(f"{where}/D")
            if isinstance(distortion, h5py.Dataset) and distortion.ndim != 1:
                self.problem(f"{where}/D", f"has {distortion.ndim} dims, expected 1")
            size = tuple(int(group.attrs[k]) for k in ("height", "width") if k in group.attrs)
            if kind in ("image", "depth") and len(size) == 2 and size != trailing[:2]:
                self.problem(where, f"is {size[1]}x{size[0]} px, obs/{stream} is "
                                    f"{trailing[1]}x{trailing[0]}")

    def frames(self) -> None:
        """/meta/frames: parent, child names and unit quaternions, one row per transform."""
        if schema.FRAMES not in self.h5:
            return
        where = schema.FRAMES
        parent, child = self.get(f"{where}/parent"), self.get(f"{where}/child")
        if parent is None or child is None:
            return
        count = parent.shape[0] if isinstance(parent, h5py.Dataset) else 0
        if not isinstance(child, h5py.Dataset) or child.shape != (count,):
            self.problem(f"{where}/child", f"expected {count} names, as parent has")
        self.matrix(f"{where}/xyz", (count, 3))
        quaternions = self.matrix(f"{where}/xyzw", (count, 4))
        if quaternions is not None and count and \
                np.abs(np.linalg.norm(quaternions, axis=1) - 1).max() > RIGID_TOL:
            self.problem(f"{where}/xyzw", f"a quaternion is not unit (tolerance {RIGID_TOL:g})")

    def extrinsics(self) -> None:
        """/meta/extrinsics/<s>: a rigid (4, 4) transform of a camera, depth or LiDAR stream."""
        for stream, _ in self._records(schema.EXTRINSICS):
            where = f"{schema.EXTRINSICS}/{stream}"
            if self.shapes.get(stream, ("", ()))[0] not in SENSOR_KINDS:
                self.problem(where, f"no camera, depth or LiDAR obs/{stream} for it")
            matrix = self.matrix(where, (4, 4))
            if matrix is None:
                continue
            rotation = matrix[:3, :3]
            if not np.array_equal(matrix[3], [0.0, 0.0, 0.0, 1.0]) or \
                    np.abs(rotation @ rotation.T - np.eye(3)).max() > RIGID_TOL or \
                    np.linalg.det(rotation) < 0:
                self.problem(where, "is not a rigid transform (rotation, translation, 0 0 0 1)")

    def clocks(self) -> None:
        """/meta/clocks/<s>: an obs stream's clock treatment, with a known method and time
        source; method none corrects nothing (offset and drift 0), and a stream on log time has
        no correction. Records that carry `time_source` come from builds that write one for
        every obs stream, so then every obs stream needs one."""
        methods = {str(m) for m in schema.ClockMethod}
        sources = {str(t) for t in schema.TimeSource}
        records = self._records(schema.CLOCKS)
        for stream, group in records:
            where = f"{schema.CLOCKS}/{stream}"
            if stream not in self.shapes:
                self.problem(where, f"no obs/{stream} for it")
            self.attrs(where, schema.CLOCK_ATTRS)
            method = _text(group.attrs.get("method"))
            if method is not None and method not in methods:
                self.problem(where, f"method is {method!r}, expected one of "
                                    f"{', '.join(sorted(methods))}")
            source = _text(group.attrs.get(schema.CLOCK_TIME_SOURCE))
            if source is not None and source not in sources:
                self.problem(where, f"time_source is {source!r}, expected one of "
                                    f"{', '.join(sorted(sources))}")
            if source == schema.TimeSource.LOG and method in (schema.ClockMethod.FIXED,
                                                              schema.ClockMethod.AUTO):
                self.problem(where, f"method {method} corrects header stamps, but the stream "
                                    "is on log time")
            if method == schema.ClockMethod.NONE and (group.attrs.get("offset_ns", 0) != 0
                                                      or group.attrs.get("drift_ppm", 0) != 0):
                self.problem(where, "method none with a non-zero offset_ns or drift_ppm")
        if any(schema.CLOCK_TIME_SOURCE in group.attrs for _, group in records):
            for stream in sorted(set(self.shapes) - {name for name, _ in records}):
                self.problem(schema.CLOCKS, f"no record for obs/{stream} (every obs stream "
                                            "has one when the records carry time_source)")


def _text(value: Any) -> Any:
    """An HDF5 string attr as str (h5py gives bytes for fixed-length strings)."""
    return value.decode() if isinstance(value, bytes) else value

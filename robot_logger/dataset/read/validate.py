"""Check an HDF5 dataset against the layout contract (rules in schema.py), listing every problem.

    report = validate_dataset("cell.h5")
    report.ok, report.problems    # e.g. "data/demo_3/timestamps: not strictly increasing"

HDF5 external links are followed (sharded datasets), so a top-level file of links validates like
one file; a link whose target is missing is a problem.
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

__all__ = ["ValidationReport", "validate_dataset"]


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
        lidar_width = schema.OBS_KINDS[schema.StreamKind.LIDAR][2]
        if dset.ndim == 3 and str(dset.dtype) in schema.DEPTH_DTYPES and \
                (dset.dtype == np.uint16 or dset.shape[-1] != lidar_width):
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
        seen = self.shapes.setdefault(key, (kind, trailing))
        if seen != (kind, trailing):
            self.problem(where, f"is {kind} {trailing}, other episodes have {seen[0]} {seen[1]}")

    def masks(self, demos: set[str]) -> list[str]:
        found: dict[str, list[str]] = {}
        for split in schema.SPLITS:
            dset = self.get(f"{schema.MASK}/{split}")
            if not isinstance(dset, h5py.Dataset):
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
            for stat in schema.STAT_NAMES:
                self.dataset(f"{schema.STATS}/{key}/{stat}", "float32", 1, trailing[0],
                             "the features are F")
        for key, trailing in sorted(lowdim.items()):
            names = self.get(f"{schema.JOINT_NAMES}/{key}")
            if isinstance(names, h5py.Dataset) and names.shape != trailing:
                self.problem(f"{schema.JOINT_NAMES}/{key}", f"has {names.shape[0]} names for "
                                                            f"{trailing[0]} joints")

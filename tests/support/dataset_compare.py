"""Compare two datasets array by array, following external links (sharded or single-file alike)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from robot_logger.dataset import schema
from robot_logger.dataset.build.shards import MANIFEST, PROVENANCE_ATTRS


def members(group: h5py.Group) -> dict[str, h5py.Dataset]:
    """Every dataset under `group` by relative name (within one file: a demo or /meta)."""
    found: dict[str, h5py.Dataset] = {}

    def keep(name: str, obj: h5py.HLObject) -> None:   # returning a value would stop the visit
        if isinstance(obj, h5py.Dataset):
            found[name] = obj

    group.visititems(keep)
    return found


def assert_same_dataset(a: Path, b: Path, skip_attrs: tuple[str, ...] = ()) -> int:
    """Same episodes, arrays (values, dtypes, chunks), attrs, masks, stats and joint names; returns
    the number of arrays compared. Provenance keys, `skip_attrs` and the shard manifest are left
    out."""
    compared = 0
    skip = (*PROVENANCE_ATTRS, *skip_attrs)
    with h5py.File(a, "r") as ha, h5py.File(b, "r") as hb:
        assert _attrs(ha, skip) == _attrs(hb, skip)
        demos = schema.sorted_demos(ha[schema.DATA].keys())
        assert demos == schema.sorted_demos(hb[schema.DATA].keys()) and demos
        assert _attrs(ha[schema.DATA], skip) == _attrs(hb[schema.DATA], skip)
        for group in [f"{schema.DATA}/{d}" for d in demos] + [schema.MASK, "meta"]:
            assert _attrs(ha[group], skip) == _attrs(hb[group], skip), group
            left = {k: v for k, v in members(ha[group]).items() if not k.startswith("shard/")}
            right = {k: v for k, v in members(hb[group]).items() if not k.startswith("shard/")}
            assert sorted(left) == sorted(right), group
            for name, dset in left.items():
                other = right[name]
                assert (dset.dtype, dset.shape, dset.chunks) == (other.dtype, other.shape,
                                                                 other.chunks), (group, name)
                assert np.array_equal(dset[()], other[()]), (group, name)
                assert _attrs(dset, skip) == _attrs(other, skip), (group, name)
                compared += 1
    return compared


def _attrs(obj: h5py.HLObject, skip: tuple[str, ...]) -> dict[str, object]:
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in obj.attrs.items()
            if k not in skip}


def has_manifest(path: Path) -> bool:
    with h5py.File(path, "r") as h5:
        return MANIFEST in h5

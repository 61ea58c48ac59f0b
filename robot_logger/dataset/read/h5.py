"""Read-side helpers shared by the loader, `stats` and `preview`: open a dataset, list its
episodes, tell its obs streams apart and name its phase labels."""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np

from robot_logger.dataset import schema
from robot_logger.errors import DatasetError

__all__ = ["open_dataset", "register_plugin_filters", "episode_names", "obs_kinds", "phase_names",
           "depth_metres", "IMAGE", "LIDAR", "LOWDIM", "DEPTH"]

IMAGE, LIDAR, LOWDIM, DEPTH = "image", "lidar", "lowdim", "depth"
MM_PER_M = 1000.0


def open_dataset(path: str | os.PathLike[str], **cache: int) -> h5py.File:
    """Open a dataset file read-only; DatasetError naming the file when it is missing or not HDF5.

    `cache` takes h5py's chunk-cache keywords (rdcc_nbytes, rdcc_nslots); files reached through
    external links inherit them.
    """
    if not Path(path).is_file():
        raise DatasetError(f"cannot open dataset {path}: no such file")
    register_plugin_filters()
    try:
        return h5py.File(path, "r", **cache)
    except (OSError, ValueError) as err:
        reason = "not an HDF5 file" if "signature" in str(err) else str(err)
        raise DatasetError(f"cannot open dataset {path}: {reason}") from err


def register_plugin_filters() -> None:
    """Make the `fast` and `small` image profiles (bitshuffle, Blosc2: hdf5plugin) readable;
    importing hdf5plugin registers its filters with HDF5 (~0.07 s, once per process)."""
    try:
        import hdf5plugin  # noqa: F401
    except ImportError:
        pass   # files using only gzip/lzf/none (the default) read without it


def episode_names(handle: h5py.File, path: str | os.PathLike[str]) -> list[str]:
    """Episode names in numeric order; DatasetError when the file has no /data group."""
    if schema.DATA not in handle:
        raise DatasetError(f"{path}: no /{schema.DATA} group; not a robot_logger dataset")
    return schema.sorted_demos(handle[schema.DATA].keys())


def obs_kinds(demo: h5py.Group) -> dict[str, str]:
    """Obs stream name -> image (uint8 (T,H,W,C)), lidar ((T,P,4) + mask), depth (uint16 mm or
    float32 m (T,H,W)) or lowdim ((T,D)).

    LiDAR point masks (`<lidar>_mask`) are companions, not streams, and are left out. A float32
    rank-3 array is LiDAR when its last dimension is 4 (x, y, z, intensity), else metric depth
    (schema.OBS_KINDS).
    """
    if schema.OBS not in demo:
        return {}
    obs = demo[schema.OBS]
    kinds = {}
    for name in sorted(obs.keys()):
        ds = obs[name]
        base = name[: -len(schema.POINT_MASK_SUFFIX)]
        if name.endswith(schema.POINT_MASK_SUFFIX) and base in obs and obs[base].ndim == 3:
            continue
        if ds.dtype == np.uint8 and ds.ndim == 4:
            kinds[name] = IMAGE
        elif schema.depth_shaped(str(ds.dtype), ds.shape):
            kinds[name] = DEPTH
        elif ds.ndim == 3:
            kinds[name] = LIDAR
        else:
            kinds[name] = LOWDIM
    return kinds


def depth_metres(frames: np.ndarray) -> np.ndarray:
    """Depth frames in metres (float32), NaN where there is no return: uint16 holds millimetres
    with 0 meaning none (REP 118), float32 holds metres with 0, NaN or inf meaning none."""
    metres: np.ndarray
    if frames.dtype == np.uint16:
        metres = frames.astype(np.float32) / np.float32(MM_PER_M)
    else:
        metres = frames.astype(np.float32, copy=True)
    metres[~np.isfinite(metres) | (metres <= 0)] = np.nan
    return metres


def phase_names(demo: h5py.Group) -> list[str]:
    """The names behind `labels/phase` indices (JSON list attr), [] without labels."""
    if schema.PHASE not in demo:
        return []
    raw = demo[schema.PHASE].attrs.get(schema.PHASE_NAMES_ATTR, "[]")
    return list(json.loads(raw.decode() if isinstance(raw, bytes) else str(raw)))

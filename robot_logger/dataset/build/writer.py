"""HDF5 writer for the dataset layout (schema.py): a temp file renamed at the end, no half file.

    with DatasetWriter("out.h5", overwrite=False) as out:
        demo = out.episode("demo_0", attrs={...})
        demo.array("timestamps", ref_ns)
        frames = demo.frames("obs/cam1", count=T, frame_shape=(48, 64, 3), dtype=np.uint8,
                             compression="gzip", level=1)
        frames.write(0, image)
        out.finish(root_attrs=..., masks=..., stats=..., joint_names=..., data_attrs=...)

The file is written as `out.h5.partial` and renamed when the block ends without error; any failure
(a full disk included) removes the partial file and raises DatasetError. An existing output is
only replaced with `overwrite=True`, and only once the new file is complete.
"""

from __future__ import annotations

import json
import os
import zlib
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import h5py
import numpy as np
from isal import isal_zlib

from robot_logger.dataset import schema
from robot_logger.errors import DatasetError, RobotLoggerError, reason

__all__ = ["DatasetWriter", "EpisodeWriter", "FrameSink", "partial_path", "h5_filter", "json_attr",
           "deflate"]

PARTIAL_SUFFIX = ".partial"
# Real I/O failures (h5py raises OSError for failed reads/writes, ENOSPC included); h5py's
# ValueError/KeyError/RuntimeError mean a wrong call, a bug that must show as itself.
H5_FAILURES = (OSError,)
COMPRESS_FAILURES = (zlib.error, cast("type[Exception]", isal_zlib.error))  # stub: an instance
METADATA_CACHE_BYTES = 4 * 2**20
COMPRESSION_THREADS = 2
MAX_PENDING_FRAMES = 8


def partial_path(path: Path) -> Path:
    """Where a dataset is written before the final rename."""
    return path.with_name(path.name + PARTIAL_SUFFIX)


def h5_filter(compression: str, level: int) -> dict[str, Any]:
    """h5py create_dataset keywords for a compression name from the config.

    The profiles, measured by tools/bench_codecs.py on 640x480 frames (simulator frames / the
    same with sensor noise sigma 2; write speed per core, random reads through SequenceDataset):
      robomimic (= gzip, level 1 by default): 1.63 / 1.51x smaller, 200-220 MB/s (ISA-L), ~0.05x
          the uncompressed read rate; plain h5py reads it, so robomimic does too;
      fast: bitshuffle + LZ4, 1.51 / 1.44x, 450-610 MB/s, 0.24-0.41x the read rate;
      small: Blosc2 zstd 1 with byte shuffle, 1.67 / 1.60x, 210-220 MB/s, ~0.05-0.08x;
    fast and small need hdf5plugin to read (read.h5.open_dataset imports it).
    """
    if compression in ("gzip", "robomimic"):
        return {"compression": "gzip", "compression_opts": level}
    if compression == "lzf":
        return {"compression": "lzf"}
    if compression in ("blosc", "fast", "small"):
        try:
            import hdf5plugin
        except ImportError as err:
            raise DatasetError(f"compression {compression} needs the hdf5plugin package "
                               "(pip install hdf5plugin), or use gzip/lzf/none") from err
        if compression == "fast":
            return dict(hdf5plugin.Bitshuffle(cname="lz4"))
        if compression == "small":
            return dict(hdf5plugin.Blosc2(cname="zstd", clevel=max(level, 1),
                                          filters=hdf5plugin.Blosc2.SHUFFLE))
        return dict(hdf5plugin.Blosc(cname="lz4", clevel=max(level, 1)))
    return {}


def deflate(data: memoryview | bytes, level: int) -> bytes:
    """A zlib stream as HDF5's gzip filter stores it; levels 1-3 with ISA-L (about 3x faster
    than zlib at a similar ratio), others with zlib. Any inflate reads both."""
    if 1 <= level <= 3:
        return isal_zlib.compress(data, level)
    return zlib.compress(data, level)


@lru_cache(maxsize=1)
def _deflate_pool() -> ThreadPoolExecutor:
    """Threads for `deflate` (ISA-L and zlib release the GIL): compression overlaps reading."""
    return ThreadPoolExecutor(min(COMPRESSION_THREADS, os.cpu_count() or 1),
                              thread_name_prefix="deflate")


class FrameSink:
    """One (T, *frame_shape) dataset chunked a frame at a time, written frame by frame.

    gzip and uncompressed frames go straight to their chunk (no HDF5 pipeline); gzip frames are
    compressed by a small thread pool and written in order as they are done, at most
    MAX_PENDING_FRAMES behind. `flush` writes the rest (the DatasetWriter flushes every sink
    before it closes). Other filters use a normal h5py write.
    """

    def __init__(self, dataset: h5py.Dataset, compression: str, level: int,
                 release: Callable[[FrameSink], None] = lambda _sink: None) -> None:
        self.dataset = dataset
        self._shape = dataset.shape[1:]
        self._direct = compression in ("gzip", "robomimic", "none")
        self._level = level if compression in ("gzip", "robomimic") else None
        self._zeros = (0,) * (dataset.ndim - 1)
        self._pending: deque[tuple[int, Future[bytes]]] = deque()
        self._release = release

    def write(self, index: int, frame: np.ndarray) -> None:
        """Store frame `index` (shape and dtype must match the dataset)."""
        frame = np.ascontiguousarray(frame, self.dataset.dtype)
        if frame.shape != self._shape:
            raise DatasetError(f"{self.dataset.name}: frame {index} has shape {frame.shape}, "
                               f"the stream's frames are {self._shape} "
                               "(set resize: [H, W] in the config to make them equal)")
        if not self._direct:
            self.dataset[index] = frame
            return
        data = frame.data.cast("B")
        if self._level is None:
            self.dataset.id.write_direct_chunk((index,) + self._zeros, data)
            return
        self._pending.append((index, _deflate_pool().submit(deflate, data, self._level)))
        self._drain(MAX_PENDING_FRAMES)

    def flush(self) -> None:
        """Write every frame still being compressed."""
        self._drain(0)
        self._release(self)

    def _drain(self, keep: int) -> None:
        while self._pending and (len(self._pending) > keep or self._pending[0][1].done()):
            index, future = self._pending.popleft()
            try:
                chunk = future.result()
            except COMPRESS_FAILURES as err:
                raise DatasetError(f"{self.dataset.name}: cannot compress frame {index} "
                                   f"({err})") from err
            self.dataset.id.write_direct_chunk((index,) + self._zeros, chunk)


class EpisodeWriter:
    """The group of one episode (`/data/demo_<i>`)."""

    def __init__(self, group: h5py.Group, sinks: set[FrameSink] | None = None) -> None:
        self.group = group
        self._sinks = set() if sinks is None else sinks   # the file's sinks not yet flushed

    def array(self, key: str, values: np.ndarray, dtype: Any = None,
              attrs: Mapping[str, Any] | None = None) -> None:
        """A small array (timestamps, low-dim obs, actions, masks...) stored contiguously."""
        dset = self.group.create_dataset(key, data=np.asarray(values, dtype))
        for name, value in (attrs or {}).items():
            dset.attrs[name] = value

    def frames(self, key: str, *, count: int, frame_shape: tuple[int, ...], dtype: Any,
               compression: str, level: int) -> FrameSink:
        """An empty (count, *frame_shape) dataset, chunked a frame at a time, to fill later."""
        dset = self.group.create_dataset(
            key, shape=(count,) + tuple(frame_shape), dtype=dtype,
            chunks=(1,) + tuple(frame_shape) if count else None,
            **(h5_filter(compression, level) if count else {}))
        sink = FrameSink(dset, compression, level, release=self._sinks.discard)
        self._sinks.add(sink)
        return sink


class DatasetWriter:
    """Context manager owning the output file; see the module docstring."""

    def __init__(self, path: str | Path, *, overwrite: bool = False) -> None:
        self.path = Path(path)
        self.partial = partial_path(self.path)
        self.overwrite = overwrite
        self.file: h5py.File | None = None
        self._sinks: set[FrameSink] = set()

    def __enter__(self) -> DatasetWriter:
        if self.path.exists() and not self.overwrite:
            raise DatasetError(f"{self.path} exists; pass --overwrite to replace it")
        if not self.path.parent.is_dir():
            raise DatasetError(f"{self.path}: no such directory {self.path.parent}")
        try:
            self.file = h5py.File(self.partial, "w")
        except OSError as err:
            raise DatasetError(f"{self.partial}: cannot create ({reason(err)})") from err
        _cap_metadata_cache(self.file)
        self.file.create_group(schema.DATA)
        return self

    @property
    def h5(self) -> h5py.File:
        if self.file is None:
            raise DatasetError(f"{self.path}: the writer is not open")
        return self.file

    def episode(self, name: str, attrs: Mapping[str, Any]) -> EpisodeWriter:
        """Create `/data/<name>` with its attrs."""
        group = self.h5[schema.DATA].create_group(name)
        for key, value in attrs.items():
            group.attrs[key] = value
        return EpisodeWriter(group, self._sinks)

    def copy_episode(self, source: h5py.Group, name: str) -> None:
        """Copy a finished episode from another file (a worker's shard), chunks as stored."""
        self.h5.copy(source, self.h5[schema.DATA], name=name)

    def finish(self, *, root_attrs: Mapping[str, Any], data_attrs: Mapping[str, Any],
               masks: Mapping[str, list[str]], stats: Mapping[str, Mapping[str, np.ndarray]],
               joint_names: Mapping[str, list[str]], action_names: list[str] | None = None,
               cameras: Mapping[str, Mapping[str, Any]] | None = None,
               frames: list[Any] | None = None,
               extrinsics: Mapping[str, Mapping[str, Any]] | None = None,
               clocks: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        """Write the dataset-level attrs, masks, stats, column names and /meta records:
        cameras (K, D, R, P datasets + attrs), frames (parent, child, xyz, xyzw), extrinsics
        ((4,4) + attrs frame_id, base), clocks (attrs with time_source; per_bag as JSON)."""
        h5 = self.h5
        fixed = {schema.ATTR_FORMAT: schema.FORMAT,
                 schema.ATTR_FORMAT_VERSION: schema.FORMAT_VERSION}
        for key, value in {**fixed, **root_attrs}.items():
            h5.attrs[key] = value
        demos = schema.sorted_demos(h5[schema.DATA].keys())
        h5[schema.DATA].attrs[schema.ATTR_TOTAL] = int(
            sum(int(h5[schema.DATA][d].attrs["num_samples"]) for d in demos))
        for key, value in data_attrs.items():
            h5[schema.DATA].attrs[key] = value
        mask = h5.create_group(schema.MASK)
        for split, names in masks.items():
            mask.create_dataset(split, data=np.array([n.encode() for n in names], dtype="S"))
        stats_group = h5.require_group(schema.STATS)
        for key, values in stats.items():
            for stat, array in values.items():
                stats_group.create_dataset(f"{key}/{stat}", data=np.asarray(array, np.float32))
        names_group = h5.require_group(schema.JOINT_NAMES)
        for stream, names in joint_names.items():
            names_group.create_dataset(stream, data=_strings(names))
        if action_names is not None:
            h5.create_dataset(schema.ACTION_NAMES, data=_strings(action_names))
        for stream, record in (cameras or {}).items():
            group = h5.require_group(f"{schema.CAMERAS}/{stream}")
            for key in schema.CAMERA_ATTRS:
                group.attrs[key] = record[key]
            for key in ("K", "D", "R", "P"):
                group.create_dataset(key, data=np.asarray(record[key], np.float64))
        if frames:
            group = h5.require_group(schema.FRAMES)
            group.create_dataset("parent", data=_strings([t.parent for t in frames]))
            group.create_dataset("child", data=_strings([t.child for t in frames]))
            group.create_dataset("xyz", data=np.array([t.xyz for t in frames], np.float64))
            group.create_dataset("xyzw", data=np.array([t.xyzw for t in frames], np.float64))
        for stream, record in (extrinsics or {}).items():
            dset = h5.create_dataset(f"{schema.EXTRINSICS}/{stream}",
                                     data=np.asarray(record["matrix"], np.float64))
            dset.attrs["frame_id"], dset.attrs["base"] = record["frame_id"], record["base"]
        for stream, record in (clocks or {}).items():
            group = h5.require_group(f"{schema.CLOCKS}/{stream}")
            for key in (*schema.CLOCK_ATTRS, schema.CLOCK_TIME_SOURCE):
                group.attrs[key] = record[key]
            group.attrs["per_bag"] = json_attr(record.get("per_bag", {}))

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 _tb: TracebackType | None) -> None:
        """Flush, close and rename; on any failure remove the partial file and raise.

        A failure of the block propagates (an I/O failure as DatasetError). A failure here (the
        last frames' flush, the close) raises too: the block must not "succeed" without output.
        """
        own: BaseException | None = None
        for sink in list(self._sinks) if exc is None else []:
            try:
                sink.flush()
            except Exception as err:  # a frame that cannot be written fails all
                own = own or err
        self._sinks.clear()
        try:
            if self.file is not None:
                self.file.close()
        except Exception as err:  # a failed close: the file is unusable
            own = own or _as_io_failure(err)
        self.file = None
        if exc is None and own is None:
            try:
                os.replace(self.partial, self.path)
            except OSError as err:
                self.partial.unlink(missing_ok=True)
                raise DatasetError(f"{self.path}: cannot rename {self.partial.name} into place "
                                   f"({reason(err)})") from err
            return
        self.partial.unlink(missing_ok=True)
        failure = exc if exc is not None else own
        if isinstance(failure, H5_FAILURES):
            raise DatasetError(f"{self.path}: cannot write dataset ({reason(failure)}); "
                               "no partial file was left") from failure
        if exc is None and own is not None:
            raise own          # the block's own exception, if any, propagates unchanged


def _as_io_failure(err: Exception) -> Exception:
    """h5py reports a failed close (metadata flush) with whatever class HDF5's error maps to;
    closing is I/O, so any such failure is one."""
    if isinstance(err, (OSError, RobotLoggerError)):
        return err
    failure = OSError(str(err))
    failure.__cause__ = err
    return failure


def _strings(values: list[str]) -> np.ndarray:
    """A fixed-length bytes array (what robomimic-style readers expect for name lists)."""
    return np.array([v.encode() for v in values], dtype="S")


def _cap_metadata_cache(h5: h5py.File) -> None:
    """Keep HDF5's metadata cache small: by default it grows to 32 MB as a file gains episodes,
    which is most of a long build's memory; the episode being written needs far less."""
    config = h5.id.get_mdc_config()
    config.max_size = METADATA_CACHE_BYTES
    config.initial_size = min(config.initial_size, METADATA_CACHE_BYTES)
    config.min_size = min(config.min_size, METADATA_CACHE_BYTES // 2)
    h5.id.set_mdc_config(config)


def json_attr(value: Any) -> str:
    """Compact JSON for an HDF5 string attribute."""
    return json.dumps(value, sort_keys=True, default=str)

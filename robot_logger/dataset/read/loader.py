"""Training loader: fixed-length windows inside episodes of a robot_logger HDF5 dataset.

    from robot_logger.dataset.read.loader import SequenceDataset
    ds = SequenceDataset("demo.h5", ["cam1", "arm1_pos"], frame_stack=2, action_horizon=16)
    sample = ds[0]   # {"obs/cam1": (2,H,W,3) uint8, "obs/arm1_pos": (2,6), "actions": (16,A), ...}
    loader = torch.utils.data.DataLoader(ds, batch_size=64, shuffle=True, num_workers=4)

A sample is anchored at frame `t` of one episode (robomimic conventions):
- `obs/<key>`: frames `t - frame_stack + 1 … t + seq_length - 1` (frame_stack - 1 past frames);
  `obs/<key>_mask` (LiDAR point masks) and `valid/<key>` come along when the file has them;
- `actions`: steps `t … t + seq_length + action_horizon - 2` (an ACT/diffusion-style chunk of
  `action_horizon` future actions after the last observed step);
- `pad_mask` / `actions_pad_mask`: True where the frame is inside the episode. Frames outside are
  filled by repeating the episode's first/last frame (`pad=True`); with `pad=False` only windows
  that fit entirely inside an episode are sampled.
Obs windows match robomimic's SequenceDataset exactly; its actions also cover the frame_stack
history, ours start at the anchor (robomimic's last seq_length actions = our first seq_length).
`normalize=True` standardizes actions and every obs key with `/meta/stats` (train episodes);
`unnormalize_actions` maps policy outputs back.

The HDF5 file is opened lazily in each process (the pid is remembered; a forked DataLoader worker
opens its own handle) and the object pickles without it (spawn workers). Dataset handles are kept
open per process, so top-level files of external links to shards are traversed once. torch is not
imported: the class is a duck-typed map-style Dataset returning dicts of numpy arrays.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import h5py
import numpy as np

from robot_logger.dataset import schema
from robot_logger.dataset.read.h5 import episode_names, open_dataset
from robot_logger.errors import DatasetError

__all__ = ["SequenceDataset"]

_STD_FLOOR = 1e-6  # constant features are not scaled up
_LOWDIM_MAX_FRAME_BYTES = 4096  # largest frame of a low-dim (cacheable) key: joints, masks
_CACHE_MIN_BYTES = 1 << 20
_CACHE_MAX_BYTES = 256 << 20


@dataclass(frozen=True)
class _Window:
    """Frame offsets relative to the anchor: obs [obs_lo, obs_hi), actions [0, act_hi)."""

    obs_lo: int
    obs_hi: int
    act_hi: int

    def anchors(self, length: int, pad: bool) -> range:
        """Anchor frames of one episode of `length` frames."""
        if pad:
            return range(length)
        return range(-self.obs_lo, length - max(self.obs_hi, self.act_hi) + 1)


class _Span(NamedTuple):
    """Frames [start, stop) to read; `take` re-indexes them into the padded window (or None)."""

    start: int
    stop: int
    take: np.ndarray | None
    real: np.ndarray  # True where the window frame lies inside the episode


def _span(anchor: int, lo: int, hi: int, length: int) -> _Span:
    """Frames of the window [anchor+lo, anchor+hi); edge frames repeat outside the episode."""
    start, stop = anchor + lo, anchor + hi
    if start >= 0 and stop <= length:  # the common case: plain Python ints, no index arrays
        return _Span(start, stop, None, np.ones(stop - start, bool))
    wanted = np.arange(start, stop)
    frames = np.minimum(np.maximum(wanted, 0), length - 1)
    first = int(frames[0])
    return _Span(first, int(frames[-1]) + 1, frames - first, (wanted >= 0) & (wanted < length))


def _next_prime(n: int) -> int:
    candidate = max(n, 2)
    while any(candidate % d == 0 for d in range(2, int(candidate**0.5) + 1)):
        candidate += 1
    return candidate


class SequenceDataset:
    """Windows of observations and action chunks inside episodes (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str], obs_keys: Sequence[str], seq_length: int = 1,
                 frame_stack: int = 1, action_horizon: int = 1, split: str | None = "train",
                 normalize: bool = False, pad: bool = True, *, cache_lowdim: bool = True) -> None:
        for name, value in (("seq_length", seq_length), ("frame_stack", frame_stack),
                            ("action_horizon", action_horizon)):
            if int(value) < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        self.path = Path(path)
        self.obs_keys = tuple(obs_keys)
        self.window = _Window(1 - frame_stack, seq_length, seq_length + action_horizon - 1)
        self.pad = pad
        self.normalize = normalize
        with open_dataset(self.path) as handle:
            self.demos = self._split_demos(handle, split)
            self.lengths = np.array([self._check_demo(handle, d) for d in self.demos], np.int64)
            self._keys = self._member_keys(handle)
            self.stats = self._read_stats(handle) if normalize else {}
            self._cache_kwargs = self._chunk_cache(handle)
            self._lowdim = self._load_lowdim(handle) if cache_lowdim else {}
        first = np.array([self.window.anchors(int(n), pad).start for n in self.lengths], np.int64)
        counts = np.array([len(self.window.anchors(int(n), pad)) for n in self.lengths], np.int64)
        self._first_anchor = first
        self._ends = np.cumsum(np.maximum(counts, 0))
        self._pid: int | None = None
        self._file: h5py.File | None = None
        self._handles: dict[str, h5py.Dataset] = {}

    # ---- construction -------------------------------------------------------------------------
    def _split_demos(self, handle: h5py.File, split: str | None) -> list[str]:
        if split is None:
            return episode_names(handle, self.path)
        mask = f"{schema.MASK}/{split}"
        if mask not in handle:
            known = sorted(handle[schema.MASK].keys()) if schema.MASK in handle else []
            raise DatasetError(f"{self.path}: no split {split!r} (/{mask}); splits: {known}")
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in handle[mask][()]]
        return schema.sorted_demos(names)

    def _check_demo(self, handle: h5py.File, demo: str) -> int:
        group_path = f"{schema.DATA}/{demo}"
        if group_path not in handle:
            raise DatasetError(f"{self.path}: split lists {demo} but /{group_path} does not exist")
        group = handle[group_path]
        for key in self.obs_keys:
            if f"{schema.OBS}/{key}" not in group:
                known = sorted(group[schema.OBS].keys()) if schema.OBS in group else []
                raise DatasetError(f"{self.path}: {demo} has no obs key {key!r}; keys: {known}")
        if schema.ACTIONS not in group:
            raise DatasetError(f"{self.path}: {demo} has no {schema.ACTIONS}")
        return int(group.attrs.get("num_samples", group[schema.ACTIONS].shape[0]))

    def _member_keys(self, handle: h5py.File) -> tuple[str, ...]:
        """Paths inside a demo that each sample reads: obs, their masks and validity, actions."""
        keys = [f"{schema.OBS}/{k}" for k in self.obs_keys]
        if self.demos:
            group = handle[f"{schema.DATA}/{self.demos[0]}"]
            for key in self.obs_keys:
                for extra in (f"{schema.OBS}/{key}{schema.POINT_MASK_SUFFIX}",
                              f"{schema.VALID}/{key}"):
                    if extra in group:
                        keys.append(extra)
        return (*keys, schema.ACTIONS)

    def _read_stats(self, handle: h5py.File) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """mean/std per normalized key: actions (required) and every obs key that has stats."""
        stats = {}
        for key in (*self.obs_keys, schema.ACTIONS):
            path = f"{schema.STATS}/{key}"
            if path not in handle:
                if key == schema.ACTIONS:
                    raise DatasetError(f"{self.path}: normalize=True needs /{path}/mean and std")
                continue
            mean = np.asarray(handle[f"{path}/mean"], np.float32)
            std = np.asarray(handle[f"{path}/std"], np.float32)
            stats[schema.ACTIONS if key == schema.ACTIONS else f"{schema.OBS}/{key}"] = (
                mean, np.where(std > _STD_FLOOR, std, 1.0).astype(np.float32))
        return stats

    def _chunk_cache(self, handle: h5py.File) -> dict[str, int]:
        """HDF5 chunk cache (per open dataset) holding one window of the largest chunks."""
        largest = _CACHE_MIN_BYTES
        if self.demos:
            group = handle[f"{schema.DATA}/{self.demos[0]}"]
            for key in self._keys:
                ds = group[key]
                if ds.chunks:  # contiguous datasets bypass the chunk cache
                    largest = max(largest, int(np.prod(ds.chunks)) * ds.dtype.itemsize)
        frames = self.window.obs_hi - self.window.obs_lo + 1
        nbytes = int(min(_CACHE_MAX_BYTES, largest * frames))
        return {"rdcc_nbytes": nbytes, "rdcc_nslots": _next_prime(max(521, 100 * frames))}

    def _load_lowdim(self, handle: h5py.File) -> dict[str, np.ndarray]:
        cache = {}
        for demo in self.demos:
            group = handle[f"{schema.DATA}/{demo}"]
            for key in self._keys:
                ds = group[key]
                if int(np.prod(ds.shape[1:])) * ds.dtype.itemsize <= _LOWDIM_MAX_FRAME_BYTES:
                    cache[f"{demo}/{key}"] = ds[()]
        return cache

    # ---- per-process file handle ----------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_pid=None, _file=None, _handles={})
        return state

    def _dataset(self, name: str) -> h5py.Dataset:
        if self._pid != os.getpid() or self._file is None:
            self._file, self._handles = None, {}  # inherited over fork: never reuse
            self._file = open_dataset(self.path, **self._cache_kwargs)
            self._pid = os.getpid()
        ds = self._handles.get(name)
        if ds is None:
            ds = self._handles[name] = self._file[f"{schema.DATA}/{name}"]
        return ds

    def close(self) -> None:
        """Close this process's file handle (it is reopened on the next access)."""
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._pid, self._file, self._handles = None, None, {}

    # ---- samples --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._ends[-1]) if len(self._ends) else 0

    def locate(self, index: int) -> tuple[int, int]:
        """(position in `demos`, anchor frame) of sample `index`."""
        count = len(self)
        if not -count <= index < count:
            raise IndexError(f"sample {index} out of range for {count} samples")
        index %= count
        episode = int(np.searchsorted(self._ends, index, side="right"))
        before = int(self._ends[episode - 1]) if episode else 0
        return episode, int(self._first_anchor[episode]) + index - before

    def _read(self, demo: str, key: str, span: _Span) -> np.ndarray:
        out: np.ndarray
        cached = self._lowdim.get(f"{demo}/{key}")
        if cached is not None:
            block = cached[span.start:span.stop]
            out = block.copy() if span.take is None else block[span.take]  # never a view
            return out
        ds = self._dataset(f"{demo}/{key}")
        # one frame: integer indexing is cheaper in h5py than a length-1 slice
        block = ds[span.start][None] if span.stop - span.start == 1 else ds[span.start:span.stop]
        out = block if span.take is None else block[span.take]
        return out

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        episode, anchor = self.locate(index)
        demo, length = self.demos[episode], int(self.lengths[episode])
        obs = _span(anchor, self.window.obs_lo, self.window.obs_hi, length)
        act = _span(anchor, 0, self.window.act_hi, length)
        sample = {key: self._read(demo, key, act if key == schema.ACTIONS else obs)
                  for key in self._keys}
        for key, (mean, std) in self.stats.items():
            sample[key] = (sample[key] - mean) / std
        sample["pad_mask"] = obs.real
        sample["actions_pad_mask"] = act.real
        return sample

    def unnormalize_actions(self, actions: np.ndarray) -> np.ndarray:
        """Invert `normalize=True` on (..., A) actions; identity when not normalizing."""
        if schema.ACTIONS not in self.stats:
            return np.asarray(actions)
        mean, std = self.stats[schema.ACTIONS]
        restored: np.ndarray = np.asarray(actions) * std + mean
        return restored

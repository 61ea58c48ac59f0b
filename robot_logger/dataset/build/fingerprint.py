"""Short content hashes that make a build resumable: of a bag, of a config, of one shard's inputs.

A rerun of `build` reuses a finished shard only when its key is the one the current run would
write: `shard_key` hashes everything a shard's bytes depend on — the bag path and content
fingerprint, the config (without `split`, which only the index uses), the episodes it holds
(times, task, outcome, phases, reference clock), the phase vocabulary, the program (`program_id`)
and the format version.

`program_id` is a digest of the package's Python sources and of the versions of the libraries
whose results land in a shard (numpy, Pillow's resize, open3d's sampling, rosbags' parsing): the
version string stays 0.1.0 from fix to fix, so an upgrade that changes how a shard is built (an
offset mean, an episode's range) would otherwise reuse the stale shard. Hashing the ~1 MB of
sources costs ~10 ms once per process.

`bag_fingerprint` reads names and sizes of the bag's files, `metadata.yaml` in full and 64 KiB
at 16 evenly spaced offsets of every other file (head and tail included): about 1 MiB per storage
file, so checking a 30 TB archive on a rerun costs seconds, not hours. Recorded bags only grow, and
a new message changes a size and a tail; an in-place edit that keeps every size and misses every
sample would go unnoticed (delete `OUT.shards/` to force a rebuild then).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from robot_logger import __version__
from robot_logger.dataset import schema
from robot_logger.dataset.build.config import BuildConfig, SplitConfig, config_json
from robot_logger.errors import BagError

__all__ = ["bag_fingerprint", "config_hash", "inputs_key", "program_id", "shard_key", "SAMPLES",
           "SAMPLE_BYTES"]

SAMPLES = 16
SAMPLE_BYTES = 64 * 1024
_FULL = ("metadata.yaml",)
PACKAGE_ROOT = Path(__file__).resolve().parents[2]   # robot_logger/
# Distributions whose code computes values a shard holds (names as pip knows them; open3d is
# open3d-cpu from PyPI or open3d elsewhere).
RESULT_LIBRARIES = ("numpy", "pillow", "open3d-cpu", "open3d", "rosbags")


def _digest(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.blake2b(text, digest_size=16).hexdigest()


def bag_fingerprint(path: str | Path) -> str:
    """Hex digest of a bag's content (a bag folder or one storage file); see the module doc."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    digest = hashlib.blake2b(digest_size=16)
    try:
        for file in files:
            size = file.stat().st_size
            digest.update(f"{file.relative_to(path) if path.is_dir() else file.name}\0{size}\0"
                          .encode())
            with file.open("rb") as handle:
                if file.name in _FULL or size <= SAMPLES * SAMPLE_BYTES:
                    digest.update(handle.read())
                    continue
                for offset in np.linspace(0, size - SAMPLE_BYTES, SAMPLES).astype(np.int64):
                    handle.seek(int(offset))
                    digest.update(handle.read(SAMPLE_BYTES))
    except OSError as err:
        raise BagError(f"{path}: cannot read for its fingerprint ({err.strerror or err})") from err
    return digest.hexdigest()


@functools.cache
def program_id() -> str:
    """Digest of this program: robot_logger's sources and RESULT_LIBRARIES' versions."""
    digest = hashlib.blake2b(digest_size=16)
    for file in sorted(PACKAGE_ROOT.rglob("*.py")):
        digest.update(f"{file.relative_to(PACKAGE_ROOT).as_posix()}\0".encode())
        digest.update(file.read_bytes())
    for name in RESULT_LIBRARIES:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "-"
        digest.update(f"{name}={version}\0".encode())
    return f"{__version__}+{digest.hexdigest()}"


def config_hash(config: BuildConfig) -> str:
    """Hash of what in the config changes shard content: all but `split` and the file's name."""
    return _digest(config_json(replace(config, split=SplitConfig(), source="")))


def inputs_key(config: BuildConfig, fingerprints: dict[str, str]) -> str:
    """Hash of a whole build's inputs: the full config and every bag's path and fingerprint."""
    return _digest({"program": program_id(), "format": schema.FORMAT_VERSION,
                    "config": config_json(replace(config, source="")), "bags": fingerprints})


def shard_key(*, bag: str | Path, fingerprint: str, config: str, episodes: Sequence[Any],
              phase_names: Sequence[str], layouts: Mapping[str, Any] | None = None) -> str:
    """The key of one shard: `episodes` are the task's EpisodePlans in shard order; `layouts`
    the dataset-wide low-dim columns (another bag adding a joint changes every shard)."""
    return _digest({
        "program": program_id(), "format": schema.FORMAT_VERSION, "bag": str(bag),
        "bag_fingerprint": fingerprint, "config": config, "phase_names": list(phase_names),
        "layouts": {k: asdict(v) for k, v in sorted((layouts or {}).items())},
        "episodes": [{"index": int(ep.index), "episode": asdict(ep.episode),
                      "ref": hashlib.blake2b(np.ascontiguousarray(ep.ref_ns, np.int64).tobytes(),
                                             digest_size=16).hexdigest()}
                     for ep in episodes]})

"""What a built dataset holds, for `robot-logger stats`: read-only, one episode at a time.

    summary = dataset_summary("demo.h5")
    summary["frames"], summary["outcomes"], summary["invalid_share"]["cam1"]
    summary["cameras"]["cam1"]["K"], summary["frames_tf"], summary["clocks"]["cam1"]

Format 1.1's records are listed as stored: camera calibration (/meta/cameras), static frames
(/meta/frames), sensor-to-base extrinsics (/meta/extrinsics) and device-clock corrections
(/meta/clocks); a 1.0 file has none of them and lists them empty.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import h5py
import numpy as np

from robot_logger.dataset import schema
from robot_logger.dataset.read.h5 import episode_names, obs_kinds, open_dataset, phase_names

__all__ = ["dataset_summary"]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _stored_stats(handle: h5py.File) -> dict[str, dict[str, list[float]]]:
    if schema.STATS not in handle:
        return {}
    group = handle[schema.STATS]
    return {key: {stat: np.asarray(group[key][stat], np.float64).round(6).tolist()
                  for stat in schema.STAT_NAMES if stat in group[key]}
            for key in sorted(group.keys())}


def _splits(handle: h5py.File) -> dict[str, int]:
    if schema.MASK not in handle:
        return {}
    return {name: int(handle[schema.MASK][name].shape[0]) for name in sorted(handle[schema.MASK])}


def _names(values: Any) -> list[str]:
    return [_text(v) for v in np.asarray(values).reshape(-1).tolist()]


def _cameras(handle: h5py.File) -> dict[str, dict[str, Any]]:
    """/meta/cameras/<stream>: size, model, frame and the K, D, R, P matrices as lists."""
    if schema.CAMERAS not in handle:
        return {}
    out = {}
    for stream, group in sorted(handle[schema.CAMERAS].items()):
        record: dict[str, Any] = {key: (_text(group.attrs[key]) if key in ("distortion_model",
                                                                             "frame_id")
                                        else int(group.attrs[key]))
                                  for key in schema.CAMERA_ATTRS if key in group.attrs}
        record.update({key: np.asarray(group[key], np.float64).tolist()
                       for key in ("K", "D", "R", "P") if key in group})
        out[stream] = record
    return out


def _frames(handle: h5py.File) -> list[dict[str, Any]]:
    """/meta/frames: one {parent, child, xyz, xyzw} per static transform."""
    if schema.FRAMES not in handle:
        return []
    group = handle[schema.FRAMES]
    parents, children = _names(group["parent"][()]), _names(group["child"][()])
    xyz, xyzw = np.asarray(group["xyz"], np.float64), np.asarray(group["xyzw"], np.float64)
    return [{"parent": p, "child": c, "xyz": t.round(6).tolist(), "xyzw": q.round(6).tolist()}
            for p, c, t, q in zip(parents, children, xyz, xyzw)]


def _extrinsics(handle: h5py.File) -> dict[str, dict[str, Any]]:
    """/meta/extrinsics/<stream>: the (4, 4) sensor-to-base matrix and its frames."""
    if schema.EXTRINSICS not in handle:
        return {}
    return {stream: {**{k: _text(v) for k, v in dset.attrs.items()},
                     "matrix": np.asarray(dset, np.float64).round(6).tolist()}
            for stream, dset in sorted(handle[schema.EXTRINSICS].items())}


def _clocks(handle: h5py.File) -> dict[str, dict[str, Any]]:
    """/meta/clocks/<stream>: which time places the stream (`?` in files from before it was
    recorded) and how its device clock was corrected."""
    if schema.CLOCKS not in handle:
        return {}
    out = {}
    for stream, group in sorted(handle[schema.CLOCKS].items()):
        attrs = group.attrs
        out[stream] = {"method": _text(attrs.get("method", "none")),
                       "time_source": _text(attrs.get(schema.CLOCK_TIME_SOURCE, "?")),
                       "offset_ms": round(float(attrs.get("offset_ns", 0)) / 1e6, 6),
                       "drift_ppm": round(float(attrs.get("drift_ppm", 0.0)), 6)}
    return out


def dataset_summary(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Episodes, frames, streams, stored per-key stats, phase-label and outcome counts, the
    share of invalid (missing or out-of-tolerance) frames per stream, and the calibration,
    frames, extrinsics and clocks records, as a JSON-ready dict."""
    with open_dataset(path) as handle:
        demos = episode_names(handle, path)
        data = handle[schema.DATA]
        streams: dict[str, dict[str, Any]] = {}
        outcomes: Counter[str] = Counter()
        phases: Counter[str] = Counter()
        invalid: Counter[str] = Counter()
        episodes: list[dict[str, Any]] = []
        for name in demos:
            demo = data[name]
            frames = int(demo.attrs.get("num_samples", demo[schema.ACTIONS].shape[0]))
            outcome = _text(demo.attrs.get("outcome", "unknown"))
            outcomes[outcome] += 1
            episodes.append({"name": name, "frames": frames, "outcome": outcome,
                             "task": _text(demo.attrs.get("task", ""))})
            for stream, kind in obs_kinds(demo).items():
                ds = demo[schema.OBS][stream]
                streams.setdefault(stream, {"kind": kind, "shape": list(ds.shape[1:]),
                                            "dtype": str(ds.dtype)})
            if schema.VALID in demo:
                for stream, valid in demo[schema.VALID].items():
                    invalid[stream] += int(frames - np.count_nonzero(valid[()]))
            if schema.PHASE in demo:
                labels = phase_names(demo) + ["(none)"]  # index -1 -> "(none)"
                for index, count in zip(*np.unique(demo[schema.PHASE][()], return_counts=True)):
                    phases[labels[int(index)]] += int(count)
        total = sum(e["frames"] for e in episodes)
        return {
            "path": str(path),
            "format_version": _text(handle.attrs.get(schema.ATTR_FORMAT_VERSION, "?")),
            "rate_hz": float(data.attrs.get(schema.ATTR_RATE_HZ, float("nan"))),
            "episodes": len(episodes),
            "frames": total,
            "splits": _splits(handle),
            "outcomes": dict(sorted(outcomes.items())),
            "phase_frames": dict(sorted(phases.items())),
            "streams": streams,
            "invalid_share": {s: round(n / total, 6) if total else 0.0
                              for s, n in sorted(invalid.items())},
            "stats": _stored_stats(handle),
            "cameras": _cameras(handle),
            "frames_tf": _frames(handle),
            "extrinsics": _extrinsics(handle),
            "clocks": _clocks(handle),
            "episode_list": episodes,
        }

"""One picture of one episode for a person: cameras, depth, low-dim streams with phase bands,
LiDAR, validity.

    fig = preview_figure("demo.h5", episode="demo_0")   # a matplotlib Figure (Agg canvas)
    save_preview("demo.h5", "demo_0.png")

Layout (rows top to bottom): each camera as a row of frames at evenly spaced times; each depth
stream as a row of the same frames colour-mapped in metres (DEPTH_CMAP, one scale per stream from
the nearest to the farthest return shown, no return in grey) with a colourbar; one panel per
low-dim stream — joint positions (`*_pos`, radians) first, then the others (commands, forces,
gripper, ...) — over seconds, one line per column, coloured phase bands with a legend; then a
top-down LiDAR view (x-y in metres, coloured by height) beside a validity timeline per stream
(red where the sample was missing or out of tolerance). pyplot is never used, so no GUI backend
and no global figure state are involved.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.gridspec import GridSpec, SubplotSpec
from matplotlib.patches import Patch

from robot_logger.dataset import schema
from robot_logger.dataset.read.h5 import (
    DEPTH,
    IMAGE,
    LIDAR,
    LOWDIM,
    depth_metres,
    episode_names,
    obs_kinds,
    open_dataset,
    phase_names,
)
from robot_logger.errors import DatasetError

__all__ = ["preview_figure", "save_preview", "FIGURE_WIDTH_IN", "DPI", "DEPTH_CMAP",
           "DEPTH_NO_RETURN"]

FIGURE_WIDTH_IN = 16.0
DPI = 100
_FRAMES_PER_CAMERA = 6
DEPTH_CMAP = "turbo"          # near blue .. far red; perceptually ordered, readable in print
DEPTH_NO_RETURN = "#808080"   # pixels without a return (0 mm, NaN)
_PHASE_COLORS = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#edc948", "#76b7b2", "#ff9da7")


def _lowdim_streams(demo: h5py.Group, kinds: dict[str, str]) -> list[str]:
    """Low-dim (T, D) streams to plot: the `*_pos` joint positions first, then the others."""
    two_d = [k for k, kind in kinds.items() if kind == LOWDIM and demo[schema.OBS][k].ndim == 2]
    return sorted(two_d, key=lambda k: (not k.endswith("_pos"), k))


def _frame_indices(count: int) -> np.ndarray:
    """The frames a camera or depth row shows: evenly spaced over the episode."""
    return np.unique(np.linspace(0, count - 1, _FRAMES_PER_CAMERA).round().astype(int))


def _joint_labels(handle: h5py.File, stream: str, count: int) -> list[str]:
    path = f"{schema.JOINT_NAMES}/{stream}"
    if path in handle:
        raw = handle[path][()]  # an array of bytes, or one JSON string
        names = raw.tolist() if isinstance(raw, np.ndarray) else json.loads(raw)
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
        if len(names) == count:
            return names
    return [f"{stream}[{j}]" for j in range(count)]


def _step(t_s: np.ndarray) -> float:
    """Frame period (s): the width each frame covers in timelines and bands."""
    return float(np.median(np.diff(t_s))) if t_s.size > 1 else 1.0


def _phase_spans(phase: np.ndarray, t_s: np.ndarray) -> list[tuple[int, float, float]]:
    """(phase index, start s, end s) for each run of equal labels (>= 0)."""
    if phase.size == 0:
        return []
    edges = np.flatnonzero(np.diff(phase)) + 1
    starts, ends = np.r_[0, edges], np.r_[edges, phase.size]
    return [(int(phase[a]), float(t_s[a]), float(t_s[b - 1] + _step(t_s)))
            for a, b in zip(starts, ends) if phase[a] >= 0]


def _validity(demo: h5py.Group, stream: str) -> np.ndarray | None:
    """The stream's per-frame validity (True: a sample within tolerance), None when not stored."""
    path = f"{schema.VALID}/{stream}"
    return demo[path][()] if path in demo else None


def _frame_axes(fig: Figure, cell: SubplotSpec, stream: str, t_s: np.ndarray, frame: int,
                valid: np.ndarray | None) -> Axes:
    """An image panel for one frame of a camera or depth stream: titled with its time, in red
    with "(missing)" when the frame has no sample within tolerance, without ticks."""
    ax = fig.add_subplot(cell)
    missing = valid is not None and not valid[frame]
    ax.set_title(f"{stream}  t = {t_s[frame]:.1f} s{'  (missing)' if missing else ''}",
                 fontsize=9, color="red" if missing else "black")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def _draw_cameras(fig: Figure, grid: GridSpec, row: int, demo: h5py.Group, cams: list[str],
                  t_s: np.ndarray) -> int:
    frames = _frame_indices(len(t_s))
    for cam in cams:
        ds = demo[schema.OBS][cam]
        valid = _validity(demo, cam)
        for col, frame in enumerate(frames):
            ax = _frame_axes(fig, grid[row, col], cam, t_s, frame, valid)
            image = ds[int(frame)]
            ax.imshow(image[..., 0] if image.shape[-1] == 1 else image,
                      cmap="gray" if image.shape[-1] == 1 else None)
            if col == 0:
                ax.set_ylabel(f"{cam}\n{image.shape[1]}x{image.shape[0]} px", fontsize=9)
        row += 1
    return row


def _draw_depth(fig: Figure, grid: GridSpec, row: int, demo: h5py.Group, streams: list[str],
                t_s: np.ndarray) -> int:
    """One row per depth stream: the frames in metres on one colour scale, and its colourbar."""
    frames = _frame_indices(len(t_s))
    cmap = colormaps[DEPTH_CMAP].with_extremes(bad=DEPTH_NO_RETURN)
    for stream in streams:
        ds = demo[schema.OBS][stream]
        metres = depth_metres(ds[np.asarray(frames)])
        seen = metres[np.isfinite(metres)]
        low, high = (float(seen.min()), float(seen.max())) if seen.size else (0.0, 1.0)
        norm = Normalize(vmin=low, vmax=high if high > low else low + 1.0)
        valid = _validity(demo, stream)
        for col, frame in enumerate(frames):
            ax = _frame_axes(fig, grid[row, col], stream, t_s, frame, valid)
            shown = ax.imshow(metres[col], cmap=cmap, norm=norm, interpolation="nearest")
            if col == 0:
                ax.set_ylabel(f"{stream} (depth)\n{ds.shape[2]}x{ds.shape[1]} px", fontsize=9)
        bar = fig.colorbar(shown, cax=ax.inset_axes((1.06, 0.0, 0.07, 1.0)))
        bar.set_label("depth (m)")
        row += 1
    return row


def _draw_lowdim(fig: Figure, grid: GridSpec, row: int, handle: h5py.File, demo: h5py.Group,
                 streams: list[str], t_s: np.ndarray) -> int:
    names = phase_names(demo)
    spans = _phase_spans(demo[schema.PHASE][()], t_s) if schema.PHASE in demo else []
    for stream in streams:
        ax = fig.add_subplot(grid[row, :])
        values = demo[schema.OBS][stream][()]
        for phase, start, end in spans:
            ax.axvspan(start, end, color=_PHASE_COLORS[phase % len(_PHASE_COLORS)], alpha=0.18,
                       linewidth=0)
        lines = ax.plot(t_s, values, linewidth=1.2)
        joints = stream.endswith("_pos")
        ax.set_title(f"{stream}: {'joint positions' if joints else 'values'} over time",
                     loc="left")
        ax.set(xlabel="time since episode start (s)",
               ylabel=f"{stream} (rad)" if joints else stream,
               xlim=(t_s[0], t_s[-1] + _step(t_s)))
        ax.grid(alpha=0.3)
        columns = ax.legend(lines, _joint_labels(handle, stream, values.shape[1]), fontsize=7,
                            loc="upper left", bbox_to_anchor=(1.0, 1.0),
                            title="joints" if joints else "columns")
        if spans:
            ax.add_artist(columns)  # keep it: the next legend() call replaces the axes' legend
            shown = sorted({phase for phase, _, _ in spans})
            patches = [Patch(color=_PHASE_COLORS[p % len(_PHASE_COLORS)], alpha=0.4)
                       for p in shown]
            ax.legend(patches,
                      [names[p] if p < len(names) else f"phase {p}" for p in shown], fontsize=8,
                      loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=len(shown),
                      title="phases (bands)", title_fontsize=8, frameon=False)
        row += 1
    return row


def _draw_lidar(ax: Axes, demo: h5py.Group, stream: str, t_s: np.ndarray) -> None:
    ds = demo[schema.OBS][stream]
    frame = len(t_s) // 2
    points = ds[frame]
    mask_path = f"{schema.OBS}/{stream}{schema.POINT_MASK_SUFFIX}"
    if mask_path in demo:
        points = points[demo[mask_path][frame]]
    scatter = ax.scatter(points[:, 0], points[:, 1], c=points[:, 2], s=4, cmap="viridis")
    ax.figure.colorbar(scatter, ax=ax, label="height z (m)", fraction=0.046, pad=0.04)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set(title=f"{stream} top-down at t = {t_s[frame]:.1f} s ({len(points)} points)",
           xlabel="x (m)", ylabel="y (m)")
    ax.grid(alpha=0.3)


def _draw_validity(ax: Axes, demo: h5py.Group, t_s: np.ndarray) -> None:
    streams = sorted(demo[schema.VALID].keys()) if schema.VALID in demo else []
    if not streams:
        ax.set(title="sample validity: no valid/* arrays in this episode", xlabel="time (s)")
        return
    valid = np.array([demo[f"{schema.VALID}/{s}"][()] for s in streams], dtype=float)
    ax.imshow(valid, aspect="auto", interpolation="nearest", vmin=0, vmax=1,
              cmap=ListedColormap(["#d62728", "#9fd89f"]),
              extent=(t_s[0], t_s[-1] + _step(t_s), len(streams) - 0.5, -0.5))
    ax.set_yticks(range(len(streams)),
                  [f"{s} ({100 * (1 - v.mean()):.1f}% missing)" for s, v in zip(streams, valid)],
                  fontsize=8)
    ax.set(title="sample validity per stream (green = sample within tolerance, red = missing)",
           xlabel="time since episode start (s)")


def preview_figure(path: str | os.PathLike[str], episode: str | None = None) -> Figure:
    """The preview of `episode` (default: the first) as a Figure on an Agg canvas."""
    with open_dataset(path) as handle:
        demos = episode_names(handle, path)
        name = episode or (demos[0] if demos else None)
        if name not in demos:
            more = " …" if len(demos) > 10 else ""
            raise DatasetError(f"{path}: no episode {name!r}; episodes: "
                               f"{', '.join(demos[:10]) or 'none'}{more}")
        demo = handle[f"{schema.DATA}/{name}"]
        stamps = demo[schema.TIMESTAMPS][()]
        t_s = (stamps - stamps[0]) / 1e9 if stamps.size else np.zeros(0)
        if t_s.size == 0:
            raise DatasetError(f"{path}: episode {name} has no frames")
        kinds = obs_kinds(demo)
        cams = [k for k, kind in kinds.items() if kind == IMAGE]
        depths = [k for k, kind in kinds.items() if kind == DEPTH]
        lowdim = _lowdim_streams(demo, kinds)
        lidars = [k for k, kind in kinds.items() if kind == LIDAR]
        n_valid = len(demo[schema.VALID]) if schema.VALID in demo else 0
        bottom_in = 3.2 if lidars else max(1.5, 0.8 + 0.3 * n_valid)  # LiDAR wants a square
        heights = [1.6] * (len(cams) + len(depths)) + [2.4] * len(lowdim) + [bottom_in]
        fig = Figure(figsize=(FIGURE_WIDTH_IN, sum(heights) + 1.2), dpi=DPI)
        FigureCanvasAgg(fig)
        grid = fig.add_gridspec(len(heights), _FRAMES_PER_CAMERA, height_ratios=heights,
                                left=0.06, right=0.86, top=1 - 0.8 / (sum(heights) + 1.2),
                                bottom=0.6 / (sum(heights) + 1.2), hspace=0.5, wspace=0.1)
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in demo.attrs.items()}
        fig.suptitle(f"{Path(path).name} · {name} · task: {attrs.get('task', '?')} · outcome: "
                     f"{attrs.get('outcome', '?')} · {len(t_s)} frames over {t_s[-1]:.1f} s",
                     fontsize=13)
        row = _draw_cameras(fig, grid, 0, demo, cams, t_s)
        row = _draw_depth(fig, grid, row, demo, depths, t_s)
        row = _draw_lowdim(fig, grid, row, handle, demo, lowdim, t_s)
        # LiDAR | room for the validity panel's stream labels | validity timeline
        bottom = grid[row, :].subgridspec(1, 3, width_ratios=(1.15, 0.75, 2.1), wspace=0.0)
        if lidars:
            _draw_lidar(fig.add_subplot(bottom[0, 0]), demo, lidars[0], t_s)
        _draw_validity(fig.add_subplot(bottom[0, 2] if lidars else bottom[0, 1:]), demo, t_s)
    return fig


def save_preview(path: str | os.PathLike[str], output: str | os.PathLike[str],
                 episode: str | None = None) -> Path:
    """Render the preview of `episode` into a PNG at `output`; returns the output path."""
    fig = preview_figure(path, episode)
    output = Path(output)
    fig.savefig(output, dpi=DPI, format="png")
    return output

"""`robot-logger export`: a built HDF5 dataset -> a LeRobot v3.0 dataset (videos per camera).

The exporter's dependencies (PyAV, pyarrow: the `export` extra) are imported only when the
command runs, so every other verb works without them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from robot_logger.cli.common import echo_json, fail, json_option, progress_bar, quiet_option

if TYPE_CHECKING:
    from robot_logger.dataset.export import ExportSummary

__all__ = ["COMMANDS", "export", "export_to_lerobot", "export_text"]

VCODECS = ("libsvtav1", "h264", "hevc", "libaom-av1")


@click.command()
@click.argument("dataset", type=click.Path(path_type=Path), metavar="DATASET.h5")
@click.option("--format", "fmt", type=click.Choice(["lerobot"]), default="lerobot",
              show_default=True, help="Output format: LeRobot v3.0 (lerobot >= 0.4).")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Folder to write (written as DIR.partial, renamed when complete).")
@click.option("--vcodec", type=click.Choice(VCODECS), default="libsvtav1", show_default=True,
              help="Camera video encoder (depth streams are always lossless 12-bit HEVC).")
@click.option("--crf", type=click.IntRange(min=0, max=63), default=None,
              help="Quality (lower: better, larger) [default: libsvtav1 30, h264 23, hevc 28, "
                   "libaom-av1 30; >= 34 dB PSNR on 320x240 and larger simulated cameras].")
@click.option("--preset", default=None, help="Encoder speed preset [default: libsvtav1 12].")
@click.option("--repo-id", default=None, metavar="NAME",
              help="lerobot repo_id recorded for the dataset [default: robot_logger/<stem>].")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Cameras encoded in parallel (one process each).")
@click.option("--overwrite", is_flag=True, help="Replace DIR if it exists.")
@click.option("--strict", is_flag=True,
              help="Fail instead of skipping an episode member the export has no place for.")
@quiet_option
@json_option
def export(dataset: Path, fmt: str, output: Path, vcodec: str, crf: int | None,
           preset: str | None, repo_id: str | None, workers: int, overwrite: bool,
           strict: bool, quiet: bool, as_json: bool) -> None:
    """Write a dataset built by `robot-logger build` as a LeRobot v3.0 dataset.

    Cameras become one MP4 per camera (PyAV), every low-dim stream (joints, commands,
    forces, ...) part of `observation.state` (and `streams.<name>` each), actions `action`,
    rewards/dones `next.reward`/`next.done`, episode tasks the task index; validity, sample
    age, phase labels and header stamps stay per-frame columns, point clouds go to
    extras/<stream>/*.npz, and provenance, splits, outcomes, calibration and clocks to
    meta/robot_logger.json. Sharded datasets export the same way. Load it with lerobot 0.6
    (Python >= 3.12): LeRobotDataset(REPO_ID, root=DIR).

    \b
    Example:
      robot-logger build demo_bag -o demo.h5
      robot-logger export demo.h5 -o demo_lerobot --repo-id lab/demo --workers 2
      robot-logger export demo.h5 -o demo_h264 --vcodec h264 --crf 20 --json
    """
    summary = export_to_lerobot(dataset, output, vcodec=vcodec, crf=crf, preset=preset,
                                repo_id=repo_id, workers=workers, overwrite=overwrite,
                                strict=strict, quiet=quiet or as_json)
    if as_json:
        echo_json(summary.to_dict())
    else:
        click.echo(export_text(summary))


def export_to_lerobot(dataset: Path, output: Path, *, vcodec: str = "libsvtav1",
                      crf: int | None = None, preset: str | None = None,
                      repo_id: str | None = None, workers: int = 1, overwrite: bool = False,
                      strict: bool = False, quiet: bool = False) -> ExportSummary:
    """Run the exporter with a progress bar (shared by `export` and `build --format lerobot`)."""
    try:
        from robot_logger.dataset.export import VideoOptions, export_lerobot
    except ImportError as err:
        fail(f"export needs PyAV and pyarrow ({err.name} is missing): "
             "pip install 'robot_logger[export]'")
    options = VideoOptions.for_codec(vcodec, crf, int(preset) if preset and preset.isdigit()
                                     else preset)
    bar = progress_bar(None, "export", quiet=quiet, unit="frame")

    def on_progress(_item: str, done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        return export_lerobot(dataset, output, repo_id=repo_id, options=options,
                              workers=workers, overwrite=overwrite, strict=strict,
                              progress=on_progress)
    finally:
        bar.close()


def export_text(summary: ExportSummary) -> str:
    """The human-readable export summary."""
    lines = [f"wrote {summary.output}: LeRobot {summary.codebase_version} {summary.repo_id!r}, "
             f"{summary.episodes} episodes, {summary.frames} frames at {summary.fps} fps, "
             f"{len(summary.tasks)} task(s), {summary.bytes / 1e6:.1f} MB "
             f"in {summary.seconds:.1f} s"]
    if summary.videos:
        lines.append(f"videos ({summary.vcodec}, crf {summary.crf}):")
        lines += [f"  {v.feature:<36} {v.frames:6d} frames {v.bytes / 1e6:8.2f} MB "
                  f"{v.seconds:6.1f} s" for v in summary.videos]
    by_kind: dict[str, list[str]] = {}
    for p in summary.placements:
        if p.kind.value not in ("video", "depth_video"):
            text = f"{p.source} -> {p.target}" if p.target else p.source
            by_kind.setdefault(p.kind.value, []).append(text + (f" ({p.note})" if p.note else ""))
    for kind, items in by_kind.items():
        lines.append(f"{kind}:")
        lines += [f"  {item}" for item in items]
    lines.append(f"load: LeRobotDataset({summary.repo_id!r}, root={summary.output!r})  "
                 "# lerobot 0.6, Python >= 3.12")
    return "\n".join(lines)


COMMANDS = [export]

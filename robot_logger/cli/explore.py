"""`robot-logger stats` and `preview`: what a built dataset holds, as text/JSON and a picture."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from robot_logger.cli.common import echo_json, json_option
from robot_logger.dataset.read.summary import dataset_summary

__all__ = ["COMMANDS", "stats", "preview"]

_DATASET = click.Path(path_type=Path, dir_okay=False)


def _numbers(values: list[float] | float) -> str:
    items = values if isinstance(values, list) else [values]
    return " ".join(f"{v:9.4g}" for v in items)


def _stats_text(summary: dict[str, Any]) -> str:
    counts = ", ".join(f"{n} {name}" for name, n in summary["splits"].items())
    lines = [f"{summary['path']}: format {summary['format_version']}, {summary['episodes']} "
             f"episodes ({counts or 'no splits'}), {summary['frames']} frames at "
             f"{summary['rate_hz']:g} Hz",
             "outcomes: " + (", ".join(f"{k} {v}" for k, v in summary["outcomes"].items())
                             or "none"),
             "phase labels (frames): " + (", ".join(f"{k} {v}"
                                                    for k, v in summary["phase_frames"].items())
                                          or "none"),
             "streams (kind, frame shape, invalid frames):"]
    for name, info in summary["streams"].items():
        share = summary["invalid_share"].get(name)
        invalid = "-" if share is None else f"{share:.1%}"
        shape = "x".join(map(str, info["shape"]))
        lines.append(f"  {name:<20} {info['kind']:<7} {shape:<12} {info['dtype']:<8} {invalid}")
    if summary["stats"]:
        lines.append("per-key statistics over the train split (one column per dimension):")
    for key, stats in summary["stats"].items():
        lines.append(f"  {key}")
        lines += [f"    {name:<4} {_numbers(values)}" for name, values in stats.items()]
    return "\n".join(lines + _records_text(summary))


def _records_text(summary: dict[str, Any]) -> list[str]:
    """Calibration, frames, extrinsics and clocks (format 1.1): a header each, "none" if empty."""
    sections = [
        ("camera calibration (size, fx fy cx cy, model, frame):",
         [f"  {stream:<20} {cam.get('width')}x{cam.get('height')}  "
          f"{_numbers([cam['K'][0][0], cam['K'][1][1], cam['K'][0][2], cam['K'][1][2]])}  "
          f"{cam.get('distortion_model', '?')}  {cam.get('frame_id', '?')}"
          for stream, cam in summary["cameras"].items() if "K" in cam]),
        ("static frames (parent -> child: xyz m | quaternion xyzw):",
         [f"  {t['parent']} -> {t['child']}: {_numbers(t['xyz'])} | {_numbers(t['xyzw'])}"
          for t in summary["frames_tf"]]),
        ("extrinsics (sensor frame -> base: translation m):",
         [f"  {stream:<20} {e.get('frame_id', '?')} -> {e.get('base', '?')}: "
          f"{_numbers([row[3] for row in e['matrix'][:3]])}"
          for stream, e in summary["extrinsics"].items()]),
        ("clocks (time source, method, offset ms, drift ppm):",
         [f"  {stream:<20} {c.get('time_source', '?'):<6} {c['method']:<6} "
          f"{c['offset_ms']:10.3f} {c['drift_ppm']:9.3f}"
          for stream, c in summary["clocks"].items()]),
    ]
    lines = []
    for header, entries in sections:
        lines += [header] + entries if entries else [header[:-1] + ": none"]
    return lines


@click.command()
@click.argument("dataset", type=_DATASET)
@json_option
def stats(dataset: Path, as_json: bool) -> None:
    """Summarise a dataset: episodes, frames, streams, per-key stats, labels, invalid frames,
    camera calibration, static frames, extrinsics and device clocks.

    Per-key statistics (mean, std, min, max, q01, q99) are the ones stored in /meta/stats, which
    the loader uses to normalize. A stream's invalid share is the fraction of frames whose sample
    was missing or farther than the tolerance from the reference clock.

    \b
    Example:
      robot-logger stats demo.h5
      robot-logger stats demo.h5 --json
    """
    summary = dataset_summary(dataset)
    if as_json:
        echo_json(summary)
    else:
        click.echo(_stats_text(summary))


@click.command()
@click.argument("dataset", type=_DATASET)
@click.option("--episode", default=None, metavar="NAME",
              help="Episode to show, e.g. demo_3 [default: the first].")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="PNG file to write.")
@json_option
def preview(dataset: Path, episode: str | None, output: Path, as_json: bool) -> None:
    """Draw one episode as one PNG a person can read.

    Camera frames at six times (a row per camera), depth frames in metres with a colourbar,
    joint positions and every other low-dim stream (commands, forces, gripper) over time with
    the phase labels as coloured bands, a top-down LiDAR view (x-y in metres, coloured by
    height) and a validity timeline per stream showing where samples were missing.

    \b
    Example:
      robot-logger preview demo.h5 -o demo.png
      robot-logger preview demo.h5 --episode demo_2 -o demo_2.png
    """
    from robot_logger.dataset.read.preview import save_preview  # matplotlib: 0.8 s, only here

    written = save_preview(dataset, output, episode)
    if as_json:
        echo_json({"output": str(written), "episode": episode})
    else:
        click.echo(f"wrote {written}")


COMMANDS = [stats, preview]

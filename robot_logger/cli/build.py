"""`robot-logger build` and `validate`: bags -> HDF5 training dataset, and its contract check."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from robot_logger.cli.common import echo_json, fail, json_option, progress_bar, quiet_option
from robot_logger.cli.export import export_text, export_to_lerobot
from robot_logger.dataset.build.executors import EXECUTORS
from robot_logger.dataset.build.pipeline import BuildSummary, build_dataset, summary_json
from robot_logger.dataset.read.validate import validate_dataset

__all__ = ["COMMANDS", "build", "validate"]

EXIT_INVALID = 1


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path),
                metavar="BAG_OR_DIR...")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="HDF5 file to write (written as OUT.partial, renamed when complete).")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="Build config YAML (see config/dataset.yaml) [default: discover streams "
                   "by message type].")
@click.option("--rate", "rate_hz", type=float, default=None,
              help="Reference clock in Hz; overrides rate_hz/reference of the config.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Parallel tasks (bags, and episodes of long bags); same output as 1.")
@click.option("--executor", type=click.Choice(EXECUTORS), default="local", show_default=True,
              help="local: a process pool here; ray: a Ray cluster (a running one, "
                   "else a local Ray instance).")
@click.option("--ray-address", default=None, metavar="HOST:PORT",
              help="Ray cluster to join with --executor ray [default: auto-detect].")
@click.option("--overwrite", is_flag=True,
              help="Replace OUT.h5 if it exists (one built from the same inputs is kept).")
@click.option("--strict", is_flag=True,
              help="Treat warnings (malformed events, unknown outcomes, skipped episodes, an "
                   "unsynchronised device clock, a calibration that changes, skipped messages "
                   "or joints) as errors; nothing is written.")
@click.option("--format", "fmt", type=click.Choice(["hdf5", "lerobot"]), default="hdf5",
              show_default=True,
              help="lerobot: build into a temporary HDF5 file, `export` it to OUT (a folder, "
                   "LeRobot v3.0, default export options), then remove the HDF5 file.")
@quiet_option
@json_option
def build(inputs: tuple[Path, ...], output: Path, config_path: Path | None,
          rate_hz: float | None, workers: int, executor: str, ray_address: str | None,
          overwrite: bool, strict: bool, fmt: str, quiet: bool, as_json: bool) -> None:
    """Turn bags into one HDF5 training dataset (robomimic-compatible layout).

    Every stream is resampled onto one reference clock (header stamps by default), episodes and
    phases come from /robot_logger/events or a labels file. A folder that is not itself a bag
    is searched for bags. Without --config, JointState topics become <name>_pos/<name>_vel,
    images and point clouds one stream each, named from the topic.

    Each task (a bag, or part of one) writes a shard OUT.shards/part-XXXXX.h5 that OUT.h5 links
    to (one shard: OUT.h5 is a plain file). A rerun reuses shards whose bag and config did not
    change, so an interrupted build resumes and an unchanged one does nothing.

    \b
    Example:
      robot-logger sim -o demo_bag --duration 10
      robot-logger build demo_bag -o demo.h5 --rate 10
      robot-logger build bags/ -o cell.h5 --config config/dataset.yaml --workers 2
      robot-logger build bags/ -o cell.h5 --executor ray --workers 64   # after ray start
    """
    if fmt == "lerobot" and output.exists() and not overwrite:
        fail(f"{output}: already exists (pass --overwrite to replace it)")
    with _build_target(output, fmt) as target:
        bar = progress_bar(None, "build", quiet=quiet or as_json, unit="bag-s")

        def on_plan(total_s: float) -> None:
            bar.total = round(total_s, 1)
            bar.refresh()

        try:
            summary = build_dataset(list(inputs), target, config_path=config_path,
                                    rate_hz=rate_hz, workers=workers, executor=executor,
                                    ray_address=ray_address, overwrite=overwrite, strict=strict,
                                    progress=lambda s: bar.update(round(s, 1)), on_plan=on_plan)
        finally:
            bar.close()
        exported = None if fmt == "hdf5" else export_to_lerobot(
            target, output, overwrite=overwrite, quiet=quiet or as_json,
            repo_id=f"robot_logger/{output.name}")
    if as_json and exported is not None:
        echo_json({"build": summary_json(summary), "export": exported.to_dict()})
    elif exported is not None:
        click.echo(_summary_text(summary).replace(str(target), f"{target.name} (temporary)"))
        click.echo(export_text(exported))
    elif as_json:
        echo_json(summary_json(summary))
    else:
        click.echo(_summary_text(summary))


@contextmanager
def _build_target(output: Path, fmt: str) -> Iterator[Path]:
    """Where `build` writes its HDF5 file: OUT itself, or a temporary file beside the export."""
    if fmt == "hdf5":
        yield output
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{output.name}.", dir=output.parent) as tmp:
        yield Path(tmp) / f"{output.name}.h5"


def _summary_text(summary: BuildSummary) -> str:
    rtf = summary.bag_seconds / summary.seconds if summary.seconds else 0.0
    speed = f"{rtf:.1f}x real time" if summary.shards_built else "every shard reused"
    lines = [f"wrote {summary.output}: {summary.episodes} episodes, {summary.frames} frames, "
             f"{summary.size_bytes / 1e6:.1f} MB in {summary.seconds:.1f} s "
             f"({speed}) from {len(summary.bags)} bag(s)",
             f"shards: {summary.shards_built} built, {summary.shards_reused} reused unchanged",
             "valid frames per stream:"]
    lines += [f"  {name:<24} {share:7.1%}" for name, share in summary.valid_share.items()]
    if summary.offsets_ms:
        lines.append("log time minus header stamp per topic (ms): mean [min, max]")
        lines += [f"  {topic:<32} {o['mean']:8.2f} [{o['min']:.2f}, {o['max']:.2f}]"
                  for topic, o in summary.offsets_ms.items()]
    corrected = {n: c for n, c in summary.clocks.items() if c["method"] != "none"}
    if corrected:
        lines.append("device clocks corrected (offset at t0, drift):")
        lines += [f"  {name:<24} {c['method']:<5} {c['offset_ns'] / 1e6:9.3f} ms "
                  f"{c['drift_ppm']:+8.2f} ppm" for name, c in corrected.items()]
    on_log = [n for n, c in summary.clocks.items() if c["time_source"] == "log"]
    if on_log and len(on_log) < len(summary.clocks):
        lines.append(f"aligned on log (receive) time: {', '.join(on_log)}")
    lines += [f"warning: {w}" for w in summary.warnings]
    return "\n".join(lines)


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@json_option
def validate(path: Path, as_json: bool) -> None:
    """Check a dataset against the HDF5 layout contract; exit 1 listing what is wrong.

    Checks keys, dtypes and shapes, T within each episode, strictly increasing timestamps,
    masks naming existing episodes, stats and joint names, format_version; follows external
    links of sharded datasets.

    \b
    Example:
      robot-logger validate demo.h5
      robot-logger validate demo.h5 --json
    """
    report = validate_dataset(path)
    if as_json:
        echo_json({"path": report.path, "ok": report.ok, "episodes": report.episodes,
                   "frames": report.frames, "problems": report.problems})
    elif report.ok:
        click.echo(f"{path}: valid ({report.episodes} episodes, {report.frames} frames)")
    else:
        click.echo(f"{path}: INVALID, {len(report.problems)} problem(s):")
        for problem in report.problems:
            click.echo(f"  {problem}")
    if not report.ok:
        sys.exit(EXIT_INVALID)


COMMANDS = [build, validate]

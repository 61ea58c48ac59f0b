"""`robot-logger sim`: write a synthetic robot-cell bag (no ROS, no DDS needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from robot_logger.bag.reader import STORAGES, Storage
from robot_logger.cli.common import (
    echo_json,
    json_option,
    param_options,
    progress_bar,
    quiet_option,
)
from robot_logger.errors import ConfigError
from robot_logger.sim import write_bag
from robot_logger.sim.faults import __doc__ as FAULTS_DOC
from robot_logger.sim.params import CELL_PARAMS, PUBLISH_PARAMS, cell_from_params
from robot_logger.transport.base import TRANSPORTS

__all__ = ["COMMANDS", "sim"]


def _fault_help() -> str:
    """The fault syntax section of the module docstring, kept verbatim for --help."""
    body = FAULTS_DOC.split("Syntax:", 1)[1]
    return "\b\nFault SPEC syntax:" + body.replace("\n\n", "\n\n\b\n")


@click.command(epilog=_fault_help())
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Bag folder to create (must not exist); required unless --publish.")
@click.option("--publish", is_flag=True,
              help="Publish the cell live as ROS 2 topics, paced on the wall clock, instead of"
                   " writing a bag.")
@click.option("--transport", type=click.Choice(TRANSPORTS), default=None,
              help="With --publish: rclpy or dds [default: rclpy when ROS 2 is installed].")
@click.option("--storage", type=click.Choice(STORAGES), default="mcap", show_default=True)
@param_options(CELL_PARAMS + PUBLISH_PARAMS)
@json_option
@quiet_option
def sim(output: Path | None, publish: bool, transport: str | None, storage: Storage,
        as_json: bool, quiet: bool, **params: Any) -> None:
    """Write a synthetic robot-cell bag: arms, cameras, LiDAR and episode events.

    Joint states follow smooth, exactly known trajectories; header.stamp is the sample time and
    the log time adds a realistic transport latency. Episodes (pick-and-place or weld cycles with
    phases and a success/failure outcome) are announced on /robot_logger/events.

    \b
    Example:
      robot-logger sim -o demo_bag --duration 10
      robot-logger sim -o full_bag --duration 10 --sensors all \\
          --faults '/cell/cam1/depth/*:clock_offset_ms=350,drift_ppm=50'
      robot-logger sim -o faulty_bag --duration 5 --storage sqlite3 \\
          --faults '/cell/cam1/image_raw:drop=0.1;*:jitter_ms=1;truncate=0.8'
      robot-logger sim --publish --duration 30     # live, for `robot-logger record`
    """
    cell = cell_from_params({p.name: params[p.name] for p in CELL_PARAMS})
    if publish:
        from robot_logger.cli.record import publish_live  # DDS only when publishing
        publish_live(cell, transport, params["wait_subscribers"], params["qos"] or None,
                     as_json=as_json, quiet=quiet)
        return
    if output is None:
        raise ConfigError("-o/--output is required (or --publish to publish the cell live)")
    if output.exists():
        raise ConfigError(f"{output} exists already; choose another --output or remove it")
    with progress_bar(cell.spec.duration_s, "simulating", quiet=quiet, unit="s") as bar:
        def advance(seconds: float) -> None:
            bar.update(seconds - bar.n)
        counts = write_bag(output, cell, storage=storage, progress=advance)
    size = sum(f.stat().st_size for f in output.rglob("*") if f.is_file())
    summary = {
        "path": str(output), "storage": storage, "size_bytes": size,
        "duration_s": cell.spec.duration_s,
        "messages": sum(counts.values()), "topics": counts, "episodes": len(cell.episodes()),
        "faults": params["faults"], "truncated": cell.faults.truncate is not None,
    }
    if as_json:
        echo_json(summary)
        return
    width = max(len(t) for t in counts)
    click.echo(f"wrote {output} ({storage}, {size / 1e6:.1f} MB, {cell.spec.duration_s:g} s,"
               f" {len(cell.episodes())} episodes)")
    for topic, count in counts.items():
        click.echo(f"  {topic:<{width}}  {count:>8} msgs  {cell.topics()[topic]}")
    if cell.faults.truncate is not None:
        click.echo(f"  truncated at {cell.faults.truncate:g} of the duration, as if the recorder"
                   " was killed: no metadata.yaml, tail lost")


COMMANDS = [sim]

"""`robot-logger record` and `robot-logger episode start|phase|end`: live recording of the cell."""

from __future__ import annotations

import sys
from typing import Any

import click

from robot_logger import __version__
from robot_logger.cli.common import (
    echo_json,
    fail,
    json_option,
    param_options,
    progress_bar,
    quiet_option,
)
from robot_logger.core import events
from robot_logger.record.episodes import send_event
from robot_logger.record.malloc import tune_malloc
from robot_logger.record.monitor import RecorderStatus
from robot_logger.record.params import RECORD_PARAMS, record_options
from robot_logger.record.recorder import Recorder
from robot_logger.record.signals import stop_on_signals
from robot_logger.sim import Cell
from robot_logger.sim.publisher import publish_cell
from robot_logger.transport import open_transport
from robot_logger.transport.base import TRANSPORTS
from robot_logger.transport.qos import load_overrides

__all__ = ["COMMANDS", "record", "episode", "format_status", "publish_live"]

MB = 1e6


def format_status(status: RecorderStatus) -> str:
    """The live table: one row per topic, then queue/disk facts and warnings."""
    written, dropped = status.written, status.dropped_queue
    rows = [
        f"{'topic':<34} {'written':>8} {'rate Hz':>8} {'expect':>7} {'drops':>6} "
        f"{'queue-drop':>10} {'lat ms':>7}"
    ]
    for topic, t in status.topics.items():
        expected = "-" if t.expected_hz is None else f"{t.expected_hz:.0f}"
        latency = "-" if t.latency_ms_mean is None else f"{t.latency_ms_mean:.1f}"
        rows.append(
            f"{topic:<34} {written.get(topic, 0):>8} {t.rate_hz:>8.1f} {expected:>7} "
            f"{t.drops:>6} {dropped.get(topic, 0):>10} {latency:>7}"
        )
    rows.append(
        f"t={status.elapsed_s:.0f}s  written {status.bytes_written / MB:.1f} MB  "
        f"queue {status.queue_messages} msgs  "
        f"disk free {status.disk_free_bytes / 1e9:.1f} GB"
    )
    rows.extend(f"warning: {w}" for w in status.warnings)
    return "\n".join(rows)


def publish_live(
    cell: Cell,
    transport_name: str | None,
    wait_subscribers_s: float,
    qos_file: str | None,
    *,
    as_json: bool,
    quiet: bool,
) -> None:
    """`sim --publish`: send `cell` live until it ends or Ctrl-C/SIGTERM; print what was sent."""
    stop = stop_on_signals()
    with (
        open_transport(transport_name, node_name="sim_cell") as transport,
        progress_bar(cell.spec.duration_s, "publishing", quiet=quiet, unit="s") as bar,
    ):
        result = publish_cell(
            transport,
            cell,
            stop=stop,
            wait_subscribers_s=wait_subscribers_s,
            qos_overrides=load_overrides(qos_file) if qos_file else None,
            progress=lambda seconds: bar.update(seconds - bar.n),
        )
    summary = {
        "published": result.counts,
        "messages": sum(result.counts.values()),
        "max_lag_ms": round(result.max_lag_ms, 1),
        "stopped_early": result.stopped_early,
        "domain_id": transport.domain_id,
        "transport": transport.name,
    }
    if as_json:
        echo_json(summary)
        return
    click.echo(
        f"published {summary['messages']} messages on ROS_DOMAIN_ID={transport.domain_id} "
        f"({transport.name}; max lag {summary['max_lag_ms']} ms"
        f"{', stopped early' if result.stopped_early else ''})"
    )
    for topic, count in result.counts.items():
        click.echo(f"  {topic:<28} {count:>8} msgs")


class _LiveView:
    """Redraws the table in place on a TTY; one plain line per status otherwise."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self._lines = 0

    def __call__(self, status: RecorderStatus) -> None:
        if self.quiet:
            return
        if not self.tty:
            warn = f"  warnings: {'; '.join(status.warnings)}" if status.warnings else ""
            click.echo(
                f"t={status.elapsed_s:.0f}s written={status.messages_written} msgs "
                f"{status.bytes_written / MB:.1f} MB queue={status.queue_messages}{warn}",
                err=True,
            )
            return
        text = format_status(status)
        prefix = f"\x1b[{self._lines}F\x1b[J" if self._lines else ""
        click.echo(prefix + text, err=True)
        self._lines = text.count("\n") + 1


@click.command()
@param_options(RECORD_PARAMS)
@json_option
@quiet_option
def record(as_json: bool, quiet: bool, **params: Any) -> None:
    """Record live ROS 2 topics into a bag; Ctrl-C or SIGTERM closes it cleanly.

    Messages are stored as raw CDR with their receive time (log time) and, in MCAP, their send
    time (publish_time). Complete chunks are flushed every 0.5 s, so a killed recorder loses at
    most what it received in the last second (`robot-logger repair` recovers the rest). Health
    goes out on /robot_logger/status (JSON, 1 Hz) and to the terminal.

    \b
    Example (two terminals, no ROS install needed):
      robot-logger sim --publish --duration 20
      robot-logger record -o cell_bag --all --duration 15
      robot-logger info cell_bag
    """
    params = {
        k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items() if v is not None
    }
    custom = {"robot_logger.recorder": f"robot_logger {__version__}"}
    path, transport_name, options = record_options(params, custom_data=custom)
    stop = stop_on_signals()
    tune_malloc()
    with open_transport(transport_name, node_name="recorder") as transport:
        recorder = Recorder(transport, path, options, on_status=_LiveView(quiet))
        final = recorder.run(stop)
    if as_json:
        echo_json(final.to_dict())
    elif not quiet:
        click.echo(format_status(final), err=True)
        click.echo(
            f"recorded {final.messages_written} messages into "
            f"{', '.join(final.bags)} ({final.stop_reason})",
            err=True,
        )
    if recorder.sink.stop_reason:
        fail(recorder.sink.stop_reason)


transport_option = click.option(
    "--transport",
    type=click.Choice(TRANSPORTS),
    default=None,
    help="rclpy or dds (default: rclpy when ROS 2 is installed).",
)
timeout_option = click.option(
    "--timeout",
    default=5.0,
    show_default=True,
    help="Seconds to wait for the recorder to match and acknowledge.",
)


def _send(payload: str, transport_name: str | None, timeout: float) -> None:
    with open_transport(transport_name, node_name="episode_control") as transport:
        readers = send_event(transport, payload, timeout_s=timeout)
    click.echo(f"sent {payload} to {readers} reader(s)")


@click.group()
def episode() -> None:
    """Mark episodes and phases in a running recording (/robot_logger/events).

    \b
    Example (while `robot-logger record ... --all` runs):
      robot-logger episode start --task "weld seam A3"
      robot-logger episode phase approach
      robot-logger episode end --outcome success
    """


@episode.command("start")
@click.option("--task", required=True, help="What the robot is doing in this episode.")
@transport_option
@timeout_option
def episode_start(task: str, transport: str | None, timeout: float) -> None:
    """Start an episode. Example: robot-logger episode start --task "weld seam A3" """
    _send(events.episode_start(task), transport, timeout)


@episode.command("phase")
@click.argument("name")
@transport_option
@timeout_option
def episode_phase(name: str, transport: str | None, timeout: float) -> None:
    """Start phase NAME (it holds until the next phase or the end).

    Example: robot-logger episode phase grasp
    """
    _send(events.phase(name), transport, timeout)


@episode.command("end")
@click.option(
    "--outcome", type=click.Choice(events.OUTCOMES), default="success", show_default=True
)
@transport_option
@timeout_option
def episode_end(outcome: str, transport: str | None, timeout: float) -> None:
    """End the episode. Example: robot-logger episode end --outcome success"""
    _send(events.episode_end(outcome), transport, timeout)


COMMANDS = [record, episode]

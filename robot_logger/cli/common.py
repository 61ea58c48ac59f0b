"""What every CLI verb shares: error handling, --json/--quiet options, progress bars."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from robot_logger.errors import RobotLoggerError, disk_full

if TYPE_CHECKING:
    from tqdm import tqdm

__all__ = ["RobotLoggerGroup", "json_option", "quiet_option", "echo_json", "progress_bar", "fail"]

EXIT_USAGE = 2


def fail(message: str) -> None:
    """Print `error: message` on stderr and exit 2."""
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_USAGE)


class RobotLoggerGroup(click.Group):
    """A click group that turns our errors (and OS errors such as a full disk) into one line and
    exit 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RobotLoggerError as err:
            fail(str(err))
        except OSError as err:
            where = f": {err.filename}" if err.filename else ""
            reason = "disk full" if disk_full(err) else (err.strerror or str(err))
            fail(f"{reason}{where}")
        return None


json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bars.")


def echo_json(payload: Any) -> None:
    """Print a JSON document (sorted keys, 2-space indent) on stdout."""
    click.echo(json.dumps(payload, indent=2, sort_keys=True, default=str))


def progress_bar(total: float | None, desc: str, *, quiet: bool = False, unit: str = "it") -> tqdm:
    """A tqdm bar on stderr, shown only on a TTY and without --quiet (tqdm imported here: it
    costs ~0.1 s, which `--help` need not pay)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=quiet or not sys.stderr.isatty(),
                file=sys.stderr, leave=False, dynamic_ncols=True)

"""What every CLI verb shares: error handling, --json/--quiet options, progress bars."""

from __future__ import annotations

import json
import os
import select
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from robot_logger.core.params import Param
from robot_logger.errors import RobotLoggerError, disk_full

if TYPE_CHECKING:
    from tqdm import tqdm

__all__ = [
    "RobotLoggerGroup",
    "json_option",
    "quiet_option",
    "echo_json",
    "param_options",
    "progress_bar",
    "fail",
]

F = TypeVar("F", bound=Callable[..., Any])  # a command function, before or after @click.command

EXIT_USAGE = 2


def one_line(message: str) -> str:
    """`message` with control characters escaped (a newline or carriage return in a YAML key or a
    topic name would otherwise split the error over lines, or overwrite it on a terminal)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)


def fail(message: str) -> None:
    """Print `error: message` on stderr, always as one line, and exit 2."""
    click.echo(f"error: {one_line(message)}", err=True)
    sys.exit(EXIT_USAGE)


EXIT_PIPE_CLOSED = 128 + 13   # what a shell reports for a program ended by SIGPIPE (cat, grep)


def stdout_closed() -> bool:
    """True when nobody reads our stdout any more (`robot-logger info BAG | head -1` after head
    exits): Linux reports POLLERR on a pipe's write end without readers, POLLHUP on a hung-up
    socket or terminal; a file never."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    poller = select.poll()
    poller.register(fd, 0)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def exit_quietly_for_a_closed_pipe() -> None:
    """Stop as cat does when its reader went away: no message, exit 141; stdout goes to
    /dev/null first so the interpreter's last flush does not report the pipe again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    sys.exit(EXIT_PIPE_CLOSED)


class RobotLoggerGroup(click.Group):
    """A click group that turns our errors (and OS errors such as a full disk) into one line and
    exit 2; a reader closing our stdout pipe ends the command quietly (exit 141)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RobotLoggerError as err:
            fail(str(err))
        except OSError as err:
            if isinstance(err, BrokenPipeError) and stdout_closed():
                exit_quietly_for_a_closed_pipe()
            where = f": {err.filename}" if err.filename else ""
            reason = "disk full" if disk_full(err) else (err.strerror or str(err))
            fail(f"{reason}{where}")
        return None


def param_options(params: Sequence[Param]) -> Callable[[F], F]:
    """One click option per Param (the same names as the node's ROS parameters): `--name`
    (`--name/--no-name` for a bool defaulting to True), typed like the default; lists repeat."""

    def decorate(command: F) -> F:
        for param in reversed(params):
            names = [param.short, param.flag] if param.short else [param.flag]
            kwargs: dict[str, Any] = {"help": param.help, "show_default": bool(param.default)}
            if param.many:
                kwargs.update(multiple=True, metavar="TEXT")
            elif isinstance(param.default, bool):
                if param.default:
                    names = [f"{param.flag}/--no-{param.flag[2:]}"]
                kwargs.update(is_flag=True, default=param.default)
            elif param.choices:
                choices = [c for c in param.choices if c]
                kwargs.update(type=click.Choice(choices), default=param.default or None)
            else:
                kwargs.update(type=type(param.default), default=param.default)
            command = click.option(*names, param.name, **kwargs)(command)
        return command

    return decorate


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

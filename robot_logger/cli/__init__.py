"""`robot-logger`: record a robot cell, inspect bags, build and load HDF5 training datasets.

Each verb family lives in its own module; COMMANDS says which module holds each command.
"""

from __future__ import annotations

import importlib

import click

from robot_logger import __version__
from robot_logger.cli.common import RobotLoggerGroup

__all__ = ["main"]

# command -> (module under robot_logger.cli, the one line `robot-logger --help` lists for it).
# Modules load only when their command runs: `--help` and `info` need not import the dataset,
# simulator and recorder code (0.56 s -> well under 0.3 s here). tests/cli/test_main.py checks each
# line against the command's own docstring, so the table cannot drift from the commands.
COMMANDS = {
    "build": ("build", "Turn bags into one HDF5 training dataset (robomimic-compatible layout)."),
    "episode": ("record", "Mark episodes and phases in a running recording "
                          "(/robot_logger/events)."),
    "export": ("export", "Write a dataset built by `robot-logger build` as a LeRobot v3.0 "
                         "dataset."),
    "info": ("bag", "Topics, types, counts, rates, gaps, header-vs-log latency and episodes of "
                    "BAG."),
    "preview": ("explore", "Draw one episode as one PNG a person can read."),
    "record": ("record", "Record live ROS 2 topics into a bag; Ctrl-C or SIGTERM closes it "
                         "cleanly."),
    "repair": ("bag", "Make a bag whose recorder was killed (or whose files are damaged) "
                      "readable again."),
    "sim": ("sim", "Write a synthetic robot-cell bag: arms, cameras, LiDAR and episode events."),
    "stats": ("explore", "Summarise a dataset: episodes, frames, streams, per-key stats, labels, "
                         "invalid frames, camera calibration, static frames, extrinsics and "
                         "device clocks."),
    "validate": ("build", "Check a dataset against the HDF5 layout contract; exit 1 listing "
                          "what is wrong."),
}


class LazyGroup(RobotLoggerGroup):
    """Lists COMMANDS from the table and imports a command's module only to run it."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module = importlib.import_module(f"robot_logger.cli.{COMMANDS[cmd_name][0]}")
        command: click.Command = getattr(module, cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [(name, click.Command(name, help=COMMANDS[name][1]).get_short_help_str(limit))
                for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="robot-logger")
def main() -> None:
    """Record a robot cell into rosbag2 bags and turn bags into HDF5 training datasets.

    \b
    Try it:
      robot-logger sim -o demo_bag --duration 10
      robot-logger info demo_bag
      robot-logger build demo_bag -o demo.h5
      robot-logger validate demo.h5
    """

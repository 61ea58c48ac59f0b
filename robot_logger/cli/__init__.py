"""`robot-logger`: record a robot cell, inspect bags, build and load HDF5 training datasets.

Each verb family lives in its own module and lists its commands in COMMANDS.
"""

from __future__ import annotations

import importlib

import click

from robot_logger import __version__
from robot_logger.cli.common import RobotLoggerGroup

__all__ = ["main"]

COMMAND_MODULES = ("sim", "bag", "record", "build", "export", "explore")


@click.group(cls=RobotLoggerGroup, context_settings={"help_option_names": ["-h", "--help"]})
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


for _name in COMMAND_MODULES:
    for _command in importlib.import_module(f"robot_logger.cli.{_name}").COMMANDS:
        main.add_command(_command)

"""One setting that is both a CLI flag and a ROS 2 node parameter, so the two cannot drift apart.

A command's table of Params (record/params.py: RECORD_PARAMS, sim/params.py: SIM_PARAMS) makes
the click options of `robot-logger record` / `robot-logger sim` (cli.common.param_options) and the
parameters the `recorder` / `sim_cell` nodes declare (nodes.node_setup.read_parameters); the
same name is the key in config/cell.yaml. The library turns the values into validated options.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Param"]


@dataclass(frozen=True)
class Param:
    """One setting: name (snake_case), default (its type is the parameter's type), help;
    `choices` for a string from a fixed set; `many` = list of strings; `short` = a short CLI
    flag (`-o`). A bool that defaults to True is `--name/--no-name` on the CLI."""

    name: str
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    many: bool = False
    short: str | None = None

    @property
    def flag(self) -> str:
        """The CLI flag of this parameter."""
        return "--" + self.name.replace("_", "-")

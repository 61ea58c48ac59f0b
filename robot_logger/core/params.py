"""One setting that is both a CLI flag and a ROS 2 node parameter, so the two cannot drift apart.

A command's table of Params (record/params.py: RECORD_PARAMS, sim/params.py: SIM_PARAMS) makes
the click options of `robot-logger record` / `robot-logger sim` (cli.common.param_options) and the
parameters the `recorder` / `sim_cell` nodes declare (nodes.node_setup.read_parameters); the
same name is the key in config/cell.yaml. The library turns the values into validated options.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from robot_logger.errors import ConfigError

__all__ = ["Param"]

_KINDS = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}


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

    def coerce(self, value: Any) -> Any:
        """`value` as this parameter's type, from a typed source (a ROS 2 parameter, which takes
        its type from the YAML text: `duration:=2` is an integer, `output:=2024_05_01` the
        integer 20240501). Widens an integer to a float and one string to a list of one;
        anything else of the wrong type is a ConfigError naming the parameter and the value."""
        if self.many:
            items = [value] if isinstance(value, str) else value
            if isinstance(items, (list, tuple)) and all(isinstance(v, str) for v in items):
                return list(items)
            raise ConfigError(f"{self.name} must be a list of strings, not {value!r}")
        kind = type(self.default)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not kind:
            quote = (f"; quote it to keep the text: {self.name}:=\"'{value}'\""
                     if kind is str else "")
            raise ConfigError(f"{self.name} must be {_KINDS[kind]}, not {value!r}{quote}")
        if self.choices is not None and value not in self.choices:
            named = ", ".join(c for c in self.choices if c)
            raise ConfigError(f"{self.name} must be one of {named}, not {value!r}")
        return value

    @property
    def flag(self) -> str:
        """The CLI flag of this parameter."""
        return "--" + self.name.replace("_", "-")

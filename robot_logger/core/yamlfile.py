"""Read a user's YAML file (build config, labels file, QoS overrides) with one kind of error, and
check its keys with one checker (`YamlMap`) that names the file and key path of every problem."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, overload

import yaml

from robot_logger.errors import ConfigError

__all__ = ["YamlMap", "check_within", "load_yaml"]


def load_yaml(path: str | Path, what: str) -> Any:
    """Parsed YAML of `path`; ConfigError naming the file (and line/column of a syntax error).

    `what` says what the file is for ("build config", "labels file", …), for the message.
    """
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{path}: cannot read {what}: {err.strerror or err}") from err
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: {what} is not UTF-8 text") from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{path}: invalid YAML{where} ({what}): {problem}") from err


class YamlMap:
    """One mapping of a user's YAML file, read so that every error names `file: key.path`.

    The one key-path checker for the build config, labels files and QoS override files: wrap the
    parsed mapping, say which keys are allowed and required, read typed values, descend with
    `sub` (a mapping below a key) or by wrapping list items at `key_path(key, index)`:

        top = YamlMap(load_yaml(path, "labels file"), path)
        top.check_known(("episodes",), required=("episodes",))
        first = YamlMap(top.data["episodes"][0], path, top.key_path("episodes", 0))
        first.get("task", str, "")      # ConfigError "labels.yaml: episodes[0].task: expected
                                        # a string, got 3"
    """

    def __init__(self, data: Any, source: str | Path, path: str = "") -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: {path or 'top level'}: must be a mapping, got {data!r}")
        self.data: dict[Any, Any] = dict(data)
        self.source = str(source)
        self.path = path

    def key_path(self, key: Any, index: int | None = None) -> str:
        """Path of a key below this mapping (`a.b`), or of item `index` of its list (`a.b[3]`)."""
        path = f"{self.path}.{key}" if self.path else str(key)
        return path if index is None else f"{path}[{index}]"

    def where(self, key: Any) -> str:
        """`file: path.key`, the prefix of every error about `key`."""
        return f"{self.source}: {self.key_path(key)}"

    def fail(self, key: Any, message: str) -> ConfigError:
        """The error to raise about `key`."""
        return ConfigError(f"{self.where(key)}: {message}")

    def check_known(self, allowed: Sequence[str], required: Sequence[str] = ()) -> None:
        """Every key is one of `allowed`, and every one of `required` is there."""
        unknown = sorted((k for k in self.data if k not in allowed), key=str)
        if unknown:
            raise self.fail(unknown[0], f"unknown key (allowed: {', '.join(allowed)})")
        for key in required:
            if key not in self.data:
                raise self.fail(key, "required key is missing")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None,
            *, required: bool = False) -> Any:
        """The value at `key` if it is of `kind` (an int is accepted as a float, a bool never as
        a number, NaN and infinity never); `default` when absent or null, unless `required`."""
        if key not in self.data or self.data[key] is None:
            if required:
                raise self.fail(key, "required key is missing")
            return default
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
            raise self.fail(key, f"expected {_type_name(kind)}, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):   # YAML's .nan, .inf
            raise self.fail(key, f"expected a finite number, got {value!r}")
        return value

    @overload
    def choice(self, key: str, choices: Sequence[str], default: str) -> str: ...

    @overload
    def choice(self, key: str, choices: Sequence[str], default: None) -> str | None: ...

    def choice(self, key: str, choices: Sequence[str], default: str | None) -> str | None:
        """A string value that must be one of `choices`."""
        value: str | None = self.get(key, str, default)
        if value is not None and value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def positive(self, key: str, default: float | None, *, allow_zero: bool = False) -> Any:
        """A number > 0 (>= 0 with `allow_zero`)."""
        value = self.get(key, float, default)
        if value is not None and (value < 0 or (value == 0 and not allow_zero)):
            raise self.fail(key, f"must be {'>= 0' if allow_zero else '> 0'}, got {value}")
        return value

    def within(self, key: str, kind: type, default: Any, low: float, high: float,
               unit: str = "") -> Any:
        """A value of `kind` between `low` and `high` (inclusive; `check_within`)."""
        value = self.get(key, kind, default)
        if value is not None:
            check_within(self.where(key), value, low, high, unit)
        return value

    def sub(self, key: str) -> YamlMap:
        """The mapping below `key` (an empty one when the key is absent or null)."""
        return YamlMap(self.data.get(key) or {}, self.source, self.key_path(key))


def check_within(where: str, value: float, low: float, high: float, unit: str = "") -> None:
    """ConfigError `where: must be between LOW and HIGH UNIT, got VALUE` unless low <= value <=
    high (NaN never is); the one wording of every bounded setting, from a file or an option."""
    if not low <= value <= high:
        raise ConfigError(f"{where}: must be between {_number(low)} and {_number(high)}{unit}, "
                          f"got {value}")


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _type_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "an integer", float: "a number", str: "a string", list: "a list",
             dict: "a mapping", bool: "true/false"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)

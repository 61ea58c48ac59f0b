"""Read a user's YAML file (build config, labels file, QoS overrides) with one kind of error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from robot_logger.errors import ConfigError

__all__ = ["load_yaml"]


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

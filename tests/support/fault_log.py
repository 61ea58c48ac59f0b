"""Outcome log behind `tools/fault_table.py`: fault tests append one JSON line per fault tried.

Logging is off unless ROBOT_LOGGER_FAULT_LOG names a file (the table tool sets it), so a normal
test run writes nothing. Each line: {"fault": ..., "outcome": ..., plus details such as loss}.
"""

from __future__ import annotations

import json
import os
from typing import Any

__all__ = ["LOG_ENV", "log_fault", "cli_outcome"]

LOG_ENV = "ROBOT_LOGGER_FAULT_LOG"


def log_fault(fault: str, outcome: str, **details: Any) -> None:
    """Append one tried fault and what came of it (no-op unless LOG_ENV is set)."""
    path = os.environ.get(LOG_ENV)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as log:
        log.write(json.dumps({"fault": fault, "outcome": outcome, **details}, default=str) + "\n")


def cli_outcome(result: Any) -> str:
    """Classify a click CliRunner result: `ok`, `error` (one `error: …` line, exit 2),
    `invalid` (validate's exit 1), else `crash: …` (a traceback, a hang or another exit)."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return f"crash: {type(result.exception).__name__}: {result.exception}"
    if result.exit_code == 0:
        return "ok"
    lines = result.stderr.strip().splitlines()
    if result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "):
        return "error"
    if result.exit_code == 1 and "INVALID" in result.stdout:
        return "invalid"
    return f"crash: exit {result.exit_code}: {result.output[-300:]}"

#!/usr/bin/env python3
"""Run the whole fault matrix and print its table: fault, how often tried, outcome.

    .venv/bin/python tools/fault_table.py            # everything, slow tests included (~20 min)
    .venv/bin/python tools/fault_table.py --quick    # the fast tests only (~2 min)
    .venv/bin/python tools/fault_table.py -k kill    # a subset (pytest -k)

The fault tests (tests/test_faults_*.py, tests/test_fuzz.py) append one JSON line per fault they
try to the file named by ROBOT_LOGGER_FAULT_LOG (tests/fault_log.py); this script sets it, runs
pytest, and groups the lines. A failed assertion still logs its case as FAILED before it raises,
so the table shows failures next to the pytest summary. Exit status is pytest's.

It tests the tree it lives in: for a table of a commit, run it from a clean export of that commit
(`git archive HEAD | tar -x -C DIR`, then `PYTHONPATH=DIR python DIR/tools/fault_table.py`).
Mounting the tiny filesystems needs root; without it those rows are missing (tests skip).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ["tests/test_faults_kill.py", "tests/test_faults_disk.py", "tests/test_faults_corrupt.py",
         "tests/test_faults_config.py", "tests/test_fuzz.py"]


def run_tests(quick: bool, select: str | None, log: Path) -> tuple[int, float, str]:
    """pytest over the fault tests; returns (exit code, seconds, its summary line)."""
    args = [sys.executable, "-m", "pytest", "-q", *TESTS, "-m", "not slow" if quick else
            "slow or not slow", "-p", "no:randomly"]
    if select:
        args += ["-k", select]
    started = time.perf_counter()
    done = subprocess.run(args, cwd=ROOT, env={**os.environ, "ROBOT_LOGGER_FAULT_LOG": str(log)},
                          capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    failures = [line for line in lines if line.startswith("FAILED")]
    summary = "\n".join(failures + lines[-1:])
    return done.returncode, time.perf_counter() - started, summary


def loss_note(rows: list[dict]) -> str:
    """Loss figures of the recorder kills: lost messages and the measured loss window."""
    lost = [r["lost"] for r in rows if "lost" in r]
    window = [r["window_s"] for r in rows if "window_s" in r]
    if not lost:
        return ""
    recovered = [r["recovered"] for r in rows if "recovered" in r]
    return (f" (recovered {min(recovered)}-{max(recovered)} msgs; lost {min(lost)}-{max(lost)}, "
            f"oldest lost message received at most {max(window):.2f} s before the kill)")


def command_note(rows: list[dict]) -> str:
    """Per-command outcome tallies of the fuzz cases (info: error 36, ok 22; ...)."""
    tallies = {cmd: Counter(r[cmd] for r in rows if cmd in r)
               for cmd in ("info", "repair", "build", "validate")}
    parts = [f"{cmd}: " + ", ".join(f"{what} {n}" for what, n in sorted(c.items()))
             for cmd, c in tallies.items() if c]
    return f" ({'; '.join(parts)})" if parts else ""


def table(rows: list[dict]) -> str:
    by_fault: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_fault[row["fault"]].append(row)
    lines = ["| fault | tried | outcome |", "|---|---:|---|"]
    for fault in sorted(by_fault):
        group = by_fault[fault]
        counts = Counter(r["outcome"] for r in group)
        outcome = "; ".join(f"{what} x{n}" if len(counts) > 1 or n > 1 else what
                            for what, n in sorted(counts.items()))
        lines.append(f"| {fault} | {len(group)} | {outcome}{loss_note(group)}"
                     f"{command_note(group)} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fast tests only (no slow ones)")
    parser.add_argument("-k", dest="select", help="only tests matching this pytest -k expression")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "faults.jsonl"
        log.touch()
        code, seconds, summary = run_tests(args.quick, args.select, log)
        rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    print(table(rows))
    crashes = sum(1 for r in rows if "crash" in r["outcome"] or r["outcome"] == "FAILED")
    reasons = Counter(r["reason"] for r in rows if "reason" in r)
    if reasons:
        print("\nwhat failed (distinct reasons):")
        print("\n".join(f"  x{n} {why}" for why, n in reasons.most_common(10)))
    print(f"\n{len(rows)} fault cases logged, {crashes} crashed or failed; "
          f"pytest ({'fast' if args.quick else 'fast + slow'}) took {seconds:.0f} s:")
    print(summary)
    return code


if __name__ == "__main__":
    sys.exit(main())

"""Start-up benchmark: how long the CLI takes before it does any work (issue 16 item 5).

    .venv/bin/python tools/bench_startup.py [--repeat 5]

Each command runs `--repeat` times in a fresh interpreter; the median wall time and the median CPU
time (user + system of the child: on a loaded machine wall time mostly measures waiting for a
core) are printed next to the same run's baseline, a bare `python -c pass`, so the ratio says what
robot_logger adds:
  import robot_logger        the lazy front door (target: nothing heavy, a few ms over bare)
  robot-logger --help        the command list without importing any command's module
  robot-logger info BAG      a small real bag (tests/data/real-bags/r2_mcap_talker_v4)
Target: --help and info well under 1 s. The machine is shared: compare within one run.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMALL_BAG = ROOT / "tests" / "data" / "real-bags" / "r2_mcap_talker_v4"
CLI = "from robot_logger.cli import main; main()"
COMMANDS = {
    "python -c pass (baseline)": ["-c", "pass"],
    "import robot_logger": ["-c", "import robot_logger"],
    "robot-logger --help": ["-c", CLI, "--help"],
    "robot-logger info (small bag)": ["-c", CLI, "info", str(SMALL_BAG)],
}


def median_seconds(args: list[str], repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds of `python args...` over `repeat` runs."""
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        # not cwd=ROOT: `python -c` puts the working directory first on sys.path, and the
        # robot_logger measured is the one PYTHONPATH / the installed package names
        subprocess.run([sys.executable, *args], check=True, capture_output=True, cwd="/")
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    results = {name: median_seconds(cmd, args.repeat) for name, cmd in COMMANDS.items()}
    base_wall, base_cpu = results["python -c pass (baseline)"]
    print(f"{'':<32} {'wall':>8} {'CPU':>8}  CPU vs bare python")
    for name, (wall, cpu) in results.items():
        print(f"{name:<32} {wall * 1e3:5.0f} ms {cpu * 1e3:5.0f} ms  {cpu / base_cpu:5.1f}x")


if __name__ == "__main__":
    main()

"""`robot-logger`: every command listed and runnable; start-up loads only what a verb needs."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys

import click
from click.testing import CliRunner

import robot_logger.cli
from robot_logger.cli import COMMANDS, main
from tests.support.paths import REAL_BAGS, REPO

# what no start-up of `--help` or `info` should load: the dataset, simulator, recorder and repair
# code and the heavy libraries behind them
NOT_FOR_INFO = ("robot_logger.dataset", "robot_logger.sim", "robot_logger.record",
                "robot_logger.bag.repair", "h5py", "open3d", "PIL", "torch", "ray")


def _modules_after(args: list[str]) -> set[str]:
    """sys.modules after running the CLI with `args` in a fresh interpreter."""
    code = ("import json, sys\nfrom robot_logger.cli import main\n"
            f"main({args!r}, standalone_mode=False)\n"
            "print('MODULES ' + json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO, timeout=120).stdout
    line = next(x for x in out.splitlines() if x.startswith("MODULES "))
    return set(json.loads(line.removeprefix("MODULES ")))


def _loaded(modules: set[str], prefixes: tuple[str, ...]) -> set[str]:
    return {m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes)}


def test_command_table_lists_every_command_with_its_own_help_line():
    defined = {}
    for info in pkgutil.iter_modules(robot_logger.cli.__path__):
        module = importlib.import_module(f"robot_logger.cli.{info.name}")
        for command in getattr(module, "COMMANDS", []):
            defined[command.name] = (info.name, command)
    assert set(defined) == set(COMMANDS)
    for name, (module, line) in COMMANDS.items():
        assert defined[name][0] == module
        real = defined[name][1]
        assert click.Command(name, help=line).get_short_help_str(200) == \
            real.get_short_help_str(200), \
            f"{name}: copy its docstring's first sentence into COMMANDS in robot_logger/cli"


def test_every_listed_command_runs_its_help():
    for name in COMMANDS:
        result = CliRunner().invoke(main, [name, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output, (name, result.output)
    result = CliRunner().invoke(main, ["nosuchverb"])
    assert result.exit_code == 2 and "No such command" in result.output


def test_help_loads_no_command_module():
    loaded = _modules_after(["--help"])
    assert not _loaded(loaded, NOT_FOR_INFO + ("numpy", "rosbags", "robot_logger.bag", "tqdm"))
    assert "click" in loaded


def test_info_loads_only_the_bag_reading_code():
    loaded = _modules_after(["info", str(REAL_BAGS / "r2_mcap_talker_v4")])
    assert not _loaded(loaded, NOT_FOR_INFO)
    assert "robot_logger.bag.info" in loaded and "robot_logger.cli.bag" in loaded


def test_an_error_naming_a_key_with_a_control_character_stays_one_line(tmp_path, make_bag):
    """Found by the fuzzer: a stream named "\\r" made the error two lines (`streams.\\r: ...`)."""
    bag, _ = make_bag()
    config = tmp_path / "build.yaml"
    config.write_text('rate_hz: 10\nstreams: {"\\r": true, "a\\nb": true}\n')
    result = CliRunner().invoke(main, ["build", str(bag), "-o", str(tmp_path / "o.h5"),
                                       "--config", str(config)])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(config) in lines[0]
    assert "\\r" in lines[0] or "\\n" in lines[0]


def test_a_reader_that_closes_the_pipe_ends_the_command_quietly():
    """`robot-logger info BAG | head -1`: the reader is gone before the command writes. Like cat
    or grep, it stops without a word and exits 141 (128 + SIGPIPE) for `set -o pipefail`; it said
    `error: Broken pipe` (exit 2), an error in a command that did nothing wrong."""
    bag = REAL_BAGS / "r2_mcap_talker_v4"
    proc = subprocess.Popen([sys.executable, "-c", "from robot_logger.cli import main; main()",
                             "info", str(bag)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141, err
    assert err == ""

"""`robot-logger info` and `repair` from the command line: output, --json, --strict, exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from robot_logger.cli import main
from tests.support.bag_factory import joint_msgs, storage_file, write_bag
from tests.support.paths import REAL_BAGS


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]


def test_info_text_and_json(make_bag):
    path, cell = make_bag(episodes=1)
    text = run("info", path)
    assert text.exit_code == 0, text.output
    assert "/cell/arm1/joint_states" in text.output and "episodes:  1" in text.output
    report = json.loads(run("info", path, "--json").output)
    total = sum(1 for _ in cell.messages())
    assert report["message_count"] == total
    assert report["topics"]["/cell/arm1/joint_states"]["clock"] == "header"


@pytest.mark.parametrize("make", ["missing", "empty_dir", "text_file", "truncated"])
def test_info_errors_are_one_line_exit_2(tmp_path, make):
    path = tmp_path / "bag"
    if make == "empty_dir":
        path.mkdir()
    elif make == "text_file":
        path = tmp_path / "notes.txt"
        path.write_text("hi")
    elif make == "truncated":
        write_bag(path, joint_msgs("/j", 300, 2_000_000), "mcap")
        file = storage_file(path)
        file.write_bytes(file.read_bytes()[:3000])
    one_line_error(run("info", path), str(path))


def test_info_strict_turns_warnings_into_errors():
    bag = REAL_BAGS / "r2_mcap_talker_v4"
    assert run("info", bag).exit_code == 0
    one_line_error(run("info", bag, "--strict"), "metadata.yaml", "--strict")


def test_killed_bag_info_says_repair_then_repair_then_info(make_bag):
    path, _ = make_bag(faults="truncate=0.9")   # ~1.7 MB: one 1 MiB chunk reaches the disk
    one_line_error(run("info", path), f"robot-logger repair {path}")
    repaired = run("repair", path, "--json")
    assert repaired.exit_code == 0, repaired.output
    report = json.loads(repaired.output)
    assert report["output"] == f"{path}.repaired" and report["message_count"] > 0
    after = json.loads(run("info", report["output"], "--json").output)
    assert after["message_count"] == report["message_count"]
    assert run("repair", path).exit_code == 2              # BAG.repaired exists now
    text = run("repair", path, "-o", path.parent / "again")
    assert "the original is untouched" in text.output and "lost:" in text.output


def test_installed_command_in_a_subprocess(tmp_path):
    exe = shutil.which("robot-logger", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("robot-logger is not installed in this environment (pip install -e .)")
    missing = subprocess.run([exe, "info", str(tmp_path / "nope")], capture_output=True,
                             text=True, timeout=120)
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'nope'}: no such bag (the path does not exist)"]
    bag = write_bag(tmp_path / "bag", joint_msgs("/j", 20, 2_000_000), "sqlite3")
    ok = subprocess.run([exe, "info", str(bag), "--json"], capture_output=True, text=True,
                        timeout=120)
    assert ok.returncode == 0 and json.loads(ok.stdout)["topics"]["/j"]["count"] == 20

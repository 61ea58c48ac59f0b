"""The architecture rules are enforced, not just written down.

`lint-imports` checks the contracts in `.importlinter` (layers, the offline dataset side, pure
`dataset.ops`, the light recorder node); these tests show the checker passes on the tree, fails on
a deliberately wrong arrow, that ruff fails on a lint error, and — in a fresh interpreter, the way
`ros2 run` starts it — what the recorder node and the package root really import.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO

BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.skip(f"{name} is not installed in this environment (pip install -e '.[test]')")
    return str(path)


def _copy_tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(REPO / "robot_logger", root / "robot_logger",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in (".importlinter", "ruff.toml"):
        shutil.copy(REPO / name, root / name)
    return root


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_tool("lint-imports"), "--config", str(root / ".importlinter"),
                           "--no-cache"], cwd=root, capture_output=True, text=True, timeout=120)


def test_import_contracts_hold_on_the_tree(tmp_path):
    result = _lint_imports(_copy_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize("module, wrong_import, contract", [
    ("bag/reader.py", "import robot_logger.dataset.build.pipeline", "Layers"),
    ("record/recorder.py", "import robot_logger.sim.cell", "Layers"),
    ("dataset/ops/align.py", "import h5py", "dataset.ops is pure"),
    ("dataset/read/loader.py", "import robot_logger.transport.dds", "never needs the live side"),
    ("record/monitor.py", "import matplotlib.pyplot", "recorder node loads only"),
])
def test_a_wrong_import_breaks_a_contract(tmp_path, module, wrong_import, contract):
    root = _copy_tree(tmp_path)
    path = root / "robot_logger" / module
    path.write_text(path.read_text() + f"\n{wrong_import}  # noqa\n")
    result = _lint_imports(root)
    assert result.returncode != 0
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(contract in line for line in broken), result.stdout


def test_ruff_fails_on_a_lint_error(tmp_path):
    root = _copy_tree(tmp_path)
    ruff = [_tool("ruff"), "check", "--no-cache", "robot_logger"]
    clean = subprocess.run(ruff, cwd=root, capture_output=True, text=True, timeout=120)
    assert clean.returncode == 0, clean.stdout
    path = root / "robot_logger" / "core" / "events.py"
    path.write_text(path.read_text() + "\nimport os\n" + "x = '" + "y" * 120 + "'\n")
    dirty = subprocess.run(ruff, cwd=root, capture_output=True, text=True, timeout=120)
    assert dirty.returncode != 0
    assert "F401" in dirty.stdout and "E501" in dirty.stdout


def _modules_after(statement: str) -> set[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO, timeout=120).stdout
    return {name.split(".")[0] if not name.startswith("robot_logger") else name
            for name in json.loads(out)}


def test_recorder_node_imports_only_the_recording_path():
    loaded = _modules_after("import robot_logger.nodes.recorder_node")
    forbidden = {"h5py", "PIL", "open3d", "matplotlib", "click", "tqdm"}
    assert not loaded & forbidden
    assert not {m for m in loaded if m.startswith(("robot_logger.sim", "robot_logger.dataset",
                                                   "robot_logger.cli"))}
    assert "robot_logger.record.recorder" in loaded  # the check saw a real import


def test_importing_the_package_root_loads_nothing_heavy():
    loaded = _modules_after("import robot_logger")
    assert not loaded & {"numpy", "h5py", "rosbags", "cyclonedds", "open3d", "torch", "ray",
                         "matplotlib", "click", "PIL"}
    loaded = _modules_after("from robot_logger import SequenceDataset")
    assert "robot_logger.dataset.read.loader" in loaded and "h5py" in loaded

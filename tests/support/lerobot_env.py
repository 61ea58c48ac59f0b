"""lerobot 0.6.1 in its own Python 3.12 environment, to read LeRobot exports back in tests.

lerobot >= 0.5 needs Python >= 3.12 and robot_logger's venv is 3.11, so the reader runs as a
subprocess of another interpreter. `tools/lerobot_env.sh` makes that environment once in a cache
outside the repository (~5 min and ~5.4 GB the first time, 0.3 s to find it afterwards); the
`lerobot_python` fixture skips, naming the machine fact, where this machine has no Python 3.12.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.paths import REPO

ENV_SCRIPT = REPO / "tools" / "lerobot_env.sh"
READER = Path(__file__).with_name("lerobot_reader.py")
_MAKE_TIMEOUT_S = 1800
_READ_TIMEOUT_S = 600


@pytest.fixture(scope="session")
def lerobot_python() -> Path:
    """The Python 3.12 interpreter importing lerobot 0.6.1 (made once by tools/lerobot_env.sh)."""
    done = subprocess.run(["bash", str(ENV_SCRIPT)], capture_output=True, text=True,
                          timeout=_MAKE_TIMEOUT_S, check=False)
    if done.returncode == 3:
        pytest.skip(done.stderr.strip().removeprefix("error: "))
    if done.returncode != 0:
        raise RuntimeError(f"tools/lerobot_env.sh failed ({done.returncode}):\n{done.stderr}")
    return Path(done.stdout.strip().splitlines()[-1])


def read_back(python: Path, root: Path, repo_id: str, out: Path, *,
              full: bool = False) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Run lerobot_reader.py on an export: its result.json and arrays.npz (see that module)."""
    args = [str(python), str(READER), str(root), repo_id, str(out)] + (["--full"] if full else [])
    done = subprocess.run(args, capture_output=True, text=True, timeout=_READ_TIMEOUT_S,
                          check=False, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin",
                                            "HOME": str(out), "SVT_LOG": "1"})
    if done.returncode != 0:
        raise AssertionError(f"lerobot could not read {root}:\n{done.stderr[-4000:]}")
    result = json.loads((out / "result.json").read_text())
    with np.load(out / "arrays.npz") as arrays:
        return result, {key: arrays[key] for key in arrays.files}

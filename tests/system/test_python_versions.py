"""The package on the Pythons its users run: 3.10 (Humble, Ubuntu 22.04) and 3.12 (Jazzy, 24.04).

The development venv is 3.11, so these tests take other interpreters of this machine (pyenv's, or
`python3.10` / `python3.12` on PATH) and skip, naming the missing one, where there are none.
- Fast: every module byte-compiles on both with SyntaxWarning as an error (3.12 warns on escapes
  3.11 accepted silently), and `pip install .` into a fresh venv of each, with the pip and
  setuptools that interpreter ships (3.10's pip 23.0 and no `wheel` takes the legacy
  `setup.py install` route), puts `robot-logger` in the venv's bin/, where users look for it.
- Slow: the same install with every dependency from PyPI, then sim -> info -> build -> validate
  on that interpreter, and every module imports (except the rclpy transport and the LeRobot
  export, whose packages are not runtime dependencies).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.paths import CONFIG, REPO, package_sources

VERSIONS = ("3.10", "3.12")


def _python(version: str) -> Path:
    """An interpreter of that version on this machine, or skip naming the missing one."""
    found = shutil.which(f"python{version}")
    candidates = [found] if found else []
    candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python"
                                                      f"{version}")))
    for candidate in candidates:
        done = subprocess.run([candidate, "-c", "import venv, ensurepip"], capture_output=True,
                              check=False)
        if done.returncode == 0:
            return Path(candidate)
    pytest.skip(f"no Python {version} with venv/ensurepip on this machine (looked for "
                f"python{version} on PATH and ~/.pyenv/versions/{version}.*)")


def _venv(python: Path, where: Path) -> Path:
    subprocess.run([str(python), "-m", "venv", str(where)], check=True, capture_output=True)
    return where / "bin"


def _pip_install(bin_dir: Path, source: Path, *extra: str) -> None:
    done = subprocess.run([str(bin_dir / "pip"), "install", "-q", "--disable-pip-version-check",
                           *extra, str(source)], capture_output=True, text=True, check=False,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.parametrize("version", VERSIONS)
def test_every_module_compiles_without_warnings(version: str, tmp_path: Path) -> None:
    python = _python(version)
    script = ("import pathlib, py_compile, sys\n"
              "out = pathlib.Path(sys.argv[2])\n"
              "for i, src in enumerate(sorted(pathlib.Path(sys.argv[1]).rglob('*.py'))):\n"
              "    py_compile.compile(str(src), cfile=str(out / f'{i}.pyc'), doraise=True)\n"
              "    print(src)\n")
    done = subprocess.run([str(python), "-W", "error", "-c", script, str(REPO / "robot_logger"),
                           str(tmp_path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    compiled = done.stdout.split()
    assert len(compiled) == len(list((REPO / "robot_logger").rglob("*.py"))) > 90


@pytest.mark.parametrize("version", VERSIONS)
def test_pip_install_puts_the_cli_on_the_venvs_path(version: str, tmp_path: Path) -> None:
    bin_dir = _venv(_python(version), tmp_path / "venv")
    _pip_install(bin_dir, package_sources(tmp_path / "src"), "--no-deps")
    cli = bin_dir / "robot-logger"
    assert cli.is_file(), (f"pip put no robot-logger in {bin_dir}: "
                           f"{sorted(p.name for p in bin_dir.iterdir())}")
    assert cli.read_text().splitlines()[0].startswith(f"#!{bin_dir / 'python'}")
    for script in ("recorder", "sim_cell"):
        assert (bin_dir / script).is_file()


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
def test_sim_info_build_validate_on_that_python(version: str, tmp_path: Path) -> None:
    bin_dir = _venv(_python(version), tmp_path / "venv")
    _pip_install(bin_dir, package_sources(tmp_path / "src"))

    def cli(*args: str) -> str:
        done = subprocess.run([str(bin_dir / "robot-logger"), *args], cwd=tmp_path,
                              capture_output=True, text=True, check=False, timeout=300)
        assert done.returncode == 0, f"robot-logger {' '.join(args)}:\n{done.stderr[-3000:]}"
        return done.stdout

    cli("sim", "-o", "bag", "--duration", "2")
    assert "/cell/lidar/points" in cli("info", "bag")
    cli("build", "bag", "-o", "d.h5", "--config", str(CONFIG / "dataset.yaml"))
    assert "valid" in cli("validate", "d.h5")
    script = ("import importlib, pkgutil, robot_logger\n"
              "skip = {'robot_logger.transport.rclpy', 'robot_logger.dataset.export'}\n"
              "for m in pkgutil.walk_packages(robot_logger.__path__, 'robot_logger.'):\n"
              "    if not any(m.name == s or m.name.startswith(s + '.') for s in skip):\n"
              "        importlib.import_module(m.name)\n"
              "        print(m.name)\n")
    done = subprocess.run([str(bin_dir / "python"), "-W", "error::SyntaxWarning", "-c", script],
                          cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(done.stdout.split()) > 80

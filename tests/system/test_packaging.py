"""The package installs as a ROS 2 ament_python package: package.xml, setup.py data, colcon."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.support.paths import REPO, package_sources

ROOT = REPO


def test_package_xml_is_format_3_ament_python_with_the_ros_dependencies() -> None:
    root = ET.parse(ROOT / "package.xml").getroot()
    assert root.get("format") == "3"
    assert root.findtext("name") == "robot_logger"
    assert root.findtext("export/build_type") == "ament_python"
    exec_deps = {e.text for e in root.findall("exec_depend")}
    assert {"rclpy", "std_msgs", "sensor_msgs", "launch", "launch_ros"} <= exec_deps
    assert {e.text for e in root.findall("test_depend")} >= {"ament_flake8", "python3-pytest"}


def test_version_agrees_between_package_xml_setup_and_module() -> None:
    from robot_logger import __version__

    root = ET.parse(ROOT / "package.xml").getroot()
    setup_version = subprocess.run(
        [sys.executable, "setup.py", "--version"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[-1]
    assert root.findtext("version") == setup_version == __version__


@pytest.mark.skipif(
    shutil.which("colcon", path=str(Path(sys.executable).parent)) is None,
    reason="colcon is not installed in this environment (pip install colcon-common-extensions)",
)
def test_colcon_build_installs_nodes_launch_files_and_configs(tmp_path: Path) -> None:
    colcon = shutil.which("colcon", path=str(Path(sys.executable).parent))
    package_sources(tmp_path / "src" / "robot_logger")
    result = subprocess.run(
        [colcon, "build", "--packages-select", "robot_logger"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    install = tmp_path / "install" / "robot_logger"
    assert {p.name for p in (install / "lib" / "robot_logger").iterdir()} >= {
        "recorder",
        "sim_cell",
        "robot-logger",
    }
    share = install / "share" / "robot_logger"
    assert (share / "package.xml").is_file()
    assert {p.name for p in (share / "launch").iterdir()} == {
        "record_cell.launch.py",
        "sim_cell.launch.py",
    }
    assert {p.name for p in (share / "config").iterdir()} >= {"cell.yaml", "dataset.yaml"}
    assert (
        install / "share" / "ament_index" / "resource_index" / "packages" / "robot_logger"
    ).is_file()

"""`robot-logger build`'s summary: the clocks it corrected and the streams it put on log time."""

from __future__ import annotations

import re

import yaml
from click.testing import CliRunner

from robot_logger.cli import main
from robot_logger.sim.spec import camera_topic, joint_topic


def test_the_summary_names_corrected_clocks_and_streams_on_log_time(tmp_path, make_bag) -> None:
    bag, _ = make_bag(duration_s=1.5, arms=2, cameras=1, lidar=False,
                      faults=f"{camera_topic(1)}:clock_offset_ms=200")
    config = tmp_path / "build.yaml"
    config.write_text(yaml.safe_dump({"streams": {
        "arm1": {"topic": joint_topic(1)},
        "arm2": {"topic": joint_topic(2), "time_source": "log"},
        "cam1": {"topic": camera_topic(1), "clock_offset_ms": -200}}}))
    result = CliRunner().invoke(main, ["build", str(bag), "-o", str(tmp_path / "o.h5"),
                                       "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert re.search(r"device clocks corrected \(offset at t0, drift\):\n"
                     r"  cam1 +fixed +-200\.000 ms +\+0\.00 ppm\n", result.stdout), result.stdout
    assert "aligned on log (receive) time: arm2\n" in result.stdout
    assert "arm1 " not in result.stdout.split("device clocks corrected")[1]

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


def test_an_unchanged_rerun_claims_no_speed(tmp_path, make_bag) -> None:
    """Seen failing before: a rerun that reused every shard said '(34.1x real time)', a speed
    for work it did not do."""
    bag, _ = make_bag(duration_s=1.0, arms=1, cameras=0, lidar=False)
    args = ["build", str(bag), "-o", str(tmp_path / "o.h5")]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0 and "x real time) from 1 bag(s)" in first.stdout, first.output
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert "(every shard reused) from 1 bag(s)\nshards: 0 built, 1 reused unchanged" \
        in again.stdout, again.stdout

"""The per-episode builder (build/episode.py): what it leaves out is counted and reported."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import yaml

from robot_logger.core import messages
from robot_logger.dataset.build.pipeline import build_dataset
from tests.support.bag_factory import START_NS, Msg, write_bag

MS = 1_000_000
REPEATED_JOINTS = (11, 21, 31)       # these joint messages reuse the stamp of the one before
REPEATED_IMAGES = (5, 12)


def _bag(tmp_path: Path) -> Path:
    """3 s of 20 Hz joints and 10 Hz images; some messages repeat the previous stamp with other
    values (a driver that does not advance its stamp)."""
    msgs = []
    for i in range(60):
        stamp = START_NS + (i - (i in REPEATED_JOINTS)) * 50 * MS
        joints = messages.joint_state(stamp, ["a"], [float(i)], [0.0], [0.0])
        msgs.append(Msg("/arm/joint_states", messages.JOINT_STATE, START_NS + i * 50 * MS + MS,
                        messages.serialize(joints, messages.JOINT_STATE)))
    for i in range(30):
        stamp = START_NS + (i - (i in REPEATED_IMAGES)) * 100 * MS
        image = messages.image(stamp, np.full((4, 6, 3), i, np.uint8))
        msgs.append(Msg("/cam/image_raw", messages.IMAGE, START_NS + i * 100 * MS + 2 * MS,
                        messages.serialize(image, messages.IMAGE)))
    return write_bag(tmp_path / "bag", sorted(msgs, key=lambda m: m.log_ns))


def test_messages_repeating_a_stamp_are_counted(tmp_path: Path) -> None:
    """One sample per stamp is kept (the first); seen failing before: the others were dropped
    without a word, though their values differ."""
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"rate_hz": 10, "streams": {
        "arm": {"topic": "/arm/joint_states", "align": "nearest", "tolerance_ms": 25},
        "cam": {"topic": "/cam/image_raw"}}}))
    bag = _bag(tmp_path)
    summary = build_dataset([bag], tmp_path / "out.h5", config_path=config)
    where = f"{bag}: episode at {START_NS + MS} ns"          # the first log time
    assert summary.warnings == [
        f"{where}: stream cam (/cam/image_raw): 2 message(s) repeat an earlier stamp; the first "
        "of each was kept",
        f"{where}: stream arm (/arm/joint_states): 3 message(s) repeat an earlier stamp; the "
        "first of each was kept"]
    with h5py.File(tmp_path / "out.h5", "r") as h5:
        arm = h5["data/demo_0/obs/arm"][()][:, 0]
    assert arm[2] == 4.0 and arm[5] == 10.0     # frame 5 (501 ms): message 10, not its repeat 11

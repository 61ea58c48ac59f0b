"""bag.mcap_writer: MCAP storage written with the mcap package holds what rosbags' own MCAP
backend holds (read back by mcap's and rosbags' readers), plus each message's send time."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from mcap.reader import make_reader
from rosbags.rosbag2 import Reader, Writer
from rosbags.rosbag2.enums import CompressionFormat, CompressionMode, StoragePlugin

from robot_logger.bag.mcap_writer import SendTimeWriter
from robot_logger.core import messages as m

T0 = 1_700_000_000_000_000_000


def _write(cls: type[Writer], path, compression: bool) -> None:
    image = m.serialize(
        m.image(T0, np.arange(60 * 80 * 3, dtype=np.uint8).reshape(60, 80, 3)), m.IMAGE
    )
    names = ["j1", "j2"]
    path.parent.mkdir()
    writer = cls(path, version=9, storage_plugin=StoragePlugin.MCAP)
    if compression:
        writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
    with writer:
        cams = writer.add_connection("/cam", m.IMAGE, typestore=m.typestore())
        joints = writer.add_connection("/js", m.JOINT_STATE, typestore=m.typestore())
        for i in range(200):  # several 1 MiB chunks
            joint = m.serialize(m.joint_state(T0 + i, names, *np.full((3, 2), i)), m.JOINT_STATE)
            if isinstance(writer, SendTimeWriter):
                writer.write_message(cams, T0 + 10 * i, T0 + 10 * i - 7, image)
                writer.write_message(joints, T0 + 10 * i + 1, 0, joint)  # 0: unknown
            else:
                writer.write(cams, T0 + 10 * i, image)
                writer.write(joints, T0 + 10 * i + 1, joint)


def _content(path):
    """Everything a reader sees in the .mcap file (summary-validated by mcap's reader)."""
    with next(path.glob("*.mcap")).open("rb") as stream:
        reader = make_reader(stream)
        header = reader.get_header()
        summary = reader.get_summary()
        schemas = sorted((s.name, s.encoding, s.data) for s in summary.schemas.values())
        channels = sorted((c.topic, c.message_encoding, tuple(c.metadata.items()))
                          for c in summary.channels.values())
        msgs = [(c.topic, msg.log_time, msg.publish_time, msg.data)
                for _, c, msg in reader.iter_messages(log_time_order=False)]
        metadata = [(r.name, r.metadata) for r in reader.iter_metadata()]
        counts = dict(summary.statistics.channel_message_counts)
    return header.profile, schemas, channels, msgs, metadata, sorted(counts.values())


@pytest.mark.parametrize("compression", [False, True])
def test_mcap_storage_holds_what_rosbags_backend_holds_plus_send_times(tmp_path, compression):
    theirs_path, ours_path = tmp_path / "rosbags" / "bag", tmp_path / "ours" / "bag"
    _write(Writer, theirs_path, compression)
    _write(SendTimeWriter, ours_path, compression)
    theirs, ours = _content(theirs_path), _content(ours_path)
    assert ours[0] == theirs[0] == "ros2"
    assert ours[1:3] == theirs[1:3]  # ros2msg schemas; cdr channels with offered_qos_profiles
    assert ours[4:] == theirs[4:]  # the rosbag2 metadata record; per-channel counts
    assert len(ours[3]) == len(theirs[3]) == 400
    for (topic, log, publish, data), (topic2, log2, publish2, data2) in zip(ours[3], theirs[3]):
        assert (topic, log, data) == (topic2, log2, data2) and publish2 == log2
        assert publish == (log - 7 if topic == "/cam" else log)
    assert (yaml.safe_load((ours_path / "metadata.yaml").read_text())
            == yaml.safe_load((theirs_path / "metadata.yaml").read_text()))
    with Reader(ours_path) as reader:  # rosbags reads it through its summary
        read = [(c.topic, t, bytes(d)) for c, t, d in reader.messages()]
    assert read == sorted(((t, log, d) for t, log, _, d in ours[3]), key=lambda x: x[1])

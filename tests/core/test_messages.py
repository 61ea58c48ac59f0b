"""core.messages: header stamps read straight from CDR bytes, and which types carry a header."""

from __future__ import annotations

import struct

import numpy as np

from robot_logger.core import messages as m


def test_header_stamp_of_every_stamped_type_matches_its_deserialized_header():
    pixels = np.zeros((2, 3, 3), np.uint8)
    points = np.zeros((4, 4), np.float32)
    for stamp_ns in (0, 1, 1_700_000_000_123_456_789):
        for msgtype, msg in (
            (m.JOINT_STATE, m.joint_state(stamp_ns, ["j1"], *[np.zeros(1)] * 3)),
            (m.IMAGE, m.image(stamp_ns, pixels)),
            (m.POINTCLOUD2, m.pointcloud2(stamp_ns, points)),
        ):
            raw = m.serialize(msg, msgtype)
            assert m.header_stamp_ns(raw) == m.stamp_to_ns(msg.header.stamp) == stamp_ns


def test_header_stamp_big_endian():
    raw = bytes([0, 0, 0, 0]) + struct.pack(">iI", 12, 345) + b"\0" * 8
    assert m.header_stamp_ns(raw) == 12_000_000_345
    raw_le = bytes([0, 1, 0, 0]) + struct.pack("<iI", -1, 999_999_999)
    assert m.header_stamp_ns(raw_le) == -1


def test_header_stamp_of_bytes_too_short_is_zero():
    assert m.header_stamp_ns(b"\0\1\0\0\5\0\0") == 0


def test_has_header_knows_stamped_types_from_the_typestore():
    assert m.has_header(m.JOINT_STATE) and m.has_header(m.IMAGE) and m.has_header(m.POINTCLOUD2)
    assert not m.has_header(m.STRING) and not m.has_header("no_pkg/msg/Nothing")
    assert not m.has_header(m.HEADER)  # a Header's first field is its stamp, not a Header


def test_register_type_reads_a_plants_own_definitions(tmp_path):
    """A plant's own messages (`<pkg>/msg/*.msg`, one using another and a Header) become
    known, with the RIHS01 hash ROS 2 computes from the same text; a missing one says where
    it was looked for."""
    from robot_logger.core import messages as msgs

    (tmp_path / "weld_msgs" / "msg").mkdir(parents=True)
    (tmp_path / "weld_msgs" / "msg" / "Bead.msg").write_text("float64 width\nfloat64 depth\n")
    (tmp_path / "weld_msgs" / "msg" / "Seam.msg").write_text(
        "std_msgs/Header header\nweld_msgs/Bead[] beads\nuint8 PASS=1\nuint8 quality\n")
    assert msgs.register_type("weld_msgs/msg/Seam", [tmp_path]) is None
    store = msgs.typestore()
    assert {"weld_msgs/msg/Seam", "weld_msgs/msg/Bead"} <= set(store.fielddefs)
    Seam, Bead = store.types["weld_msgs/msg/Seam"], store.types["weld_msgs/msg/Bead"]
    seam = Seam(header=msgs.header(7, "torch"), beads=[Bead(width=1.5, depth=0.2)], quality=1)
    back = msgs.deserialize(msgs.serialize(seam, "weld_msgs/msg/Seam"), "weld_msgs/msg/Seam")
    assert back.beads[0].width == 1.5 and back.quality == Seam.PASS
    assert "no definition of weld_msgs/msg/Torch in" in msgs.register_type(
        "weld_msgs/msg/Torch", [tmp_path])

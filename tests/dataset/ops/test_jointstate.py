"""Vectorised JointState parsing from raw CDR agrees with the deserializer, or declines."""

from __future__ import annotations

import numpy as np

from robot_logger.core import messages
from robot_logger.dataset.ops.jointstate import parse_uniform

NAMES = ["shoulder", "elbow", "wrist_joint_long_name"]


def raw(stamp_ns: int, names: list[str], pos, vel, eff, frame_id: str = "base") -> bytes:
    return messages.serialize(messages.joint_state(stamp_ns, names, pos, vel, eff, frame_id),
                              messages.JOINT_STATE)


def test_uniform_messages_match_deserialize() -> None:
    rng = np.random.default_rng(0)
    raws = [raw(1_700_000_000_123_456_789 + i * 2_000_000, NAMES, *rng.normal(size=(3, 3)))
            for i in range(50)]
    batch = parse_uniform(raws)
    assert batch is not None and batch.names == NAMES
    for i, data in enumerate(raws):
        msg = messages.deserialize(data, messages.JOINT_STATE)
        assert batch.stamps_ns[i] == messages.stamp_to_ns(msg.header.stamp)
        for field in ("position", "velocity", "effort"):
            np.testing.assert_array_equal(batch.fields[field][i], getattr(msg, field))


def test_empty_effort_gives_no_columns() -> None:
    raws = [raw(10**18 + i, NAMES, np.ones(3), np.ones(3), np.zeros(0)) for i in range(3)]
    batch = parse_uniform(raws)
    assert batch is not None and batch.fields["effort"].shape == (3, 0)
    assert batch.fields["velocity"].shape == (3, 3)


def test_varying_layouts_are_declined() -> None:
    base = raw(10**18, NAMES, np.ones(3), np.ones(3), np.ones(3))
    reordered = raw(10**18, NAMES[::-1], np.ones(3), np.ones(3), np.ones(3))
    subset = raw(10**18, NAMES[:2], np.ones(2), np.ones(2), np.ones(2))
    same_length_other_name = raw(10**18, ["shoulder", "elbow", "wrist_joint_long_namX"],
                                 np.ones(3), np.ones(3), np.ones(3))
    assert parse_uniform([base, reordered]) is None
    assert parse_uniform([base, subset]) is None
    assert parse_uniform([base, same_length_other_name]) is None
    big_endian = bytes([0, 0]) + base[2:]
    assert parse_uniform([big_endian]) is None
    assert parse_uniform([]) is None

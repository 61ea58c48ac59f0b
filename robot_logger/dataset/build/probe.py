"""What the planner learns from the start of a bag before anything is built.

    probe = probe_bag(bag, topics)       # one early-stopping pass over the first messages
    probe.samples[topic]                 # first message (deserialized): kind, field, frame_id
    probe.names[topic]                   # joint names seen (named types), first-seen order
    probe.stamps[topic]                  # (header stamp or 0, log time) per message read
    probe.min_offset_ns(topic)           # smallest log - header seen (clock check)

Every topic is read until it has PROBE_MESSAGES messages or PROBE_WINDOW_NS of log time after
its first one, whichever comes first: 1 s covers joint states published as alternating subsets
(arm and gripper joints in separate messages), and 200 messages bound the work on a 1 kHz topic.
A bag whose stream topics all start within the first second costs about one second of it.
/tf is probed the same way: the first pose of each moving frame, used for an extrinsic only
when /tf_static has no path (with a warning: the frame moves, the extrinsic is its first pose).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from robot_logger.bag.reader import BagReader
from robot_logger.core.messages import TF_MESSAGE, TF_TOPIC, header_stamp_ns
from robot_logger.dataset.ops.fields import NAMES_ATTR
from robot_logger.dataset.ops.transforms import Transform

__all__ = ["PROBE_MESSAGES", "PROBE_WINDOW_NS", "BagProbe", "probe_bag", "tf_transforms"]

PROBE_MESSAGES = 200
PROBE_WINDOW_NS = 1_000_000_000


@dataclass
class BagProbe:
    """The first messages of some topics of one bag (module docstring)."""

    samples: dict[str, Any] = field(default_factory=dict)
    names: dict[str, list[str]] = field(default_factory=dict)
    stamps: dict[str, list[tuple[int, int]]] = field(default_factory=dict)   # (header, log)
    tf: list[Transform] = field(default_factory=list)      # /tf edges, first pose of each child

    def first_stamp_ns(self, topic: str) -> int:
        """Header stamp of the topic's first probed message; 0 without one (or unprobed)."""
        pairs = self.stamps.get(topic)
        return pairs[0][0] if pairs else 0

    def min_offset_ns(self, topic: str) -> int | None:
        """Smallest log time minus header stamp over the probed messages with a stamp."""
        offsets = [log - stamp for stamp, log in self.stamps.get(topic, ()) if stamp > 0]
        return min(offsets) if offsets else None


def probe_bag(bag: BagReader, topics: Iterable[str]) -> BagProbe:
    """Read the first messages of `topics` (those the bag has, with messages)."""
    wanted = {t for t in topics if bag.topics.get(t) and bag.topics[t].count}
    probe = BagProbe()
    seen: dict[str, int] = {}
    first_log: dict[str, int] = {}
    done: set[str] = set()
    for topic, msgtype, log_ns, raw in bag.messages(sorted(wanted)):
        if topic in done:
            if len(done) == len(wanted):
                break
            continue
        first_log.setdefault(topic, log_ns)
        seen[topic] = seen.get(topic, 0) + 1
        if topic == TF_TOPIC and msgtype == TF_MESSAGE:
            known = {t.child for t in probe.tf}
            probe.tf += [t for t in tf_transforms(bag.deserialize(raw, msgtype))
                         if t.child not in known]
        elif topic not in probe.samples or msgtype in NAMES_ATTR:
            msg = bag.deserialize(raw, msgtype)
            probe.samples.setdefault(topic, msg)
            if msgtype in NAMES_ATTR:
                names = probe.names.setdefault(topic, [])
                names += [n for n in getattr(msg, NAMES_ATTR[msgtype]) if n not in names]
        stamp = header_stamp_ns(raw) if bag.has_header(msgtype) else 0
        probe.stamps.setdefault(topic, []).append((stamp, log_ns))
        if seen[topic] >= min(PROBE_MESSAGES, bag.topics[topic].count) or \
                log_ns - first_log[topic] >= PROBE_WINDOW_NS:
            done.add(topic)
            if len(done) == len(wanted):
                break
    return probe


def tf_transforms(msg: Any) -> list[Transform]:
    """The transforms of one tf2_msgs/TFMessage."""
    out = []
    for item in msg.transforms:
        t, q = item.transform.translation, item.transform.rotation
        out.append(Transform(str(item.header.frame_id).lstrip("/"),
                             str(item.child_frame_id).lstrip("/"),
                             (float(t.x), float(t.y), float(t.z)),
                             (float(q.x), float(q.y), float(q.z), float(q.w))))
    return out


"""Benchmark: low-dim fields of any message type read straight from CDR vs deserialized.

    .venv/bin/python tools/bench_fields.py [--duration 20]

Simulates a cell with `--sensors all` (per arm: JointTrajectory 100 Hz, gripper Float64 100 Hz,
wrist F/T WrenchStamped 250 Hz), then for each topic of arm 1 times, in the same run:
  baseline  rosbags deserialize of every message + the field's values gathered from the objects
            (what the builder does when layouts differ: dataset.ops.fields.FieldSpec.values)
  leaves    core.messages.cdr_leaves on the first message + dataset.ops.cdr.parse_leaves on all
            (the builder's fast path for messages sharing one layout)
and prints us/message for both, their ratio, and that both give equal arrays. Also the
JointState fast path (ops.jointstate.parse_uniform) for comparison, and what planning costs now
that it probes each bag's first second (dataset.build.probe): plan_build with every low-dim
stream and a camera vs reading every message of the bag raw, same run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from robot_logger.bag.reader import open_bag
from robot_logger.core.messages import cdr_leaves
from robot_logger.dataset.build.config import config_from_dict
from robot_logger.dataset.build.plan import plan_build
from robot_logger.dataset.ops.cdr import parse_leaves
from robot_logger.dataset.ops.fields import field_spec
from robot_logger.dataset.ops.jointstate import parse_uniform
from robot_logger.sim import Cell, CellSpec, write_bag

TOPICS = {"/cell/arm1/ft": "wrench",
          "/cell/arm1/joint_trajectory_controller/joint_trajectory": "points.0.positions",
          "/cell/arm1/gripper/position": "data"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bag_path = Path(tmp) / "bag"
        spec = CellSpec(duration_s=args.duration, cameras=1, lidar=False, commands=True,
                        gripper=True, wrench=True)
        write_bag(bag_path, Cell(spec))
        with open_bag(bag_path) as bag:
            for topic, path in TOPICS.items():
                msgs = [(msgtype, bytes(raw)) for _, msgtype, _, raw in bag.messages([topic])]
                msgtype, raws = msgs[0][0], [raw for _, raw in msgs]
                start = time.perf_counter()
                objects = [bag.deserialize(raw, msgtype) for raw in raws]
                field = field_spec(objects[0], path)
                slow, _ = field.values(objects)
                middle = time.perf_counter()
                leaves = cdr_leaves(msgtype, raws[0], bag.typestore)
                assert leaves is not None
                batch = parse_leaves(raws, leaves, header=bag.has_header(msgtype))
                end = time.perf_counter()
                assert batch is not None
                columns = [j for j, (p, _, _) in enumerate(leaves)
                           if p[:len(field.path)] == field.path]
                equal = np.array_equal(batch.values[:, columns], slow)
                base, fast = (middle - start) / len(raws), (end - middle) / len(raws)
                print(f"{msgtype:<36} {len(raws):6d} msgs  baseline {base * 1e6:7.1f} us/msg  "
                      f"leaves {fast * 1e6:6.2f} us/msg  {base / fast:6.0f}x  equal={equal}")
            raws = [bytes(raw) for _, _, _, raw in bag.messages(["/cell/arm1/joint_states"])]
            start = time.perf_counter()
            parse_uniform(raws)
            took = (time.perf_counter() - start) / len(raws)
            print(f"{'sensor_msgs/msg/JointState (own path)':<36} {len(raws):6d} msgs  "
                  f"{took * 1e6:.2f} us/msg")
            start = time.perf_counter()
            count = sum(1 for _ in bag.messages())
            read = time.perf_counter() - start
        streams = {f"s{i}": {"topic": topic} for i, topic in enumerate(TOPICS)}
        streams.update(arm={"topic": "/cell/arm1/joint_states"},
                       cam={"topic": "/cell/cam1/image_raw"})
        config = config_from_dict({"streams": streams}, "bench")
        start = time.perf_counter()
        plan_build([bag_path], config)
        plan = time.perf_counter() - start
        print(f"plan (probe + events) {plan * 1e3:.0f} ms vs raw read of all {count} messages "
              f"{read * 1e3:.0f} ms: {plan / read:.2f}x")


if __name__ == "__main__":
    main()

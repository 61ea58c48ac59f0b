"""A tiny HDF5 dataset written straight from dataset/schema.py, for loader/preview tests.

Temporary: replaced by datasets built from simulated bags once dataset/build.py lands.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from robot_logger.dataset import schema
from robot_logger.dataset.stats import RunningStats

LENGTHS = (7, 5, 9)
TRAIN = ("demo_0", "demo_2")
PHASES = ["approach", "weld", "retract"]


def write_dataset(path: Path, lengths: tuple[int, ...] = LENGTHS) -> Path:
    """Episodes whose values encode (episode, frame), with every member of the layout."""
    rng = np.random.default_rng(0)
    stats = {"arm1_pos": RunningStats(), "actions": RunningStats()}
    with h5py.File(path, "w") as f:
        f.attrs.update({schema.ATTR_FORMAT: schema.FORMAT,
                        schema.ATTR_FORMAT_VERSION: schema.FORMAT_VERSION})
        data = f.create_group(schema.DATA)
        for i, n in enumerate(lengths):
            name = schema.demo_name(i)
            demo = data.create_group(name)
            demo.attrs.update(num_samples=n, task="weld", outcome="success",
                              t_start_ns=i * 10**9, t_end_ns=i * 10**9 + n * 10**8)
            frames = np.arange(n)
            demo[schema.TIMESTAMPS] = i * 10**9 + frames * 10**8
            pos = (100 * i + frames[:, None] + np.arange(6) / 10).astype(np.float32)
            demo[f"{schema.OBS}/arm1_pos"] = pos
            cam = rng.integers(0, 255, (n, 8, 10, 3), dtype=np.uint8)
            demo.create_dataset(f"{schema.OBS}/cam1", data=cam, chunks=(1, 8, 10, 3))
            demo[f"{schema.OBS}/lidar"] = rng.normal(size=(n, 16, 4)).astype(np.float32)
            demo[f"{schema.OBS}/lidar{schema.POINT_MASK_SUFFIX}"] = rng.random((n, 16)) > 0.2
            actions = np.concatenate([pos[1:], pos[-1:]])
            demo[schema.ACTIONS] = actions
            demo[schema.REWARDS] = np.eye(1, n, n - 1, dtype=np.float32)[0]
            demo[schema.DONES] = np.eye(1, n, n - 1, dtype=np.uint8)[0]
            for key in ("arm1_pos", "cam1", "lidar"):
                demo[f"{schema.VALID}/{key}"] = rng.random(n) > 0.1
                demo[f"{schema.AGE_NS}/{key}"] = rng.integers(-10**6, 10**6, n)
            demo[schema.PHASE] = (frames * len(PHASES) // n).astype(np.int16)
            demo[schema.PHASE].attrs[schema.PHASE_NAMES_ATTR] = json.dumps(PHASES)
            if name in TRAIN:
                stats["arm1_pos"].update(pos)
                stats["actions"].update(actions)
        data.attrs.update({schema.ATTR_TOTAL: sum(lengths), schema.ATTR_ENV_ARGS: "{}",
                           schema.ATTR_RATE_HZ: 10.0})
        f[f"{schema.MASK}/train"] = np.array([n.encode() for n in TRAIN])
        f[f"{schema.MASK}/valid"] = np.array([b"demo_1"])
        for key, accumulator in stats.items():
            for stat, value in accumulator.to_dict().items():
                f[f"{schema.STATS}/{key}/{stat}"] = value
        f[f"{schema.JOINT_NAMES}/arm1_pos"] = json.dumps([f"arm1_joint{j}" for j in range(1, 7)])
    return path

"""Where the arms are in space: bases on a line across the cell and a simple 6-joint chain.

Joint 1 turns about z; joints 2, 3 and 5 pitch the shoulder, elbow and wrist; 4 and 6 roll
(they do not move the drawn skeleton). Used by the camera and LiDAR renderers.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LINK_LENGTHS", "LINK_RADII", "arm_base", "skeleton"]

# base column, upper arm, forearm, wrist, tool (m)
LINK_LENGTHS = np.array([0.45, 0.55, 0.45, 0.15, 0.10])
LINK_RADII = np.array([0.09, 0.07, 0.06, 0.045, 0.03])    # m
ARM_SPACING_M = 1.4


def arm_base(arm: int, arms: int) -> np.ndarray:
    """Base position (x, y, z) of arm `arm` (1-based) of `arms`: on the x axis, centred."""
    return np.array([(arm - (arms + 1) / 2) * ARM_SPACING_M, 0.0, 0.0])


def skeleton(q: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Joint positions (..., 6, 3) of poses (..., 6): base, shoulder, elbow, wrist, flange, tip."""
    q = np.asarray(q, np.float64)
    yaw = q[..., 0]
    pitch = np.cumsum(np.stack([q[..., 1], q[..., 2], q[..., 4]], axis=-1), axis=-1)
    pitch = np.concatenate([pitch, pitch[..., -1:]], axis=-1)          # tool continues the flange
    horizontal = np.sin(pitch)
    dirs = np.stack([horizontal * np.cos(yaw)[..., None], horizontal * np.sin(yaw)[..., None],
                     np.cos(pitch)], axis=-1)                 # (..., 4, 3) link directions
    up = np.broadcast_to(np.array([0.0, 0.0, 1.0]), dirs.shape[:-2] + (1, 3))
    steps = np.concatenate([up, dirs], axis=-2) * LINK_LENGTHS[:, None]
    chain = np.cumsum(steps, axis=-2) + base
    start = np.broadcast_to(base, chain.shape[:-2] + (1, 3))
    return np.concatenate([start, chain], axis=-2)

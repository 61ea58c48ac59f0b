"""The static cell around the arms — floor, walls, work tables — and a vectorised ray caster.

Cameras cast one ray per pixel once to paint their background; the LiDAR casts its beam pattern
once to get the static part of every scan. Surfaces: 0 floor, 1 walls, 2+ tables.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ROOM_MIN", "ROOM_MAX", "TABLES", "cast", "FLOOR", "WALL"]

ROOM_MIN = np.array([-4.0, -5.0, 0.0])
ROOM_MAX = np.array([4.0, 3.0, 3.2])
TABLES = np.array([            # (min corner, max corner) of each work table, m
    [[-1.5, 0.6, 0.0], [-0.2, 1.4, 0.75]],
    [[0.2, 0.6, 0.0], [1.5, 1.4, 0.75]],
    [[-3.0, -1.2, 0.0], [-2.2, -0.2, 0.9]],
])
FLOOR, WALL = 0, 1


def cast(origin: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest hit of rays `origin + t·dirs`, dirs (N, 3): distance t (N,), surface id (N,) and
    surface normal (N, 3)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / dirs
        # leaving the room: the nearest positive slab exit
        exits = np.where(dirs > 0, (ROOM_MAX - origin) * inv, (ROOM_MIN - origin) * inv)
        exits = np.where(np.isfinite(exits) & (exits > 0), exits, np.inf)
        axis = np.argmin(exits, axis=1)
        dist = exits[np.arange(len(dirs)), axis]
        surface = np.where((axis == 2) & (dirs[:, 2] < 0), FLOOR, WALL)
        normal = np.zeros_like(dirs)
        normal[np.arange(len(dirs)), axis] = -np.sign(dirs[np.arange(len(dirs)), axis])
        for k, (lo, hi) in enumerate(TABLES):
            t_lo, t_hi = (lo - origin) * inv, (hi - origin) * inv
            near, far = np.minimum(t_lo, t_hi), np.maximum(t_lo, t_hi)
            near = np.where(np.isnan(near), -np.inf, near)
            far = np.where(np.isnan(far), np.inf, far)
            enter, leave = near.max(axis=1), far.min(axis=1)
            hit = (enter <= leave) & (enter > 0) & (enter < dist)
            face = np.argmax(near, axis=1)
            dist = np.where(hit, enter, dist)
            surface = np.where(hit, 2 + k, surface)
            face_normal = np.zeros_like(dirs)
            face_normal[np.arange(len(dirs)), face] = -np.sign(dirs[np.arange(len(dirs)), face])
            normal = np.where(hit[:, None], face_normal, normal)
    return dist, surface, normal

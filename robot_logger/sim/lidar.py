"""A spinning LiDAR over the cell: rings of beams ray-cast once against the static scene, plus
points on the arms' link surfaces each scan, with range noise. x, y, z, intensity float32 in the
sensor frame.
"""

from __future__ import annotations

import numpy as np

from robot_logger.sim.kinematics import LINK_RADII
from robot_logger.sim.scene import cast

__all__ = ["Lidar"]

MOUNT = np.array([0.0, -2.2, 2.4])          # sensor origin in the world, m
ARM_SHARE = 0.12                            # fraction of the points that land on the arms
SURFACE_INTENSITY = np.array([0.15, 0.35, 0.6, 0.6, 0.6])   # floor, walls, tables
ARM_INTENSITY = 0.9
RANGE_NOISE_M = 0.01


class Lidar:
    """`points` returns one (lidar_points, 4) float32 scan given the arms' skeletons."""

    def __init__(self, total_points: int, arms: int, seed: int) -> None:
        self.rng = np.random.default_rng([seed, 4])
        links = len(LINK_RADII)
        per_link = max(1, int(total_points * ARM_SHARE) // (arms * links))
        static = total_points - per_link * arms * links
        rings = 32
        azimuth = np.linspace(-np.pi, np.pi, int(np.ceil(static / rings)), endpoint=False)
        elevation = np.deg2rad(np.linspace(-55.0, 10.0, rings))
        az, el = np.meshgrid(azimuth, elevation)
        dirs = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1)
        self.dirs = dirs.reshape(-1, 3)[:static]
        dist, surface, _ = cast(MOUNT, self.dirs)
        self.static_range = dist
        self.static_intensity = SURFACE_INTENSITY[np.minimum(surface, len(SURFACE_INTENSITY) - 1)]
        self.along = self.rng.uniform(0.0, 1.0, size=(links, per_link))
        self.around = self.rng.uniform(0.0, 2 * np.pi, size=(links, per_link))
        self.total = total_points

    def points(self, skeletons: np.ndarray) -> np.ndarray:
        """(total_points, 4) float32 scan given arm skeletons (arms, 6, 3): scene, then arms."""
        out = np.empty((self.total, 4), np.float32)
        static = len(self.static_range)
        noisy = self.static_range + self.rng.normal(0.0, RANGE_NOISE_M, size=static)
        out[:static, :3] = self.dirs * noisy[:, None]
        out[:static, 3] = self.static_intensity
        arm_points = self._surface(skeletons)
        arm_points += self.rng.normal(0.0, RANGE_NOISE_M, size=arm_points.shape)
        out[static:, :3] = arm_points - MOUNT
        out[static:, 3] = ARM_INTENSITY
        return out

    def _surface(self, skeletons: np.ndarray) -> np.ndarray:
        """Points on the link cylinders of skeletons (arms, 6, 3): (arms·links·per_link, 3)."""
        start, end = skeletons[:, :-1], skeletons[:, 1:]
        axis = end - start
        unit = axis / np.maximum(np.linalg.norm(axis, axis=-1, keepdims=True), 1e-9)
        helper = np.where(np.abs(unit[..., 2:3]) < 0.9, [0.0, 0.0, 1.0], [1.0, 0.0, 0.0])
        side = np.cross(unit, helper)
        side /= np.linalg.norm(side, axis=-1, keepdims=True)
        other = np.cross(unit, side)
        ring = (np.cos(self.around)[..., None] * side[:, :, None]
                + np.sin(self.around)[..., None] * other[:, :, None])
        pts = (start[:, :, None] + self.along[..., None] * axis[:, :, None]
               + LINK_RADII[:, None, None] * ring)
        points: np.ndarray = pts.reshape(-1, 3)
        return points

"""rgb8 camera frames of the cell: a ray-cast, textured, lit background computed once, with the
arms drawn over it each frame as shaded capsules (projected link skeletons, far arms first).

A few copies of the background with different sensor noise are precomputed and cycled, so frames
compress like camera images (not like white noise) and rendering costs a copy plus the arms.
"""

from __future__ import annotations

import numpy as np

from robot_logger.sim.kinematics import LINK_RADII
from robot_logger.sim.scene import FLOOR, WALL, cast

__all__ = ["Camera"]

NOISE_VARIANTS = 4
NOISE_SIGMA = 2.0
ARM_COLOR = np.array([235.0, 120.0, 20.0])      # industrial orange
TOOL_COLOR = np.array([70.0, 70.0, 80.0])
LOOK_AT = np.array([0.0, 0.3, 0.6])


class Camera:
    """Pinhole camera number `index` (1-based) of an H x W rgb8 image, placed around the cell."""

    def __init__(self, index: int, height: int, width: int, seed: int) -> None:
        angle = np.deg2rad(-90.0 + 50.0 * (index - 1))
        self.position = np.array([3.6 * np.cos(angle), 3.6 * np.sin(angle) - 0.5,
                                  2.0 + 0.3 * (index % 2)])
        forward = LOOK_AT - self.position
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        self.rotation = np.stack([right, down, forward])   # world -> camera (x right, y down)
        self.focal = 0.85 * width
        self.height, self.width = height, width
        background, self.depth = _background(self, _pixel_rays(self))
        self.backgrounds = _noisy(background, np.random.default_rng([seed, 3, index]))

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates (..., 2) and depth (...) of world points (..., 3)."""
        cam = (points - self.position) @ self.rotation.T
        depth = cam[..., 2]
        safe = np.maximum(depth, 1e-3)
        centre = np.array([self.width / 2, self.height / 2])
        uv = cam[..., :2] / safe[..., None] * self.focal + centre
        return uv, depth

    def render(self, frame_index: int, skeletons: np.ndarray, out: np.ndarray) -> None:
        """Paint frame `frame_index` with arm skeletons (arms, 6, 3) into `out` (H, W, 3) uint8."""
        out[:] = self.backgrounds[frame_index % NOISE_VARIANTS]
        uv, depth = self.project(skeletons)
        radius = self.focal * np.r_[LINK_RADII, LINK_RADII[-1]] / np.maximum(depth, 1e-3)
        for arm in np.argsort(-depth.mean(axis=1)):
            if depth[arm].min() < 0.1:
                continue
            for link in range(len(LINK_RADII)):
                color = TOOL_COLOR if link == len(LINK_RADII) - 1 else ARM_COLOR
                _capsule(out, self.depth, uv[arm, link:link + 2], radius[arm, link:link + 2],
                         depth[arm, link:link + 2], color)


def _pixel_rays(camera: Camera) -> np.ndarray:
    """(H*W, 3) unit world directions through each pixel centre."""
    v, u = np.mgrid[0:camera.height, 0:camera.width].astype(np.float64)
    cam = np.stack([(u + 0.5 - camera.width / 2) / camera.focal,
                    (v + 0.5 - camera.height / 2) / camera.focal, np.ones_like(u)], axis=-1)
    dirs = cam.reshape(-1, 3) @ camera.rotation
    return dirs / np.linalg.norm(dirs, axis=1, keepdims=True)


def _background(camera: Camera, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The static scene (tiled floor with safety lines, walls, tables) as an (H, W, 3) float
    image, and its (H, W) float32 depth along the optical axis (to hide the arms behind it)."""
    dist, surface, normal = cast(camera.position, dirs)
    hit = camera.position + dirs * dist[:, None]
    tiles = (np.floor(hit[:, 0] / 0.5) + np.floor(hit[:, 1] / 0.5)) % 2
    floor = np.array([150.0, 150.0, 145.0]) + 18.0 * tiles[:, None]
    color = np.where((surface == FLOOR)[:, None], floor, np.array([205.0, 210.0, 215.0]))
    stripe = (surface == FLOOR) & (np.abs(np.abs(hit[:, 1] + 0.1) - 1.9) < 0.05)
    color[stripe] = [230.0, 200.0, 30.0]
    wall_band = (surface == WALL) & (hit[:, 2] < 0.3)
    color[wall_band] = [90.0, 100.0, 110.0]
    table = surface >= 2
    color[table] = np.array([110.0, 115.0, 125.0]) + 40.0 * (normal[table, 2:3] > 0.5)
    light = 0.55 + 0.45 * np.abs(normal @ np.array([0.3, -0.4, 0.87]))
    falloff = 1.0 / (1.0 + 0.04 * dist)
    shape = (camera.height, camera.width)
    depth = (dist * (dirs @ camera.rotation[2])).astype(np.float32).reshape(shape)
    return (color * (light * falloff * 1.25)[:, None]).reshape(shape + (3,)), depth


def _noisy(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """NOISE_VARIANTS uint8 copies of `image` with independent Gaussian sensor noise."""
    noise = rng.standard_normal(size=(NOISE_VARIANTS,) + image.shape, dtype=np.float32)
    noise *= np.float32(NOISE_SIGMA)
    noise += image.astype(np.float32)
    return np.clip(noise, 0, 255, out=noise).astype(np.uint8)


def _capsule(out: np.ndarray, scene_depth: np.ndarray, ends: np.ndarray, radii: np.ndarray,
             depths: np.ndarray, color: np.ndarray) -> None:
    """Draw a shaded capsule between pixel `ends` (2, 2) with `radii` (2,) and camera `depths` (2,)
    into `out`, clipped to the image and hidden where the static scene is nearer."""
    height, width = out.shape[:2]
    (au, av), (bu, bv) = ends
    reach = float(radii.max()) + 1.0
    u0, u1 = int(max(0, min(au, bu) - reach)), int(min(width, max(au, bu) + reach + 1))
    v0, v1 = int(max(0, min(av, bv) - reach)), int(min(height, max(av, bv) + reach + 1))
    if u0 >= u1 or v0 >= v1:
        return
    uu = np.arange(u0, u1, dtype=np.float32)[None, :] - np.float32(au)
    vv = np.arange(v0, v1, dtype=np.float32)[:, None] - np.float32(av)
    du, dv = np.float32(bu - au), np.float32(bv - av)
    t = (uu * du + vv * dv) * np.float32(1.0 / max(du * du + dv * dv, 1e-6))
    np.minimum(np.maximum(t, 0.0, out=t), 1.0, out=t)
    dist2 = (uu - t * du) ** 2 + (vv - t * dv) ** 2
    radius2 = (np.float32(radii[0]) + np.float32(radii[1] - radii[0]) * t) ** 2
    inside = (dist2 < radius2) & (np.float32(depths[0]) + np.float32(depths[1] - depths[0]) * t
                                  < scene_depth[v0:v1, u0:u1])
    shade = 1.0 - 0.55 * (dist2[inside] / radius2[inside])
    out[v0:v1, u0:u1][inside] = (shade[:, None] * color).astype(np.uint8)

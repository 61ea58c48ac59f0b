"""rgb8 and depth camera frames of the cell: a ray-cast, textured, lit background computed once,
with the arms drawn over it each frame as shaded capsules (projected link skeletons, far arms
first).

A few copies of the background with different sensor noise are precomputed and cycled, so frames
compress like camera images (not like white noise) and rendering costs a copy plus the arms.

The depth image (16UC1, millimetres along the optical axis, registered to the colour image: same
pose, same intrinsics) is the same geometry without noise: the ray-cast background, and on the
arms the capsule surface facing the camera (axis depth minus the link radius times
sqrt(1 - (d/r)^2) at pixel distance d from the axis, r the capsule's pixel radius), rounded to the
nearest millimetre. It is exactly reproducible, so `depth` is also the truth.

Intrinsics follow ROS (sensor_msgs/CameraInfo): pixel (u, v) has its centre at integer
coordinates, so a camera-frame point (x, y, z) lands on u = fx·x/z + cx, v = fy·y/z + cy with
fx = fy = FOCAL_FRACTION·width, cx = width/2 − 0.5, cy = height/2 − 0.5; no distortion.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from robot_logger.sim.kinematics import LINK_RADII
from robot_logger.sim.scene import FLOOR, WALL, cast

__all__ = ["Camera", "camera_pose", "intrinsics", "FOCAL_FRACTION"]

NOISE_VARIANTS = 4
NOISE_SIGMA = 2.0
ARM_COLOR = np.array([235.0, 120.0, 20.0])      # industrial orange
TOOL_COLOR = np.array([70.0, 70.0, 80.0])
LOOK_AT = np.array([0.0, 0.3, 0.6])
FOCAL_FRACTION = 0.85       # focal length in pixels per image width (a ~61° horizontal view)
MM_PER_M = 1000.0


def camera_pose(index: int) -> tuple[np.ndarray, np.ndarray]:
    """Optical centre (3,) in the world and world -> optical-frame rotation (3, 3) of camera
    `index` (1-based): on a 3.6 m circle around the cell, 50° apart, looking at LOOK_AT; rows
    are the optical axes x right, y down, z forward."""
    angle = np.deg2rad(-90.0 + 50.0 * (index - 1))
    position = np.array([3.6 * np.cos(angle), 3.6 * np.sin(angle) - 0.5,
                         2.0 + 0.3 * (index % 2)])
    forward = LOOK_AT - position
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    return position, np.stack([right, down, forward])


def intrinsics(height: int, width: int) -> np.ndarray:
    """K (3, 3) of an H x W image (ROS convention: pixel centres at integer coordinates)."""
    focal = FOCAL_FRACTION * width
    return np.array([[focal, 0.0, width / 2 - 0.5], [0.0, focal, height / 2 - 0.5],
                     [0.0, 0.0, 1.0]])


# what a capsule covers: (window slices, inside mask, axis position t, (distance / radius)^2)
_Hit = tuple[tuple[slice, slice], np.ndarray, np.ndarray, np.ndarray]

class Camera:
    """Pinhole camera number `index` (1-based) of an H x W rgb8 image, placed around the cell."""

    def __init__(self, index: int, height: int, width: int, seed: int) -> None:
        self.position, self.rotation = camera_pose(index)   # rotation: world -> camera
        self.focal = FOCAL_FRACTION * width
        self.height, self.width = height, width
        background, self.depth = _background(self, _pixel_rays(self))
        self.backgrounds = _noisy(background, np.random.default_rng([seed, 3, index]))
        self.depth_mm = _to_mm(self.depth)

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
        for link, _depths, (window, inside, _, ratio) in self._hits(skeletons):
            color = TOOL_COLOR if link == len(LINK_RADII) - 1 else ARM_COLOR
            shade = 1.0 - 0.55 * ratio
            out[window][inside] = (shade[:, None] * color).astype(np.uint8)

    def render_depth(self, skeletons: np.ndarray, out: np.ndarray) -> None:
        """Depth (H, W) uint16 mm of the scene with arm skeletons (arms, 6, 3) into `out`."""
        out[:] = self.depth_mm
        for link, depths, (window, inside, t, ratio) in self._hits(skeletons):
            radius_m = LINK_RADII[min(link, len(LINK_RADII) - 1)]
            axis = depths[0] + (depths[1] - depths[0]) * t
            surface = _to_mm(axis - radius_m * np.sqrt(1.0 - ratio))
            region = out[window]
            region[inside] = np.minimum(region[inside], surface)

    def _hits(self, skeletons: np.ndarray) -> Iterator[tuple[int, np.ndarray, _Hit]]:
        """(link, depths (2,), what `_capsule` found) of every link that covers pixels, far arms
        first: the loop both renderers share."""
        for link, ends, radii, depths in self._capsules(skeletons):
            hit = _capsule(self.depth, ends, radii, depths)
            if hit is not None:
                yield link, depths, hit

    def _capsules(self, skeletons: np.ndarray
                  ) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """(link, pixel ends (2, 2), pixel radii (2,), depths (2,)) of every visible link, far
        arms first."""
        uv, depth = self.project(skeletons)
        radius = self.focal * np.r_[LINK_RADII, LINK_RADII[-1]] / np.maximum(depth, 1e-3)
        out = []
        for arm in np.argsort(-depth.mean(axis=1)):
            if depth[arm].min() < 0.1:
                continue
            for link in range(len(LINK_RADII)):
                out.append((link, uv[arm, link:link + 2], radius[arm, link:link + 2],
                            depth[arm, link:link + 2]))
        return out


def _pixel_rays(camera: Camera) -> np.ndarray:
    """(H*W, 3) unit world directions through each pixel centre."""
    v, u = np.mgrid[0:camera.height, 0:camera.width].astype(np.float64)
    cam = np.stack([(u + 0.5 - camera.width / 2) / camera.focal,
                    (v + 0.5 - camera.height / 2) / camera.focal, np.ones_like(u)], axis=-1)
    dirs = cam.reshape(-1, 3) @ camera.rotation
    unit: np.ndarray = dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
    return unit


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


def _to_mm(depth_m: np.ndarray) -> np.ndarray:
    """Metres -> uint16 millimetres, rounded to nearest (0 and 65535 bound it)."""
    return np.clip(np.rint(np.asarray(depth_m) * MM_PER_M), 0, 65535).astype(np.uint16)


def _capsule(scene_depth: np.ndarray, ends: np.ndarray, radii: np.ndarray, depths: np.ndarray
             ) -> _Hit | None:
    """The pixels of a capsule between pixel `ends` (2, 2) with `radii` (2,) and camera `depths`
    (2,), clipped to the image and hidden where the static scene is nearer: (window slices,
    inside mask over the window, position t along the axis (0..1) and (distance / radius)^2 of
    each inside pixel), or None when nothing is inside the image."""
    height, width = scene_depth.shape
    (au, av), (bu, bv) = ends
    reach = float(radii.max()) + 1.0
    u0, u1 = int(max(0, min(au, bu) - reach)), int(min(width, max(au, bu) + reach + 1))
    v0, v1 = int(max(0, min(av, bv) - reach)), int(min(height, max(av, bv) + reach + 1))
    if u0 >= u1 or v0 >= v1:
        return None
    uu = np.arange(u0, u1, dtype=np.float32)[None, :] - np.float32(au)
    vv = np.arange(v0, v1, dtype=np.float32)[:, None] - np.float32(av)
    du, dv = np.float32(bu - au), np.float32(bv - av)
    t = (uu * du + vv * dv) * np.float32(1.0 / max(du * du + dv * dv, 1e-6))
    np.minimum(np.maximum(t, 0.0, out=t), 1.0, out=t)
    dist2 = (uu - t * du) ** 2 + (vv - t * dv) ** 2
    radius2 = (np.float32(radii[0]) + np.float32(radii[1] - radii[0]) * t) ** 2
    window = (slice(v0, v1), slice(u0, u1))
    inside = (dist2 < radius2) & (np.float32(depths[0]) + np.float32(depths[1] - depths[0]) * t
                                  < scene_depth[window])
    return window, inside, t[inside], dist2[inside] / radius2[inside]

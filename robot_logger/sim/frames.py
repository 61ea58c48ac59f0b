"""The cell's coordinate frames (what /tf_static says) and its cameras' calibration (CameraInfo).

Frames (REP 103/105 names): `world` is the cell's frame (the scene's coordinates: floor z = 0).
  world -> arm{i}_base_link         the arm's base (kinematics.arm_base), no rotation
  world -> cam{i}_link              camera body: x forward (optical axis), y left, z up
  cam{i}_link -> cam{i}_optical_frame         REP 103 optical: x right, y down, z forward
  cam{i}_link -> cam{i}_depth_optical_frame   the depth image, registered: same as colour
  world -> lidar                    the LiDAR (lidar.MOUNT), axes along world's
  arm{i}_flange -> arm{i}_ft_sensor the F/T sensor 2 cm out along the flange's z (the flange
                                    moves with the arm: it is not static and not published)
Translations in metres; rotations as quaternions (x, y, z, w) with w >= 0.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from robot_logger.sim.camera import camera_pose, intrinsics
from robot_logger.sim.kinematics import arm_base
from robot_logger.sim.lidar import MOUNT

__all__ = ["WORLD", "StaticTransform", "CameraCalibration", "static_transforms", "pose",
           "calibration", "quaternion", "rotation_matrix", "optical_frame", "LIDAR_FRAME"]

WORLD = "world"
LIDAR_FRAME = "lidar"
FT_OFFSET_M = 0.02
# link -> optical rotation (columns: optical x, y, z in link axes), REP 103
LINK_TO_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


class StaticTransform(NamedTuple):
    """parent -> child: the child's origin (3,) and orientation quaternion xyzw (4,) in parent."""

    parent: str
    child: str
    translation: np.ndarray
    rotation: np.ndarray


class CameraCalibration(NamedTuple):
    """What a sensor_msgs/CameraInfo of the camera says (plumb_bob with zero distortion)."""

    width: int
    height: int
    distortion_model: str
    d: np.ndarray       # (5,)
    k: np.ndarray       # (3, 3)
    r: np.ndarray       # (3, 3)
    p: np.ndarray       # (3, 4)
    frame_id: str


def optical_frame(camera: int, depth: bool = False) -> str:
    """frame_id of camera `camera`'s colour (or depth) images."""
    return f"cam{camera}_depth_optical_frame" if depth else f"cam{camera}_optical_frame"


def quaternion(matrix: np.ndarray) -> np.ndarray:
    """Rotation matrix (3, 3) -> unit quaternion xyzw with w >= 0."""
    m = np.asarray(matrix, np.float64)
    w = np.sqrt(max(0.0, 1.0 + m[0, 0] + m[1, 1] + m[2, 2])) / 2
    x = np.sqrt(max(0.0, 1.0 + m[0, 0] - m[1, 1] - m[2, 2])) / 2
    y = np.sqrt(max(0.0, 1.0 - m[0, 0] + m[1, 1] - m[2, 2])) / 2
    z = np.sqrt(max(0.0, 1.0 - m[0, 0] - m[1, 1] + m[2, 2])) / 2
    x = np.copysign(x, m[2, 1] - m[1, 2])
    y = np.copysign(y, m[0, 2] - m[2, 0])
    z = np.copysign(z, m[1, 0] - m[0, 1])
    q = np.array([x, y, z, w])
    unit: np.ndarray = q / np.linalg.norm(q)
    return unit


def rotation_matrix(q: np.ndarray) -> np.ndarray:
    """Quaternion xyzw -> rotation matrix (3, 3)."""
    x, y, z, w = np.asarray(q, np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def static_transforms(arms: int, cameras: int, depth: bool, lidar: bool
                      ) -> list[StaticTransform]:
    """Every static transform of a cell with these sensors, parents before children."""
    identity = np.array([0.0, 0.0, 0.0, 1.0])
    out = [StaticTransform(WORLD, f"arm{i}_base_link", arm_base(i, arms), identity)
           for i in range(1, arms + 1)]
    optical = quaternion(LINK_TO_OPTICAL)
    for cam in range(1, cameras + 1):
        position, world_to_optical = camera_pose(cam)
        link_axes = world_to_optical.T @ LINK_TO_OPTICAL.T     # link x, y, z in world
        out.append(StaticTransform(WORLD, f"cam{cam}_link", position, quaternion(link_axes)))
        out.append(StaticTransform(f"cam{cam}_link", optical_frame(cam), np.zeros(3), optical))
        if depth:
            out.append(StaticTransform(f"cam{cam}_link", optical_frame(cam, depth=True),
                                       np.zeros(3), optical))
    if lidar:
        out.append(StaticTransform(WORLD, LIDAR_FRAME, MOUNT.copy(), identity))
    out += [StaticTransform(f"arm{i}_flange", f"arm{i}_ft_sensor",
                            np.array([0.0, 0.0, FT_OFFSET_M]), identity)
            for i in range(1, arms + 1)]
    return out


def pose(transforms: list[StaticTransform], frame: str, base: str = WORLD) -> np.ndarray:
    """base_T_frame (4, 4): maps points in `frame` into `base` (both must reach a common root)."""
    def to_root(name: str) -> tuple[str, np.ndarray]:
        by_child = {t.child: t for t in transforms}
        matrix = np.eye(4)
        while name in by_child:
            t = by_child[name]
            step = np.eye(4)
            step[:3, :3] = rotation_matrix(t.rotation)
            step[:3, 3] = t.translation
            matrix = step @ matrix
            name = t.parent
        return name, matrix
    root, root_T_frame = to_root(frame)
    base_root, root_T_base = to_root(base)
    if root != base_root:
        raise KeyError(f"frames {frame!r} and {base!r} are not connected")
    base_T_frame: np.ndarray = np.linalg.inv(root_T_base) @ root_T_frame
    return base_T_frame


def calibration(camera: int, height: int, width: int, depth: bool = False) -> CameraCalibration:
    """CameraInfo contents of camera `camera` (the depth image shares the colour intrinsics)."""
    k = intrinsics(height, width)
    return CameraCalibration(width, height, "plumb_bob", np.zeros(5), k, np.eye(3),
                             np.hstack([k, np.zeros((3, 1))]), optical_frame(camera, depth))

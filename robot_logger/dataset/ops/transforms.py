"""tf transforms: a frame tree from (parent, child, translation, quaternion) edges, and the 4x4
transform between any two frames of it (pure numpy, float64).

    tree = FrameTree([Transform("base_link", "cam_left", (0.1, 0, 1.2), (0, 0, 0, 1)), ...])
    T = tree.matrix("base_link", "cam_left_optical")   # maps cam_left_optical coords to base_link
    points_in_base = apply(T, points_xyz)

tf is a tree (each child has one parent); the transform between two frames goes up from both to
their deepest common ancestor: T_base_sensor = inv(T_root_base) @ T_root_sensor.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

__all__ = ["Transform", "FrameTree", "quaternion_matrix", "apply"]


class Transform(NamedTuple):
    """One tf edge: child coordinates -> parent coordinates; quaternion as x, y, z, w."""

    parent: str
    child: str
    xyz: tuple[float, float, float]
    xyzw: tuple[float, float, float, float]

    def matrix(self) -> np.ndarray:
        out = np.eye(4)
        out[:3, :3] = quaternion_matrix(self.xyzw)
        out[:3, 3] = self.xyz
        return out


def quaternion_matrix(xyzw: Iterable[float]) -> np.ndarray:
    """3x3 rotation of a unit quaternion (x, y, z, w); normalised first."""
    x, y, z, w = np.asarray(list(xyzw), np.float64) / np.linalg.norm(list(xyzw))
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 3) points moved by a 4x4 transform, in their own dtype."""
    rot = matrix[:3, :3].astype(points.dtype)
    moved: np.ndarray = points @ rot.T + matrix[:3, 3].astype(points.dtype)
    return moved


class FrameTree:
    """The frames of a set of transforms; a child listed twice keeps its last edge."""

    def __init__(self, transforms: Iterable[Transform]) -> None:
        self.edges = {t.child.lstrip("/"): t for t in transforms}

    def _to_root(self, frame: str) -> list[tuple[str, np.ndarray]]:
        """(ancestor, T_ancestor_frame) from the frame itself up to its root."""
        chain = [(frame, np.eye(4))]
        seen = {frame}
        while chain[-1][0] in self.edges:
            edge = self.edges[chain[-1][0]]
            parent = edge.parent.lstrip("/")
            if parent in seen:
                break       # a loop in a broken tf tree: stop at the repeat
            seen.add(parent)
            chain.append((parent, edge.matrix() @ chain[-1][1]))
        return chain

    def matrix(self, target: str, source: str) -> np.ndarray | None:
        """4x4 mapping `source` coordinates to `target` coordinates; None when the frames are
        not connected."""
        target, source = target.lstrip("/"), source.lstrip("/")
        up_source = dict(self._to_root(source))
        for ancestor, t_ancestor_target in self._to_root(target):
            if ancestor in up_source:
                found: np.ndarray = np.linalg.inv(t_ancestor_target) @ up_source[ancestor]
                return found
        return None

"""Frame tree: transforms between frames of a tf tree, through a common ancestor."""

from __future__ import annotations

import numpy as np

from robot_logger.dataset.ops.transforms import FrameTree, Transform, apply, quaternion_matrix

HALF = np.sqrt(0.5)


def test_composed_transforms_between_branches() -> None:
    tree = FrameTree([Transform("world", "base", (1.0, 0.0, 0.0), (0.0, 0.0, 0.0, 1.0)),
                      Transform("world", "cam", (0.0, 2.0, 1.0), (0.0, 0.0, HALF, HALF)),
                      Transform("/cam", "optical", (0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 1.0))])
    t = tree.matrix("base", "optical")
    # a point 1 m along the camera's x is, after the 90 deg yaw, 1 m along world y
    np.testing.assert_allclose(apply(t, np.array([[1.0, 0.0, 0.0]])), [[-1.0, 3.0, 1.0]],
                               atol=1e-12)
    np.testing.assert_allclose(tree.matrix("optical", "base") @ t, np.eye(4), atol=1e-12)
    assert tree.matrix("base", "nowhere") is None
    np.testing.assert_allclose(quaternion_matrix((0, 0, 0, 2.0)), np.eye(3))

"""The generic 3-D face: pose is recovered from landmarks, frontalisation undoes it, and the warp
never draws a triangle that folds or faces away."""
from __future__ import annotations

import numpy as np
import pytest

from faceplate.core.face import warp3d
from tests.core.face.faces import posed_mean


@pytest.mark.parametrize("yaw,pitch,roll", [(0, 0, 0), (30, 0, 0), (-35, 0, 0), (0, 15, 0), (0, 0, 20)])
def test_pose_is_recovered_and_frontalisation_undoes_it(yaw, pitch, roll):
    lm = posed_mean(yaw, pitch, roll)
    scale, r, _ = warp3d.estimate_pose(lm)
    got = warp3d.pose_angles(r)
    assert abs(scale - 100.0) < 1e-6
    assert np.allclose(got, (-yaw, pitch, roll), atol=0.5)  # yaw sign: positive turns toward image-right
    assert np.allclose(warp3d.frontalise(lm), warp3d.MEAN_SHAPE_3D[:, :2], atol=1e-6)
    assert np.allclose(warp3d.project(warp3d.frontalise(lm), warp3d.estimate_pose(lm)), lm, atol=1e-6)


def test_turned_head_hides_far_side_triangles_and_keeps_near_ones():
    tri = warp3d.triangles(warp3d.mesh_points(warp3d.MEAN_SHAPE_3D[:, :2]))
    front = warp3d.facing(np.eye(3), tri)
    assert np.all(front > 0.99)
    turned = warp3d.facing(warp3d.estimate_pose(posed_mean(70))[1], tri)
    centroid_x = warp3d.mesh_3d()[tri].mean(axis=1)[:, 0]
    assert np.any(turned <= 0)                          # some triangles face away at 70°
    far = turned[centroid_x < -0.6] if np.mean(turned[centroid_x < -0.6]) < np.mean(turned[centroid_x > 0.6]) \
        else turned[centroid_x > 0.6]
    assert np.median(far) < 0.25 and np.median(turned) > 0.3


def test_folded_triangles_are_not_drawn():
    src = np.array([[10.0, 10.0], [50.0, 10.0], [10.0, 50.0], [50.0, 50.0]])
    tri = np.array([[0, 1, 2], [1, 3, 2]], np.int32)
    dst = src.copy()
    dst[3] = [5.0, 5.0]   # pulled across its neighbours: triangle 1 flips orientation
    mx, my, w = warp3d.piecewise_map(dst, src, tri, (64, 64))
    assert w[20, 15] > 0 and w[40, 40] == 0
    _, _, w_ok = warp3d.piecewise_map(src, src, tri, (64, 64))
    assert w_ok[40, 40] > 0

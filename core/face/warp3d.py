"""A generic 3-D face for the 68 iBUG points: head pose, frontalisation, and the piecewise-affine
warp with triangle visibility (no triangle drawn facing away, grazing ones faded, folds skipped).

The mean shape is our own: frontal 2-D positions averaged (similarity-aligned, mirror-symmetrised)
over six asset faces (two hand-labelled, four by the engine's landmarker), in units where the jaw
ends (0, 16) are x = -1, +1 and y is down; depths (z toward the camera) are a hand-authored
approximation: a head curving back toward the ears, a nose ridge, lips ahead of the eyes.
Projection is weak-perspective (scaled orthographic): p = s · R[:2] · X + t.
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

_FRONTAL_XY = np.array([
    [-1.0, 0.0], [-0.993, 0.268], [-0.967, 0.542], [-0.926, 0.804], [-0.839, 1.051], [-0.688, 1.267],
    [-0.496, 1.448], [-0.274, 1.593], [0.0, 1.645], [0.274, 1.593], [0.496, 1.448], [0.688, 1.267],
    [0.839, 1.051], [0.926, 0.804], [0.967, 0.542], [0.993, 0.268], [1.0, 0.0],
    [-0.786, -0.175], [-0.68, -0.31], [-0.518, -0.367], [-0.338, -0.366], [-0.166, -0.307],
    [0.166, -0.307], [0.338, -0.366], [0.518, -0.367], [0.68, -0.31], [0.786, -0.175],
    [0.0, -0.103], [0.0, 0.067], [0.0, 0.237], [0.0, 0.415],
    [-0.234, 0.534], [-0.12, 0.567], [0.0, 0.603], [0.12, 0.567], [0.234, 0.534],
    [-0.584, -0.057], [-0.486, -0.121], [-0.365, -0.127], [-0.26, -0.056], [-0.368, -0.037], [-0.485, -0.032],
    [0.26, -0.056], [0.365, -0.127], [0.486, -0.121], [0.584, -0.057], [0.485, -0.032], [0.368, -0.037],
    [-0.422, 0.864], [-0.28, 0.793], [-0.119, 0.767], [0.0, 0.792], [0.119, 0.767], [0.28, 0.793],
    [0.422, 0.864], [0.293, 1.022], [0.134, 1.099], [0.0, 1.115], [-0.134, 1.099], [-0.293, 1.022],
    [-0.359, 0.87], [-0.119, 0.837], [0.0, 0.85], [0.119, 0.837], [0.359, 0.87], [0.128, 0.976],
    [0.0, 0.991], [-0.128, 0.976]])


def _depths(xy: np.ndarray) -> np.ndarray:
    """Hand-authored depth per landmark group (z toward the camera, face-half-width units)."""
    x = xy[:, 0]
    z = np.zeros(68)
    z[0:17] = 0.1 - 0.95 * x[0:17] ** 2          # jaw: chin forward, jaw angles back toward the ears
    z[17:27] = 0.05 - 0.45 * x[17:27] ** 2       # brow ridge
    z[27:31] = [0.05, 0.15, 0.27, 0.40]          # nose ridge to the tip
    z[31:36] = 0.25 - 0.55 * np.abs(x[31:36])    # nostrils
    z[36:48] = -0.05 - 0.4 * x[36:48] ** 2       # eyes sit behind the brow ridge
    z[48:68] = 0.13 - 0.5 * x[48:68] ** 2        # lips
    z[[62, 66]] += 0.0
    return z


MEAN_SHAPE_3D = np.column_stack([_FRONTAL_XY, _depths(_FRONTAL_XY)])  # (68, 3)
# Points whose 3-D position does not move with expression or the silhouette: brows, nose, eye corners.
POSE_POINTS = np.array(list(range(17, 36)) + [36, 39, 42, 45])


def estimate_pose(landmarks68: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(scale, R (3, 3), t (2,)) with landmarks ≈ scale · R[:2] · MEAN_SHAPE_3D + t (weak perspective)."""
    p = np.asarray(landmarks68, np.float64).reshape(68, 2)[POSE_POINTS]
    x = MEAN_SHAPE_3D[POSE_POINTS]
    pc, xc = p - p.mean(axis=0), x - x.mean(axis=0)
    a = np.linalg.lstsq(xc, pc, rcond=None)[0].T            # (2, 3) affine camera
    u, sig, vt = np.linalg.svd(a, full_matrices=False)
    r2 = u @ vt                                              # closest orthonormal rows
    scale = float(sig.mean())
    r = np.vstack([r2, np.cross(r2[0], r2[1])])
    t = p.mean(axis=0) - scale * (r2 @ x.mean(axis=0))
    return scale, r, t


def pose_angles(rotation: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees; yaw > 0 when the face turns toward image-right."""
    r = np.asarray(rotation, np.float64)
    yaw = float(np.degrees(np.arcsin(np.clip(-r[2, 0], -1.0, 1.0))))
    pitch = float(np.degrees(np.arctan2(r[2, 1], r[2, 2])))
    roll = float(np.degrees(np.arctan2(r[1, 0], r[0, 0])))
    return -yaw, pitch, roll


def frontalise(landmarks68: np.ndarray, pose: Optional[tuple] = None) -> np.ndarray:
    """(68, 2) frontal (X, Y) of each landmark: the pose undone with the mean shape's depth assumed.

    Each point gives two equations ``p = s·R[:2]·(X, Y, z) + t`` for its two unknowns, so turned
    faces are measured in the same frame as frontal ones (proportions become comparable).
    """
    s, r, t = pose if pose is not None else estimate_pose(landmarks68)
    p = np.asarray(landmarks68, np.float64).reshape(68, 2)
    rhs = (p - t) / s - np.outer(MEAN_SHAPE_3D[:, 2], r[:2, 2])
    return np.linalg.solve(r[:2, :2], rhs.T).T


def project(frontal_xy: np.ndarray, pose: tuple) -> np.ndarray:
    """Inverse of :func:`frontalise`: frontal (X, Y) with the mean depths → image points."""
    s, r, t = pose
    xyz = np.column_stack([frontal_xy, MEAN_SHAPE_3D[:len(frontal_xy), 2]])
    return s * xyz @ r[:2].T + t


# ------------------------------------------------------------------------------ mesh

def forehead_points(landmarks68: np.ndarray, lift: float = 0.35) -> np.ndarray:
    lm = np.asarray(landmarks68, np.float64).reshape(68, 2)
    up = lm[17:27].mean(axis=0) - lm[8]
    return lm[17:27] + up * lift


def mesh_points(landmarks68: np.ndarray) -> np.ndarray:
    """Warp mesh vertices (105, 2): landmarks, forehead points, an outer ring at 1.25× the outline."""
    lm = np.asarray(landmarks68, np.float64).reshape(68, 2)
    outline = np.vstack([lm[:17], forehead_points(lm)])
    centre = lm[27:36].mean(axis=0)
    return np.vstack([lm, outline[17:], centre + (outline - centre) * 1.25])


def mesh_3d() -> np.ndarray:
    """The mean shape's 3-D mesh (105, 3), built like :func:`mesh_points` (forehead and ring lean back)."""
    xy = mesh_points(_FRONTAL_XY)
    z = np.concatenate([MEAN_SHAPE_3D[:, 2], MEAN_SHAPE_3D[17:27, 2] - 0.12,
                        np.concatenate([MEAN_SHAPE_3D[:17, 2], MEAN_SHAPE_3D[17:27, 2] - 0.12]) - 0.35])
    return np.column_stack([xy, z])


def triangles(points: np.ndarray) -> np.ndarray:
    from scipy.spatial import Delaunay
    return Delaunay(np.asarray(points, np.float64)).simplices.astype(np.int32)


def _signed_area(p: np.ndarray, tri: np.ndarray) -> np.ndarray:
    a, b, c = p[tri[:, 0]], p[tri[:, 1]], p[tri[:, 2]]
    return 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1]))


def facing(rotation: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Per triangle: projected area under ``rotation`` over its frontal area (cos of the turn; ≤ 0 faces away)."""
    m3 = mesh_3d()
    front = _signed_area(m3[:, :2], tri)
    posed = _signed_area(m3 @ np.asarray(rotation, np.float64)[:2].T, tri)
    return posed / np.where(np.abs(front) < 1e-9, 1e-9, front)


def piecewise_map(dst: np.ndarray, src: np.ndarray, tri: np.ndarray, shape: tuple[int, int],
                  weight: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pixel source coordinates for a piecewise-affine warp drawn on ``dst``.

    Returns (map_x, map_y, w): w is each pixel's triangle weight (0 where no triangle is drawn).
    Triangles whose orientation flips between ``src`` and ``dst`` (a fold) or whose ``weight``
    is ≤ 0 are not drawn, so a folding mesh leaves the plate, never a crease.
    """
    h, w = shape
    dst = np.asarray(dst, np.float64)
    src = np.asarray(src, np.float64)
    weight = np.ones(len(tri)) if weight is None else np.asarray(weight, np.float64)
    folded = np.sign(_signed_area(dst, tri)) != np.sign(_signed_area(src, tri))
    draw = (~folded) & (weight > 0)
    ids = np.zeros((h, w), np.int32)
    shift = 4
    for k in np.flatnonzero(draw):
        poly = np.round(dst[tri[k]] * (1 << shift)).astype(np.int32)
        cv2.fillConvexPoly(ids, poly, int(k) + 1, lineType=cv2.LINE_8, shift=shift)
    affines = np.zeros((len(tri) + 1, 2, 3), np.float64)
    for k in np.flatnonzero(draw):
        affines[k + 1] = cv2.getAffineTransform(dst[tri[k]].astype(np.float32), src[tri[k]].astype(np.float32))
    tri_w = np.concatenate([[0.0], np.where(draw, weight, 0.0)])
    rows, cols = np.nonzero(ids)
    a = affines[ids[rows, cols]]
    map_x = np.full((h, w), -1.0, np.float32)
    map_y = np.full((h, w), -1.0, np.float32)
    map_x[rows, cols] = a[:, 0, 0] * cols + a[:, 0, 1] * rows + a[:, 0, 2]
    map_y[rows, cols] = a[:, 1, 0] * cols + a[:, 1, 1] * rows + a[:, 1, 2]
    return map_x, map_y, tri_w[ids].astype(np.float32)


def visibility_weights(dst: np.ndarray, src: np.ndarray, tri: np.ndarray, dst_rotation: np.ndarray,
                       src_rotation: np.ndarray) -> np.ndarray:
    """Per-triangle weight 0..1: 0 facing away on either side, fading in as the surface stops grazing,
    and fading out where the source triangle is stretched far more than the face as a whole."""
    fd = facing(dst_rotation, tri)
    fs = facing(src_rotation, tri)
    ramp = lambda c: np.clip((c - 0.15) / 0.3, 0.0, 1.0)  # noqa: E731 - cos 0.15 (81°) .. 0.45 (63°)
    a_d, a_s = np.abs(_signed_area(dst, tri)), np.abs(_signed_area(src, tri))
    stretch = a_d / np.maximum(a_s, 1e-9)
    rel = stretch / max(float(np.median(stretch)), 1e-9)
    return ramp(fd) * ramp(fs) * np.clip((8.0 - rel) / 3.0, 0.0, 1.0)

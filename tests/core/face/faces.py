"""Helpers for the face engine v2 tests: real faces, synthetic poses of the mean shape, and a
plate whose actor has (nearly) closed eyes made by warping the real lids shut."""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from render_plates import face_crop  # noqa: E402

from faceplate.core.face import warp3d  # noqa: E402


def rotation(yaw: float, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    y, p, r = np.radians([yaw, pitch, roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ rx @ ry


def posed_mean(yaw: float, pitch: float = 0.0, roll: float = 0.0, scale: float = 100.0) -> np.ndarray:
    """The mean shape under a known pose, as (68, 2) image points."""
    return scale * warp3d.MEAN_SHAPE_3D @ rotation(yaw, pitch, roll)[:2].T + np.array([300.0, 220.0])


def find_face(rgb8: np.ndarray, detector, landmarker):
    from faceplate.core.analyze.pyramid import detect_faces
    d = max(detect_faces(detector, rgb8, min_face=40), key=lambda d: d.width)
    return np.asarray(landmarker.landmarks(rgb8, d), np.float64), np.asarray(d.points5, np.float64)


def close_eyes(rgb8: np.ndarray, landmarks68: np.ndarray, amount: float = 0.85) -> np.ndarray:
    """The same photo with the upper lids warped down onto the lower ones (a real closing eye)."""
    lm = np.asarray(landmarks68, np.float64)
    new = lm.copy()
    for up, lo in ((37, 41), (38, 40), (43, 47), (44, 46)):
        new[up] = lm[lo] * amount + lm[up] * (1 - amount)
    tri = warp3d.triangles(warp3d.mesh_points(warp3d.MEAN_SHAPE_3D[:, :2]))
    mx, my, w = warp3d.piecewise_map(warp3d.mesh_points(new), warp3d.mesh_points(lm), tri, rgb8.shape[:2])
    moved = cv2.remap(rgb8, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.where((w > 0)[..., None], moved, rgb8)


def add_fringe(rgb8: np.ndarray, landmarks68: np.ndarray, colour=(225, 190, 110)) -> tuple[np.ndarray, np.ndarray]:
    """The photo with a blonde, streaked fringe over the forehead down to just above the brows;
    returns (image, fringe mask)."""
    lm = np.asarray(landmarks68, np.float64)
    up = lm[17:27].mean(axis=0) - lm[8]
    top = lm[17:27] + up * 0.9
    bottom = lm[17:27] + up * 0.12
    poly = np.vstack([top, bottom[::-1]])
    mask = np.zeros(rgb8.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
    rng = np.random.default_rng(3)
    streaks = cv2.resize(rng.normal(0, 18, (1, rgb8.shape[1] // 3)), (rgb8.shape[1], rgb8.shape[0]))
    hair = np.clip(np.asarray(colour, np.float32)[None, None] + streaks[..., None], 0, 255)
    out = np.where(mask[..., None] > 0, hair, rgb8).astype(np.uint8)
    return out, mask.astype(bool)


def face_photo(asset, name: str, face_px: int = 150) -> np.ndarray:
    return face_crop(asset(name), face_px)

"""Likeness: the source's inner-face proportions carried onto the actor's landmarks.

Both faces are measured pose-normalised (:func:`warp3d.frontalise`), in a frame set by the face
itself: the midline (nose ridge), the eye line, and the width across the upper jaw as the unit
(rigid points: the chin drops when the mouth opens). Eye spacing and size,
brow height, nose length and width, mouth width and height of each feature are moved toward the
source's by ``strength``; each feature is only translated and scaled as a whole, so the actor's
expression (lid gap, lip shape) is kept. The jaw outline and the eye line's height in the face are
never moved: they stay the actor's (the latter cannot be told from the head's pitch, see ``NAMES``).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from faceplate.core.face import warp3d

L_EYE, R_EYE = list(range(36, 42)), list(range(42, 48))
L_BROW, R_BROW = list(range(17, 22)), list(range(22, 27))
NOSE = list(range(27, 36))
MOUTH = list(range(48, 68))
EYE_CORNERS = [36, 39, 42, 45]
UPPER_MOUTH = [48, 54, 50, 51, 52]   # corners and upper lip: they stay put when the jaw drops
# Past this turn (|yaw|, degrees) a 2-D face is frontalised too poorly to move its features: the likeness
# fades from full strength at the first to none at the second (a 45° face's far eye and nose were pulled
# across the face: the README sample's two turned faces read as masks).
TRUSTED_YAW = (20.0, 40.0)
# No measure ties the eyes to the jaw: the ear-level jaw points sit a head's depth behind the eyes, so
# the eye line's height over them follows the head's pitch (about 0.012 face widths a degree), which
# 2-D landmarks estimate to several degrees. Over a clip of one singer it spread 0.034, as much as it
# differed between people (0.038): carried, it lifted or dropped the actor's eyes and brows by 5-7 px
# on a 180 px face, brows floating on the forehead above the plate's brow ridge.
NAMES = ("eye_spacing", "eye_width", "brow_height", "brow_width", "nose_length", "nose_width",
         "mouth_width", "mouth_y")
# Brows rest or rise (a talking face raises them far more often than it frowns): a person's resting
# brow height is this low quantile of its heights over a clip (the median of a lively one sat 0.05
# face widths high).
RESTING_BROW_QUANTILE = 0.25


def _frame(front: np.ndarray) -> tuple[float, float, float]:
    """(midline x, eye-line y, unit = face width) of a frontalised face.

    Everything is measured from rigid points: the eye corners and the face's width across the upper
    jaw (points 0-2 / 14-16, at ear level). The chin is not used: it drops when the mouth opens, so a
    brow-to-chin unit would read a talking actor as a long face and move the features for it.
    """
    mid = float(np.mean(front[27:31, 0]))
    eye_line = float(front[EYE_CORNERS, 1].mean())
    unit = max(float(np.mean([front[16 - i, 0] - front[i, 0] for i in range(3)])), 1e-6)
    return mid, eye_line, unit


def proportions(landmarks68: np.ndarray, pose: Optional[tuple] = None) -> dict[str, float]:
    """The inner-face proportions of one face, pose-normalised, in face widths."""
    f = warp3d.frontalise(landmarks68, pose)
    mid, eye_line, unit = _frame(f)
    le, re = f[L_EYE].mean(axis=0), f[R_EYE].mean(axis=0)
    eye_w = 0.5 * (abs(f[39, 0] - f[36, 0]) + abs(f[45, 0] - f[42, 0]))
    brows = 0.5 * (f[L_BROW].mean(axis=0) + f[R_BROW].mean(axis=0))
    return {
        "eye_spacing": float(abs(re[0] - le[0]) / unit),
        "eye_width": float(eye_w / unit),
        "brow_height": float((eye_line - brows[1]) / unit),
        "brow_width": float(0.5 * (np.ptp(f[L_BROW, 0]) + np.ptp(f[R_BROW, 0])) / unit),
        "nose_length": float((f[33, 1] - eye_line) / unit),
        "nose_width": float(abs(f[35, 0] - f[31, 0]) / unit),
        "mouth_width": float(abs(f[54, 0] - f[48, 0]) / unit),
        "mouth_y": float((f[UPPER_MOUTH, 1].mean() - eye_line) / unit),
    }


def resting_brow_height(heights: "list[float] | np.ndarray") -> float:
    """One person's resting ``brow_height`` from its heights over a clip (``RESTING_BROW_QUANTILE``)."""
    return float(np.quantile(np.asarray(heights, np.float64), RESTING_BROW_QUANTILE))


def brow_raises(landmark_sets: "list[np.ndarray]") -> np.ndarray:
    """(N,) how far each face's brows sit above that person's resting height (``resting_brow_height``
    of the N), in face widths, pose-normalised: the brow performance, apart from whose brows they are.
    ``landmark_sets``: N (68, 2) landmark arrays of one person."""
    heights = np.array([proportions(lm)["brow_height"] for lm in landmark_sets], np.float64)
    if not len(heights):
        return heights
    return heights - resting_brow_height(heights)


def _place(points: np.ndarray, centre: np.ndarray, scale_x: float, scale_y: float, new_centre: np.ndarray) -> np.ndarray:
    return new_centre + (points - centre) * np.array([scale_x, scale_y])


def adjust(landmarks68: np.ndarray, source: dict[str, float], strength: float = 0.5,
           pose: Optional[tuple] = None) -> np.ndarray:
    """The actor's landmarks with the inner face moved ``strength`` of the way to ``source``'s proportions,
    less on a turned face (``TRUSTED_YAW``).

    Returns new (68, 2) image points; jaw points 0..16 are returned unchanged.
    """
    lm = np.asarray(landmarks68, np.float64).reshape(68, 2)
    pose = pose if pose is not None else warp3d.estimate_pose(lm)
    yaw = abs(float(warp3d.pose_angles(pose[1])[0]))
    trust = np.clip((TRUSTED_YAW[1] - yaw) / (TRUSTED_YAW[1] - TRUSTED_YAW[0]), 0.0, 1.0)
    k = float(np.clip(strength, 0.0, 1.0) * trust)
    if k == 0.0:
        return lm.copy()
    f = warp3d.frontalise(lm, pose)
    mine = proportions(lm, pose)
    want = {n: mine[n] + k * (source[n] - mine[n]) for n in NAMES}
    mid, eye_line, unit = _frame(f)
    g = f.copy()
    ratio = lambda n: want[n] / max(mine[n], 1e-6)  # noqa: E731
    # Eyes (and their brows, which ride on them): spacing and size about the actor's eye line; each
    # eye keeps its own tilt.
    new_line = eye_line
    for eye, brow, side in ((L_EYE, L_BROW, -1.0), (R_EYE, R_BROW, 1.0)):
        c = f[eye].mean(axis=0)
        new_c = np.array([mid + side * 0.5 * want["eye_spacing"] * unit, new_line + (c[1] - eye_line)])
        g[eye] = _place(f[eye], c, ratio("eye_width"), ratio("eye_width"), new_c)
        bc = f[brow].mean(axis=0)
        new_bc = np.array([new_c[0] + (bc[0] - c[0]) * ratio("eye_spacing"),
                           new_c[1] - want["brow_height"] * unit + (bc[1] - c[1] + mine["brow_height"] * unit)])
        g[brow] = _place(f[brow], bc, ratio("brow_width"), 1.0, new_bc)
    # Nose: length down from the eye line, width about the midline (the ridge stays on the midline).
    g[NOSE, 1] = new_line + (f[NOSE, 1] - eye_line) * ratio("nose_length")
    g[31:36, 0] = mid + (f[31:36, 0] - mid) * ratio("nose_width")
    # Mouth: width (uniform scale keeps the actor's lip shape and opening), height below the eyes.
    ref = np.array([f[MOUTH, 0].mean(), f[UPPER_MOUTH, 1].mean()])
    new_ref = np.array([ref[0], new_line + want["mouth_y"] * unit])
    g[MOUTH] = _place(f[MOUTH], ref, ratio("mouth_width"), ratio("mouth_width"), new_ref)
    out = warp3d.project(g, pose)
    out[:17] = lm[:17]
    return out

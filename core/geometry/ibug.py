"""The iBUG 300-W 68-point layout: one table of index ranges, and measures defined on it.

Image-left/right: 'left eye' is the eye on the image's left (the subject's right eye).
"""
from __future__ import annotations

import numpy as np

# iBUG-68 groups (0-based).
JAW = slice(0, 17)
BROWS = slice(17, 27)
NOSE = slice(27, 36)
LEFT_EYE = slice(36, 42)    # image-left
RIGHT_EYE = slice(42, 48)   # image-right
MOUTH = slice(48, 68)
NOSE_TIP = 30
MOUTH_LEFT = 48             # image-left mouth corner
MOUTH_RIGHT = 54


def inter_ocular(landmarks68: np.ndarray) -> float:
    """Distance between the outer eye corners (36, 45): the usual 300-W normaliser."""
    lm = np.asarray(landmarks68, dtype=np.float64)
    return float(np.linalg.norm(lm[36] - lm[45]))


def nme(pred68: np.ndarray, truth68: np.ndarray) -> float:
    """Mean point error normalised by the ground truth's inter-ocular (outer corner) distance."""
    pred, truth = np.asarray(pred68, np.float64), np.asarray(truth68, np.float64)
    return float(np.linalg.norm(pred - truth, axis=1).mean() / max(inter_ocular(truth), 1e-9))


def face_size(landmarks68: np.ndarray) -> float:
    """Face size in pixels: the larger of jaw width and brow-to-chin height (robust to yaw)."""
    lm = np.asarray(landmarks68, dtype=np.float64).reshape(68, 2)
    width = float(np.linalg.norm(lm[16] - lm[0]))
    height = float(np.linalg.norm(lm[BROWS].mean(axis=0) - lm[8]))
    return max(width, height, 1.0)

"""The performance a face carries, from its 68 landmarks (and the eye pixels for gaze):
eye and mouth openness, a gaze proxy, and head pose.

Openness is a ratio of landmark distances (unitless, the same at any face size): eye =
mean lid gap / eye width (about 0.3 open, under 0.12 closed), mouth = inner-lip gap / mouth width.
Smile = how far the mouth corners sit above the lips' centre, across the eye line, in mouth widths
(about 0 neutral, 0.1-0.3 smiling): openness alone cannot tell a closed grin from a neutral mouth.
Mouth width = corner to corner over the inner eye corners' distance (both across the face at about
the same depth, so a turn foreshortens them alike): 1.3-1.9 between people at rest, a broad grin
stretches it by a fifth or more, which neither openness nor the corners' lift shows.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

from faceplate.core.face import warp3d

LEFT_EYE = list(range(36, 42))    # image-left eye (subject's right)
RIGHT_EYE = list(range(42, 48))


@dataclass
class Expression:
    yaw: float            # degrees
    pitch: float
    roll: float
    eye_left: float       # openness, image-left eye
    eye_right: float
    mouth: float          # openness
    gaze_x: float = 0.0   # iris offset / eye width, -0.5..0.5 (0 when unknown)
    gaze_y: float = 0.0
    smile: float = math.nan  # mouth-corner lift / mouth width (NaN: not measured, an older source file)
    mouth_width: float = math.nan  # mouth corners' distance / inner eye corners' distance (NaN: not measured)

    def to_dict(self) -> dict:
        return {k: round(float(v), 4) for k, v in asdict(self).items() if math.isfinite(v)}

    @classmethod
    def from_dict(cls, data: dict) -> "Expression":
        defaults = {"smile": math.nan, "mouth_width": math.nan}
        return cls(**{k: float(data.get(k, defaults.get(k, 0.0))) for k in cls.__dataclass_fields__})

    def vector(self) -> np.ndarray:
        """Pose, openness and gaze (8 numbers; the smile and mouth width, which may be unknown, are apart)."""
        return np.array([self.yaw, self.pitch, self.roll, self.eye_left, self.eye_right, self.mouth,
                         self.gaze_x, self.gaze_y])


def eye_openness(landmarks68: np.ndarray, eye: list[int]) -> float:
    p = np.asarray(landmarks68, np.float64).reshape(68, 2)[eye]
    width = np.linalg.norm(p[3] - p[0])
    gap = 0.5 * (np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4]))
    return float(gap / max(width, 1e-9))


def mouth_openness(landmarks68: np.ndarray) -> float:
    p = np.asarray(landmarks68, np.float64).reshape(68, 2)
    width = np.linalg.norm(p[54] - p[48])
    gap = np.mean([np.linalg.norm(p[61] - p[67]), np.linalg.norm(p[62] - p[66]), np.linalg.norm(p[63] - p[65])])
    return float(gap / max(width, 1e-9))


def smile(landmarks68: np.ndarray) -> float:
    """Mouth-corner lift above the lips' centre, perpendicular to the eye line, in mouth widths."""
    p = np.asarray(landmarks68, np.float64).reshape(68, 2)
    across = p[45] - p[36]
    across = across / max(np.linalg.norm(across), 1e-9)
    up = np.array([across[1], -across[0]])  # image y grows downward: "up" is toward the brows
    centre = 0.5 * (p[51] + p[57])
    corners = 0.5 * (p[48] + p[54])
    return float((corners - centre) @ up / max(np.linalg.norm(p[54] - p[48]), 1e-9))


def mouth_width(landmarks68: np.ndarray) -> float:
    """Mouth corners' distance over the inner eye corners' distance."""
    p = np.asarray(landmarks68, np.float64).reshape(68, 2)
    return float(np.linalg.norm(p[54] - p[48]) / max(np.linalg.norm(p[42] - p[39]), 1e-9))


def gaze(image_rgb: np.ndarray, landmarks68: np.ndarray) -> tuple[float, float]:
    """Iris offset from the eye centre, in eye widths, averaged over open eyes: the centroid of the
    darkest quarter of the pixels inside each eye polygon. (0, 0) when no eye is open enough."""
    import cv2

    lm = np.asarray(landmarks68, np.float64).reshape(68, 2)
    grey = np.asarray(image_rgb, np.float32)
    grey = grey.mean(axis=2) if grey.ndim == 3 else grey
    offsets = []
    for eye in (LEFT_EYE, RIGHT_EYE):
        if eye_openness(lm, eye) < 0.15:
            continue
        p = lm[eye]
        x0, y0 = np.floor(p.min(axis=0)).astype(int)
        x1, y1 = np.ceil(p.max(axis=0)).astype(int) + 1
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, grey.shape[1]), min(y1, grey.shape[0])
        if x1 - x0 < 3 or y1 - y0 < 2:
            continue
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(mask, [np.round(p - [x0, y0]).astype(np.int32)], 1)
        vals = grey[y0:y1, x0:x1]
        inside = mask > 0
        if inside.sum() < 6:
            continue
        dark = inside & (vals <= np.quantile(vals[inside], 0.25))
        ys, xs = np.nonzero(dark)
        centre = p.mean(axis=0)
        width = max(np.linalg.norm(p[3] - p[0]), 1e-9)
        offsets.append(((xs.mean() + x0 - centre[0]) / width, (ys.mean() + y0 - centre[1]) / width))
    if not offsets:
        return 0.0, 0.0
    g = np.mean(offsets, axis=0)
    return float(g[0]), float(g[1])


def measure(landmarks68: np.ndarray, image_rgb: Optional[np.ndarray] = None) -> Expression:
    """Pose, eye/mouth openness and (with the image) gaze of one face."""
    lm = np.asarray(landmarks68, np.float64).reshape(68, 2)
    _, rotation, _ = warp3d.estimate_pose(lm)
    yaw, pitch, roll = warp3d.pose_angles(rotation)
    gx, gy = gaze(image_rgb, lm) if image_rgb is not None else (0.0, 0.0)
    return Expression(yaw, pitch, roll, eye_openness(lm, LEFT_EYE), eye_openness(lm, RIGHT_EYE),
                      mouth_openness(lm), gx, gy, smile(lm), mouth_width(lm))

"""Face alignment: similarity transforms between image points and canonical templates.

All transforms are (2, 3) float64 affine matrices mapping *source image* pixel coordinates to
*destination* (crop) pixel coordinates, OpenCV convention (pixel centre (i, j) at (i, j)), so they
can be passed straight to ``cv2.warpAffine``.
"""
from __future__ import annotations

import cv2
import numpy as np
from faceplate.core.geometry import ibug

# ArcFace 112x112 template, 5 points in ArcFace order (image-left eye, image-right eye, nose,
# image-left mouth corner, image-right mouth corner). Used by ArcFace/MobileFaceNet/inswapper crops.
ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)


def estimate_similarity(src_pts: np.ndarray, dst_pts: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping src -> dst (Umeyama 1991).

    src_pts, dst_pts: (N, 2), N >= 2. Returns (2, 3) float64. Reflections are excluded.
    """
    src = np.asarray(src_pts, dtype=np.float64).reshape(-1, 2)
    dst = np.asarray(dst_pts, dtype=np.float64).reshape(-1, 2)
    if src.shape != dst.shape or src.shape[0] < 2:
        raise ValueError(f"estimate_similarity needs two (N>=2, 2) arrays of equal shape, got {src.shape} and {dst.shape}")
    n = src.shape[0]
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s_c, d_c = src - mu_s, dst - mu_d
    var_s = (s_c ** 2).sum() / n
    cov = d_c.T @ s_c / n
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:  # keep a proper rotation, never a mirror
        d[-1] = -1.0
    rot = u @ np.diag(d) @ vt
    scale = (sig * d).sum() / var_s if var_s > 0 else 1.0
    t = mu_d - scale * rot @ mu_s
    m = np.zeros((2, 3), dtype=np.float64)
    m[:, :2] = scale * rot
    m[:, 2] = t
    return m


def invert(m: np.ndarray) -> np.ndarray:
    """Inverse of a (2, 3) affine matrix, as (2, 3) float64."""
    m = np.asarray(m, dtype=np.float64)
    full = np.vstack([m, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2].copy()


def compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Affine ``a ∘ b`` (apply b first, then a), both (2, 3)."""
    fa = np.vstack([np.asarray(a, np.float64), [0, 0, 1]])
    fb = np.vstack([np.asarray(b, np.float64), [0, 0, 1]])
    return (fa @ fb)[:2].copy()


def transform_points(points: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine to (N, 2) points; returns (N, 2) float64."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    m = np.asarray(m, dtype=np.float64)
    return p @ m[:, :2].T + m[:, 2]


def scale_of(m: np.ndarray) -> float:
    """Uniform scale of a similarity transform (sqrt of |det|)."""
    m = np.asarray(m, dtype=np.float64)
    return float(np.sqrt(abs(np.linalg.det(m[:, :2]))))


def warp(image: np.ndarray, m: np.ndarray, size: tuple[int, int] | int,
         flags: int = cv2.INTER_LINEAR, border_mode: int = cv2.BORDER_REPLICATE,
         border_value: float = 0.0) -> np.ndarray:
    """Warp ``image`` with ``m`` (source -> crop) into a crop of ``size`` = (w, h) or an int for square.

    Works on uint8 or float32 images with any channel count.
    """
    w, h = (size, size) if isinstance(size, (int, np.integer)) else (int(size[0]), int(size[1]))
    return cv2.warpAffine(image, np.asarray(m, dtype=np.float64), (w, h), flags=flags,
                          borderMode=border_mode, borderValue=border_value)


def arcface_transform(points5: np.ndarray, size: int = 112) -> np.ndarray:
    """Similarity mapping 5 image points onto the ArcFace template scaled to ``size``.

    Matches insightface's norm_crop convention: for sizes that are multiples of 128 the template
    is shifted 8 px right (its 112->128 padding); otherwise scaled by size/112.
    """
    if size % 112 == 0:
        template = ARCFACE_112 * (size / 112.0)
    elif size % 128 == 0:
        template = ARCFACE_112 * (size / 128.0) + np.array([8.0 * size / 128.0, 0.0])
    else:
        template = ARCFACE_112 * (size / 112.0)
    return estimate_similarity(points5, template)


def points5_from_landmarks68(landmarks68: np.ndarray) -> np.ndarray:
    """ArcFace-order 5 points (eye centres, nose tip, mouth corners) from iBUG-68 landmarks."""
    lm = np.asarray(landmarks68, dtype=np.float64).reshape(68, 2)
    return np.stack([
        lm[ibug.LEFT_EYE].mean(axis=0),
        lm[ibug.RIGHT_EYE].mean(axis=0),
        lm[ibug.NOSE_TIP],
        lm[ibug.MOUTH_LEFT],
        lm[ibug.MOUTH_RIGHT],
    ])


def ffhq_transform(points: np.ndarray, size: int = 1024) -> np.ndarray:
    """FFHQ-style crop transform (image -> size x size crop) from 68 landmarks or 5 points.

    Follows the FFHQ recipe: the crop is a square oriented by the eye-to-mouth vector, centred a
    little below the eye/mouth midpoint, with side = max(2.0 * eye-to-eye, 1.8 * eye-to-mouth)
    scaled to ``size``. The same geometry applies to either point set since both give eye centres
    and mouth corners.
    """
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if p.shape[0] == 68:
        p = points5_from_landmarks68(p)
    if p.shape[0] != 5:
        raise ValueError(f"ffhq_transform needs (68, 2) or (5, 2) points, got {p.shape}")
    eye_left, eye_right = p[0], p[1]
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    mouth_avg = (p[3] + p[4]) * 0.5
    eye_to_mouth = mouth_avg - eye_avg
    # Oriented square: x axis is eye_to_eye minus the rotated eye_to_mouth (balances roll).
    x = eye_to_eye - np.array([-eye_to_mouth[1], eye_to_mouth[0]])
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.array([-x[1], x[0]])
    c = eye_avg + eye_to_mouth * 0.1
    # Quad corners: top-left, bottom-left, bottom-right (as in FFHQ) -> crop corners.
    quad = np.stack([c - x - y, c - x + y, c + x + y])
    # Map corners onto pixel-centre coordinates of the output crop: edges at -0.5 and size-0.5.
    dst = np.array([[-0.5, -0.5], [-0.5, size - 0.5], [size - 0.5, size - 0.5]], dtype=np.float64)
    return cv2.getAffineTransform(quad.astype(np.float32), dst.astype(np.float32)).astype(np.float64)


def box_transform(box: np.ndarray, size: int, scale: float = 1.0) -> np.ndarray:
    """Axis-aligned transform cutting the square around ``box`` (x0,y0,x1,y1), enlarged by ``scale``,
    into a ``size`` x ``size`` crop. Used by box-aligned landmarkers (PFLD)."""
    x0, y0, x1, y1 = [float(v) for v in box]
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    side = max(x1 - x0, y1 - y0, 1e-6) * scale
    s = size / side
    c = (size - 1) / 2.0  # box centre -> crop centre (pixel-centre convention)
    return np.array([[s, 0.0, c - s * cx], [0.0, s, c - s * cy]], dtype=np.float64)

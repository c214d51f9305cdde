"""Real faces for the face-engine tests, from the photos the installed insightface wheel ships (so these
tests run on any clone, without ../shared/assets).

The 5 points (ArcFace order: image-left eye, image-right eye, nose tip, image-left / image-right mouth
corner) were measured once on t1.jpg with YuNet (``yunet_n_dynamic.onnx`` from the shared assets,
``cv2.FaceDetectorYN``, score 0.9 each) and are written here so no detector runs in the tests.
"""
from __future__ import annotations

import cv2
import numpy as np

from faceplate.core.cli.sample import package_image

# t1.jpg (1280x886): the six faces' 5 points, image pixels.
T1_POINTS = {
    "centre": np.array([[491.2, 323.3], [540.7, 332.3], [508.5, 360.7], [484.0, 372.9], [528.0, 381.2]]),
    "top_right": np.array([[915.4, 121.3], [942.0, 111.5], [919.5, 152.1], [931.6, 171.9], [955.0, 163.3]]),
    "left": np.array([[85.5, 319.8], [130.0, 306.1], [118.4, 333.0], [103.4, 361.4], [141.8, 349.4]]),
    "right": np.array([[1156.2, 321.3], [1199.2, 322.5], [1172.5, 346.2], [1156.5, 365.1], [1192.9, 366.2]]),
    "front": np.array([[762.9, 400.1], [806.1, 400.5], [775.3, 427.3], [767.5, 443.7], [802.7, 443.8]]),
    "back": np.array([[288.2, 206.0], [327.6, 196.2], [305.3, 226.0], [303.1, 247.7], [335.0, 239.3]]),
}


def srgb_to_linear(u8: np.ndarray) -> np.ndarray:
    x = u8.astype(np.float32) / 255.0
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def t1_linear() -> np.ndarray:
    """t1.jpg as (886, 1280, 3) float32 linear RGB."""
    bgr = cv2.imread(str(package_image("t1.jpg")), cv2.IMREAD_COLOR)
    return srgb_to_linear(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def face_crop(name: str, size: int = 400, eye_distance: float = 110.0) -> tuple[np.ndarray, np.ndarray]:
    """A (size, size, 3) linear crop of one t1 face, upright and scaled so the eyes are
    ``eye_distance`` px apart (a 2K close-up's face), with its 5 points in crop pixels."""
    pts = T1_POINTS[name]
    eyes = pts[1] - pts[0]
    scale = eye_distance / float(np.hypot(*eyes))
    angle = np.degrees(np.arctan2(eyes[1], eyes[0]))
    centre = pts[:2].mean(axis=0) * 0.5 + pts[3:].mean(axis=0) * 0.5
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), float(angle), scale)
    m[:, 2] += np.array([size / 2.0, size / 2.0]) - centre
    crop = cv2.warpAffine(t1_linear(), m, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    return np.maximum(crop, 0.0), pts @ m[:, :2].T + m[:, 2]


def face_ellipse(points5: np.ndarray, shape: tuple[int, int], grow: float = 1.0) -> np.ndarray:
    """(h, w) bool: an upright ellipse over the face around ``points5`` (cheeks, eyes, mouth)."""
    p = np.asarray(points5, np.float64)
    eye_d = float(np.hypot(*(p[1] - p[0])))
    centre = p.mean(axis=0)
    mask = np.zeros(shape, np.uint8)
    axes = (int(round(1.05 * eye_d * grow)), int(round(1.35 * eye_d * grow)))
    cv2.ellipse(mask, (int(round(centre[0])), int(round(centre[1] - 0.1 * eye_d))), axes, 0, 0, 360, 1, -1)
    return mask > 0

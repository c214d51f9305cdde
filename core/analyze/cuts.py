"""Shot-cut detection from small per-frame colour signatures.
"""
from __future__ import annotations

import cv2
import numpy as np


def frame_signature(image_rgb: np.ndarray) -> np.ndarray:
    """A normalised hue/saturation + value histogram of a 96×54 thumbnail: cheap, motion-tolerant."""
    small = cv2.resize(image_rgb, (96, 54), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hs = cv2.calcHist([hsv], [0, 1], None, [18, 4], [0, 180, 0, 256]).ravel()
    v = cv2.calcHist([hsv], [2], None, [16], [0, 256]).ravel()
    sig = np.concatenate([hs / max(hs.sum(), 1), v / max(v.sum(), 1)]).astype(np.float32)
    return sig


def signature_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Bhattacharyya distance (0 = same histogram, 1 = disjoint), averaged over the two histograms."""
    n = a.size - 16
    d1 = cv2.compareHist(a[:n], b[:n], cv2.HISTCMP_BHATTACHARYYA)
    d2 = cv2.compareHist(a[n:], b[n:], cv2.HISTCMP_BHATTACHARYYA)
    return float(0.5 * (d1 + d2))

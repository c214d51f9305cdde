"""A synthetic shot for the occlusion tests: a real face (t1.jpg) moving along a smooth path (pan,
roll, push-in, exposure drift, sensor noise, a jittery tracker), with an opaque textured object
sliding across the mouth for some frames."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tests.core.t1_faces import T1_POINTS, t1_linear

FRAMES = 24
OCCLUDED = range(8, 16)
SIZE = 360


@dataclass
class Shot:
    frames: list          # (SIZE, SIZE, 3) float32 linear
    points: list          # (5, 2) tracked points (with tracker jitter)
    true_points: list     # (5, 2) exact points
    occluder: list        # (SIZE, SIZE) bool, where the object is


def _occluder_texture(h: int, w: int, kind: str, rng) -> np.ndarray:
    """(h, w, 3) linear: 'cup' (painted stripes and print), 'skin' (a skin-toned textured hand-like object),
    'card' (a bright, nearly plain card: far brighter than any face)."""
    ys, xs = np.mgrid[0:h, 0:w]
    if kind == "cup":
        stripes = (np.sin(xs / 3.0) > 0)[..., None]
        tex = np.where(stripes, [0.6, 0.62, 0.65], [0.05, 0.12, 0.4]).astype(np.float32)
    elif kind == "card":
        tex = np.full((h, w, 3), [0.85, 0.82, 0.75], np.float32)
    else:
        folds = 0.85 + 0.15 * np.sin(ys / 2.5 + xs / 9.0)[..., None]
        tex = (np.array([0.55, 0.3, 0.2], np.float32) * folds).astype(np.float32)
    return (tex * (1.0 + 0.05 * rng.standard_normal((h, w, 1)))).astype(np.float32)


def make_shot(face: str = "centre", kind: str = "cup", seed: int = 0, eye_px: float = 110.0,
              object_scale: float = 1.0) -> Shot:
    """kind: the object's texture ("cup", "skin", "card") or "none" (a clear shot, same motion and noise);
    object_scale: the object's size (1: a mug across the mouth, 2: most of the lower face)."""
    rng = np.random.default_rng(seed)
    photo = t1_linear()
    base = T1_POINTS[face]
    centre = base.mean(axis=0)
    eye = float(np.hypot(*(base[1] - base[0])))
    scale0 = eye_px / eye
    shot = Shot([], [], [], [])
    for t in range(FRAMES):
        s = t / (FRAMES - 1)
        m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), 6.0 * np.sin(2 * np.pi * s),
                                    scale0 * (1.0 + 0.08 * s))
        m[:, 2] += np.array([SIZE / 2 + 30 * np.sin(np.pi * s) - 15, SIZE / 2 - 10 + 20 * s]) - centre
        img = cv2.warpAffine(photo, m, (SIZE, SIZE), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        img = np.maximum(img, 0.0) * (1.0 + 0.08 * np.sin(2.3 * t))          # exposure drift
        pts = base @ m[:, :2].T + m[:, 2]
        occ = np.zeros((SIZE, SIZE), bool)
        if t in OCCLUDED and kind != "none":
            mouth = pts[3:].mean(axis=0)
            w, h = int(1.3 * eye_px * object_scale), int(0.55 * eye_px * object_scale)
            x0 = int(mouth[0] - 1.1 * w + (t - OCCLUDED.start) * 0.2 * w)
            y0 = int(mouth[1] - 0.45 * h)
            xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + w, SIZE), min(y0 + h, SIZE)
            tex = _occluder_texture(h, w, kind, np.random.default_rng(99))
            img[ya:yb, xa:xb] = tex[ya - y0:yb - y0, xa - x0:xb - x0]
            occ[ya:yb, xa:xb] = True
        img = img + rng.normal(0.0, 0.006, img.shape).astype(np.float32)     # sensor noise
        shot.frames.append(img.astype(np.float32))
        shot.true_points.append(pts)
        shot.points.append(pts + rng.normal(0.0, 0.8, pts.shape))             # tracker jitter
        shot.occluder.append(occ)
    return shot

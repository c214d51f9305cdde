"""Dense landmarks: always (68, 2) float64 iBUG-68 order in plate pixel coordinates.

The landmarker objects live in ``models`` (``load_landmarker``); this module holds what callers
need around them: running one on many detections, the error measure used in tests and benches,
and the iBUG-68 index groups.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .detect import Detection
from .errors import FaceplateError

# iBUG-68 groups (0-based).
JAW = slice(0, 17)
BROWS = slice(17, 27)
NOSE = slice(27, 36)
LEFT_EYE = slice(36, 42)    # image-left
RIGHT_EYE = slice(42, 48)   # image-right
MOUTH = slice(48, 68)


def landmarks_for(landmarker: Any, image_rgb: np.ndarray, detections: Sequence[Detection]) -> list[np.ndarray]:
    """(68, 2) landmarks for each detection, in order."""
    out = []
    for d in detections:
        lm = np.asarray(landmarker.landmarks(image_rgb, d), dtype=np.float64)
        if lm.shape != (68, 2):
            raise FaceplateError(f"landmarker {getattr(landmarker, 'name', '?')} returned {lm.shape}, "
                                 f"expected (68, 2); use a supported landmarker")
        out.append(lm)
    return out


def inter_ocular(landmarks68: np.ndarray) -> float:
    """Distance between the outer eye corners (36, 45): the usual 300-W normaliser."""
    lm = np.asarray(landmarks68, dtype=np.float64)
    return float(np.linalg.norm(lm[36] - lm[45]))


def nme(pred68: np.ndarray, truth68: np.ndarray) -> float:
    """Mean point error normalised by the ground truth's inter-ocular (outer corner) distance."""
    pred, truth = np.asarray(pred68, np.float64), np.asarray(truth68, np.float64)
    return float(np.linalg.norm(pred - truth, axis=1).mean() / max(inter_ocular(truth), 1e-9))


def read_pts(path: str | Path) -> np.ndarray:
    """iBUG .pts file (1-based x y) -> (N, 2) float64 in 0-based pixel-centre coordinates."""
    text = Path(path).read_text()
    try:
        body = text.split("{", 1)[1].split("}", 1)[0]
        pts = np.array(body.split(), dtype=np.float64).reshape(-1, 2)
    except (IndexError, ValueError):
        raise FaceplateError(f"{path}: not an iBUG .pts file (expected 'n_points' and a {{ x y ... }} block); "
                             f"fix or re-export the file") from None
    return pts - 1.0


def box_of(points: np.ndarray) -> np.ndarray:
    """Tight (x0, y0, x1, y1) box of a point set."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return np.concatenate([p.min(axis=0), p.max(axis=0)])

"""dlib's embedded defaults: the 68-point shape predictor (NON-COMMERCIAL weights) and the 128-d ResNet
face descriptor, both driven from our 5 points.
"""
from __future__ import annotations

import cv2
import numpy as np
from faceplate.core.geometry import align
from faceplate.core.identity import l2_normalise
from faceplate.core.models.contract import ModelSource
from faceplate.core.models.manifest import ModelEntry
from faceplate.core.models.session import _as_rgb_uint8
from faceplate.core.types import Detection

# dlib's predictors were trained on dlib HOG-detector boxes. We rebuild such a box from the 5
# points (centre and side relative to eye/mouth geometry), calibrated against dlib's own
# detector on the asset photos (bench/bench_models.py --calibrate).
DLIB_RECT_FROM_POINTS5 = {"down": 0.465, "side": 2.36}  # median over 79 faces, 5-point frame units


def dlib_rect_from_points5(points5: np.ndarray) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of a dlib-detector-like square box around a face's 5 points.

    Unit = eye-centre to mouth-centre distance; the centre moves along that axis so a rolled head
    keeps its box on the face.
    """
    p = np.asarray(points5, dtype=np.float64).reshape(5, 2)
    eye_c = (p[0] + p[1]) / 2.0
    down = (p[3] + p[4]) / 2.0 - eye_c
    unit = max(float(np.hypot(*down)), 1e-6)
    centre = eye_c + down * DLIB_RECT_FROM_POINTS5["down"]
    half = DLIB_RECT_FROM_POINTS5["side"] * unit / 2.0
    return (centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half)


class DlibLandmarker:
    """dlib shape_predictor_68 (embedded default). NON-COMMERCIAL weights."""

    def __init__(self, entry: ModelEntry, model: ModelSource) -> None:
        import dlib

        self.name, self.sha256, self.entry, self.contract = entry.name, entry.sha256, entry, entry.contract
        self.provider = "dlib (CPU)"
        self._predictor = dlib.shape_predictor(str(model))
        self._dlib = dlib

    def landmarks(self, image_rgb: np.ndarray, detection: Detection) -> np.ndarray:
        img = _as_rgb_uint8(image_rgb)
        l, t, r, b = dlib_rect_from_points5(detection.points5)
        rect = self._dlib.rectangle(int(round(l)), int(round(t)), int(round(r)), int(round(b)))
        shape = self._predictor(img, rect)
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)


# Our 5 points in dlib's 150x150 face-chip frame (padding 0.25), calibrated by aligning dlib's
# own 5-point chips (bench/bench_models.py --calibrate): lets the 128-d net run on our points.
DLIB_CHIP_TEMPLATE_150 = np.array(
    [[45.87, 44.77], [101.71, 44.20], [73.64, 76.33], [49.63, 101.13], [98.10, 100.59]], dtype=np.float64)


class DlibRecognizer:
    """dlib ResNet 128-d descriptor on a 150x150 chip aligned from our 5 points."""

    dim = 128

    def __init__(self, entry: ModelEntry, model: ModelSource) -> None:
        import dlib

        self.name, self.sha256, self.entry, self.contract = entry.name, entry.sha256, entry, entry.contract
        self.provider = "dlib (CPU)"
        self._net = dlib.face_recognition_model_v1(str(model))

    def crop(self, image_rgb: np.ndarray, points5: np.ndarray) -> np.ndarray:
        m = align.estimate_similarity(points5, DLIB_CHIP_TEMPLATE_150)
        return align.warp(_as_rgb_uint8(image_rgb), m, 150, border_mode=cv2.BORDER_CONSTANT)

    def embed(self, image_rgb: np.ndarray, points5: np.ndarray) -> np.ndarray:
        chip = np.ascontiguousarray(self.crop(image_rgb, points5))
        return l2_normalise(np.ravel(np.asarray(self._net.compute_face_descriptor(chip))))

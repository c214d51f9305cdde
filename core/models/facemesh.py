"""MediaPipe FaceMesh (468 points) on an eye-levelled crop, mapped to iBUG-68.
"""
from __future__ import annotations

import cv2
import numpy as np
from faceplate.core.geometry import align
from faceplate.core.models.contract import ModelSource
from faceplate.core.models.manifest import ModelEntry
from faceplate.core.models.session import _as_rgb_uint8, _blob, _OnnxModel
from faceplate.core.types import Detection


def rolled_square_transform(points5: np.ndarray, size: int, side_units: float, down_units: float) -> np.ndarray:
    """Square crop rolled to the eye line: centre = eye centre + down_units * (eye->mouth vector),
    side = side_units * |eye->mouth|. Maps image -> size x size crop."""
    p = np.asarray(points5, dtype=np.float64).reshape(5, 2)
    eye_c = (p[0] + p[1]) / 2.0
    down = (p[3] + p[4]) / 2.0 - eye_c
    unit = max(float(np.hypot(*down)), 1e-6)
    eye_vec = p[1] - p[0]
    angle = np.arctan2(eye_vec[1], eye_vec[0])
    c, s = np.cos(angle), np.sin(angle)
    centre = eye_c + down * down_units
    k = size / (side_units * unit)
    rot = np.array([[c, s], [-s, c]]) * k  # rotate by -angle (levels the eyes), then scale
    t = np.array([(size - 1) / 2.0, (size - 1) / 2.0]) - rot @ centre
    return np.hstack([rot, t[:, None]])


# MediaPipe mesh vertex closest (on average) to each iBUG-68 point, derived from our own runs
# against dlib-68 points on 44 large asset faces (bench/bench_models.py --facemesh); held-out NME
# vs hand-labelled points: takeo 0.050, einstein 0.111 (the mesh's jaw is not the iBUG contour).
MESH468_TO_IBUG68 = np.array(
    [127, 93, 177, 58, 172, 150, 149, 148, 152, 377, 378, 365, 397, 435, 401, 454, 356,
     124, 53, 52, 65, 55, 285, 295, 282, 283, 383,
     168, 197, 5, 4, 75, 97, 164, 326, 460,
     7, 159, 158, 155, 153, 144, 382, 385, 387, 249, 373, 380,
     76, 80, 72, 12, 302, 304, 291, 405, 314, 17, 84, 181, 77, 82, 13, 268, 375, 316, 15, 86])


FACEMESH_CROP = {"side": 3.6, "down": 0.35}


class FaceMesh468Landmarker(_OnnxModel):
    """MediaPipe FaceMesh (converted by faceplate.onnx_export.third_party) on an eye-levelled crop."""

    def __init__(self, entry: ModelEntry, model: ModelSource, providers: list[str] | None = None) -> None:
        super().__init__(entry, model, providers)
        self.crop = dict(FACEMESH_CROP)  # per instance: the bench varies it

    def mesh(self, image_rgb: np.ndarray, detection: Detection) -> tuple[np.ndarray, float]:
        """(468, 2) mesh points in image coordinates and the face probability."""
        img = _as_rgb_uint8(image_rgb)
        size = self.contract.input_size[0]
        m = rolled_square_transform(detection.points5, size, self.crop["side"], self.crop["down"])
        crop = align.warp(img, m, size, border_mode=cv2.BORDER_CONSTANT)
        outs = dict(zip(self.output_names, self._run(_blob(crop, self.contract))))
        coords = next(v for v in outs.values() if v.shape[-1] == 1404).reshape(468, 3)[:, :2].astype(np.float64)
        flag = float(next(v for v in outs.values() if v.shape[-1] == 1).ravel()[0])
        return align.transform_points(coords - 0.5, align.invert(m)), flag

    def landmarks(self, image_rgb: np.ndarray, detection: Detection) -> np.ndarray:
        return self.mesh(image_rgb, detection)[0][MESH468_TO_IBUG68]

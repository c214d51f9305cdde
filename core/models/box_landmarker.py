"""Landmarkers that run on the detector box: PFLD-98 (WFLW) and insightface 2d106, mapped to iBUG-68.
"""
from __future__ import annotations

import cv2
import numpy as np
from faceplate.core.geometry import align
from faceplate.core.models.session import _as_rgb_uint8, _blob, _OnnxModel
from faceplate.core.types import Detection

# Landmarkers (always (68, 2) iBUG order)
# WFLW-98 -> iBUG-68 (MANIFEST table).
WFLW98_TO_IBUG68 = np.array(
    list(range(0, 33, 2)) + [33, 34, 35, 36, 37] + [42, 43, 44, 45, 46] + [51, 52, 53, 54]
    + [55, 56, 57, 58, 59] + [60, 61, 63, 64, 65, 67] + [68, 69, 71, 72, 73, 75] + list(range(76, 96)))


# insightface 2d106det -> iBUG-68. The 106 layout: 0-32 contour (0 = chin, odd indices run down the
# image-left side, even up the image-right), 33-42 / 43-51 brows, 52-61 / 62-71 eyes... Only used
# for files identified as 2d106; signature-tested (no 106-point file in the assets).
INSIGHT106_TO_IBUG68 = np.array(
    [1, 10, 12, 14, 16, 3, 5, 7, 0, 23, 21, 19, 32, 30, 28, 26, 17,
     43, 48, 49, 51, 50, 102, 103, 104, 105, 101,
     72, 73, 74, 86, 78, 79, 80, 85, 84,
     35, 41, 42, 39, 37, 36, 89, 95, 96, 93, 91, 90,
     52, 64, 63, 71, 67, 68, 61, 58, 59, 53, 56, 55, 65, 66, 62, 70, 69, 57, 60, 54])


class _BoxCropLandmarker(_OnnxModel):
    """Landmarkers that run on the detector box (scaled by ``box_scale``) warped to the network's
    square input; subclasses say how the output maps to crop pixels and which points are iBUG-68."""

    box_scale = 1.0
    to_ibug68: np.ndarray

    def _crop_points(self, out: np.ndarray, size: int) -> np.ndarray:
        raise NotImplementedError

    def landmarks(self, image_rgb: np.ndarray, detection: Detection) -> np.ndarray:
        img = _as_rgb_uint8(image_rgb)
        size = self.contract.input_size[0]
        m = align.box_transform(detection.box, size, self.box_scale)
        crop = align.warp(img, m, size, border_mode=cv2.BORDER_CONSTANT)
        out = self._run(_blob(crop, self.contract))[0].reshape(-1, 2).astype(np.float64)
        return align.transform_points(self._crop_points(out, size), align.invert(m))[self.to_ibug68]


class PFLD98Landmarker(_BoxCropLandmarker):
    """PFLD 98-point (WFLW) on the square detector box, mapped to iBUG-68."""

    to_ibug68 = WFLW98_TO_IBUG68

    def _crop_points(self, out: np.ndarray, size: int) -> np.ndarray:
        return out * size - 0.5  # 0..1 of the crop (edges) -> crop pixel centres


class Insight106Landmarker(_BoxCropLandmarker):
    """insightface 2d106det contract: box scaled 1.5x into 192x192, output -1..1, mapped to iBUG-68."""

    box_scale = 1.5
    to_ibug68 = INSIGHT106_TO_IBUG68

    def _crop_points(self, out: np.ndarray, size: int) -> np.ndarray:
        return (out + 1.0) * (size / 2.0)

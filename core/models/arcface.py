"""ArcFace-style ONNX recognizers (ArcFace 512-d, MobileFaceNet 128-d, our own exports).
"""
from __future__ import annotations

import cv2
import numpy as np
from faceplate.core.geometry import align
from faceplate.core.identity import l2_normalise
from faceplate.core.models.contract import ModelSource
from faceplate.core.models.manifest import ModelEntry
from faceplate.core.models.session import _as_rgb_uint8, _blob, _OnnxModel


class OnnxRecognizer(_OnnxModel):
    """ArcFace-style recognizers (ArcFace 512-d, MobileFaceNet 128-d): ArcFace-template crop."""

    def __init__(self, entry: ModelEntry, model: ModelSource, providers: list[str] | None = None) -> None:
        super().__init__(entry, model, providers)
        self.dim = int(entry.contract.embedding_dim or self.session.get_outputs()[0].shape[-1])

    def crop(self, image_rgb: np.ndarray, points5: np.ndarray) -> np.ndarray:
        size = self.contract.input_size[0]
        return align.warp(_as_rgb_uint8(image_rgb), align.arcface_transform(points5, size), size,
                          border_mode=cv2.BORDER_CONSTANT)

    def embed(self, image_rgb: np.ndarray, points5: np.ndarray) -> np.ndarray:
        return l2_normalise(np.ravel(self._run(_blob(self.crop(image_rgb, points5), self.contract))[0]))

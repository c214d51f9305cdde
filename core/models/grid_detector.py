"""YuNet and SCRFD: anchor-grid detectors with strides 8/16/32 on a fixed-size letterboxed input.
"""
from __future__ import annotations

import numpy as np
from faceplate.core.geometry.boxes import nms_detections
from faceplate.core.models.contract import ModelSource
from faceplate.core.models.manifest import ModelEntry
from faceplate.core.models.session import _as_rgb_uint8, _blob, _fit, _OnnxModel, _pad_to
from faceplate.core.types import Detection


class _GridDetector(_OnnxModel):
    """Shared set-up of the grid detectors (YuNet, SCRFD): thresholds, fixed or dynamic input, and
    the letterbox (fixed files) or pad-to-/32 (dynamic files) that both decoders expect."""

    def __init__(self, entry: ModelEntry, model: ModelSource, providers: list[str] | None,
                 score_threshold: float, nms_threshold: float) -> None:
        super().__init__(entry, model, providers)
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        shape = self.session.get_inputs()[0].shape
        self.fixed = (shape[3], shape[2]) if all(isinstance(v, int) for v in shape[2:]) else None
        self.tile_size = min(self.fixed) if self.fixed else None

    def _prepare(self, image_rgb: np.ndarray) -> tuple[np.ndarray, float, int, int]:
        """(padded network input, scale applied, padded width, padded height)."""
        img = _as_rgb_uint8(image_rgb)
        if self.fixed:
            img, s = _fit(img, *self.fixed)
            pw, ph = self.fixed
        else:
            s = 1.0
            ph, pw = -(-img.shape[0] // 32) * 32, -(-img.shape[1] // 32) * 32
        return _pad_to(img, pw, ph, (0, 0, 0)), s, pw, ph


class YuNetDetector(_GridDetector):
    """YuNet (libfacedetection) raw decoding; fixed-size files letterbox, dynamic ones pad to /32."""

    face_range = (12.0, 300.0)

    def __init__(self, entry: ModelEntry, model: ModelSource, providers: list[str] | None = None,
                 score_threshold: float = 0.6, nms_threshold: float = 0.3) -> None:
        super().__init__(entry, model, providers, score_threshold, nms_threshold)
        names = self.output_names
        if all(n.split("_")[0] in ("cls", "obj", "bbox", "kps") for n in names):
            self._order = {(n.split("_")[0], int(n.split("_")[1])): i for i, n in enumerate(names)}
        else:
            self._order = {(kind, s): 3 * j + t for j, kind in enumerate(("cls", "obj", "bbox", "kps"))
                           for t, s in enumerate((8, 16, 32))}

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        padded, s, pw, ph = self._prepare(image_rgb)
        outs = self._run(_blob(padded, self.contract))
        dets: list[Detection] = []
        for stride in (8, 16, 32):
            cls = outs[self._order[("cls", stride)]][0, :, 0]
            obj = outs[self._order[("obj", stride)]][0, :, 0]
            score = np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1))
            keep = np.nonzero(score > self.score_threshold)[0]
            if keep.size == 0:
                continue
            fw = pw // stride
            col, row = (keep % fw).astype(np.float64), (keep // fw).astype(np.float64)
            bb = outs[self._order[("bbox", stride)]][0, keep].astype(np.float64)
            kp = outs[self._order[("kps", stride)]][0, keep].astype(np.float64).reshape(-1, 5, 2)
            cx, cy = (col + bb[:, 0]) * stride, (row + bb[:, 1]) * stride
            bw, bh = np.exp(bb[:, 2]) * stride, np.exp(bb[:, 3]) * stride
            boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
            pts = (np.stack([col, row], axis=1)[:, None, :] + kp) * stride
            dets += [Detection(b / s, q / s, sc) for b, q, sc in zip(boxes, pts, score[keep])]
        return nms_detections(dets, self.nms_threshold)


class SCRFDDetector(_GridDetector):
    """SCRFD *_kps (insightface): 2 anchors per cell, distance-encoded boxes and keypoints."""

    face_range = (16.0, 360.0)

    def __init__(self, entry: ModelEntry, model: ModelSource, providers: list[str] | None = None,
                 score_threshold: float = 0.5, nms_threshold: float = 0.4) -> None:
        super().__init__(entry, model, providers, score_threshold, nms_threshold)

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        padded, s, pw, ph = self._prepare(image_rgb)
        outs = self._run(_blob(padded, self.contract))
        dets: list[Detection] = []
        for j, stride in enumerate((8, 16, 32)):
            scores = outs[j][0, :, 0] if outs[j].ndim == 3 else outs[j][:, 0]
            keep = np.nonzero(scores > self.score_threshold)[0]
            if keep.size == 0:
                continue
            fw = pw // stride
            cell = keep // 2  # two anchors per cell, anchor-minor
            centre = np.stack([(cell % fw), (cell // fw)], axis=1).astype(np.float64) * stride
            bd = (outs[j + 3][0] if outs[j + 3].ndim == 3 else outs[j + 3])[keep].astype(np.float64) * stride
            kd = (outs[j + 6][0] if outs[j + 6].ndim == 3 else outs[j + 6])[keep].astype(np.float64) * stride
            boxes = np.hstack([centre - bd[:, :2], centre + bd[:, 2:]])
            pts = centre[:, None, :] + kd.reshape(-1, 5, 2)
            dets += [Detection(b / s, q / s, sc) for b, q, sc in zip(boxes, pts, scores[keep])]
        return nms_detections(dets, self.nms_threshold)

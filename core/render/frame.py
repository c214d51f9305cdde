"""One frame's face work: ROI, matte, occlusion, engine, colour and grain for each face, as face layers."""
from __future__ import annotations

import logging
from typing import Any, Optional, Sequence

import cv2
import numpy as np
from faceplate.core.analyze.occlusion import aligned_transform
from faceplate.core.errors import FaceplateError
from faceplate.core.geometry import align
from faceplate.core.geometry.ibug import face_size
from faceplate.core.io.track_file import decode_mask
from faceplate.core.render.composite import FaceLayer
from faceplate.core.render.finish import finish_delta, grain_delta, plate_grain
from faceplate.core.render.grain import regrain_delta
from faceplate.core.render.mask import (MATTE_FLOOR, aligned_mask, face_outline, hull_mask, occlusion_in_image,
                                        parser_mask)
from faceplate.core.render.settings import RenderSettings


def _roi(points: np.ndarray, margin: float, window: Any) -> tuple[int, int, int, int]:
    """Inclusive-exclusive ROI (x0, y0, x1, y1) around points, clipped to the data window."""
    lo = np.floor(points.min(axis=0) - margin).astype(int)
    hi = np.ceil(points.max(axis=0) + margin).astype(int) + 1
    x0, y0 = max(lo[0], window.xmin), max(lo[1], window.ymin)
    x1, y1 = min(hi[0], window.xmax + 1), min(hi[1], window.ymax + 1)
    return int(x0), int(y0), int(x1), int(y1)


def occlusion_matte(code: Optional[str], landmarks: np.ndarray, to_work: np.ndarray, shape: tuple[int, int]) \
        -> Optional[np.ndarray]:
    """(h, w) float32 0..1 of what covers the face in the work ROI, from the entry's stored aligned mask
    (None when the entry has none). ``landmarks``: the entry's, in ROI stored pixels; ``to_work``: (2, 3)
    ROI stored pixels -> work (square) pixels."""
    if not code:
        return None
    mask = decode_mask(code)
    to_stored = align.invert(aligned_transform(landmarks, mask.shape[0]))
    return occlusion_in_image(mask, align.compose(to_work, to_stored), shape)


class FrameRenderer:
    """Everything needed to turn one plate frame into face layers; holds no per-frame state."""

    def __init__(self, engine: Any, colour: Any, settings: RenderSettings, latent: Optional[np.ndarray] = None,
                 parser: Any = None):
        self.engine, self.colour, self.settings, self.latent, self.parser = engine, colour, settings, latent, parser

    def face_matte(self, crop: np.ndarray, landmarks: np.ndarray, points5: np.ndarray) -> np.ndarray:
        s = self.settings
        shape = crop.shape[:2]
        if s.mask == "hull":
            return hull_mask(landmarks, shape, (0, 0), s.forehead, s.erode, s.feather)
        if s.mask == "aligned":
            return aligned_mask(points5, shape, (0, 0), s.erode, s.feather, size=face_size(landmarks))
        if s.mask == "parser":
            if self.parser is None:
                raise FaceplateError("--mask parser needs a face parser model: pass --parser bisenet.onnx")
            return parser_mask(self.parser, self.colour.to_uint8(crop), landmarks, s.regions, (0, 0),
                                     s.erode, s.feather)
        raise FaceplateError(f"unknown --mask {s.mask!r}; choose hull, aligned or parser")

    def layers(self, frame: Any, faces: Sequence[tuple[int, Any]]) -> list[FaceLayer]:
        """One FaceLayer per (track id, FaceEntry) of this frame."""
        out = []
        for track_id, entry in faces:
            layer = self.face(frame, track_id, entry)
            if layer is not None:
                out.append(layer)
        return out

    def face(self, frame: Any, track_id: int, entry: Any) -> Optional[FaceLayer]:
        s = self.settings
        lm = np.asarray(entry.landmarks, np.float64)
        p5 = np.asarray(entry.points5, np.float64)
        size = face_size(lm)
        outline = face_outline(lm, s.forehead)
        # Room for the neural crop (about 1.6 face sizes wide) and the feather.
        margin = size * (0.6 + max(s.feather, 0.0) + max(-s.erode, 0.0))
        dw = frame.data_window
        x0, y0, x1, y1 = _roi(np.vstack([outline, p5]), margin, dw)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        rows = slice(y0 - dw.ymin, y1 - dw.ymin)
        cols = slice(x0 - dw.xmin, x1 - dw.xmin)
        crop = np.ascontiguousarray(frame.pixels[rows, cols][..., list(frame.rgb)], dtype=np.float32)
        if not np.isfinite(crop).all():  # reported; the engine works on 0 there, so no NaN reaches the face
            logging.getLogger("faceplate.render").warning(
                "%s: NaN/Inf pixels in face %d's region; replaced by 0 inside the matte (kept outside)",
                frame.path or f"frame {frame.frame}", track_id)
            crop = np.nan_to_num(crop, nan=0.0, posinf=65504.0, neginf=-65504.0)
        h, w = crop.shape[:2]
        # Desqueeze to square pixels (anamorphic plates), swap there, squeeze back after.
        aspect = float(frame.pixel_aspect or 1.0)
        sx = 1.0
        if abs(aspect - 1.0) > 1e-6:
            wq = max(int(round(w * aspect)), 1)
            sx = wq / w
            work = cv2.resize(crop, (wq, h), interpolation=cv2.INTER_LINEAR)
        else:
            work = crop
        to_work = np.array([sx, 1.0])

        def local(p: np.ndarray) -> np.ndarray:
            q = p - np.array([x0, y0], np.float64)
            return (q + 0.5) * to_work - 0.5

        lm_w, p5_w = local(lm), local(p5)
        face_matte = self.face_matte(work, lm_w, p5_w)
        # what analyze found in front of the face stays in front, whatever the engine
        roi_to_work = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, 1.0, 0.0]])
        occluded = occlusion_matte(getattr(entry, "occlusion", None), lm - np.array([x0, y0], np.float64),
                                   roi_to_work, work.shape[:2])
        if occluded is not None:
            face_matte = (face_matte * (1.0 - occluded)).astype(np.float32)
        # engine v2: the library frame analyze chose for this entry
        v2 = getattr(self.engine, "uses_source_frame", False)
        chosen = {"source_frame": getattr(entry, "source_frame", None)} if v2 else {}
        if v2 and getattr(entry, "features", None) is not None:   # eyes/mouth shares smoothed in analyze
            chosen["shares"] = entry.features
        if v2 and getattr(entry, "source_mix", None) is not None:  # dissolving from/to another library frame
            chosen["source_mix"] = entry.source_mix
        stored_tone = getattr(entry, "tone", None)
        if v2 and stored_tone is not None:   # the plate's tone smoothed in analyze, in its aligned square
            to_aligned = align.compose(aligned_transform(lm - np.array([x0, y0], np.float64)),
                                       align.invert(roi_to_work))
            chosen.update(tone=stored_tone, tone_frame=to_aligned)
        result = self.engine.swap(work, lm_w, p5_w, colour=self.colour, latent=self.latent,
                                  face_matte=face_matte, colour_match_on=s.colour_match, **chosen)
        matte = face_matte * result.coverage
        delta = result.delta
        model = None
        if v2:  # engine v2: plate shading, plate softness, multi-band blending (render/finish)
            # the softness target leaves out the plate's grain where grain is put back (unsqueezed
            # only: the grain model is in stored pixels)
            if s.regrain and sx == 1.0:
                model = plate_grain(getattr(entry, "grain", None), crop, matte > 0.5)
            # the stored texture is measured in stored pixels: a desqueezed crop's is measured on it
            texture = getattr(entry, "texture", None) if sx == 1.0 else None
            delta = finish_delta(work, delta, matte, p5_w, lm_w, size * sx, model, texture=texture)
        if sx != 1.0:
            delta = cv2.resize(delta, (w, h), interpolation=cv2.INTER_AREA)
            matte = cv2.resize(matte, (w, h), interpolation=cv2.INTER_AREA)
        if s.regrain and v2:  # the plate's grain model (size, channel correlation, amplitude)
            if model is None:
                model = plate_grain(getattr(entry, "grain", None), crop, matte > 0.5)
            delta = delta + grain_delta(crop, delta, matte, model, int(frame.frame or 0), track_id)
        elif s.regrain:
            # measured and drawn in stored pixels: grain drawn desqueezed was halved by the squeeze
            # (area average) on a 2:1 anamorphic plate
            delta = delta + regrain_delta(crop, crop + delta, matte, int(frame.frame or 0), track_id)
        matte = np.clip(matte, 0.0, 1.0).astype(np.float32)
        matte[matte < MATTE_FLOOR] = 0.0
        if not (matte > 0).any():
            return None
        return FaceLayer(x0, y0, delta.astype(np.float32), matte, track_id)

"""Coordinate spaces of the analysis: the stored plate pixels, the desqueezed and downscaled image the
detector sees, and the face crops landmarks and embeddings run on. Everything maps back to plate
pixels before it reaches the track file.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np
from faceplate.core.analyze.pyramid import pyramid_scales
from faceplate.core.colour import ColourPipeline
from faceplate.core.types import Detection, FaceEntry


@dataclass(frozen=True)
class _Space:
    """Analysis image (desqueezed, data-window-relative) ↔ plate pixel coordinates."""
    aspect: float
    x0: int
    y0: int

    def to_plate(self, pts: np.ndarray) -> np.ndarray:
        p = np.asarray(pts, dtype=np.float64).reshape(-1, 2).copy()
        p[:, 0] = (p[:, 0] + 0.5) / self.aspect - 0.5 + self.x0
        p[:, 1] = p[:, 1] + self.y0
        return p

    def box_to_plate(self, box: np.ndarray) -> np.ndarray:
        return self.to_plate(np.asarray(box, dtype=np.float64).reshape(2, 2)).reshape(4)


def _detection_image(lin: np.ndarray, aspect: float, face_range: tuple[float, float], min_face: float,
                     colour: ColourPipeline, fit_side: Optional[int] = None
                     ) -> tuple[tuple[float, float], np.ndarray, np.ndarray]:
    """((fx, fy), sRGB uint8 image, the linear image it came from) for detection, desqueezed.

    detect_faces never looks at a finer scale than its pyramid's first level, so the plate is
    reduced to that level here, in linear light (area average), before the colour conversion:
    the costly full-frame OCIO pass shrinks with it. Small plates stay at native resolution.
    Image pixel (xd, yd) is analysis point ((xd + 0.5) fx - 0.5, (yd + 0.5) fy - 0.5).
    """

    h, w = lin.shape[:2]
    scale = min(1.0, pyramid_scales(int(round(w * aspect)), h, min_face, face_range)[0])
    if fit_side:
        # searching near known face sizes: one detector tile is enough if min_face stays in range
        scale = max(face_range[0] / max(float(min_face), 1.0), min(scale, fit_side / max(w * aspect, h)))
        scale = min(scale, 1.0)
    size = (max(1, int(round(w * aspect * scale))), max(1, int(round(h * scale))))
    if size != (w, h):
        interp = cv2.INTER_AREA if size[0] <= w and size[1] <= h else cv2.INTER_LINEAR
        lin = cv2.resize(lin, size, interpolation=interp)
    return (w * aspect / size[0], h / size[1]), colour.to_uint8(lin), lin


def _scale_detection(det: Detection, f: tuple[float, float]) -> Detection:
    """A detection in the downscaled detection image → analysis coordinates (pixel centres kept)."""
    fx, fy = f
    box = det.box.reshape(2, 2)
    pts = det.points5
    m = lambda p: np.stack([(p[:, 0] + 0.5) * fx - 0.5, (p[:, 1] + 0.5) * fy - 0.5], axis=1)  # noqa: E731
    return Detection(m(box).reshape(4), m(pts), det.score)


_CROP_MARGIN = 0.4     # crops reach this many box sizes beyond the box: room for dlib's box and ArcFace's template


_CROP_MAX_FACE = 192   # px: bigger faces are landmarked/embedded on an area-reduced crop (ample for 68 points)


def _face_crop(lin: np.ndarray, det: Detection, aspect: float,
               colour: ColourPipeline) -> tuple[np.ndarray, np.ndarray, float]:
    """sRGB uint8 crop (desqueezed, maybe reduced) around a detection; returns (crop, origin, scale):
    crop pixel c is analysis point (c + 0.5) / scale - 0.5 + origin (scale 1: c + origin)."""
    h, w = lin.shape[:2]
    bw, bh = det.box[2] - det.box[0], det.box[3] - det.box[1]
    m = _CROP_MARGIN * max(bw, bh)
    # analysis (desqueezed) x -> stored column: (x + 0.5) / aspect - 0.5
    x0 = int(np.floor(max(0.0, (det.box[0] - m + 0.5) / aspect - 0.5)))
    x1 = int(np.ceil(min(w - 1.0, (det.box[2] + m + 0.5) / aspect - 0.5))) + 1
    y0 = int(np.floor(max(0.0, det.box[1] - m)))
    y1 = int(np.ceil(min(h - 1.0, det.box[3] + m))) + 1
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
    part = np.ascontiguousarray(lin[y0:y1, x0:x1])
    scale = min(1.0, _CROP_MAX_FACE / max(bw, bh, 1.0))
    ch, cw = part.shape[:2]
    size = (max(1, int(round(cw * aspect * scale))), max(1, int(round(ch * scale))))
    if size != (cw, ch):
        part = cv2.resize(part, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    # stored column x0 has desqueezed centre (x0 + 0.5) * aspect - 0.5; a crop column c (at crop scale
    # sx = size[0] / cw per stored pixel) is stored x0 + (c + 0.5) / sx - 0.5
    sx = size[0] / cw
    sy = size[1] / ch
    crop = colour.to_uint8(part)
    # analysis x = (x0 + (c + 0.5) / sx) * aspect - 0.5 = (c + 0.5) * aspect / sx - 0.5 + x0 * aspect;
    # with aspect / sx == 1 / sy == 1 / scale (up to rounding) both axes share one scale
    eff = 0.5 * (sx / aspect + sy)
    return np.ascontiguousarray(crop), np.array([x0 * aspect, y0], dtype=np.float64), float(eff)


def _to_crop(det: Detection, origin: np.ndarray, scale: float) -> Detection:
    f = lambda p: (p - origin + 0.5) * scale - 0.5  # noqa: E731
    return Detection(f(det.box.reshape(2, 2)).reshape(4), f(det.points5), det.score)


def _from_crop(pts: np.ndarray, origin: np.ndarray, scale: float) -> np.ndarray:
    return (np.asarray(pts, dtype=np.float64) + 0.5) / scale - 0.5 + origin


def _map_entry(e: FaceEntry, space: _Space, decimals: int) -> FaceEntry:
    r = lambda a: np.round(a, decimals)  # noqa: E731
    box = r(space.box_to_plate(e.box_raw))
    p5 = r(space.to_plate(e.points5_raw))
    lm = r(space.to_plate(e.landmarks_raw))
    return FaceEntry(e.frame, e.source, round(float(e.score), 6), box, box.copy(), p5, p5.copy(), lm, lm.copy())

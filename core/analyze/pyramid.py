"""Face detection over a whole plate: a scale pyramid plus tiling, merged by NMS.

A detector network finds faces reliably only inside a band of sizes (its ``face_range``, in
network-input pixels). A 4K plate can hold a 40-px face and a full-frame face at once, so a single
downscale loses the small one and a single full-resolution pass misses the big one (and is slow).
``detect_faces`` therefore runs the detector at a few scales chosen so that every face width from
``min_face`` to the frame's short side falls inside the band at some scale, cuts each scaled image
into overlapping tiles of at most ``max_side`` pixels, and merges everything with NMS.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
from faceplate.core.geometry.boxes import nms_detections, suppress_contained
from faceplate.core.types import Detection, Detector

DEFAULT_FACE_RANGE = (20.0, 400.0)


def pyramid_scales(width: int, height: int, min_face: float,
                   face_range: tuple[float, float] = DEFAULT_FACE_RANGE,
                   max_upscale: float = 2.0) -> list[float]:
    """Scales (largest first) such that every face width in [min_face, min(width, height)]
    lands inside ``face_range`` at one scale at least, with margin between neighbouring scales."""
    lo, hi = float(face_range[0]), float(face_range[1])
    s_fine = min(lo / max(float(min_face), 1.0), max_upscale)       # min_face -> lo
    s_coarse = hi / max(min(width, height), 1)                       # a frame-high face -> hi
    if s_fine <= s_coarse:
        # One scale covers everything: prefer native resolution when it is in the allowed band.
        return [float(min(max(1.0, s_fine), s_coarse))]
    if s_fine / s_coarse <= 1.5:
        # Nearly one band: a second pass would cost as much for faces only 1.5x over hi.
        return [float(s_fine)]
    step = (hi / lo) / 1.5  # neighbouring bands overlap by 1.5x so boundary faces are found twice
    n = max(1, math.ceil(math.log(s_fine / s_coarse) / math.log(step)))
    ratio = (s_fine / s_coarse) ** (1.0 / n)
    return [float(s_fine / ratio ** k) for k in range(n + 1)]


def _tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    stride = max(tile - overlap, 1)
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)  # last tile flush with the edge
    return sorted(set(starts))


def _resize(image: np.ndarray, scale: float) -> np.ndarray:
    if abs(scale - 1.0) < 1e-9:
        return image
    h, w = image.shape[:2]
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    return cv2.resize(image, size, interpolation=interp)


def detect_faces(detector: Detector, image_rgb: np.ndarray, min_face: float = 40,
                 max_side: int = 1280, iou_threshold: float = 0.4) -> list[Detection]:
    """All faces from about ``min_face`` px wide up to full frame, in plate pixel coordinates.

    image_rgb: (H, W, 3) uint8 RGB. Returns detections sorted by score (highest first).
    Deterministic: same image, same detector -> same list.
    """
    image = np.ascontiguousarray(image_rgb)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"detect_faces needs an (H, W, 3) RGB image, got shape {image.shape}")
    h, w = image.shape[:2]
    lo, hi = getattr(detector, "face_range", DEFAULT_FACE_RANGE)
    tile = int(max_side)
    fixed = getattr(detector, "tile_size", None)
    if fixed:
        tile = min(tile, int(fixed))
    scales = pyramid_scales(w, h, min_face, (lo, hi))
    overlap = int(min(hi * 1.1, tile / 2))
    found: list[Detection] = []
    for k, s in enumerate(scales):
        coarsest = k == len(scales) - 1
        scaled = _resize(image, s)
        sh, sw = scaled.shape[:2]
        xs, ys = _tile_starts(sw, tile, overlap), _tile_starts(sh, tile, overlap)
        for ty in ys:
            for tx in xs:
                crop = scaled[ty:ty + tile, tx:tx + tile]
                x_end, y_end = tx + crop.shape[1], ty + crop.shape[0]
                for d in detector.detect(np.ascontiguousarray(crop)):
                    bw = d.box[2] - d.box[0]
                    if not coarsest and bw > hi * 1.5:
                        continue  # too big for this scale: the coarser scale owns it
                    # A face cut by an inner tile edge is whole in the neighbouring tile
                    # (overlap >= the largest face this scale owns), so drop the fragment.
                    margin = 2.0
                    if ((tx > 0 and d.box[0] < margin) or (ty > 0 and d.box[1] < margin)
                            or (x_end < sw and d.box[2] > crop.shape[1] - margin)
                            or (y_end < sh and d.box[3] > crop.shape[0] - margin)):
                        continue
                    found.append(d.transformed(1.0, (tx, ty)).transformed(s))
    kept = suppress_contained(nms_detections(found, iou_threshold))
    # boxes of faces near min_face come out ~15 % small at the finest level: keep a margin
    return [d for d in kept if d.width >= 0.6 * float(min_face)]

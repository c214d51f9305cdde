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
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np


@dataclass(frozen=True, eq=False)
class Detection:
    """One face: box (4,) x0,y0,x1,y1 and points5 (5,2) in plate pixel coords (ArcFace order)."""

    box: np.ndarray
    points5: np.ndarray
    score: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "box", np.asarray(self.box, dtype=np.float64).reshape(4))
        object.__setattr__(self, "points5", np.asarray(self.points5, dtype=np.float64).reshape(5, 2))
        object.__setattr__(self, "score", float(self.score))

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])

    def transformed(self, scale: float, offset: tuple[float, float] = (0.0, 0.0)) -> "Detection":
        """Map from a scaled/cropped image back: p_out = (p + 0.5) / scale - 0.5 + offset.

        Pixel centres sit at integer coordinates (INTERFACES.md), and cv2.resize maps centre to
        centre, so a plain ``p / scale`` would be biased by half a pixel times (1/scale - 1).
        """
        off = np.asarray(offset, dtype=np.float64)
        box = (self.box + 0.5) / scale - 0.5 + np.concatenate([off, off])
        return Detection(box, (self.points5 + 0.5) / scale - 0.5 + off, self.score)


class Detector(Protocol):
    """What detect_faces needs. ``face_range`` (min, max face width in input pixels the network
    finds reliably) and ``tile_size`` (fixed network input side, or None) are optional hints."""

    name: str
    sha256: str

    def detect(self, image_rgb: np.ndarray) -> list[Detection]: ...


DEFAULT_FACE_RANGE = (20.0, 400.0)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix between boxes a (N,4) and b (M,4)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ix0 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy0 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix1 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.4) -> list[int]:
    """Greedy NMS; returns kept indices, highest score first. Ties break by index (deterministic)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    order = list(np.argsort(-scores, kind="stable"))
    keep: list[int] = []
    while order:
        i = order.pop(0)
        keep.append(int(i))
        if not order:
            break
        ious = box_iou(boxes[i:i + 1], boxes[order])[0]
        order = [j for j, v in zip(order, ious) if v <= iou_threshold]
    return keep


def nms_detections(dets: list[Detection], iou_threshold: float = 0.4) -> list[Detection]:
    """NMS over Detection objects (highest score first)."""
    if not dets:
        return []
    keep = nms(np.stack([d.box for d in dets]), np.array([d.score for d in dets]), iou_threshold)
    return [dets[i] for i in keep]


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


def detect_faces(detector: Any, image_rgb: np.ndarray, min_face: float = 40,
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


def suppress_contained(dets: list[Detection], max_inside: float = 0.5) -> list[Detection]:
    """Drop a detection lying mostly (> max_inside of its area) inside a larger kept one.

    Finer pyramid levels see only part of a very large face and may fire on it (an eye region,
    a half face); real faces do not sit inside another face's box, so the fragment goes.
    """
    order = sorted(range(len(dets)), key=lambda i: (-(dets[i].width * dets[i].height), i))
    kept: list[int] = []
    for i in order:
        b = dets[i].box
        area = max((b[2] - b[0]) * (b[3] - b[1]), 1e-9)
        inside = False
        for j in kept:
            k = dets[j].box
            iw = min(b[2], k[2]) - max(b[0], k[0])
            ih = min(b[3], k[3]) - max(b[1], k[1])
            if iw > 0 and ih > 0 and iw * ih / area > max_inside:
                inside = True
                break
        if not inside:
            kept.append(i)
    return [dets[i] for i in sorted(kept, key=lambda i: (-dets[i].score, i))]

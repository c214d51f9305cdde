"""Axis-aligned boxes (x0, y0, x1, y1) in pixels: overlap, suppression, size.
"""
from __future__ import annotations

import math

import numpy as np
from faceplate.core.types import Detection


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


def box_of(points: np.ndarray) -> np.ndarray:
    """Tight (x0, y0, x1, y1) box of a point set."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return np.concatenate([p.min(axis=0), p.max(axis=0)])


def box_size(box: np.ndarray) -> float:
    """A box's size in pixels: the geometric mean of its sides (at least 1)."""
    return float(max(1.0, math.sqrt(max(box[2] - box[0], 1.0) * max(box[3] - box[1], 1.0))))

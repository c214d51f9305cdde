"""Face registration (analyze side): where a partly covered face really is, from its visible pixels.

Landmarkers regress every point from the whole face: when a mug or a hand covers part of it, all 68
points drift (4–35 px on the bench's photo plate, the eyes too), so the aligned crop is misaligned,
the occlusion pass sees the whole face as changed, and render pastes the swap in the wrong place.
Here a run of frames where something solid covers the face is tracked from the clear frame before
it forwards and from the clear frame after it backwards, frame to frame (consecutive frames look
alike, so a head turn or a laugh is followed): dense optical flow between the aligned crops, a
similarity fitted to the flow of the face's pixels with RANSAC (the occluder, moving on its own, is
the outliers), and each landmark carried along: a visible one by its own flow where that agrees
with the face's motion (a blink, a smile), a hidden one by the similarity. The two directions are
blended by distance. Under an occluder the landmarker's shape is noise; the clear frames' shape
carried by the pixels is the best estimate of the face there.

A run is re-registered only where cover reaches ``SOLID`` of the face somewhere: a head turn or an
expression change the occluder pass mistakes for cover is flagged thinly, and there the landmarker
is right and is kept.

Coordinates: aligned squares of ``occlusion.ALIGNED_SIZE`` px, pixel centres (OpenCV), each frame's
square cut with its own landmarks. Deterministic: DIS flow and OpenCV's RANSAC (fixed seed) give the
same result on every run of one OpenCV build.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import cv2
import numpy as np

from faceplate.core.analyze import occlusion as oc
from faceplate.core.colour import LUMA_709
from faceplate.core.geometry import align

COVERED = 0.02        # fraction of the face region flagged in a frame above which its landmarks are suspect
SOLID = 0.15          # a run of covered frames is re-registered only where cover reaches this somewhere
FLOW_AGREE = 0.02     # of the square: how far a visible point's own flow may leave the face's motion
GRID = 3              # aligned px between flow samples
MIN_INLIERS = 0.3     # fraction of the samples that must agree on one similarity


def _log_luma(crop: np.ndarray, region: np.ndarray) -> np.ndarray:
    y = np.log(np.maximum(np.asarray(crop, np.float32) @ LUMA_709.astype(np.float32), 0.0) + 1e-3)
    return y - float(np.median(y[region]))


def _to_u8(a: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.clip((a - lo) * (255.0 / max(hi - lo, 1e-6)), 0, 255).astype(np.uint8)


def _flow_similarity(reference: np.ndarray, frame: np.ndarray, use: np.ndarray) \
        -> Optional[tuple[np.ndarray, float, np.ndarray]]:
    """(similarity reference → frame from the flow at ``use`` pixels, inlier fraction, the flow
    (S, S, 2)), None when too few pixels agree. reference, frame: (S, S) log luma; use: (S, S) bool."""
    lo, hi = np.percentile(reference[use], [1, 99]) if use.any() else (0.0, 1.0)
    lo, hi = float(lo) - 0.5, float(hi) + 0.5
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    flow = dis.calc(_to_u8(reference, lo, hi), _to_u8(frame, lo, hi), None)
    ys, xs = np.nonzero(use[::GRID, ::GRID])
    ys, xs = ys * GRID, xs * GRID
    if len(xs) < 40:
        return None
    src = np.stack([xs, ys], axis=1).astype(np.float32)
    dst = src + flow[ys, xs]
    m, inl = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=1.5,
                                         maxIters=2000, confidence=0.995, refineIters=10)
    if m is None or inl is None:
        return None
    frac = float(inl.mean())
    return (m.astype(np.float64), frac, flow) if frac >= MIN_INLIERS else None


def _hidden(mask: np.ndarray) -> np.ndarray:
    """The occluder as found, grown a little: its pixels (and its edge) cannot vote."""
    return cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0


def _chain(order: list[int], start: int, lum: np.ndarray, masks: np.ndarray, region: np.ndarray,
           shapes: np.ndarray) -> dict[int, np.ndarray]:
    """Carry the clear frame ``start``'s shape through the covered frames ``order``, frame to frame
    (consecutive frames look alike: a head turn or a laugh is followed, not compared with a still).
    Each value: the (68, 2) shape in that frame's crop; a frame that does not register is skipped."""
    out: dict[int, np.ndarray] = {}
    area = max(int(region.sum()), 1)
    ref, shape, ref_hidden = start, shapes[start], _hidden(masks[start])
    for t in order:
        hidden = _hidden(masks[t])
        use = region & ~hidden & ~ref_hidden
        if use.sum() < 0.4 * area:  # a misaligned crop reads as covered all over: let RANSAC sort it out
            use = region & ~ref_hidden
            if use.sum() < 0.25 * area:
                use = region
        found = _flow_similarity(lum[ref], lum[t], use)
        if found is None:   # this frame is left to the other direction; the next is tried from the last good one
            continue
        sim, _, flow = found
        shape = _tracked_shape(shape, sim, flow, ref_hidden)
        out[t] = shape
        ref, ref_hidden = t, hidden
    return out


def register_covered(crops: np.ndarray, masks: np.ndarray, region: np.ndarray,
                     shapes: np.ndarray) -> dict[int, np.ndarray]:
    """Re-registered landmarks for the frames of ONE piece of a track whose face is partly covered.

    crops: (T, S, S, 3) float32 linear aligned faces; masks: (T, S, S) bool, occlusion found with the
    landmarks' alignment; region: (S, S) bool, where the face is in most frames; shapes: (T, 68, 2)
    each frame's landmarks in its aligned square. A run of frames covered over more than ``COVERED``
    of the region, reaching ``SOLID`` somewhere, is tracked from the clear frame before it forwards
    and from the one after it backwards (blended by distance). Returns {position: (68, 2) shape in
    the frame's aligned square}; frames neither direction registers are left out.
    """
    t_count = crops.shape[0]
    area = max(int(region.sum()), 1)
    fraction = np.array([(m & region).sum() / area for m in masks])
    covered = fraction > COVERED
    if t_count < 3 or not covered.any() or covered.all():
        return {}
    lum = np.stack([_log_luma(c, region) for c in crops])
    out: dict[int, np.ndarray] = {}
    t = 0
    while t < t_count:
        if not covered[t]:
            t += 1
            continue
        s = t
        while t < t_count and covered[t]:
            t += 1
        run = list(range(s, t))     # covered frames s .. t-1
        if max(fraction[i] for i in run) < SOLID:
            continue
        forward = _chain(run, s - 1, lum, masks, region, shapes) if s > 0 else {}
        backward = _chain(run[::-1], t, lum, masks, region, shapes) if t < t_count else {}
        for i in run:
            if i in forward and i in backward:
                w = (i - s + 1) / float(len(run) + 1)
                out[i] = (1.0 - w) * forward[i] + w * backward[i]
            elif i in forward or i in backward:
                out[i] = forward[i] if i in forward else backward[i]
    return out


def _tracked_shape(shape: np.ndarray, sim: np.ndarray, flow: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """(68, 2) the reference shape carried into the frame's crop: a visible point follows the flow
    (a blink, a smile), where the flow agrees with the face's motion; a hidden point or one whose
    flow does not agree (the occluder's own motion) follows the similarity."""
    moved = align.transform_points(shape, sim)
    size = flow.shape[0]
    fx = cv2.remap(flow[..., 0], shape[:, 0].astype(np.float32)[None], shape[:, 1].astype(np.float32)[None],
                   cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[0]
    fy = cv2.remap(flow[..., 1], shape[:, 0].astype(np.float32)[None], shape[:, 1].astype(np.float32)[None],
                   cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[0]
    followed = shape + np.stack([fx, fy], axis=1)
    ij = np.clip(np.round(shape).astype(int), 0, size - 1)
    visible = ~hidden[ij[:, 1], ij[:, 0]]
    agree = np.hypot(*(followed - moved).T) <= FLOW_AGREE * size
    return np.where((visible & agree)[:, None], followed, moved)


def register_piece(padded: np.ndarray, pad: int, landmarks: Sequence[np.ndarray],
                   detect: Callable[[np.ndarray, list[np.ndarray]], np.ndarray], rounds: int = 3) \
        -> tuple[list[np.ndarray], np.ndarray, list[int], np.ndarray]:
    """Landmarks and occlusion masks of ONE piece of a track, covered frames re-registered.

    padded: (T, S + 2 pad, S + 2 pad, 3) float32 crops cut by ``occlusion.aligned_face(..., pad=pad)``
    with ``landmarks`` ((68, 2) each, the image coordinates the crops were cut in); detect(crops,
    landmarks) → (T, S, S) bool masks for (T, S, S, 3) aligned crops. Each round registers the covered
    frames, re-cuts their crops from the padded ones and detects again (better masks, better anchors).
    Returns (landmarks, masks, positions corrected, (T, S, S, 3) crops cut with the landmarks returned).
    """
    size = padded.shape[1] - 2 * pad
    lms = [np.asarray(lm, np.float64) for lm in landmarks]
    cut_with = [oc.aligned_transform(lm, size) for lm in lms]
    crops = np.ascontiguousarray(padded[:, pad:pad + size, pad:pad + size], np.float32)
    masks = detect(crops, lms)
    fixed: set[int] = set()
    if len(lms) < 3 or any(lm.shape != (68, 2) for lm in lms):
        return lms, masks, [], crops
    # where the face is in most frames (the matte hulls' majority): more face to vote than the oval
    region = np.mean([oc.matte_hull(lm, size)[0] for lm in lms], axis=0) >= 0.5
    unpad = np.array([[1.0, 0.0, -pad], [0.0, 1.0, -pad]])
    for _ in range(rounds):
        now = [oc.aligned_transform(lm, size) for lm in lms]
        shapes = np.stack([align.transform_points(lm, m) for lm, m in zip(lms, now)])
        found = register_covered(crops, masks, region, shapes)
        if not found:
            break
        for t, shape in found.items():
            lms[t] = align.transform_points(shape, align.invert(now[t]))
            padded_to_new = align.compose(oc.aligned_transform(lms[t], size),
                                          align.compose(align.invert(cut_with[t]), unpad))
            crops[t] = align.warp(np.asarray(padded[t], np.float32), padded_to_new, size)
            fixed.add(t)
        masks = detect(crops, lms)
    return lms, masks, sorted(fixed), crops

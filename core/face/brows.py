"""Brow points moved up onto the brows the image shows.

The 68-point landmarker is drawn toward a resting brow: on a raised brow its points 17-26 sit
below the hair of the brow, so a warp from such a frame carries the real brow above the place
it is sent to (a second, higher pair of brows in the swap). This finds each brow's dark band in
the image and lifts the brow's points onto it; it never lowers them (below the brow lie the lid
crease and the socket's shadow, which a band search would mistake for the brow).

Coordinates: landmarks (68, 2) in the image's pixels, x right, y down; offsets are measured
"up", perpendicular to the line through the eye centres, in eye-centre distances.
"""
from __future__ import annotations

import cv2
import numpy as np

BROWS = (tuple(range(17, 22)), tuple(range(22, 27)))
# Where the band's centre lies relative to the points on a face the landmarker fits: iBUG marks
# the brow's upper edge, so the band is below them (median over 77 faces: -0.075, spread 0.02).
FITTED_OFFSET = -0.075
SEARCH = (FITTED_OFFSET - 0.05, 0.30)   # offsets searched for the band's centre: never below the fit
BAND = 0.12                  # the band is compared with the skin this far above and below it
MIN_DEPTH = (0.15, 0.25)     # log-luminance dip below both flanks: not a brow .. surely one
# The skin on both sides of a band that is a brow (at the brows of 77 faces the landmarker fits):
# above no darker than below by this (log luminance; 95 % of them: -0.25 or more), and each side's
# chroma within this of the brow bone's below the points (summed |difference|; 90 %: under 0.15).
# A brow that fails is not seen (a band above it that passes, if any, is then taken for it).
MAX_FLANK_DARKENING = 0.3
MAX_FLANK_CHROMA = 0.15
MIN_LIFT = (0.01, 0.04)      # lifts below the first are the search's own noise; ramped in by the second


def _axes(landmarks: np.ndarray) -> tuple[np.ndarray, float]:
    left, right = landmarks[36:42].mean(axis=0), landmarks[42:48].mean(axis=0)
    across = right - left
    distance = float(np.linalg.norm(across))
    across = across / max(distance, 1e-9)
    return np.array([across[1], -across[0]]), distance     # "up": toward the brows in y-down pixels


def _brow_line(points: np.ndarray) -> np.ndarray:
    """The brow's polyline sampled densely, its outer 15 % at each end dropped (the tails fade)."""
    dense = [a + (b - a) * t for a, b in zip(points[:-1], points[1:]) for t in (0.0, 0.25, 0.5, 0.75)]
    dense.append(points[-1])
    n = len(dense)
    return np.asarray(dense[int(n * 0.15):n - int(n * 0.15)], np.float32)


def band_offset(rgb: np.ndarray, landmarks: np.ndarray, brow: tuple[int, ...]) -> tuple[float, float]:
    """(offset of the brow band's centre, its depth) for one brow of ``rgb`` (h, w, 3, blurred);
    depth is how much darker (log luminance) the band is than the skin ``BAND`` above it and the
    skin ``BAND`` below it, whichever is darker. Depth <= 0: no band."""
    up, distance = _axes(landmarks)
    line = _brow_line(landmarks[list(brow)])
    step = 0.01
    offsets = np.arange(SEARCH[0] - BAND, SEARCH[1] + BAND + step / 2, step)
    shifted = line[None, :, :] + (offsets[:, None, None] * distance * up[None, None, :]).astype(np.float32)
    colour = np.stack([np.median(cv2.remap(np.ascontiguousarray(rgb[..., c]), shifted[..., 0], shifted[..., 1],
                                           cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE), axis=1)
                       for c in range(3)], axis=1) + 1e-3                     # (offsets, 3)
    profile = np.log(colour.sum(axis=1))
    chroma = colour / colour.sum(axis=1, keepdims=True)
    k = int(round(BAND / step))
    below, above = profile[:-2 * k] - profile[k:-k], profile[2 * k:] - profile[k:-k]
    depth = np.minimum(below, above)
    # a brow is darker than the skin on both sides of it, and that skin is the skin of the brow
    # bone below the points (a fringe's shadow or a strand of hair has hair on a side), and the
    # skin above a brow is no darker than the skin below it
    skin = chroma[int(round((FITTED_OFFSET - BAND - offsets[0]) / step))]
    one_skin = ((profile[2 * k:] - profile[:-2 * k] > -MAX_FLANK_DARKENING)
                & (np.abs(chroma[2 * k:] - skin).sum(axis=1) < MAX_FLANK_CHROMA)
                & (np.abs(chroma[:-2 * k] - skin).sum(axis=1) < MAX_FLANK_CHROMA))
    depth = np.where(one_skin, depth, np.minimum(depth, 0.0))
    # the lowest band that is a brow: a raised brow is the first band above the points, forehead
    # wrinkles and hair come after it
    inner = depth[1:-1]
    peaks = np.flatnonzero((inner >= MIN_DEPTH[0]) & (inner >= depth[:-2]) & (inner > depth[2:])) + 1
    j = int(peaks[0]) if len(peaks) else int(np.argmax(depth))
    offset = float(offsets[k + j])
    if 0 < j < len(depth) - 1:   # the peak between samples, so the offset moves smoothly with the brow
        a, b, c = depth[j - 1], depth[j], depth[j + 1]
        bend = a - 2 * b + c
        if bend < 0:
            offset += step * float(np.clip(0.5 * (a - c) / bend, -0.5, 0.5))
    return offset, float(depth[j])


def _ramp(value: float, low: float, high: float) -> float:
    return float(np.clip((value - low) / (high - low), 0.0, 1.0))


def lift_to_image(image_rgb: np.ndarray, landmarks68: np.ndarray) -> np.ndarray:
    """A copy of ``landmarks68`` with each brow lifted onto the band ``image_rgb`` (h, w, 3, any
    range, display-referred) shows above it; brows that are found where expected, or not found,
    are left as they are."""
    lm = np.asarray(landmarks68, np.float64).reshape(68, 2).copy()
    up, distance = _axes(lm)
    if distance < 8:
        return lm
    # only the brows' surroundings are looked at: a 4K plate is not blurred for two short lines
    reach = (max(abs(SEARCH[0]), SEARCH[1]) + BAND + 0.1) * distance
    x0, y0 = np.maximum(np.floor(lm[17:27].min(axis=0) - reach).astype(int), 0)
    x1, y1 = np.ceil(lm[17:27].max(axis=0) + reach).astype(int) + 1
    crop = np.asarray(image_rgb[y0:y1, x0:x1], np.float32)
    if crop.size == 0:
        return lm
    blurred = cv2.GaussianBlur(crop, (0, 0), max(0.02 * distance, 0.5))
    local = lm - [x0, y0]
    for brow in BROWS:
        offset, depth = band_offset(blurred, local, brow)
        lift = offset - FITTED_OFFSET
        # ramps, not thresholds: a brow near either limit must not jump between frames
        trust = _ramp(depth, *MIN_DEPTH) * _ramp(lift, *MIN_LIFT)
        if trust > 0:
            lm[list(brow)] += trust * lift * distance * up
    return lm

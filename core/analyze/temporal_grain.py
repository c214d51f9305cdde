"""The plate's grain as it changes from frame to frame (analyze side), apart from the face's fixed texture.

Render's regrain needs the grain's amplitude and size. Measured on one frame (``render/grain.measure_grain``),
the high-pass of the flattest half of a face holds the grain AND whatever fixed fine texture the face
has (pores, stubble, a photo's own noise): on the bench's photo plate that read up to twice the grain
there is, and a soft source regrained to it flickered three times more than the plate. Grain is what
changes between frames once the face's motion is removed; texture is what does not. So here two
consecutive crops of the same face are registered (a similarity from their landmarks), their
high-passes subtracted, and the difference's robust variance split into the two frames' grain: the
current frame's and the previous frame's as resampled by the warp (how much of a grain field's
high-pass survives that warp is measured on a synthetic field of the plate's grain size). The size is
read from the difference too (its neighbour correlation): on an upscaled plate the one-frame figure
read the face's fine texture as small grain, and the regrain was finer than the plate's.

Coordinates: crops in their own pixels (pixel centres, OpenCV), points as (N, 2) in each crop.
Deterministic: the synthetic field has a fixed seed.
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from faceplate.core.geometry import align
from faceplate.core.render import grain as gr

_MIN_PIXELS = 256


def _highpass(x: np.ndarray) -> np.ndarray:
    return (x - gr.blur(x, gr.HIGHPASS_SIGMA)).astype(np.float64)


def temporal_grain(previous: np.ndarray, previous_points: np.ndarray, current: np.ndarray,
                   current_points: np.ndarray, where: np.ndarray) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """((3,) per-channel std, (3,) size in px) of the grain that changes between ``previous`` and
    ``current`` (h, w, 3 float32 linear crops of one face in consecutive frames), in the units of
    ``GrainModel.std`` / ``.size``; None when fewer than 256 flat pixels of ``where`` ((h, w) bool,
    in ``current``) are seen in both. The size comes from the difference's neighbour correlation:
    two independent grain fields of one size differ by a field of that size, while the face's
    texture (smooth or fine) has cancelled out of it."""
    h, w = current.shape[:2]
    m = align.estimate_similarity(np.asarray(previous_points, np.float64), np.asarray(current_points, np.float64))
    warped = cv2.warpAffine(np.asarray(previous, np.float32), m, (w, h), flags=cv2.INTER_CUBIC,
                            borderMode=cv2.BORDER_REFLECT)
    seen = cv2.warpAffine(np.ones(previous.shape[:2], np.uint8), m, (w, h), flags=cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0
    flat = gr.flat_pixels(current, np.asarray(where, bool) & seen, 0.5)
    if flat.sum() < _MIN_PIXELS:
        return None
    change = _highpass(current) - _highpass(warped)
    size = gr.size_from_residual(change, flat)
    difference = gr.robust_var(change[flat])
    # the previous frame's grain, resampled by the warp, keeps only part of its high-pass variance
    field = gr.blur(np.random.default_rng(0).standard_normal((h, w)).astype(np.float32), float(np.mean(size)))
    moved = cv2.warpAffine(field, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    kept_by_warp = float(np.var(_highpass(moved)[flat]) / max(np.var(_highpass(field)[flat]), 1e-12))
    sizes, _, table_var, _ = gr.size_table(gr.HIGHPASS_SIGMA)
    kept_by_highpass = np.maximum(np.interp(size, sizes, table_var), 1e-6)
    return np.sqrt(difference / (1.0 + kept_by_warp) / kept_by_highpass), size

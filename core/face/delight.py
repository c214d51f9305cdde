"""Taking the source still's own light out of its skin, once per library frame (engine v2's source side).

The swap gets the plate's mean colour and broad shading (``colour_match`` + ``relight``, low-passed
at ~0.12 face sizes); anything finer that the source's light put on its skin survives into every
frame whatever the plate's light is: a white specular blob on the nose tip, warm hot spots on the
forehead and chin, a rim light's pale arc down a cheek. The source should give its skin identity
(tone, texture, features), not its light. Two steps, in linear light, on the source crop:

1. **Speculars**: bright, low-saturation peaks above the local skin base in log luminance are
   replaced by that base (its colour) times the pixel's own fine texture (bounded), under a soft
   mask. The eye openings and the mouth (eye whites, catchlights and teeth are bright and grey too)
   are never touched.
2. **Mid-frequency shading**: the skin's own low-pass at a scale between pores and the face
   (``FINE`` face sizes), relative to its broad low-pass (``BROAD``, the scale the plate's relight
   supplies), is divided out: luminance fully, colour (hot-spot tints) within a bound. The shading
   field is estimated from skin only (eyes, brows, nostrils and lips and any pixel far from its
   neighbourhood left out, then filled in by normalised convolution), so it is smooth across the
   features and multiplying by it keeps their contrast against the skin around them.

Deterministic (no randomness, no models), one frame's pixels only.
"""
from __future__ import annotations

import cv2
import numpy as np

from faceplate.core.colour import LUMA_709
from faceplate.core.face import regions

# Scales in face sizes (regions.face_size). The skin base for speculars: wider than a nose-tip
# highlight so the peak stands out of it. FINE: shading finer than this is texture and form (pores,
# wrinkles, lid creases) and stays. BROAD: the plate's relight replaces shading at this scale and up.
BASE, FINE, BROAD, TEXTURE = 0.05, 0.03, 0.12, 0.006
# Speculars: a peak this many stops above the skin base starts (full at the second) ...
PEAK_STOPS = (0.15, 0.5)
# ... and counts fully when its saturation has dropped by this fraction of the base's (white light
# added to skin); a bright peak of skin's own colour (a warm hot spot) is shading, left to step 2.
WHITENING = 0.25
# Shading: bounds of the correction in stops (luminance, and colour per channel around it).
MAX_SHADING, MAX_TINT = 1.0, 0.25
_EPS = 1e-5


def delight(image: np.ndarray, skin: np.ndarray, landmarks68: np.ndarray) -> np.ndarray:
    """``image`` (h, w, 3) linear float32 with its speculars and mid-frequency shading taken out
    inside ``skin`` (h, w) 0..1; ``landmarks68`` in ``image`` pixels. Same shape and dtype."""
    img = np.maximum(np.nan_to_num(np.asarray(image, np.float32), nan=0.0, posinf=0.0, neginf=0.0), 0.0)
    skin = np.clip(np.asarray(skin, np.float32), 0.0, 1.0)
    if float((skin > 0.5).sum()) < 64:
        return img
    size = regions.face_size(landmarks68)
    out = remove_speculars(img, skin, landmarks68, size)
    return flatten_shading(out, skin, landmarks68, size)


def remove_speculars(image: np.ndarray, skin: np.ndarray, landmarks68: np.ndarray, size: float) -> np.ndarray:
    """Bright, whitened peaks in the skin replaced by the skin base around them, fine texture kept."""
    keep_out = _feature_guard(landmarks68, image.shape[:2], size)
    weight = skin * (1.0 - keep_out)
    log_y = _log_luma(image)
    sigma = max(BASE * size, 1.0)
    # the base is re-estimated without the pixels standing above it: a blob must not lift its own base
    base = _normalised_blur(log_y, weight, sigma)
    base = _normalised_blur(log_y, weight * (log_y - base < PEAK_STOPS[0]) * (log_y - base > -0.6), sigma)
    peak = log_y - base
    sat = _saturation(image)
    calm = weight * (peak < PEAK_STOPS[0])
    sat_base = _normalised_blur(sat, calm, sigma)
    whitened = np.clip((sat_base - sat) / np.maximum(sat_base, 0.05) / WHITENING, 0.0, 1.0)
    mask = _smoothstep(peak, *PEAK_STOPS) * whitened * weight
    # a soft mask a little wider than the peak: its halo (a specular's shoulder) goes with it
    mask = np.maximum(mask, cv2.GaussianBlur(mask, (0, 0), max(0.008 * size, 0.7))) * weight
    if float(mask.max()) < 1e-3:
        return image
    base_rgb = np.stack([_normalised_blur(image[..., c], calm, sigma) for c in range(3)], axis=-1)
    # the pixel's own texture around a pore-sized neighbourhood, bounded: a glint on a pore is not kept
    texture = log_y - cv2.GaussianBlur(log_y, (0, 0), max(TEXTURE * size, 0.7))
    fill = base_rgb * np.exp2(np.clip(texture, -0.25, 0.25))[..., None]
    m = mask[..., None]
    return (image * (1.0 - m) + fill * m).astype(np.float32)


def flatten_shading(image: np.ndarray, skin: np.ndarray, landmarks68: np.ndarray, size: float) -> np.ndarray:
    """The skin's own shading between ``FINE`` and ``BROAD`` face sizes divided out (bounded)."""
    guard = _feature_guard(landmarks68, image.shape[:2], size)
    weight = skin * (1.0 - guard)
    log_rgb = np.log2(image + _EPS)
    log_y = _log_luma(image)
    fine = max(FINE * size, 1.0)
    # pixels far from their neighbourhood (a mole, stubble, a crease's shadow) are not shading
    near = np.abs(log_y - _normalised_blur(log_y, weight, fine)) < 0.6
    weight = weight * near
    if float(weight.sum()) < 64:
        return image
    broad = max(BROAD * size, fine)
    lo_fine = np.stack([_normalised_blur(log_rgb[..., c], weight, fine) for c in range(3)], axis=-1)
    lo_broad = np.stack([_normalised_blur(log_rgb[..., c], weight, broad) for c in range(3)], axis=-1)
    shade = lo_fine - lo_broad
    shade_y = shade @ LUMA_709.astype(np.float32)
    tint = np.clip(shade - shade_y[..., None], -MAX_TINT, MAX_TINT)
    correction = np.clip(shade_y, -MAX_SHADING, MAX_SHADING)[..., None] + tint
    # only where skin was seen nearby: the margin around the face (hair, backdrop) keeps its pixels;
    # and not across the features and their surround (eye sockets, brow ridge, lip line): that shading
    # is the face's form at the features' scale, and the engine matches it to the plate's there
    support = np.clip(cv2.GaussianBlur(skin, (0, 0), fine) * 2.0, 0.0, 1.0)
    support *= 1.0 - np.clip(cv2.GaussianBlur(guard, (0, 0), fine) * 2.0, 0.0, 1.0)
    support[support < 1e-3] = 0.0  # a Gaussian's far tail: the margin stays exactly as it was
    return (image * np.exp2(-correction * support[..., None])).astype(np.float32)


def _feature_guard(landmarks68: np.ndarray, shape: tuple[int, int], size: float) -> np.ndarray:
    """(h, w) 0..1: eye openings with lashes, mouth and lips, brows and nostrils: regions whose light
    and dark are the face's features, not its light (grey brows and teeth are bright and grey too).
    The nose tip above the nostrils is not guarded: that is where speculars sit."""
    lm = np.asarray(landmarks68, np.float64).reshape(68, 2)
    up = (lm[17:27].mean(axis=0) - lm[8]) / max(float(np.linalg.norm(lm[17:27].mean(axis=0) - lm[8])), 1e-9)
    polys = list(regions.eye_polygons(lm, grow=0.35))
    polys.append(_grown(lm[48:60], 0.1 * float(np.linalg.norm(lm[54] - lm[48]))))
    band = 0.04 * size * up
    polys += [np.vstack([b + band, b - band]) for b in (lm[17:22], lm[22:27])]
    # each nostril beside the columella (31-32, 34-35), not the tip between them
    polys += [np.vstack([n, n + 0.05 * size * up]) for n in (lm[31:33], lm[34:36])]
    mask = np.zeros(shape, np.uint8)
    for p in polys:
        hull = cv2.convexHull(p.astype(np.float32)).reshape(-1, 2)
        cv2.fillPoly(mask, [np.round(hull * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), max(0.01 * size, 0.5))
    return np.clip(np.maximum(soft * 2.0, mask), 0.0, 1.0).astype(np.float32)


def _grown(points: np.ndarray, amount: float) -> np.ndarray:
    """Each point pushed ``amount`` pixels away from the polygon's centre."""
    d = points - points.mean(axis=0)
    return points + d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9) * amount


def _normalised_blur(values: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """Weighted Gaussian mean of ``values``: gaps (weight 0) are filled from around them."""
    w = np.asarray(weight, np.float32)
    num = cv2.GaussianBlur(values.astype(np.float32) * w, (0, 0), sigma)
    den = cv2.GaussianBlur(w, (0, 0), sigma)
    # where no skin is within reach the estimate is the whole region's mean, not 0/0
    fallback = float((values * w).sum() / max(float(w.sum()), 1e-6))
    return np.where(den > 1e-4, num / np.maximum(den, 1e-4), fallback).astype(np.float32)


def _log_luma(image: np.ndarray) -> np.ndarray:
    return np.log2(image @ LUMA_709.astype(np.float32) + _EPS).astype(np.float32)


def _saturation(image: np.ndarray) -> np.ndarray:
    hi = image.max(axis=-1)
    return (1.0 - image.min(axis=-1) / np.maximum(hi, _EPS)).astype(np.float32)


def _smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)

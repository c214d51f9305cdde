"""Matching the swapped face to the plate in linear light: colour gains and low-frequency relighting."""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np
from faceplate.core.analyze.tone import Tone, grid_to_aligned
from faceplate.core.colour import LUMA_709
from faceplate.core.geometry import align

# Face sizes: the low-pass that separates a face's broad shading and colour from its detail (relight,
# relight_tone, and the fine colour coupling of v2's finish).
RELIGHT_SCALE = 0.12
TAIL_SPREADS = 3.0    # bound_chroma: how far past the plate skin's colour spread a swap pixel's colour may go


def colour_match(swap: np.ndarray, reference: np.ndarray, where: np.ndarray,
                 max_gain: float = 2.0) -> np.ndarray:
    """Match ``swap`` to ``reference`` inside ``where``, in linear light.

    Per channel the mean is matched by a gain (light is multiplicative: an additive shift would
    push dark pixels negative and tint them), and contrast by one exponent from the std of log
    luminance: ``x' = mean_ref · (x / mean_swap) ** gamma``. ``gamma`` is bounded to
    ``[1/max_gain, max_gain]`` so a flat or blown region cannot explode it.
    """
    sel = np.asarray(where) > 0.5
    if sel.sum() < 16:
        return swap
    eps = 1e-4
    s = np.maximum(swap[sel].astype(np.float64), 0.0)
    r = np.maximum(np.nan_to_num(reference[sel].astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0), 0.0)
    mu_s, mu_r = s.mean(axis=0) + eps, r.mean(axis=0) + eps
    luma = LUMA_709
    sd_s, sd_r = float(np.log(s @ luma + eps).std()), float(np.log(r @ luma + eps).std())
    gamma = float(np.clip(sd_r / max(sd_s, 1e-6), 1.0 / max_gain, max_gain))
    return _gained(swap, mu_s, mu_r, gamma)


def _gained(swap: np.ndarray, mu_s: np.ndarray, mu_r: np.ndarray, gamma: float) -> np.ndarray:
    ratio = np.maximum(swap.astype(np.float64), 0.0) / mu_s + 1e-12
    return (mu_r * ratio ** gamma).astype(np.float32)


def match_tone(swap: np.ndarray, source: Tone, plate: Tone, max_gain: float = 2.0,
               max_contrast: float = 1.0) -> np.ndarray:
    """``colour_match`` with both sides' statistics given (``analyze/tone``: the source frame's skin,
    the plate's smoothed over the shot) instead of measured on this frame's region.

    The contrast exponent only ever lowers the source's detail (``max_contrast`` 1): the plate's spread
    is its own face's detail (a turned head's nose and cheekbone shading, its grain), and raising the
    source's detail to that amount turned its mild mid-scale variation into pale and dark blotches
    (README sample: exponents 1.2-1.5)."""
    gamma = float(np.clip(plate.spread / max(source.spread, 1e-6), 1.0 / max_gain, max_contrast))
    return _gained(swap, np.asarray(source.mean, np.float64), np.asarray(plate.mean, np.float64), gamma)


def relight_tone(swap: np.ndarray, skin: np.ndarray, plate: Tone, to_aligned: np.ndarray, size: float,
                 max_gain: float = 2.0) -> np.ndarray:
    """``relight`` toward the plate's stored shading field (``analyze/tone``, smoothed over the shot)
    instead of this frame's pixels. The swap's own broad shading is low-passed as ``relight`` does,
    over ``skin`` ((h, w), the source's own skin as warped: fixed per library frame, not the plate's
    matte of the frame), so the source side is measured where it lies on the face whatever the pose;
    the plate's field lies in the aligned square, placed on ``swap`` by ``to_aligned`` ((2, 3) swap
    pixels -> aligned). ``size``: face size in swap px (the low-pass is ``RELIGHT_SCALE`` of it, as ``relight``)."""
    sel = (np.asarray(skin) > 0.5).astype(np.float32)
    if sel.sum() < 64:
        return swap
    h, w = swap.shape[:2]
    luma = LUMA_709.astype(np.float32)
    sigma = max(RELIGHT_SCALE * size, 1.0)
    weight = cv2.GaussianBlur(sel, (0, 0), sigma) + 1e-6
    lo_swap = cv2.GaussianBlur((np.maximum(swap, 0.0) @ luma) * sel, (0, 0), sigma) / weight
    grid_to_crop = align.compose(align.invert(to_aligned), grid_to_aligned())
    field = cv2.warpAffine(np.asarray(plate.field, np.float32), grid_to_crop, (w, h), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
    mean_luma = float(np.asarray(plate.mean, np.float64) @ LUMA_709)
    lo_plate = mean_luma * np.exp(field)
    gain = np.clip((lo_plate + 1e-4) / (lo_swap + 1e-4), 1.0 / max_gain, max_gain)
    out = (swap * gain[..., None]).astype(np.float32)
    chroma_field = None
    if plate.chroma_field is not None:   # where the plate's skin is redder or bluer, placed as the shading is
        chroma_field = np.stack([cv2.warpAffine(np.asarray(f, np.float32), grid_to_crop, (w, h), flags=cv2.INTER_LINEAR,
                                                borderMode=cv2.BORDER_REPLICATE) for f in plate.chroma_field], axis=-1)
    return _shade_chroma(out, sel, weight, sigma, np.asarray(plate.mean, np.float64), mean_luma,
                         np.asarray(plate.chroma_slope, np.float64), chroma_field)


def _shade_chroma(swap: np.ndarray, sel: np.ndarray, weight: np.ndarray, sigma: float, mean: np.ndarray,
                  mean_luma: float, slope: np.ndarray, chroma_field: Optional[np.ndarray] = None,
                  max_gain: float = 1.5) -> np.ndarray:
    """``swap`` with its broad colour (low-passed as the shading is) made the plate's skin colour:
    where the plate's ``chroma_field`` ((h, w, 2) log(R / Y), log(B / Y) relative to the mean
    colour's, placed on ``swap``) is given, the plate's broad colour at that place (its redder
    cheeks, a lit forehead's bluer light); otherwise the plate's mean chroma, redder or bluer with
    the shading as the plate's skin is (``slope``: d log(R / Y), d log(B / Y) per d log Y). The
    swap's own broad colour patches (a warm key light on the source's forehead) go, its fine colour
    stays; luminance is kept."""
    luma = LUMA_709.astype(np.float32)
    lo = np.stack([cv2.GaussianBlur(swap[..., c] * sel, (0, 0), sigma) for c in range(3)], axis=-1) / weight[..., None]
    lo = np.maximum(lo, 1e-6)
    lo_y = np.maximum(lo @ luma, 1e-6)
    chroma = mean / max(mean_luma, 1e-6)
    if chroma_field is not None:
        want_r = chroma[0] * np.exp(chroma_field[..., 0])
        want_b = chroma[2] * np.exp(chroma_field[..., 1])
    else:
        x = np.log(lo_y) - np.log(max(mean_luma, 1e-6))
        want_r = chroma[0] * np.exp(slope[0] * x)
        want_b = chroma[2] * np.exp(slope[1] * x)
    want_g = np.maximum((1.0 - luma[0] * want_r - luma[2] * want_b) / luma[1], 1e-3)
    want = np.stack([want_r, want_g, want_b], axis=-1)
    factor = np.clip(want / (lo / lo_y[..., None]), 1.0 / max_gain, max_gain).astype(np.float32)
    out = swap * factor
    # the factors keep the broad luminance only approximately once bounded: put it back exactly
    keep = (np.maximum(swap, 0.0) @ luma + 1e-6) / (np.maximum(out, 0.0) @ luma + 1e-6)
    return (out * keep[..., None]).astype(np.float32)


def relight(swap: np.ndarray, reference: np.ndarray, where: np.ndarray, size: float,
            scale: float = RELIGHT_SCALE, max_gain: float = 2.0) -> np.ndarray:
    """Give ``swap`` the reference's broad shading (key/fill direction) in linear light.

    Both are low-passed at ``scale`` face sizes inside ``where`` (normalised convolution, so the
    region's edge does not darken the estimate); the per-pixel ratio, bounded to
    ``[1/max_gain, max_gain]``, multiplies the swap. Detail finer than the blur stays the source's.
    """
    sel = (np.asarray(where) > 0.5).astype(np.float32)
    if sel.sum() < 64:
        return swap
    sigma = max(scale * size, 1.0)
    w = cv2.GaussianBlur(sel, (0, 0), sigma) + 1e-6
    ref = np.maximum(np.nan_to_num(reference, nan=0.0, posinf=0.0, neginf=0.0), 0.0) * sel[..., None]
    src = np.maximum(swap, 0.0) * sel[..., None]
    lo_ref = cv2.GaussianBlur(ref, (0, 0), sigma) / w[..., None]
    lo_src = cv2.GaussianBlur(src, (0, 0), sigma) / w[..., None]
    # One gain per pixel from luminance: shading, not colour (colour_match did colour).
    luma = LUMA_709.astype(np.float32)
    gain = (lo_ref @ luma + 1e-4) / (lo_src @ luma + 1e-4)
    gain = np.clip(gain, 1.0 / max_gain, max_gain)
    return (swap * gain[..., None]).astype(np.float32)


def _non_negative(swap: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both float32, negatives 0; the reference's non-finite pixels 0 (a plate's NaN is no colour)."""
    x = np.maximum(np.nan_to_num(np.asarray(swap, np.float32)), 0.0)
    return x, np.maximum(np.nan_to_num(np.asarray(reference, np.float32), nan=0.0, posinf=0.0, neginf=0.0), 0.0)


def bound_chroma(swap: np.ndarray, reference: np.ndarray, where: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """``swap`` with no more colour variation than ``reference`` has inside ``where``, luminance kept.

    A gain per channel moves the mean colour, but the swap's own colour variation (a source lit by a
    warm key and a blue rim, red lips, a coloured backdrop at its edge) is kept, and a contrast
    exponent multiplies it: on a grey or desaturated plate that reads as colour blotches. Here the
    chroma ``rgb / luma`` of each pixel is pulled to the reference's median chroma, its deviation
    scaled per channel by ``min(1, spread_ref / spread_swap)`` (robust spreads, measured after a
    ``sigma`` px blur so grain's chroma does not count as colour), and no pixel's deviation let far
    past ``TAIL_SPREADS`` of the reference's spread (soft-clipped). Never adds colour: a swap already
    as even as the plate is only recentred. Linear light, (h, w, 3) float32; ``where`` (h, w).
    """
    sel = np.asarray(where) > 0.5
    if sel.sum() < 64:
        return swap
    x, ref = _non_negative(swap, reference)
    luma = LUMA_709.astype(np.float32)

    def chroma(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = img @ luma
        # a floor at a hundredth of the region's luminance: the ratio of near-black pixels is noise
        floor = max(float(np.median(y[sel])) * 0.01, 1e-6)
        return img / np.maximum(y, floor)[..., None], y

    def stats(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = chroma(cv2.GaussianBlur(img, (0, 0), sigma))[0][sel].astype(np.float64)
        med = np.median(c, axis=0)
        return med, 1.4826 * np.median(np.abs(c - med), axis=0) + 1e-6

    mu_r, sd_r = stats(ref)
    mu_s, sd_s = stats(x)
    scale = np.minimum(1.0, sd_r / sd_s).astype(np.float32)
    c, y = chroma(x)
    deviation = (c - mu_s.astype(np.float32)) * scale
    # the tails too: a small blemish of the source's (a red mark on the nose) is a few pixels, which
    # a robust spread does not see, but on a grey plate it is the one coloured thing on the face.
    # Deviations past TAIL_SPREADS of the plate's spread are compressed smoothly toward that bound
    bound = (TAIL_SPREADS * sd_r).astype(np.float32)
    deviation = bound * np.tanh(deviation / bound)
    out_c = np.maximum(mu_r.astype(np.float32) + deviation, 0.0)
    # renormalised so the pixel's luminance is the swap's: colour only, shading is not touched here
    out_c /= np.maximum(out_c @ luma, 1e-6)[..., None]
    return (out_c * y[..., None]).astype(np.float32)


def couple_chroma(swap: np.ndarray, reference: np.ndarray, where: np.ndarray, sigma: float,
                  max_change: float = 0.6) -> np.ndarray:
    """``swap`` whose fine colour follows its fine shading as the ``reference`` skin's does, luminance kept.

    Skin is redder where it is darker and bluer where it catches light, detail by detail, not only
    across the face (light scattered under the skin): on a plate's skin the deviation of a pixel's
    log(R / Y) from its surroundings' (low-passed at ``sigma`` px inside ``where``) follows the
    deviation of its log Y with a slope near -0.25 (log(B / Y): +0.5). A source warped onto a turned
    head brings shading detail of its own with a weaker slope, and its darker patches then read as
    grey. The slopes (R and B, least squares over ``where``) are measured on both, and the swap's
    chroma deviation gets ``(slope_ref - slope_swap) · deviation of log Y``, the difference bounded to
    ``max_change``. Linear light, (h, w, 3) float32; ``where`` (h, w).
    """
    sel = np.asarray(where) > 0.5
    if sel.sum() < 64:
        return swap
    x, ref = _non_negative(swap, reference)
    luma = LUMA_709.astype(np.float32)
    h, w = sel.shape
    step = int(np.clip(sigma // 4, 1, max(1, min(h, w) // 8)))

    def low_pass(a: np.ndarray) -> np.ndarray:
        # a blur this wide is smooth: on a grid ``step`` times coarser it costs 1/step^3 as much
        if step == 1:
            return cv2.GaussianBlur(a, (0, 0), sigma)
        small = cv2.resize(a, (max(w // step, 1), max(h // step, 1)), interpolation=cv2.INTER_AREA)
        return cv2.resize(cv2.GaussianBlur(small, (0, 0), sigma / step), (w, h), interpolation=cv2.INTER_LINEAR)

    sel_f = sel.astype(np.float32)
    weight = low_pass(sel_f) + 1e-6

    def fine(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """log Y and log(R / Y), log(B / Y) less their low-passed values."""
        floor = max(float(np.median((img @ luma)[sel])) * 0.01, 1e-6)
        lo = low_pass(img * sel_f[..., None]) / weight[..., None]
        y, lo_y = np.maximum(img @ luma, floor), np.maximum(lo @ luma, floor)
        shade = np.clip(np.log(y) - np.log(lo_y), -1.5, 1.5)
        tint = np.stack([np.log(np.maximum(img[..., c], floor) / y) - np.log(np.maximum(lo[..., c], floor) / lo_y)
                         for c in (0, 2)], axis=-1)
        return shade, tint

    def slopes(shade: np.ndarray, tint: np.ndarray) -> np.ndarray:
        a = shade[sel].astype(np.float64)
        a = a - a.mean()
        b = tint[sel].astype(np.float64)
        b = b - b.mean(axis=0)
        return (a @ b) / max(float(a @ a), 1e-9)

    shade_s, tint_s = fine(x)
    shade_r, tint_r = fine(ref)
    change = np.clip(slopes(shade_r, tint_r) - slopes(shade_s, tint_s), -max_change, max_change)
    lum = x @ luma
    r = x[..., 0] * np.exp(change[0] * shade_s)
    b = x[..., 2] * np.exp(change[1] * shade_s)
    g = np.maximum((lum - luma[0] * r - luma[2] * b) / luma[1], 0.0)   # luminance is the swap's: colour only
    out = np.stack([r, g, b], axis=-1)
    # where green could not give the luminance back (a deep red), scale the whole pixel to it
    out *= (lum / np.maximum(out @ luma, 1e-12))[..., None]
    return out.astype(np.float32)

"""Skin texture: the swap's fine skin texture made no stronger than the plate skin's, band by band
(engine v2's finish).

``grain.match_detail`` matches how *sharp* the swap is (a contrast-free ratio of two bands, measured
on edges); it cannot see how *much* texture the skin shows. A sharp, pored still put on a soft,
smooth plate face (Biden's photo on the Tears of Steel head turn) kept pores and blotches three times
the plate skin's amplitude: a crunchy mask on a soft face. Here the swap's log-luminance is split
into octave bands of a few pixels and each band's robust amplitude on the bare skin (no eyes, brows
or mouth) is brought down to the plate's there, the plate's grain taken out (grain is put back
afterwards). Bands only ever lose amplitude, never gain it: a soft swap on a crisp plate gets grain,
not invented pores. Only bands up to ``MAX_BAND_FACE`` face sizes are touched (the coarsest faded in
with the face's size): coarser than that is the source's facial structure (its likeness), not texture.

The plate skin's amplitudes are measured in analyze (``plate_texture`` on the plate's visible bare
skin) and smoothed over the shot, so a frame's limit does not breathe with its
motion blur; an older track file without them has them measured on frame f. Images are (h, w, 3)
float32 scene-linear RGB of one crop, square pixels; masks (h, w) in the same pixels.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from faceplate.core.render.grain import LUMA, GrainModel, blur, luma_band_variance, robust_var

BAND_EDGES = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0)   # px: Gaussian sigmas bounding the octave bands
ALL_BANDS = list(zip(BAND_EDGES[:-1], BAND_EDGES[1:]))
TEXTURE_VALUES = len(ALL_BANDS)               # numbers analyze stores per entry (plate_texture)
MAX_BAND_FACE = 0.03       # a band is texture while its coarse edge is at most this many face sizes (fading
                           # out up to twice that) ...
MIN_BAND_PX = 4.0          # ... or this many px (a small face still has its finest bands matched)
MIN_GAIN = 0.25            # a plate skin with no texture at all does not turn the swap into plastic
_MIN_PIXELS = 256
_PASSES = 2                # scaling rounds (the bands overlap)
_TOLERANCE = 0.05          # a band within 5 % of its target is left alone
_EPS = 1e-4


def _log_luma(rgb: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(np.nan_to_num(np.asarray(rgb, np.float32)) @ LUMA.astype(np.float32), _EPS))


def texture_bands(face_size: float) -> list[tuple[float, float]]:
    """(fine, coarse) sigma pairs of the bands that count as skin texture for a face of this size
    (px), the last one possibly only in part (``band_weights``)."""
    return [band for band, weight in zip(ALL_BANDS, band_weights(face_size)) if weight > 1e-3]


def band_weights(face_size: float) -> np.ndarray:
    """(len(BAND_EDGES) - 1,) how much of each band's limit applies, 0..1: all of it while the band's
    coarse edge is within ``MAX_BAND_FACE`` face sizes, none past twice that, log-linear between,
    so a face growing over a shot does not switch a band on between two frames."""
    top = MAX_BAND_FACE * float(face_size)
    hi = np.asarray(BAND_EDGES[1:], np.float64)
    weights = np.clip(np.log2(max(top, 1e-9) / hi) + 1.0, 0.0, 1.0)
    return np.where(hi <= MIN_BAND_PX + 1e-9, 1.0, weights)


def _split(log_luma: np.ndarray, bands: list[tuple[float, float]]) -> list[np.ndarray]:
    blurred = {s: blur(log_luma, s) for s in sorted({s for pair in bands for s in pair})}
    return [blurred[lo] - blurred[hi] for lo, hi in bands]


def _pick(sel: np.ndarray) -> np.ndarray:
    """Every other pixel of ``sel`` each way: a quarter of the medians' work, the same figures to < 1 %."""
    pick = np.zeros_like(sel)
    pick[::2, ::2] = sel[::2, ::2]
    return pick if pick.sum() >= _MIN_PIXELS else sel


def _amplitudes(split: list[np.ndarray], pick: np.ndarray) -> np.ndarray:
    """Each band's robust standard deviation over the ``pick`` pixels."""
    return np.sqrt(robust_var(np.stack([band[pick] for band in split], axis=1))).astype(np.float64)


def _less_grain(amplitudes: np.ndarray, bands: list[tuple[float, float]], grain: Optional[GrainModel],
                log_luma: np.ndarray, pick: np.ndarray) -> np.ndarray:
    """``amplitudes`` with ``grain``'s share of each band taken out (0 where grain explains it all).
    Grain is modelled in linear light: in log units it scales with 1 / the skin's luminance."""
    if grain is None:
        return np.asarray(amplitudes, np.float64)
    level = max(float(np.exp(np.median(log_luma[pick]))), _EPS) if pick.any() else 1.0
    noise = np.array([luma_band_variance(grain, lo, hi) for lo, hi in bands]) / level ** 2
    return np.sqrt(np.maximum(np.asarray(amplitudes, np.float64) ** 2 - noise, 0.0))


def band_amplitudes(rgb: np.ndarray, where: np.ndarray, bands: list[tuple[float, float]],
                    grain: Optional[GrainModel] = None) -> np.ndarray:
    """(len(bands),) robust standard deviation of ``rgb``'s log-luminance in each band inside
    ``where`` (bool), with ``grain``'s share taken out (log units; 0 where grain explains it all)."""
    log_luma = _log_luma(rgb)
    pick = _pick(np.asarray(where, bool))
    return _less_grain(_amplitudes(_split(log_luma, bands), pick), bands, grain, log_luma, pick)


def plate_texture(rgb: np.ndarray, where: np.ndarray) -> np.ndarray:
    """(TEXTURE_VALUES,) the plate skin's ``band_amplitudes`` in every band, grain included: what
    analyze measures per entry and smooths over the shot (the track file's ``texture``). The grain
    is taken out at render, with the entry's grain model (the grain that changes from frame to
    frame: a one-frame grain estimate counts a pored face's fixed texture as grain too)."""
    return band_amplitudes(rgb, where, ALL_BANDS)


def _box(sel: np.ndarray, margin: int) -> tuple[slice, slice]:
    """Bounding box of ``sel`` grown by ``margin`` px, clipped to the image."""
    rows, cols = np.flatnonzero(sel.any(axis=1)), np.flatnonzero(sel.any(axis=0))
    return (slice(max(rows[0] - margin, 0), rows[-1] + margin + 1),
            slice(max(cols[0] - margin, 0), cols[-1] + margin + 1))


def limit_texture(swap: np.ndarray, plate: np.ndarray, where: np.ndarray, face_size: float,
                  plate_grain: Optional[GrainModel] = None,
                  plate_amplitudes: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
    """``swap`` with each texture band's amplitude on ``where`` (bool: the bare skin) at most the
    plate's there. Returns (swap, per-band gains applied, each in [MIN_GAIN, 1]; all 1: ``swap``
    itself, untouched). ``plate_amplitudes``: the plate skin's (``plate_texture``, smoothed over the
    shot in analyze) when the track entry has them, else measured on ``plate`` here; either way
    less ``plate_grain``, which is put back afterwards.

    The gains scale the luminance's bands (every channel alike, so the colour stays) on ``where``,
    feathered by the finest band's blur; pixels outside ``where`` are returned unchanged. Gaussian
    bands overlap, so a band scaled by g measures less than g times smaller: a second pass scales
    what is still over. It never chases a band further: what is left over is coarser structure
    leaking into the band's filter, which scaling the band cannot remove."""
    sel_full = np.asarray(where, bool)
    bands = texture_bands(face_size)
    gains = np.ones(len(bands))
    if sel_full.sum() < _MIN_PIXELS or not bands:
        return swap, gains
    # only the region and what its widest blur reads (reflected borders stay the image's own)
    box = _box(sel_full, int(np.ceil(2.0 * bands[-1][1])))
    sel = sel_full[box]
    pick = _pick(sel)
    plate_log = _log_luma(np.asarray(plate)[box])
    measured = np.asarray(plate_amplitudes, np.float64)[:len(bands)] if plate_amplitudes is not None \
        else _amplitudes(_split(plate_log, bands), pick)
    want = _less_grain(measured, bands, plate_grain, plate_log, pick)
    log_luma = _log_luma(np.asarray(swap)[box])
    split = _split(log_luma, bands)
    before = _amplitudes(split, pick)
    # a band coming in (weight < 1) is brought only that share of the way down, in log amplitude
    share = band_weights(face_size)[:len(bands)]
    target = np.maximum(before * (np.minimum(want, before) / np.maximum(before, 1e-12)) ** share, MIN_GAIN * before)
    weight = np.clip(blur(sel.astype(np.float32), bands[0][1]), 0.0, 1.0) * sel
    have, change = before, np.zeros_like(log_luma)
    for _ in range(_PASSES):
        over = have > target * (1.0 + _TOLERANCE)
        if not over.any():
            break
        step = np.where(over, target / np.maximum(have, 1e-12), 1.0)
        step = np.maximum(step, MIN_GAIN / gains)            # the total never below MIN_GAIN
        now = weight * sum((g - 1.0) * band for g, band in zip(step, split) if g < 1.0)
        change, log_luma, gains = change + now, log_luma + now, gains * step
        split = _split(log_luma, bands)
        have = _amplitudes(split, pick)
    if np.all(gains >= 1.0):
        return swap, gains
    out = np.array(swap, np.float32, copy=True)
    out[box] *= np.exp(change)[..., None]
    return out, gains

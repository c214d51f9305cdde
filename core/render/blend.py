"""Putting a swapped face into the plate: multi-band blending and the plate's broad shading.

All images are (h, w, 3) float32 scene-linear RGB of one plate crop (square pixels, OpenCV pixel
centres), the swap already warped into that crop. Mattes are (h, w) float32 0..1, exactly 0 where the
plate must stay untouched.

Blending. A feathered matte crossfades every frequency over the same few pixels, so a difference
in skin tone or brightness between swap and plate becomes a visible band along the seam. Here the
change ``swap - plate`` is split into octave bands (differences of Gaussians, computed only from
pixels inside the matte, so nothing from outside leaks in), and each band fades in over a distance
from the matte's edge that grows with its scale: fine detail switches over the matte's own
feather, the broad colour difference over a quarter of the face. Where the matte is 0 the plate is
copied, bit for bit.

Shading. The plate's lighting (key/fill direction, fall-off) is kept by fitting a smooth surface,
a low-order polynomial in face coordinates, to the log ratio of plate and swap luminance on skin,
and multiplying the swap by it. A quadratic cannot draw a nose or a cheekbone, so the actor's
features cannot come back through it; its few coefficients can be smoothed over the shot.
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np
from faceplate.core.colour import LUMA_709

from faceplate.core.geometry import align

LUMA = LUMA_709.astype(np.float32)
# Face frame: the ArcFace 5-point template centred on its mean and divided by its eye-to-mouth
# span, so face coordinates are about -1..1 over the face, whatever its size or roll in the crop.
_TEMPLATE = align.ARCFACE_112 - align.ARCFACE_112.mean(axis=0)
_TEMPLATE = _TEMPLATE / float(np.ptp(align.ARCFACE_112[:, 1]))


# ------------------------------------------------------------------------------------ blending

def _gauss(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur; wide ones run on a reduced copy (a wide blur keeps nothing a resize loses)."""
    factor = int(sigma // 3.0)
    if factor < 2:
        k = 2 * int(np.ceil(3.0 * sigma)) + 1
        return cv2.GaussianBlur(x, (k, k), sigma, borderType=cv2.BORDER_REFLECT)
    h, w = x.shape[:2]
    small = cv2.resize(x, (max(w // factor, 1), max(h // factor, 1)), interpolation=cv2.INTER_AREA)
    s = np.sqrt(max(sigma ** 2 - (0.5 * factor) ** 2, 1.0)) / factor   # INTER_AREA already averaged a box
    k = 2 * int(np.ceil(3.0 * s)) + 1
    small = cv2.GaussianBlur(small, (k, k), s, borderType=cv2.BORDER_REFLECT)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _normalised_blur(x: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of ``x`` (h, w, c) using only pixels where ``weight`` > 0 (normalised convolution)."""
    if sigma <= 0:
        return x
    num = _gauss(x * weight[..., None], sigma).reshape(x.shape)
    den = _gauss(weight, sigma)
    return num / np.maximum(den, 1e-6)[..., None]


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def band_weights(matte: np.ndarray, sigmas: list[float], spread: float = 2.0) -> list[np.ndarray]:
    """Per-band blend weights (each (h, w) float32, <= matte, 0 where matte is 0).

    Band k fades in over ``spread * sigmas[k]`` px measured inward from the matte's edge (capped
    so the matte's deepest point still reaches the full weight); the finest band uses the matte.
    """
    matte = np.asarray(matte, np.float32)
    inside = (matte > 0).astype(np.uint8)
    # padded with zeros: the crop's own border counts as the matte's edge too
    depth = cv2.distanceTransform(cv2.copyMakeBorder(inside, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0),
                                  cv2.DIST_L2, 5)[1:-1, 1:-1]
    deepest = float(depth.max())
    weights = [matte]
    for s in sigmas[1:]:
        reach = min(spread * s, 0.8 * deepest)
        ramp = _smoothstep(depth / max(reach, 1e-6)) if reach > 0 else inside.astype(np.float32)
        weights.append(np.minimum(matte, ramp.astype(np.float32)))
    return weights


def _within_plate_contrast(band: np.ndarray, band_plate: np.ndarray, weight: np.ndarray, support: np.ndarray,
                           sigma: float) -> np.ndarray:
    """One band of the change, with the swap's contrast in that band held to the plate's local contrast
    where ``weight`` < 1 (the seam), reaching the swap's own where the weight is 1.

    A crossfade of a busier swap (a sharper source, its features squeezed on a turned face) shows
    ``w·|swap| + (1 − w)·|plate|`` of edges in the transition: more than the plate has there, a seam
    that reads as drawn. Here the swap's band is scaled by ``a + (1 − a)·w³`` with ``a = min(1, local
    RMS plate / local RMS swap)`` (luminance, over a few of the band's wavelengths); the cube keeps
    most of the transition near the plate's busyness, the swap's own contrast arriving where it all but
    replaces the plate; deep inside (w = 1) it is all the swap's own.
    """
    swap_band = band + band_plate
    window = max(2.0 * sigma, 2.0)
    energy = _normalised_blur(np.stack([(swap_band @ LUMA) ** 2, (band_plate @ LUMA) ** 2], axis=2), support, window)
    a = np.sqrt(np.maximum(energy[..., 1], 0.0) / np.maximum(energy[..., 0], 1e-20))
    a = np.minimum(a, 1.0)
    gain = a + (1.0 - a) * weight ** 3     # the swap's own contrast only where it all but replaces the plate
    return (swap_band * gain[..., None] - band_plate).astype(np.float32)


def _blended_change(plate: np.ndarray, swap: np.ndarray, matte: np.ndarray, face_size: float,
                    coarsest: float) -> Optional[tuple[tuple[int, int, int, int], np.ndarray, np.ndarray]]:
    """((r0, r1, c0, c1) bbox of the matte, band-blended change (bbox h, w, 3), clean plate there), or None."""
    full = np.asarray(matte, np.float32)
    if not (full > 0).any():
        return None
    # Only pixels inside the matte are read or written: work on its bounding box.
    rows, cols = np.nonzero(full > 0)
    r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    matte = full[r0:r1, c0:c1]
    inside = matte > 0
    clean_plate = np.nan_to_num(np.asarray(plate, np.float32)[r0:r1, c0:c1], nan=0.0, posinf=0.0, neginf=0.0)
    delta = np.nan_to_num(np.asarray(swap, np.float32)[r0:r1, c0:c1], nan=0.0, posinf=0.0, neginf=0.0)
    delta -= clean_plate
    delta *= inside[..., None]
    # each pixel weighs in the broad bands by its matte: where the matte is faint the swap is barely
    # used, and its values there (a source's silhouette pixels, mixed with its backdrop) must not
    # spread inward through the blurs as a haze whose complement the finer bands then carry
    support = np.where(inside, np.maximum(matte, 1e-3), 0.0).astype(np.float32)
    top = max(float(coarsest) * float(face_size), 2.0)
    sigmas = [0.0]
    while sigmas[-1] < top:
        sigmas.append(1.0 if sigmas[-1] == 0 else 2.0 * sigmas[-1])
    weights = band_weights(matte, sigmas)
    blended = np.zeros_like(delta)
    previous, previous_plate = delta, clean_plate * inside[..., None]
    for k in range(1, len(sigmas)):
        smooth = _normalised_blur(delta, support, sigmas[k])
        smooth_plate = _normalised_blur(previous_plate, support, sigmas[k])
        band, band_plate = previous - smooth, previous_plate - smooth_plate
        blended += weights[k - 1][..., None] * _within_plate_contrast(band, band_plate, weights[k - 1], support,
                                                                      sigmas[k])
        previous, previous_plate = smooth, smooth_plate
    blended += weights[-1][..., None] * previous
    return (r0, r1, c0, c1), blended, clean_plate


def multiband_blend(plate: np.ndarray, swap: np.ndarray, matte: np.ndarray, face_size: float,
                    coarsest: float = 0.125) -> np.ndarray:
    """The swap blended into the plate under ``matte``, band by band, in linear light.

    plate, swap: (h, w, 3) float32 linear, same crop; matte: (h, w) float32 0..1; face_size: px
    (sets the coarsest band: ``coarsest`` face sizes). Returns (h, w, 3) float32; where matte == 0
    the plate's values are copied unchanged (NaN and -0.0 included).
    """
    out = np.asarray(plate, np.float32).copy()
    found = _blended_change(plate, swap, matte, face_size, coarsest)
    if found is None:
        return out
    (r0, r1, c0, c1), blended, clean_plate = found
    inside = np.asarray(matte)[r0:r1, c0:c1] > 0
    region = out[r0:r1, c0:c1]
    region[inside] = clean_plate[inside] + blended[inside]
    return out


def multiband_delta(plate: np.ndarray, swap: np.ndarray, matte: np.ndarray, face_size: float,
                    coarsest: float = 0.125) -> np.ndarray:
    """(h, w, 3) float32 change ``d`` with ``plate + matte · d`` = ``multiband_blend(...)`` where matte > 0
    and 0 where matte == 0: the form the delta compositor (``FaceLayer``) takes. Bounded: every band's
    weight is at most the matte, so dividing by it cannot blow up."""
    h, w = np.asarray(matte).shape
    out = np.zeros((h, w, 3), np.float32)
    found = _blended_change(plate, swap, matte, face_size, coarsest)
    if found is None:
        return out
    (r0, r1, c0, c1), blended, _ = found
    m = np.asarray(matte, np.float32)[r0:r1, c0:c1]
    inside = m > 0
    region = out[r0:r1, c0:c1]
    region[inside] = blended[inside] / m[inside][:, None]
    return out


# ------------------------------------------------------------------------------------ shading

def face_frame(points5: np.ndarray) -> np.ndarray:
    """(2, 3) similarity mapping crop pixels to face coordinates (origin at the face's centre,
    about -1..1 over the face, upright) from the face's 5 points (ArcFace order) in crop pixels."""
    return align.estimate_similarity(np.asarray(points5, np.float64).reshape(5, 2), _TEMPLATE)


def _basis(u: np.ndarray, v: np.ndarray, degree: int) -> np.ndarray:
    """(n, terms) monomials u^i v^j, i + j <= degree, in a fixed order."""
    return np.stack([u ** i * v ** (d - i) for d in range(degree + 1) for i in range(d, -1, -1)], axis=1)


def shading_terms(degree: int) -> int:
    """Number of coefficients of a shading surface of ``degree``."""
    return (degree + 1) * (degree + 2) // 2


def fit_shading(swap: np.ndarray, plate: np.ndarray, skin: np.ndarray, to_face: np.ndarray,
                degree: int = 2, detail: float = 0.05) -> np.ndarray:
    """Coefficients (terms,) float64 of log(plate / swap) luminance on skin, as a polynomial in
    face coordinates.

    swap, plate: (h, w, 3) float32 linear, same crop; skin: (h, w) mask (> 0.5: visible skin of both,
    eyes / brows / mouth excluded by the caller when it can); to_face: (2, 3) from ``face_frame``.
    Both images are first blurred by ``detail`` face units (eye-to-mouth distances) so texture and grain do not count; the
    fit is robust (two reweighting passes drop specular highlights and stray hair). Zeros (no
    change) when fewer than 64 skin pixels.
    """
    sel = np.asarray(skin) > 0.5
    terms = shading_terms(degree)
    if sel.sum() < 64:
        return np.zeros(terms)
    px_per_unit = 1.0 / max(align.scale_of(to_face), 1e-9)
    sigma = max(detail * px_per_unit, 0.5)
    weight = sel.astype(np.float32)

    def log_luma(img: np.ndarray) -> np.ndarray:
        lum = np.maximum(np.nan_to_num(np.asarray(img, np.float32)), 0.0) @ LUMA
        return np.log(_normalised_blur(lum[..., None], weight, sigma)[..., 0] + 1e-4)

    target = (log_luma(plate) - log_luma(swap))[sel].astype(np.float64)
    rows, cols = np.nonzero(sel)
    step = max(1, int(len(rows) // 8000))                # ~8k samples are plenty for a few numbers
    rows, cols, target = rows[::step], cols[::step], target[::step]
    uv = align.transform_points(np.stack([cols, rows], axis=1).astype(np.float64), to_face)
    a = _basis(uv[:, 0], uv[:, 1], degree)
    w = np.ones(len(target))
    coef = np.zeros(terms)
    for _ in range(3):
        aw = a * w[:, None]
        coef = np.linalg.solve(aw.T @ a + 1e-9 * np.eye(terms), aw.T @ target)   # weighted normal equations
        r = target - a @ coef
        scale = 1.4826 * float(np.median(np.abs(r))) + 1e-6
        w = 1.0 / np.maximum(1.0, np.abs(r) / (2.5 * scale))   # Huber weights
    return coef


def shading_gain(coefficients: np.ndarray, shape: tuple[int, int], to_face: np.ndarray,
                 max_gain: float = 2.0) -> np.ndarray:
    """(h, w) float32 gain of a shading surface over a crop of ``shape``, bounded to [1/max_gain, max_gain]."""
    coefficients = np.asarray(coefficients, np.float64)
    degree = int(round((np.sqrt(8 * len(coefficients) + 1) - 3) / 2))
    h, w = int(shape[0]), int(shape[1])
    # The surface is smooth: evaluate it on a 4x coarser grid (at the pixel centres cv2.resize
    # samples) and interpolate.
    f = 4
    sh, sw = max(h // f, 2), max(w // f, 2)
    ys, xs = np.mgrid[0:sh, 0:sw].astype(np.float64)
    ys, xs = (ys + 0.5) * (h / sh) - 0.5, (xs + 0.5) * (w / sw) - 0.5
    m = np.asarray(to_face, np.float64)
    u = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
    v = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
    bound = float(np.log(max_gain))
    log_gain = np.clip(_basis(u.ravel(), v.ravel(), degree) @ coefficients, -bound, bound)
    small = np.exp(log_gain).reshape(sh, sw).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def shading_from_plate(swap: np.ndarray, plate: np.ndarray, skin: np.ndarray, to_face: np.ndarray,
                       degree: int = 2, max_gain: float = 2.0,
                       coefficients: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
    """The swap relit with the plate's broad shading: (swap · gain (h, w, 3) float32, coefficients).

    ``coefficients``, when given (e.g. smoothed over the shot in analyze), are applied instead of
    fitting this frame's. Luminance only: colour is the colour match's job.
    """
    coef = fit_shading(swap, plate, skin, to_face, degree) if coefficients is None else np.asarray(coefficients)
    gain = shading_gain(coef, swap.shape[:2], to_face, max_gain)
    return (np.asarray(swap, np.float32) * gain[..., None]).astype(np.float32), coef

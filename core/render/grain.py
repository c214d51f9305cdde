"""Film grain and softness: measure the plate's, give the swap the same (engine v2), and the classical
engine's white-noise regrain (``regrain_delta``).

All images are (h, w, 3) float32 scene-linear RGB of one crop, square pixels; ``where`` masks are
(h, w) bool or float (> 0.5 counts) in the same pixels. Grain is modelled as white Gaussian noise
blurred by a Gaussian of ``size`` pixels (a per-channel std and neighbour correlation follow from
it), with a 3x3 correlation between channels (debayered and scanned grain is partly shared by R, G
and B). That model covers the two things the eye reads: how strong the grain is and how big.

Measuring: the plate's structure is removed by a high-pass (``x - blur(x, HIGHPASS_SIGMA)``) and
only the flattest half of the region is used (flatness judged on a blurred image, where grain no
longer counts, so the choice does not bias the grain's own statistics). Standard deviations and
correlations are robust (MAD based), so a stray edge or highlight does not count as grain. The
high-pass removes part of the grain too (more of a coarse grain); that loss is known exactly for
the model, so the residual's figures are converted back to the grain's.

Synthesis is seeded by (frame, track id) only, so any farm chunking draws the same grain.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

import cv2
import numpy as np
from faceplate.core.colour import LUMA_709

HIGHPASS_SIGMA = 1.0        # px: small, so little face structure leaks in; the grain it removes is put back exactly
SELECT_SIGMA = 3.0          # px: scale at which flat areas are chosen (coarser than any grain)
MAX_GRAIN_SIZE = 2.5        # px: the largest grain the model describes
LUMA = LUMA_709
_GRID = 64                  # periodic grid the filter responses are computed on
_MIN_SAMPLES = 256


@dataclass(frozen=True)
class GrainModel:
    """Grain of one plate region, in linear light.

    std: (3,) per-channel standard deviation of the grain.
    correlation: (3,) correlation of horizontally / vertically adjacent grain values (mean of both).
    size: (3,) sigma in px of the Gaussian that turns white noise into grain of that correlation.
    channel_correlation: (3, 3) correlation of the grain between channels.
    samples: number of pixels the estimate used (0: no estimate, ``std`` is 0).
    highpass_std: (3,) robust std of the high-pass residual the estimate came from (what adds up
        when two grains are summed, whatever their sizes).
    """
    std: np.ndarray
    correlation: np.ndarray
    size: np.ndarray
    channel_correlation: np.ndarray
    samples: int
    highpass_std: np.ndarray

    @staticmethod
    def none() -> "GrainModel":
        return GrainModel(np.zeros(3), np.zeros(3), np.zeros(3), np.eye(3), 0, np.zeros(3))


# ------------------------------------------------------------------------------------ filters

def _ksize(sigma: float, reach: float = 4.0) -> int:
    return 2 * int(np.ceil(reach * sigma)) + 1


def _gauss1d(sigma: float) -> np.ndarray:
    """Discrete Gaussian taps used everywhere here (identity below 0.05 px)."""
    if sigma < 0.05:
        return np.ones(1)
    return cv2.getGaussianKernel(_ksize(sigma), sigma, cv2.CV_64F).ravel()


def blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with exactly the taps ``_gauss1d`` describes (reflected borders)."""
    if sigma < 0.05:
        return x.copy()
    k = _ksize(sigma)
    return cv2.GaussianBlur(x, (k, k), sigma, sigma, borderType=cv2.BORDER_REFLECT)


def _white_gain(sigma: float) -> float:
    """Variance of unit white noise after the 2-D blur ``_gauss1d(sigma)``."""
    return float((_gauss1d(sigma) ** 2).sum() ** 2)


def _spectrum(taps: np.ndarray) -> np.ndarray:
    """Real DFT (GRID,) of a symmetric 1-D kernel placed circularly around index 0."""
    grid = np.zeros(_GRID)
    r = len(taps) // 2
    for i, t in enumerate(taps):
        grid[(i - r) % _GRID] += t
    return np.fft.fft(grid).real


@lru_cache(maxsize=4096)
def _band_response(grain_size: float, lo: float, hi: float) -> tuple[float, float]:
    """(variance, lag-1 correlation) of ``blur(n, lo) - blur(n, hi)`` for unit-variance grain n of
    ``grain_size`` (lo = 0: no blur; hi = inf: nothing subtracted). Exact for the discrete filters on
    a periodic grid, so it is a property of the filters, not of an image."""
    k = _spectrum(_gauss1d(grain_size))
    white_var = _white_gain(grain_size)
    lo1 = _spectrum(_gauss1d(lo))
    band = np.outer(lo1, lo1)
    if np.isfinite(hi):
        hi1 = _spectrum(_gauss1d(hi))
        band = band - np.outer(hi1, hi1)
    power = np.outer(k, k) ** 2 * band ** 2
    ac = np.fft.ifft2(power).real      # autocorrelation (ifft2 already divides by GRID^2)
    var = float(ac[0, 0]) / white_var
    rho = float((ac[0, 1] + ac[1, 0]) / (2 * ac[0, 0])) if ac[0, 0] > 0 else 0.0
    return var, rho


@lru_cache(maxsize=8)
def size_table(highpass: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Grain sizes and, for each, the high-pass residual's correlation and variance fraction and the
    grain's own correlation. Residual correlation rises monotonically with size over this range."""
    sizes = np.round(np.arange(0.0, MAX_GRAIN_SIZE + 1e-9, 0.02), 4)
    res = np.array([_band_response(float(s), 0.0, highpass) for s in sizes])
    own = np.array([_band_response(float(s), 0.0, np.inf)[1] for s in sizes])
    # Below ~0.3 px the discrete kernel is a delta: keep only sizes that change the residual, so the
    # tables can be inverted with np.interp.
    keep = np.concatenate([[True], res[1:, 1] > np.maximum.accumulate(res[:, 1])[:-1] + 1e-9])
    return sizes[keep], res[keep, 1], res[keep, 0], own[keep]


# ------------------------------------------------------------------------------------ measure

def robust_var(x: np.ndarray) -> np.ndarray:
    """Per-column robust variance of (N, C) samples: (1.4826 · MAD)², blind to edges and glints."""
    med = np.median(x, axis=0)
    return (1.4826 * np.median(np.abs(x - med), axis=0)) ** 2


def _robust_corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Gnanadesikan-Kettenring correlation from robust variances of a+b and a-b (per column)."""
    vp, vm = robust_var(a + b), robust_var(a - b)
    return np.where(vp + vm > 0, (vp - vm) / np.maximum(vp + vm, 1e-30), 0.0)


def _structure(x: np.ndarray) -> np.ndarray:
    """(h, w) how much image structure leaks into the high-pass around each pixel.

    A Gaussian high-pass passes no straight ramp, only curvature, so structure is the high-pass
    energy of the image blurred by SELECT_SIGMA (summed over channels): grain has been averaged away
    there, so choosing pixels by it does not prefer pixels whose grain happens to be weak.
    """
    smooth = blur(x, SELECT_SIGMA)
    curve = smooth - blur(smooth, HIGHPASS_SIGMA)
    return blur((curve * curve).sum(axis=2), SELECT_SIGMA)


def _ranked_pixels(x: np.ndarray, where: Optional[np.ndarray], fraction: float, flattest: bool) -> np.ndarray:
    """(h, w) bool: the ``fraction`` of ``where`` with the least (or most) structure, 3-px border excluded."""
    region = np.ones(x.shape[:2], bool) if where is None else np.asarray(where) > 0.5
    inner = np.zeros_like(region)
    inner[3:-3, 3:-3] = True        # the high-pass sees reflected pixels at the border
    region &= inner
    if region.sum() == 0:
        return region
    structure = _structure(x)
    if flattest:
        return region & (structure <= np.quantile(structure[region], fraction))
    return region & (structure >= np.quantile(structure[region], 1.0 - fraction))


def flat_pixels(rgb: np.ndarray, where: Optional[np.ndarray] = None, fraction: float = 0.5) -> np.ndarray:
    """(h, w) bool: the ``fraction`` of ``where`` (h, w) whose image structure leaks least into the high-pass."""
    return _ranked_pixels(np.nan_to_num(np.asarray(rgb, np.float32)), where, fraction, flattest=True)


def size_from_residual(res: np.ndarray, flat: np.ndarray) -> np.ndarray:
    """(3,) grain size in px per channel from a high-pass residual (h, w, 3; ``x - blur(x,
    HIGHPASS_SIGMA)``) at the ``flat`` (h, w) pixels: the residual's robust neighbour correlation
    (horizontal and vertical), inverted through the size table."""
    pair_h = flat[:, :-1] & flat[:, 1:]
    pair_v = flat[:-1, :] & flat[1:, :]
    rho_h = _robust_corr(res[:, :-1][pair_h], res[:, 1:][pair_h])
    rho_v = _robust_corr(res[:-1, :][pair_v], res[1:, :][pair_v])
    sizes, table_rho, _, _ = size_table(HIGHPASS_SIGMA)
    return np.interp(0.5 * (rho_h + rho_v), table_rho, sizes)


def measure_grain(rgb: np.ndarray, where: Optional[np.ndarray] = None, flat_fraction: float = 0.5) -> GrainModel:
    """The grain of ``rgb`` (h, w, 3 float32 linear) inside ``where`` (h, w), as a GrainModel.

    Returns ``GrainModel.none()`` when fewer than 256 usable pixels remain.
    """
    x = np.nan_to_num(np.asarray(rgb, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    res = (x - blur(x, HIGHPASS_SIGMA)).astype(np.float64)
    flat = flat_pixels(x, where, flat_fraction)
    n = int(flat.sum())
    if n < _MIN_SAMPLES:
        return GrainModel.none()
    sel = res[flat]
    var_res = robust_var(sel)
    size = size_from_residual(res, flat)
    sizes, _, table_var, table_own = size_table(HIGHPASS_SIGMA)
    keep = np.interp(size, sizes, table_var)          # fraction of the grain's variance the high-pass keeps
    std = np.sqrt(var_res / np.maximum(keep, 1e-6))
    own = np.interp(size, sizes, table_own)
    cc = np.eye(3)
    for i in range(3):
        for j in range(i + 1, 3):
            cc[i, j] = cc[j, i] = float(_robust_corr(sel[:, i:i + 1], sel[:, j:j + 1])[0])
    return GrainModel(std=std, correlation=own, size=size, channel_correlation=_nearest_correlation(cc), samples=n,
                      highpass_std=np.sqrt(var_res))


def _nearest_correlation(c: np.ndarray) -> np.ndarray:
    """A valid (positive semi-definite, unit diagonal) correlation matrix close to ``c``."""
    w, v = np.linalg.eigh(0.5 * (c + c.T))
    fixed = (v * np.maximum(w, 1e-6)) @ v.T
    d = np.sqrt(np.diag(fixed))
    return fixed / np.outer(d, d)


def pack_grain(model: GrainModel) -> np.ndarray:
    """(9,) float64 for the track file: std (3), size (3), channel correlations rg, rb, gb."""
    cc = model.channel_correlation
    return np.concatenate([model.std, model.size, [cc[0, 1], cc[0, 2], cc[1, 2]]]).astype(np.float64)


def unpack_grain(values: np.ndarray) -> GrainModel:
    """The GrainModel of ``pack_grain``'s numbers (neighbour correlation and high-pass std follow from the size)."""
    v = np.asarray(values, np.float64).reshape(9)
    std, size = np.maximum(v[:3], 0.0), np.clip(v[3:6], 0.0, MAX_GRAIN_SIZE)
    r = np.clip(v[6:9], -1.0, 1.0)
    cc = np.array([[1.0, r[0], r[1]], [r[0], 1.0, r[2]], [r[1], r[2], 1.0]])
    sizes, _, table_var, table_own = size_table(HIGHPASS_SIGMA)
    own = np.interp(size, sizes, table_own)
    highpass_std = std * np.sqrt(np.interp(size, sizes, table_var))
    return GrainModel(std=std, correlation=own, size=size, channel_correlation=_nearest_correlation(cc),
                      samples=1 if np.any(std > 0) else 0, highpass_std=highpass_std)


# ------------------------------------------------------------------------------------ synthesize

def grain_seed(frame: int, track_id: int, salt: str = "faceplate.grain") -> int:
    """Seed from (frame number, track id) only, so any farm chunking draws the same grain."""
    digest = hashlib.sha256(f"{salt}:{int(frame)}:{int(track_id)}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def synthesize_grain(model: GrainModel, shape: tuple[int, int], seed: int,
                     std: Optional[np.ndarray] = None) -> np.ndarray:
    """Grain (h, w, 3) float32 with ``model``'s size, channel correlation and std (or ``std``, (3,)).

    Deterministic for (model, shape, seed, std): PCG64 from ``seed``, generated with a margin so the
    blur has no border effect.
    """
    h, w = int(shape[0]), int(shape[1])
    amp = np.asarray(model.std if std is None else std, np.float64).reshape(3)
    if not np.any(amp > 0) or h == 0 or w == 0:
        return np.zeros((h, w, 3), np.float32)
    pad = _ksize(float(np.max(model.size))) // 2 + 1
    rng = np.random.Generator(np.random.PCG64(int(seed)))
    white = rng.standard_normal((h + 2 * pad, w + 2 * pad, 3))
    mix = np.linalg.cholesky(model.channel_correlation + 1e-9 * np.eye(3))
    white = (white @ mix.T).astype(np.float32)
    out = np.empty((h, w, 3), np.float32)
    for c in range(3):
        s = float(model.size[c])
        g = blur(np.ascontiguousarray(white[..., c]), s)[pad:pad + h, pad:pad + w]
        unit = np.sqrt(_white_gain(s))   # std of blurred unit white noise
        out[..., c] = g * (amp[c] / unit)
    return out


def regrain(swap: np.ndarray, plate_grain: GrainModel, where: np.ndarray, frame: int, track_id: int,
            swap_grain: Optional[GrainModel] = None) -> np.ndarray:
    """Grain (h, w, 3) float32 to ADD to ``swap`` so that inside ``where`` its grain matches the plate's.

    What the swap already has (its high-pass residual, grain or fine texture) is subtracted in
    quadrature at the plate grain's size, so a clean and an already grainy swap both end at the
    plate's level: the high-pass of swap + added grain then reads as the plate's. ``swap_grain``,
    when given (e.g. measured once on a still source), skips measuring the swap.
    """
    have = measure_grain(swap, where) if swap_grain is None else swap_grain
    sizes, _, table_var, _ = size_table(HIGHPASS_SIGMA)
    keep = np.maximum(np.interp(plate_grain.size, sizes, table_var), 1e-6)
    need = np.sqrt(np.maximum(plate_grain.std ** 2 - have.highpass_std ** 2 / keep, 0.0))
    return synthesize_grain(plate_grain, swap.shape[:2], grain_seed(frame, track_id), std=need)


# ------------------------------------------------------------------------------------ detail

# Detail ratio = energy(blur_a - blur_b) / energy(blur_b - blur_c) of the luminance, px. Grain lives
# mostly below 1 px, so the bands start there; the ratio falls steadily as an image is softened.
_BANDS = (1.0, 2.0, 4.0)
_DETAIL_FRACTION = 0.3      # measured on the most structured 30 % of the region: edges carry detail


def _luma_grain(model: Optional[GrainModel]) -> tuple[float, float]:
    """(variance, size) of the luminance of ``model``'s grain."""
    if model is None or model.samples == 0:
        return 0.0, 0.0
    cov = np.outer(model.std, model.std) * model.channel_correlation
    var = float(LUMA @ cov @ LUMA)
    weights = LUMA * model.std
    size = float((weights * model.size).sum() / max(weights.sum(), 1e-12))
    return var, size


def luma_band_variance(model: Optional[GrainModel], lo: float, hi: float) -> float:
    """Variance of ``model``'s grain luminance in the band ``blur(lo) - blur(hi)`` (px; lo 0: unblurred)."""
    var, size = _luma_grain(model)
    return var * _band_response(round(size, 2), lo, hi)[0] if var > 0 else 0.0


def _band_energies(luma: np.ndarray, sel: np.ndarray) -> tuple[float, float]:
    a, b, c = (blur(luma, s) for s in _BANDS)
    return float(np.mean((a - b)[sel] ** 2)), float(np.mean((b - c)[sel] ** 2))


def _ratio(fine: float, mid: float, grain_var: float, grain_size: float) -> float:
    """Fine/mid energy ratio of the image's detail, the grain's expected share taken out."""
    if grain_var > 0:
        size = round(grain_size, 2)
        fine -= grain_var * _band_response(size, _BANDS[0], _BANDS[1])[0]
        mid -= grain_var * _band_response(size, _BANDS[1], _BANDS[2])[0]
    return max(fine, 0.0) / max(mid, 1e-20)


def detail_ratio(rgb: np.ndarray, where: np.ndarray, grain: Optional[GrainModel] = None) -> float:
    """Sharpness of ``rgb`` inside ``where``: fine-band over mid-band energy of the luminance, grain removed.

    Contrast-free (a ratio of two bands of the same image), so two different faces compare.
    """
    x = np.nan_to_num(np.asarray(rgb, np.float32))
    sel = _ranked_pixels(x, where, _DETAIL_FRACTION, flattest=False)
    if sel.sum() < _MIN_SAMPLES:
        return 0.0
    luma = x @ LUMA.astype(np.float32)
    gv, gs = _luma_grain(grain)
    return _ratio(*_band_energies(luma, sel), gv, gs)


def match_detail(swap: np.ndarray, plate: np.ndarray, where: np.ndarray,
                 plate_grain: Optional[GrainModel] = None, swap_grain: Optional[GrainModel] = None,
                 max_sigma: float = 3.0) -> tuple[np.ndarray, float]:
    """Soften ``swap`` (h, w, 3 float32 linear) to the plate's sharpness inside ``where`` (h, w).

    Returns (softened swap, Gaussian sigma in px that was applied). A swap already as soft as the
    plate is returned unchanged (sigma 0): this never sharpens. Grain models, when given, take each
    image's grain out of its sharpness (grain is added back afterwards, by ``regrain``).
    Pixels outside ``where`` feed the blur: fill them with something plausible (e.g. the plate).
    """
    swap32 = np.nan_to_num(np.asarray(swap, np.float32))
    sel = _ranked_pixels(swap32, where, _DETAIL_FRACTION, flattest=False)
    if sel.sum() < _MIN_SAMPLES:
        return swap, 0.0
    target = detail_ratio(plate, where, plate_grain)
    luma = swap32 @ LUMA.astype(np.float32)
    gv, gs = _luma_grain(swap_grain)

    def ratio_after(sigma: float) -> float:
        # blurring grain of size s by sigma gives grain of size hypot(s, sigma), with less variance
        size = float(np.hypot(gs, sigma))
        var = gv * _white_gain(size) / _white_gain(gs) if gv > 0 else 0.0
        return _ratio(*_band_energies(blur(luma, sigma), sel), var, size)

    if ratio_after(0.0) <= target:
        return swap, 0.0
    lo, hi = 0.0, float(max_sigma)
    if ratio_after(hi) > target:
        lo = hi
    else:
        for _ in range(12):   # the ratio falls monotonically with the blur
            mid = 0.5 * (lo + hi)
            if ratio_after(mid) > target:
                lo = mid
            else:
                hi = mid
    sigma = round(0.5 * (lo + hi), 3)
    return blur(swap32, sigma), sigma


# ------------------------------------------------------------------------------------ white-noise regrain
# The classical engine's regrain (issue 10: white noise; kept so its output does not change).
def highpass(rgb: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """Fine-detail residual ``rgb − blur(rgb)``, where grain lives; (h, w, 3) float32."""
    x = np.nan_to_num(np.asarray(rgb, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    return x - cv2.GaussianBlur(x, (0, 0), sigma, sigma, borderType=cv2.BORDER_REFLECT)


def noise_std(rgb: np.ndarray, where: Optional[np.ndarray] = None) -> np.ndarray:
    """Per-channel grain strength (3,) in linear light: robust std (1.4826·MAD) of the high-pass residual.

    The MAD ignores edges and specular detail that a plain std would count as noise.
    """
    res = highpass(rgb)
    sel = res.reshape(-1, 3) if where is None else res[np.asarray(where, bool)]
    if sel.shape[0] < 16:
        return np.zeros(3, np.float32)
    med = np.median(sel, axis=0)
    return (1.4826 * np.median(np.abs(sel - med), axis=0)).astype(np.float32)


def grain(shape: tuple[int, int], std: np.ndarray, frame: int, track_id: int) -> np.ndarray:
    """Seeded Gaussian grain (h, w, 3) float32 whose high-pass std per channel is ``std``.

    Plain white noise is measured by ``noise_std`` as slightly weaker than it is (the blur in the
    high-pass keeps part of it), so it is scaled to read back as ``std``.
    """
    h, w = shape
    rng = np.random.Generator(np.random.PCG64(grain_seed(frame, track_id)))
    noise = rng.standard_normal((h, w, 3), dtype=np.float32)
    gain = 1.0 / _WHITE_NOISE_HIGHPASS_STD
    return (noise * (np.asarray(std, np.float32) * gain)).astype(np.float32)


# Std of highpass(unit white noise) for sigma 1.5 (measured once; it is a property of the filter).
_WHITE_NOISE_HIGHPASS_STD = 0.9460


def regrain_delta(plate_crop: np.ndarray, swap: np.ndarray, matte: np.ndarray,
                  frame: int, track_id: int) -> np.ndarray:
    """Grain to add to ``swap`` so that inside the face it matches the plate's noise level.

    Plate noise is measured on the plate's own face area (what the audience saw there); the swap's
    existing noise is subtracted in quadrature so clean and already-grainy swaps both end right.
    """
    inside = matte > 0.5
    if inside.sum() < 64:
        return np.zeros_like(swap, dtype=np.float32)
    target = noise_std(plate_crop, inside)
    have = noise_std(swap, inside)
    need = np.sqrt(np.maximum(target.astype(np.float64) ** 2 - have.astype(np.float64) ** 2, 0.0))
    return grain(swap.shape[:2], need.astype(np.float32), frame, track_id)

"""Matching the swapped face to the plate in linear light: colour gains and low-frequency relighting."""
from __future__ import annotations

import cv2
import numpy as np


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
    luma = np.array([0.2126, 0.7152, 0.0722])
    sd_s, sd_r = float(np.log(s @ luma + eps).std()), float(np.log(r @ luma + eps).std())
    gamma = float(np.clip(sd_r / max(sd_s, 1e-6), 1.0 / max_gain, max_gain))
    ratio = np.maximum(swap.astype(np.float64), 0.0) / mu_s + 1e-12
    return (mu_r * ratio ** gamma).astype(np.float32)


def relight(swap: np.ndarray, reference: np.ndarray, where: np.ndarray, size: float,
            scale: float = 0.12, max_gain: float = 2.0) -> np.ndarray:
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
    luma = np.array([0.2126, 0.7152, 0.0722], np.float32)
    gain = (lo_ref @ luma + 1e-4) / (lo_src @ luma + 1e-4)
    gain = np.clip(gain, 1.0 / max_gain, max_gain)
    return (swap * gain[..., None]).astype(np.float32)

"""Regrain: the plate's noise measured around the face and matching grain added to the swapped region.
"""
from __future__ import annotations

import hashlib
from typing import Optional

import cv2
import numpy as np


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


def grain_seed(frame: int, track_id: int, salt: str = "faceplate.grain") -> int:
    """Seed from (frame number, track id) only, so any farm chunking draws the same grain."""
    digest = hashlib.sha256(f"{salt}:{int(frame)}:{int(track_id)}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


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

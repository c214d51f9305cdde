"""Smoothing per-frame face estimates over a shot (analyze side): colour gains, relight / shading
coefficients, mask parameters, selection weights.

A thin wrapper over the track smoother (``faceplate.core.analyze.smoothing.smooth_series``: zero-phase RTS on a
constant-velocity model, noise level estimated from the data, follows real steps instead of
rounding them, bridges isolated glitches), adding what estimates need and landmarks do not: series
of very different scales in one call (each is measured in units of its own noise), multiplicative
quantities smoothed in log space, unreliable frames (an occluded face) filled from their
neighbours, and independent smoothing of the pieces between cuts and gaps.
"""
from __future__ import annotations

from typing import Iterable, Optional, Sequence

import numpy as np

from faceplate.core.analyze.smoothing import robust_sigma, smooth_series


def segment_starts(frames: Sequence[int], cuts: Iterable[int] = (), max_gap: int = 1) -> np.ndarray:
    """(T,) bool: where a new piece starts in the sorted frame numbers ``frames``.

    A piece starts at the first frame, after a jump of more than ``max_gap`` missing frames, and at
    a cut (a frame number in ``cuts`` is the first frame of a new shot; any cut in (previous, this]
    separates them).
    """
    f = np.asarray(list(frames), np.int64)
    starts = np.zeros(len(f), bool)
    if len(f) == 0:
        return starts
    starts[0] = True
    cut = np.sort(np.asarray(list(cuts), np.int64))
    for i in range(1, len(f)):
        gap = f[i] - f[i - 1] - 1
        crossed = np.any((cut > f[i - 1]) & (cut <= f[i])) if len(cut) else False
        starts[i] = gap > max_gap or bool(crossed)
    return starts


def smooth_estimates(values: np.ndarray, frames: Optional[Sequence[int]] = None, cuts: Iterable[int] = (),
                     max_gap: int = 1, valid: Optional[np.ndarray] = None, strength: float = 1.0,
                     log: bool = False) -> np.ndarray:
    """Zero-phase smoothing of per-frame estimates of ONE face over a shot.

    values: (T,) or (T, K) float, one row per entry of ``frames`` (sorted frame numbers; default
    0..T-1); the K columns are one estimate's components (three gains, six shading coefficients) and
    share the detection of real changes. valid: (T,) bool, False for a frame whose estimate is not
    to be trusted (it is replaced from its neighbours). log: smooth log(values) (positive,
    multiplicative quantities such as gains). Pieces between cuts / gaps longer than ``max_gap`` are
    smoothed independently; a piece of fewer than 3 frames is returned as it is.
    Returns float64 of ``values``' shape.
    """
    x = np.asarray(values, np.float64)
    vector = x.ndim == 2
    z = x.reshape(len(x), -1).copy()
    if log:
        if np.any(z <= 0):
            raise ValueError("smooth_estimates(log=True) needs positive values")
        z = np.log(z)
    t_count = z.shape[0]
    frame_list = list(range(t_count)) if frames is None else [int(f) for f in frames]
    if len(frame_list) != t_count:
        raise ValueError(f"smooth_estimates: {t_count} rows but {len(frame_list)} frame numbers")
    ok = np.ones(t_count, bool) if valid is None else np.asarray(valid, bool).copy()
    ok &= np.isfinite(z).all(axis=1)
    out = z.copy()
    starts = np.flatnonzero(segment_starts(frame_list, cuts, max_gap))
    for a, b in zip(starts, list(starts[1:]) + [t_count]):
        out[a:b] = _smooth_piece(z[a:b], np.asarray(frame_list[a:b]), ok[a:b], strength)
    if log:
        out = np.exp(out)
    return out if vector else out[:, 0]


def _smooth_piece(z: np.ndarray, frames: np.ndarray, ok: np.ndarray, strength: float) -> np.ndarray:
    """Smooth one piece on its own time axis (missing frame numbers are unmeasured samples)."""
    if len(z) < 3 or ok.sum() < 2:
        return _fill(z, ok) if ok.any() else z
    pos = frames - frames[0]
    span = int(pos[-1]) + 1
    grid = np.zeros((span, z.shape[1]))
    measured = np.zeros(span, bool)
    grid[pos] = np.where(ok[:, None], z, 0.0)
    measured[pos] = ok
    grid = _fill(grid, measured)
    # each column in units of its own noise, so the smoother's shared motion test treats them alike
    noise = np.array([robust_sigma(grid[:, [k]], measured)[0] for k in range(grid.shape[1])])
    noise = np.where(np.isfinite(noise) & (noise > 0), noise, 1.0)
    noise = np.maximum(noise, 1e-9 * np.maximum(np.abs(grid).max(axis=0), 1.0))
    smoothed = smooth_series(grid / noise, measured, strength, sigma=np.ones(grid.shape[1])) * noise
    return smoothed[pos]


def _fill(z: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Rows where ``ok`` is False replaced by linear interpolation of the others (per column)."""
    if ok.all() or not ok.any():
        return z.copy()
    idx, out = np.flatnonzero(ok), z.copy()
    for k in range(z.shape[1]):
        out[~ok, k] = np.interp(np.flatnonzero(~ok), idx, z[idx, k])
    return out

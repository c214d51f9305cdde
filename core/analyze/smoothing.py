"""Offline, zero-phase smoothing of face tracks (pure numpy).

Each coordinate series (box corners, 5 points, 68 landmarks) is smoothed with a Rauch-Tung-Striebel
smoother on a constant-velocity model: a forward Kalman pass and a backward pass, so there is no lag
(unlike the moving averages of real-time tools). Robustness, because detectors both jitter and
sometimes jump:

* measurement noise is estimated per series from the data (MAD of second differences), shrunk
  towards the face's median so short tracks still get a sane value;
* the process noise is raised locally where the residuals of several consecutive frames, pooled over
  all the face's points, are too big to be noise: that is real motion (a fast head turn), which the
  smoother then follows instead of rounding off;
* an isolated frame whose residual is far above its neighbours' is an outlier: its measurement is
  down-weighted instead.

Cuts and track gaps split a track into segments that are smoothed independently. ``manual``
entries are fixed points: the smoother passes through them exactly. ``interpolated`` entries carry
no measurement; the smoother fills them.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Iterable, Optional, Sequence

import numpy as np
from faceplate.core.analyze.tracker import segments
from faceplate.core.types import FaceEntry, Track

# Process-noise to measurement-noise ratio at strength 1. With the constant-velocity model the
# smoother's bandwidth scales as (q/r)^(1/4): strength s divides the bandwidth by s.
_LAMBDA_AT_1 = 2e-3


_SIGMA_FLOOR = 0.05          # px: a perfectly still synthetic track still gets a well-posed filter


_MOTION_THRESHOLD = 2.5      # pooled mean squared normalised residual that means "real motion"


_OUTLIER_THRESHOLD = 12.0    # pooled normalised residual of an isolated bad frame


_MAX_Q_BOOST = 1e7


_ITERATIONS = 8


# The head's similarity (shift, roll, zoom) is fitted to all 68 landmarks, so it is several times
# steadier than any one point: it is smoothed with a third of the strength (about three times the
# bandwidth), which follows a move sampled every few frames instead of rounding it off.
_RIGID_STRENGTH = 0.3


def robust_sigma(z: np.ndarray, measured: np.ndarray) -> np.ndarray:
    """Per-series noise standard deviation (S,) of S series that move together (one face).

    z: (T, S); measured: (T,) bool. From third differences of consecutive measurements (white noise
    of variance s^2 gives variance 20 s^2; steady acceleration, like a head easing into a move,
    cancels). The face's noise level is the median over frames of the per-frame mean over series:
    averaging over series first makes it continuous even when a landmarker returns whole pixels,
    and the median ignores the frames of a sudden move. Each series' share of that level comes from
    the quiet frames (at or below the median), clipped to 0.5-2x.
    """
    T, S = z.shape
    if T < 4:
        return np.full(S, np.nan)
    ok = measured[:-3] & measured[1:-2] & measured[2:-1] & measured[3:]
    if ok.sum() < 3:
        return np.full(S, np.nan)
    d3sq = ((z[3:] - 3 * z[2:-1] + 3 * z[1:-2] - z[:-3])[ok]) ** 2 / 20.0
    per_frame = d3sq.mean(axis=1)
    level = float(np.median(per_frame))
    quiet = per_frame <= level
    shape = d3sq[quiet].mean(axis=0) / max(float(per_frame[quiet].mean()), 1e-12)
    return np.sqrt(level * np.clip(shape, 0.25, 4.0))


def isolated_outliers(z: np.ndarray, measured: np.ndarray, var: np.ndarray, threshold: float) -> np.ndarray:
    """(T,) bool: frames that disagree with both neighbours while the neighbours agree with each other.

    A detector glitch moves one frame; real motion (even a step or a fast turn) keeps the frames on
    at least one side consistent, so it is never rejected here. Pooled over the face's series.
    """
    T = z.shape[0]
    out = np.zeros(T, bool)
    if T < 5:
        return out
    t = np.arange(2, T - 2)
    ok = measured[t - 2] & measured[t - 1] & measured[t] & measured[t + 1] & measured[t + 2]
    left = ((z[t] - 2 * z[t - 1] + z[t - 2]) ** 2 / (6 * var)).mean(axis=1)
    right = ((z[t] - 2 * z[t + 1] + z[t + 2]) ** 2 / (6 * var)).mean(axis=1)
    across = ((z[t + 1] - 3 * z[t - 1] + 2 * z[t - 2]) ** 2 / (14 * var)).mean(axis=1)
    worst_side = np.minimum(left, right)
    out[t] = ok & (worst_side > threshold) & (across < worst_side / 8.0)
    return out


def _rts(z: np.ndarray, measured: np.ndarray, r: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Constant-velocity RTS smoother over T steps for S series at once.

    z: (T, S) measurements (ignored where not ``measured``); r: (T, S) measurement variances;
    q: (T, S) process (acceleration) variance of the step into t. Returns smoothed positions (T, S).
    """
    T, S = z.shape
    xf = np.zeros((T, S, 2))
    pf = np.zeros((T, S, 3))          # p00, p01, p11 of the filtered covariance
    xp = np.zeros((T, S, 2))
    pp = np.zeros((T, S, 3))
    first = int(np.argmax(measured)) if measured.any() else 0
    x0 = z[first].astype(np.float64).copy()
    x1 = np.zeros(S)
    p00 = r[first].copy() * 1e3 + 1.0
    p01 = np.zeros(S)
    p11 = np.full(S, 1e4)
    for t in range(T):
        if t > 0:
            qt = q[t]
            x0 = x0 + x1
            p00, p01, p11 = p00 + 2 * p01 + p11 + qt / 3.0, p01 + p11 + qt / 2.0, p11 + qt
        xp[t, :, 0], xp[t, :, 1] = x0, x1
        pp[t, :, 0], pp[t, :, 1], pp[t, :, 2] = p00, p01, p11
        if measured[t]:
            s = p00 + r[t]
            k0, k1 = p00 / s, p01 / s
            y = z[t] - x0
            x0, x1 = x0 + k0 * y, x1 + k1 * y
            p00, p01, p11 = (1 - k0) * p00, (1 - k0) * p01, p11 - k1 * p01
        xf[t, :, 0], xf[t, :, 1] = x0, x1
        pf[t, :, 0], pf[t, :, 1], pf[t, :, 2] = p00, p01, p11
    xs = xf[-1].copy()
    out = np.empty((T, S))
    out[-1] = xs[:, 0]
    for t in range(T - 2, -1, -1):
        # C = Pf F^T Pp(t+1)^-1 with F = [[1, 1], [0, 1]]
        a00 = pf[t, :, 0] + pf[t, :, 1]
        a01 = pf[t, :, 1]
        a10 = pf[t, :, 1] + pf[t, :, 2]
        a11 = pf[t, :, 2]
        b00, b01, b11 = pp[t + 1, :, 0], pp[t + 1, :, 1], pp[t + 1, :, 2]
        det = b00 * b11 - b01 * b01
        det = np.where(np.abs(det) < 1e-300, 1e-300, det)
        i00, i01, i11 = b11 / det, -b01 / det, b00 / det
        c00 = a00 * i00 + a01 * i01
        c01 = a00 * i01 + a01 * i11
        c10 = a10 * i00 + a11 * i01
        c11 = a10 * i01 + a11 * i11
        d0 = xs[:, 0] - xp[t + 1, :, 0]
        d1 = xs[:, 1] - xp[t + 1, :, 1]
        xs = np.stack([xf[t, :, 0] + c00 * d0 + c01 * d1, xf[t, :, 1] + c10 * d0 + c11 * d1], axis=1)
        out[t] = xs[:, 0]
    return out


def _window_max(x: np.ndarray, half: int) -> np.ndarray:
    out = x.copy()
    for k in range(1, half + 1):
        out[k:] = np.maximum(out[k:], x[:-k])
        out[:-k] = np.maximum(out[:-k], x[k:])
    return out


def smooth_series(z: np.ndarray, measured: np.ndarray, strength: float = 1.0,
                  fixed: Optional[np.ndarray] = None, sigma: Optional[np.ndarray] = None) -> np.ndarray:
    """Zero-phase robust smoothing of S series of T consecutive frames that belong to one face.

    z: (T, S) float; measured: (T,) bool (False = no measurement, e.g. an interpolated frame);
    fixed: (T,) bool, frames the result must pass through exactly (manual entries);
    sigma: (S,) noise standard deviations, estimated from ``z`` when None.
    Returns (T, S) float64. ``strength`` 0 returns ``z`` unchanged.
    """
    z = np.asarray(z, dtype=np.float64)
    T, S = z.shape
    measured = np.asarray(measured, dtype=bool).copy()
    fixed = np.zeros(T, bool) if fixed is None else np.asarray(fixed, dtype=bool)
    measured |= fixed
    if strength <= 0 or T < 3 or measured.sum() < 2:
        return z.copy()
    if sigma is None:
        sigma = robust_sigma(z, measured & ~fixed)
    sigma = np.asarray(sigma, dtype=np.float64)
    med = np.nanmedian(sigma) if np.isfinite(sigma).any() else _SIGMA_FLOOR
    sigma = np.where(np.isfinite(sigma), sigma, med)
    # Shrink each series towards the face's median: one landmark's MAD over a few frames is noisy.
    n = max(int((measured & ~fixed).sum()) - 2, 0)
    sigma = np.sqrt((n * sigma ** 2 + 10 * med ** 2) / (n + 10))
    sigma = np.maximum(sigma, _SIGMA_FLOOR)
    var = sigma ** 2

    # capped: strength ** 4 overflows a float (OverflowError) past ~1e77; 1e50 is already flat
    lam = _LAMBDA_AT_1 / min(float(strength), 1e50) ** 4
    r_scale = np.ones(T)              # per-frame measurement weight (outliers get > 1)
    q_boost = np.ones(T)              # per-frame process-noise boost (real motion gets > 1)
    r_scale[fixed] = 1e-10            # manual entries: (almost) no measurement noise
    meas_only = measured & ~fixed
    # a glitch frame keeps (almost) no weight: the smoother bridges it from its neighbours
    r_scale = np.where(isolated_outliers(z, meas_only, var, _OUTLIER_THRESHOLD), 1e6, r_scale)
    x = z
    for _ in range(_ITERATIONS):
        r = var[None, :] * r_scale[:, None]
        q = lam * var[None, :] * q_boost[:, None]
        x = _rts(z, measured, r, q)
        u2 = np.where(meas_only[:, None], (z - x) ** 2 / var[None, :], 0.0)
        e = u2.mean(axis=1)          # pooled over the face: motion moves every point together
        changed = False
        # real motion: consecutive frames whose residuals are too big for noise
        e_clean = np.where(r_scale > 1.0, 0.0, e)
        padded = np.concatenate([[e_clean[0]], e_clean, [e_clean[-1]]])
        med3 = np.median(np.stack([padded[:-2], padded[1:-1], padded[2:]]), axis=0)
        # relative to the segment's typical misfit too: heavy-tailed detector noise must not look
        # like motion (real motion is local, so it stands out from the median frame)
        # (lower quartile: a big move's misfit spreads over many frames of a short segment)
        typical = float(np.quantile(e_clean[meas_only], 0.25)) if meas_only.any() else 0.0
        moving = meas_only & (med3 > max(_MOTION_THRESHOLD, 3.0 * typical))
        if moving.any():
            # the worse the misfit, the bigger the step: a velocity jump needs q up by 10^4+
            factor = np.clip(_window_max(np.where(moving, med3 / _MOTION_THRESHOLD, 0.0), 1) ** 2, 1.0, 1e3)
            factor = np.where(factor > 1.0, np.maximum(factor, 10.0), 1.0)
            boost = np.minimum(q_boost * factor, _MAX_Q_BOOST)
            changed |= bool(np.any(boost > q_boost))
            q_boost = boost
        if not changed:
            break
    x = x.copy()
    x[fixed] = z[fixed]
    return x


def _similarity_rows(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(T, 4) similarity per frame mapping the centred ``reference`` (N, 2) onto ``points`` (T, N, 2):
    a, b (x' = a·x − b·y, y' = b·x + a·y) and the centroid. Closed-form least squares."""
    c = points.mean(axis=1)
    p = points - c[:, None, :]
    rx, ry = reference[:, 0], reference[:, 1]
    norm = float((reference ** 2).sum())
    a = (p[..., 0] @ rx + p[..., 1] @ ry) / norm
    b = (p[..., 1] @ rx - p[..., 0] @ ry) / norm
    return np.column_stack([a, b, c])


def smooth_face_points(z: np.ndarray, measured: np.ndarray, strength: float = 1.0,
                       fixed: Optional[np.ndarray] = None, landmarks_from: int = 14) -> np.ndarray:
    """``smooth_series`` for one face's packed points (T, 2N: box corners, 5 points, 68 landmarks),
    with the face's rigid motion and its shape smoothed apart.

    A landmarker's jitter is mostly in the shape (points moving against each other), while the head's
    motion is a similarity (shift, roll, zoom) shared by all points. Smoothed together in image
    coordinates, a fast or sparsely sampled move raises the motion test for every point, so the
    shape's jitter is followed along with the move (and a warp on those points makes the face
    shimmer). Here each frame's similarity to the shot's mean shape (least squares on the
    landmarks) is smoothed as 4 series (in pixels at the face's edge, so the noise floor means the
    same), and the points in that face frame as the shape: each part gets its own noise level and
    motion test. Returns (T, 2N) float64; ``fixed`` frames are returned exactly.
    """
    z = np.asarray(z, np.float64)
    T, S = z.shape
    fixed = np.zeros(T, bool) if fixed is None else np.asarray(fixed, bool)
    have = np.asarray(measured, bool) | fixed
    if strength <= 0 or T < 3 or have.sum() < 2 or (S - landmarks_from) < 6:
        return smooth_series(z, measured, strength, fixed=fixed)
    pts = z.reshape(T, S // 2, 2)
    lm = pts[:, landmarks_from // 2:]
    first = lm[np.flatnonzero(have)[0]]
    reference = first - first.mean(axis=0)
    if float(np.abs(reference).max()) < 1e-3:   # landmarks all on one point: no face frame to use
        return smooth_series(z, measured, strength, fixed=fixed)
    for _ in range(3):   # generalised Procrustes: the mean shape in a stable frame
        sim = _similarity_rows(lm[have], reference)
        local = _to_face(lm[have], sim)
        reference = local.mean(axis=0)
        reference -= reference.mean(axis=0)
    radius = max(float(np.sqrt((reference ** 2).sum(axis=1).mean())), 1e-6)
    sim = _similarity_rows(lm, reference)
    shape = _to_face(pts, sim).reshape(T, S)
    sim_px = sim * np.array([radius, radius, 1.0, 1.0])
    # The similarity is fitted to every landmark: its noise is the points' noise over about sqrt(N/2).
    # Estimated from its own series instead, a move sampled sparsely (every 5th frame) reads as noise
    # and is rounded off.
    point_noise = robust_sigma(shape[:, landmarks_from:], have & ~fixed)
    rigid_noise = None
    if np.isfinite(point_noise).any():
        rigid_noise = np.full(4, float(np.nanmedian(point_noise)) * np.sqrt(2.0 / lm.shape[1]))
    sim_s = smooth_series(sim_px, measured, _RIGID_STRENGTH * strength, fixed=fixed, sigma=rigid_noise)
    sim_s = sim_s / np.array([radius, radius, 1.0, 1.0])
    shape_s = smooth_series(shape, measured, strength, fixed=fixed).reshape(T, S // 2, 2)
    a, b, c = sim_s[:, 0, None], sim_s[:, 1, None], sim_s[:, None, 2:]
    x, y = shape_s[..., 0], shape_s[..., 1]
    out = np.stack([a * x - b * y, b * x + a * y], axis=-1) + c
    out = out.reshape(T, S)
    out[fixed] = z[fixed]
    return out


def _to_face(points: np.ndarray, sim: np.ndarray) -> np.ndarray:
    """Points (T, N, 2) taken into the face frame of ``sim`` (T, 4) (inverse similarity)."""
    a, b = sim[:, 0, None], sim[:, 1, None]
    d = points - sim[:, None, 2:]
    det = np.maximum(a * a + b * b, 1e-12)
    return np.stack([(a * d[..., 0] + b * d[..., 1]) / det, (a * d[..., 1] - b * d[..., 0]) / det], axis=-1)


def _pack(e: FaceEntry) -> np.ndarray:
    return np.concatenate([e.box_raw.reshape(-1), e.points5_raw.reshape(-1), e.landmarks_raw.reshape(-1)])


def smooth_track(track: Track, frames: Sequence[int], cuts: Iterable[int], max_gap: int,
                 strength: float = 1.0) -> Track:
    """A copy of ``track`` whose plain fields are smoothed from the ``*_raw`` ones, per segment.

    ``frames`` is the analysed frame list (positions in it are the time axis); ``manual`` entries
    are kept exactly (plain fields = the person's values).
    """
    cuts = list(cuts)
    new_entries: dict[int, FaceEntry] = {}
    for run in segments(track, frames, cuts, max_gap):
        entries = [track.entries[f] for f in run]
        index = {f: i for i, f in enumerate(frames)}
        if len(run) > 1 and all(f in index for f in run):
            pos = np.array([index[f] for f in run])
            # time axis with the run's gaps (hand-edited files may skip frames) as missing samples
            T = int(pos[-1] - pos[0] + 1)
            z = np.zeros((T, _pack(entries[0]).size))
            measured = np.zeros(T, bool)
            fixed = np.zeros(T, bool)
            for p, e in zip(pos - pos[0], entries):
                if e.source == "manual":
                    z[p] = np.concatenate([e.box.reshape(-1), e.points5.reshape(-1), e.landmarks.reshape(-1)])
                    fixed[p] = True
                else:
                    z[p] = _pack(e)
                    measured[p] = e.source == "detected"
            # fill unmeasured rows by interpolation so the returned array is well defined everywhere
            have = measured | fixed
            if have.sum() >= 1:
                idx = np.flatnonzero(have)
                for s in range(z.shape[1]):
                    z[~have, s] = np.interp(np.flatnonzero(~have), idx, z[idx, s])
            x = smooth_face_points(z, measured, strength, fixed=fixed)
            rows = {f: x[p] for f, p in zip(run, pos - pos[0])}
        else:
            rows = {f: (_pack(e) if e.source != "manual" else None) for f, e in zip(run, entries)}
        for f, e in zip(run, entries):
            row = rows[f]
            if e.source == "manual" or row is None:
                new_entries[f] = e
                continue
            new_entries[f] = replace(e, box=_fix_box(row[:4]), points5=row[4:14].reshape(5, 2).copy(),
                                     landmarks=row[14:].reshape(-1, 2).copy())
    return Track(id=track.id, embedding=track.embedding, entries=dict(sorted(new_entries.items())))


def _fix_box(b: np.ndarray) -> np.ndarray:
    b = b.astype(np.float64).copy()
    if b[2] < b[0]:
        b[0] = b[2] = 0.5 * (b[0] + b[2])
    if b[3] < b[1]:
        b[1] = b[3] = 0.5 * (b[1] + b[3])
    return b


def smooth_tracks(tracks: Sequence[Track], frames: Sequence[int], cuts: Iterable[int], max_gap: int,
                  strength: float = 1.0) -> list[Track]:
    cuts = list(cuts)
    return [smooth_track(t, frames, cuts, max_gap, strength) for t in tracks]

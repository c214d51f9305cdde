"""Occlusion (analyze side): which pixels of a tracked face are covered by something in front of it.

Analyze sees the whole shot, so each track's own face is the reference: every frame's face is warped
to a fixed ALIGNED square (a similarity from its 5 points; iBUG-68 landmarks are reduced to 5), the
track's expected appearance is the per-pixel median over the shot (at most ``MEDIAN_FRAMES`` evenly
spread frames of it, so a long shot costs no more memory than its crops) after per-frame gain
normalisation, with a per-pixel robust spread (eyes and mouth move, cheeks do not). A pixel is occluded where
it is far from that expectation in a spatially and temporally coherent blob: seeds well above the spread,
grown through a lower threshold in (frame, y, x), cleaned by morphology and a minimum blob size, and one-frame
holes filled from the neighbouring frames. The mask is stored per frame as a short ASCII string in the track
file and mapped back onto image pixels, with a soft edge, at render time.

Aligned coordinates: pixel centres (OpenCV), a square of ``size`` px; ``aligned_transform`` maps image pixels
into it. Limits: an occluder that covers the same part of the face for more than half the shot becomes the
expected appearance; a big change of expression (a wide-open mouth in a few frames of a closed-mouth shot)
reads as occlusion unless the caller leaves eyes/mouth out of ``region``.
"""
from __future__ import annotations

from typing import Optional, Sequence

import cv2
import numpy as np
from scipy import ndimage

from faceplate.core.geometry import align
from faceplate.core.geometry.ibug import face_size
from faceplate.core.io.track_file import encode_mask
from faceplate.core.render.mask import face_outline

ALIGNED_SIZE = 128          # px, analysis resolution
STORE_SIZE = 64             # px, resolution of the stored per-frame mask
# The region checked is everything a render matte can cover: the landmark hull with the forehead
# lifted by MATTE_LIFT (render's --forehead default is 0.3) and, past that outline, MATTE_REACH face
# sizes of feather (the default 0.08 feather reaches about 0.09 past the hull).
MATTE_LIFT = 0.5
MATTE_REACH = 0.1
HEAVY = 0.2                 # fraction of the region covered in a frame above which its gain is found robustly
MEDIAN_FRAMES = 64          # most frames the expected appearance (median, spread) is taken from
_ZOOM = 0.7                 # the ArcFace template shrunk so forehead and chin fit in the square
# ArcFace 5-point template in unit coordinates of the square (0..1 between its outer pixel edges).
_TEMPLATE_UNIT = ((align.ARCFACE_112 - 56.0) * _ZOOM + 56.0) / 112.0


def template(size: int = ALIGNED_SIZE) -> np.ndarray:
    """(5, 2) float64 ArcFace-order template points in a ``size`` square (pixel centres)."""
    return _TEMPLATE_UNIT * size - 0.5


def aligned_transform(points: np.ndarray, size: int = ALIGNED_SIZE) -> np.ndarray:
    """(2, 3) similarity mapping image pixels to the aligned ``size`` square, from (5, 2) ArcFace-order
    points or (68, 2) iBUG landmarks in image pixels. Any two sizes of one face are the same square."""
    p = np.asarray(points, np.float64).reshape(-1, 2)
    if p.shape[0] == 68:
        p = align.points5_from_landmarks68(p)
    if p.shape[0] != 5:
        raise ValueError(f"aligned_transform needs (5, 2) or (68, 2) points, got {p.shape}")
    return align.estimate_similarity(p, template(size))


def aligned_face(image: np.ndarray, points: np.ndarray, size: int = ALIGNED_SIZE, pad: int = 0) -> np.ndarray:
    """(size + 2 pad, size + 2 pad, 3) float32: the face of ``image`` ((h, w, 3) linear float) warped to
    the aligned square, with ``pad`` px more on every side (aligned point q sits at q + pad)."""
    m = aligned_transform(points, size)
    m[:, 2] += pad
    out = size + 2 * pad
    image = np.asarray(image)
    scale = align.scale_of(m)
    if scale < 0.5:   # a big face into a small square: cut it out and pre-shrink it so it does not alias
        corners = align.transform_points(np.array([[-1, -1], [out, -1], [-1, out], [out, out]], np.float64),
                                         align.invert(m))
        x0, y0 = np.maximum(np.floor(corners.min(axis=0)).astype(int) - 2, 0)
        x1, y1 = np.minimum(np.ceil(corners.max(axis=0)).astype(int) + 2, [image.shape[1], image.shape[0]])
        if x1 > x0 and y1 > y0:
            factor = 0.5 / scale
            cut = np.nan_to_num(np.asarray(image[y0:y1, x0:x1], np.float32), nan=0.0, posinf=0.0, neginf=0.0)
            small = cv2.resize(cut, (max(int(round((x1 - x0) / factor)), 1), max(int(round((y1 - y0) / factor)), 1)),
                               interpolation=cv2.INTER_AREA)
            fx, fy = (x1 - x0) / small.shape[1], (y1 - y0) / small.shape[0]
            small_to_image = np.array([[fx, 0.0, x0 + 0.5 * fx - 0.5], [0.0, fy, y0 + 0.5 * fy - 0.5]])
            return align.warp(small, align.compose(m, small_to_image), out)
    img = np.nan_to_num(np.asarray(image, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    return align.warp(img, m, out)


def face_region(size: int = ALIGNED_SIZE) -> np.ndarray:
    """(size, size) bool: the face oval in the aligned square (cheeks, eyes, brows, nose, mouth, chin)."""
    t = template(size)
    eye = float(np.hypot(*(t[1] - t[0])))
    centre = t.mean(axis=0) - np.array([0.0, 0.1 * eye])
    ys, xs = np.mgrid[0:size, 0:size]
    return ((xs - centre[0]) / (1.05 * eye)) ** 2 + ((ys - centre[1]) / (1.35 * eye)) ** 2 <= 1.0


def matte_hull(landmarks68: np.ndarray, size: int = ALIGNED_SIZE, forehead: float = MATTE_LIFT) \
        -> tuple[np.ndarray, float]:
    """((size, size) bool landmark hull with the forehead lift, as render's hull matte draws it, in the
    aligned square; how far a feathered matte reaches past it, in aligned px). (68, 2) image landmarks."""
    lm = np.asarray(landmarks68, np.float64).reshape(68, 2)
    m = aligned_transform(lm, size)
    outline = align.transform_points(face_outline(lm, forehead), m)
    hull = cv2.convexHull(np.round(outline * 16).astype(np.int32)).reshape(-1, 2)
    canvas = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(canvas, hull, 1, lineType=cv2.LINE_8, shift=4)
    return canvas > 0, float(MATTE_REACH * face_size(lm) * align.scale_of(m))


def _masked_median(values: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(per-pixel median over the frames where ``valid`` (S, S, C), NaN where none; count (S, S)).
    values: (T, S, S, C); valid: (T, S, S) bool."""
    v = np.sort(np.where(valid[..., None], values, np.nan), axis=0)   # NaN sort last
    n = valid.sum(axis=0)
    lo = np.maximum((n - 1) // 2, 0)[None, ..., None]
    hi = np.maximum(n // 2, 0)[None, ..., None]
    lo, hi = np.broadcast_to(lo, (1,) + v.shape[1:]), np.broadcast_to(hi, (1,) + v.shape[1:])
    return 0.5 * (np.take_along_axis(v, lo, 0)[0] + np.take_along_axis(v, hi, 0)[0]), n


def _face_median(values: np.ndarray, face: np.ndarray) -> np.ndarray:
    """Per-pixel median over the frames where the pixel is face; over all frames where it is face in
    fewer than 3 (the track's expected appearance is its face, not the background behind its outline)."""
    med, n = _masked_median(values, face)
    return np.where((n >= 3)[..., None], med, np.median(values, axis=0))


# ------------------------------------------------------------------------------------ detection

def _cluster_centre(r: np.ndarray, start: Optional[np.ndarray] = None,
                    window: Optional[np.ndarray] = None) -> np.ndarray:
    """(3,) the centre of the main cluster of residuals (N, 3): the median, re-taken a few times over
    the values within three robust spreads of it. A plain median is pulled far off by an occluder
    brighter (or darker) than the face over a third of it, and then the whole face reads as changed.
    ``start``/``window`` (3,): begin at this centre and keep to a fixed window of three such spreads
    (the face's cluster near where its gain is expected, even where the occluder is the larger one)."""
    centre = np.median(r, axis=0) if start is None else np.asarray(start, np.float64).reshape(3)
    for _ in range(3 if window is None else 5):
        spread = 1.4826 * np.median(np.abs(r - centre), axis=0) if window is None else window
        near = np.abs(r - centre) <= 3.0 * np.maximum(spread, 1e-3)
        centre = np.array([np.median(r[near[:, c], c]) if near[:, c].any() else centre[c] for c in range(3)])
    return centre


def _expected_gains(offset: np.ndarray, covered: np.ndarray) -> Optional[np.ndarray]:
    """(T, 3) each frame's gain as its clear neighbours in time give it (linear between the nearest
    clear frames before and after, held past the ends); None when no frame is clear. Light changes
    slowly: a frame mostly covered by an object takes its gain from the frames around it."""
    clear = np.flatnonzero(~covered)
    if clear.size == 0:
        return None
    t = np.arange(len(covered))
    return np.stack([np.interp(t, clear, offset[clear, c]) for c in range(offset.shape[1])], axis=1)


def median_sample(t_count: int, most: int = MEDIAN_FRAMES) -> np.ndarray:
    """Indices of the frames the expected appearance is taken from: all of them up to ``most``,
    else ``most`` spread evenly over the piece (a median of that many is as good, and memory and
    time stay bounded on long shots)."""
    if t_count <= most:
        return np.arange(t_count)
    return np.unique(np.round(np.linspace(0, t_count - 1, most)).astype(int))


def _log_frame(crops: np.ndarray, t: int) -> np.ndarray:
    return np.log(np.maximum(np.asarray(crops[t], np.float32), 0.0) + 1e-3)


def _frame_gains(crops: np.ndarray, region: np.ndarray, face: np.ndarray, sample: np.ndarray,
                 covered: Optional[np.ndarray] = None) -> np.ndarray:
    """(T, 3) each frame's per-channel log gain against the track's median face (taken over
    ``sample``). covered: (T,) bool, frames where a first look found much of the face covered: their
    gain is the centre of their residuals' main cluster near the gain their clear neighbours expect,
    not the plain median."""
    t_count = crops.shape[0]
    offset = np.zeros((t_count, 3), np.float32)
    for _ in range(2):   # median face, then each frame's gain against it
        median = _face_median(np.stack([_log_frame(crops, t) - offset[t] for t in sample]), face[sample])
        residual = [(_log_frame(crops, t) - median)[region] for t in range(t_count)]   # (N, 3) each
        offset = np.stack([np.median(r, axis=0) for r in residual]).astype(np.float32)
        if covered is None or not covered.any():
            continue
        expected = _expected_gains(offset, covered)
        if expected is not None:   # the face's spread of residuals, from (a sample of) the clear frames
            clear = np.flatnonzero(~covered)
            clear = clear[median_sample(len(clear))]
            window = 1.4826 * np.median(np.abs(np.stack([residual[t] - offset[t] for t in clear])), axis=(0, 1))
        for t in np.flatnonzero(covered):
            # from the gain the clear frames around it expect: the face's own cluster, even when the
            # object covers more of it than the face shows (the main cluster is then the object's)
            offset[t] = (_cluster_centre(residual[t]) if expected is None
                         else _cluster_centre(residual[t], expected[t], window))
    return offset


def deviation(crops: np.ndarray, region: np.ndarray, face: Optional[np.ndarray] = None,
              covered: Optional[np.ndarray] = None) -> np.ndarray:
    """(T, S, S) float32: each frame's distance from the track's expected face in robust-spread units.

    crops: (T, S, S, 3) linear aligned faces of one shot segment (float32 or float16; read a frame at
    a time); region: (S, S) bool, where gain is measured; face: (T, S, S) bool, where each frame's face
    is (default ``region`` in all): the expected appearance and spread of a pixel come from the frames
    (``median_sample``) where it is face; covered: (T,) bool, frames much of whose face is covered
    (their gain is found robustly, ``_cluster_centre``). Memory: the crops plus the result plus a
    bounded sample, whatever the piece's length.
    """
    t_count = crops.shape[0]
    face = np.broadcast_to(region, crops.shape[:3]) if face is None else np.asarray(face, bool)
    sample = median_sample(t_count)
    offset = _frame_gains(crops, region, face, sample, covered)
    median = _face_median(np.stack([_log_frame(crops, t) - offset[t] for t in sample]), face[sample])

    def residual(t: int) -> np.ndarray:
        # a light blur: occluders are coherent, noise and grain are not
        return cv2.GaussianBlur(_log_frame(crops, t) - offset[t] - median, (0, 0), 1.0)

    spread = 1.4826 * _face_median(np.stack([np.abs(residual(t)) for t in sample]), face[sample])   # (S, S, 3)
    spread = np.sqrt((spread ** 2).mean(axis=2))
    floor = float(np.median(spread[region])) if region.any() else 1e-3
    spread = np.maximum(spread, max(floor, 1e-3))
    out = np.empty(crops.shape[:3], np.float32)
    for t in range(t_count):
        out[t] = np.sqrt((residual(t) ** 2).mean(axis=2)) / spread
    return out


def _blobs(z: np.ndarray, look: np.ndarray, region: np.ndarray, high: float, low: float,
           min_area: float) -> np.ndarray:
    """(T, S, S) bool: coherent blobs of deviation ``z`` (T, S, S): seeds above ``high`` inside
    ``region``, grown through ``low`` in (frame, y, x), cleaned by morphology and a minimum size."""
    candidate = (z > low) & look
    labels, count = ndimage.label(candidate, structure=np.ones((3, 3, 3), bool))
    if count == 0:
        return np.zeros_like(candidate)
    seeded = np.zeros(count + 1, bool)
    # seeds only where the pixel is face in most frames: at the outline (hair, background showing
    # through) a change is weaker evidence; an occluder seeded inside grows out to it
    seeded[np.unique(labels[(z > high) & look & region[None]])] = True
    seeded[0] = False
    masks = seeded[labels]
    min_px = max(int(min_area * region.sum()), 4)
    opening, closing = np.ones((3, 3), bool), np.ones((5, 5), bool)
    for t in range(z.shape[0]):
        m = ndimage.binary_opening(masks[t], opening)
        m = ndimage.binary_closing(m, closing, border_value=0) & look[t]
        m = ndimage.binary_fill_holes(m)
        lab, n = ndimage.label(m)
        if n:
            sizes = ndimage.sum(m, lab, index=np.arange(1, n + 1))
            m = np.isin(lab, np.flatnonzero(sizes >= min_px) + 1)
        masks[t] = m
    return masks


def detect_occlusion(crops: np.ndarray, region: Optional[np.ndarray] = None, high: float = 6.0, low: float = 3.0,
                     min_area: float = 0.01, hulls: Optional[np.ndarray] = None, reach: float = 0.0) -> np.ndarray:
    """(T, S, S) bool occlusion masks for T consecutive frames of ONE shot segment of one track.

    crops: (T, S, S, 3) linear from ``aligned_face`` (float32, or float16 to hold a long piece in
    half the memory); region: (S, S) bool where to look
    (default ``face_region``); hulls: (T, S, S) bool, each frame's matte hull (``matte_hull``), which
    replaces ``region``: each frame is looked at inside its own hull, against what that pixel looked
    like in the frames where it was face; reach: aligned px a matte reaches past its hull: an occluder
    found at the outline is carried that far out (past the outline the plate shows background, which
    cannot be compared with the face). ``high``/``low``: hysteresis thresholds in robust-spread units;
    ``min_area``: smallest blob kept, as a fraction of the region. Needs T >= 3 (fewer: no occlusion
    can be told from the face, all False). Deterministic.
    """
    crops = np.asarray(crops)
    t_count, size = crops.shape[0], crops.shape[1]
    if hulls is not None:
        look = np.asarray(hulls, bool)
        region = look.mean(axis=0) >= 0.5    # face in most frames: where gain is measured
    else:
        region = face_region(size) if region is None else np.asarray(region, bool)
        look = np.broadcast_to(region, (t_count, size, size))
    if t_count < 3 or not region.any():
        return np.zeros((t_count, size, size), bool)
    z = deviation(crops, region, look)
    masks = _blobs(z, look, region, high, low, min_area)
    # where much of the face is covered, the plain median gain is pulled toward the occluder and the
    # whole face can read as changed: look again with those frames' gain found robustly
    heavy = np.array([(m & region).sum() > HEAVY * region.sum() for m in masks])
    if heavy.any():
        masks = _blobs(deviation(crops, region, look, heavy), look, region, high, low, min_area)
    # a pixel set in both neighbours is set here too (no one-frame hole); nothing is voted away: an
    # occluder that moves fast (or a plate sampled every few frames) is in a new place in every frame,
    # and painting the face over it is worse than keeping a few extra plate pixels
    voted = masks.copy()
    voted[1:-1] |= masks[:-2] & masks[2:]
    r = int(np.ceil(reach))
    if r > 0:
        disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        for t in range(t_count):
            if voted[t].any():
                voted[t] |= (cv2.dilate(voted[t].astype(np.uint8), disk) > 0) & ~look[t]
    return voted


def detect_for_landmarks(crops: np.ndarray, landmarks: Sequence[np.ndarray]) -> np.ndarray:
    """``detect_occlusion`` for a piece of a track cut with these (68, 2) (or (5, 2)) image landmarks:
    each frame looked at inside its own render matte's hull and reach."""
    if any(np.asarray(lm).shape != (68, 2) for lm in landmarks):
        return detect_occlusion(crops)
    found = [matte_hull(lm, crops.shape[1]) for lm in landmarks]
    return detect_occlusion(crops, hulls=np.stack([h for h, _ in found]), reach=max(r for _, r in found))


# ------------------------------------------------------------------------------------ storage

def downsample_mask(mask: np.ndarray, size: int = STORE_SIZE) -> np.ndarray:
    """(size, size) bool: a square (S, S) mask reduced by an integer factor, a cell set if ANY of its
    pixels is (so the stored mask never uncovers an occluder pixel)."""
    mask = np.asarray(mask, bool)
    factor = mask.shape[0] // size
    if factor * size != mask.shape[0] or mask.shape[0] != mask.shape[1]:
        raise ValueError(f"downsample_mask: {mask.shape} is not a square multiple of {size}")
    return mask.reshape(size, factor, size, factor).any(axis=(1, 3))


def track_occlusion(images: Sequence[np.ndarray], points: Sequence[np.ndarray], size: int = ALIGNED_SIZE,
                    store: int = STORE_SIZE) -> list[str]:
    """Encoded per-frame masks for one segment of one track: frames (h, w, 3) linear with their
    (5, 2) or (68, 2) points. Convenience over aligned_face / detect_occlusion / encode_mask."""
    crops = np.stack([aligned_face(img, p, size) for img, p in zip(images, points)])
    return [encode_mask(downsample_mask(m, store)) for m in detect_occlusion(crops)]

"""The plate's skin tone around a tracked face (analyze side), measured per entry and smoothed over the shot.

Engine v2 matches the swapped face to the plate by colour gains (the mean skin colour and the spread
of log luminance around the broad shading) and a low-frequency shading field. Measured on frame f alone, over a region that
changes from frame to frame (an occluder entering, the source frame switching, the head turning),
those numbers breathe and jump. Here they are measured once per entry, in the fixed aligned square
of ``analyze/occlusion`` (``ALIGNED_SIZE``² px from the face's 5 points), over the face's own skin:
the landmark hull with the forehead cut at the hairline found in the image
(``face/regions.visible_skin``), less the eyes, brows and lips and less whatever analyze found in
front of the face. Then they are smoothed over each piece of a track between cuts and gaps
(``analyze/temporal``), frames with something in front of the face not trusted, and stored per
entry in the track file (``FaceEntry.tone``, ``TONE_VALUES`` numbers). The source side is measured
the same way on a library frame (``measure``), so both sides see the same anatomy at the same
resolution.

Values (``pack`` / ``unpack``): mean linear RGB (3), standard deviation of log luminance around the field (1), and
the shading field: log of the skin's luminance low-passed at ``FIELD_SIGMA`` (normalised
convolution inside the region) relative to the luminance of the mean colour, sampled on a
``GRID``² grid of aligned pixels (``grid_to_aligned``); cells away from the skin are filled from a
wider blur, so the field is defined over the whole face; two chroma slopes, how the broad
log(R / Y) and log(B / Y) follow the broad log luminance over the skin (older files: none); and
two chroma fields on the same grid, the broad log(R / Y) and log(B / Y) relative to the mean
colour's, so the swap takes the plate's redder cheeks or a lit forehead's cooler light where they
are (older files: none; the slopes stand in).
"""
from __future__ import annotations

from dataclasses import dataclass, field as dataclass_field
from typing import Optional, Sequence

import cv2
import numpy as np

from faceplate.core.analyze.occlusion import ALIGNED_SIZE, aligned_transform, face_region, template
from faceplate.core.analyze.temporal import smooth_estimates
from faceplate.core.colour import LUMA_709
from faceplate.core.face import regions
from faceplate.core.geometry import align
from faceplate.core.io.track_file import TONE_GRID as GRID, TONE_VALUES

LIFT = 0.3                 # forehead lift of the hull (render's --forehead default): skin above is hairline-cut
_EYE_PX = float(np.hypot(*(template()[1] - template()[0])))   # eye distance in the aligned square
# render's relight low-passes at 0.12 face sizes; a face is about 2.3 eye distances across
FIELD_SIGMA = 0.12 * 2.3 * _EYE_PX
# the grid is centred on the face oval (``occlusion.face_region``) and reaches a little past it;
# cell centres on whole aligned pixels
_CELL = 10
_ORIGIN = np.round(np.argwhere(face_region())[:, ::-1].mean(axis=0) - 0.5 * _CELL * (GRID - 1))
_MIN_PIXELS = 64


@dataclass
class Tone:
    """One face's skin tone: mean linear RGB (3,), std of log luminance, shading field (GRID, GRID)
    of log luminance relative to the mean colour's, in the aligned square, and how the broad colour
    follows the broad shading: (2,) slopes of log(R / Y) and log(B / Y) against log Y (skin in
    shadow is redder: a swap shaded by luminance alone reads grey in the plate's shadows)."""
    mean: np.ndarray
    spread: float
    field: np.ndarray
    chroma_slope: np.ndarray = dataclass_field(default_factory=lambda: np.zeros(2))
    # (2, GRID, GRID) the broad log(R / Y) and log(B / Y) of the skin relative to the mean colour's,
    # on the field's grid: where the skin is redder (cheeks) or bluer (a lit forehead) whatever its
    # luminance. None: an older track file's (the slopes stand in).
    chroma_field: Optional[np.ndarray] = None


def pack(tone: Tone) -> np.ndarray:
    """(TONE_VALUES,) float64 for the track file (without a chroma field, an older file's length)."""
    parts = [np.asarray(tone.mean, np.float64).reshape(3), [float(tone.spread)],
             np.asarray(tone.field, np.float64).reshape(-1), np.asarray(tone.chroma_slope, np.float64).reshape(2)]
    if tone.chroma_field is not None:
        parts.append(np.asarray(tone.chroma_field, np.float64).reshape(-1))
    return np.concatenate(parts)


def unpack(values: np.ndarray) -> Tone:
    """The Tone of ``pack``'s numbers; an older track file's has no chroma field, and the oldest no
    chroma slopes either (zero)."""
    v = np.asarray(values, np.float64).reshape(-1)
    cells = GRID * GRID
    slopes = v[4 + cells:6 + cells] if len(v) >= 6 + cells else np.zeros(2)
    chroma = v[6 + cells:6 + 3 * cells].reshape(2, GRID, GRID).copy() if len(v) >= TONE_VALUES else None
    return Tone(v[:3].copy(), float(v[3]), v[4:4 + cells].reshape(GRID, GRID).copy(), slopes.copy(), chroma)


def grid_to_aligned() -> np.ndarray:
    """(2, 3) affine: field grid cell (i, j) -> aligned square pixel (x, y) (pixel centres)."""
    return np.array([[_CELL, 0.0, _ORIGIN[0]], [0.0, _CELL, _ORIGIN[1]]], np.float64)


def _aligned_landmarks(landmarks68: np.ndarray) -> np.ndarray:
    lm = np.asarray(landmarks68, np.float64).reshape(68, 2)
    return align.transform_points(lm, aligned_transform(lm))


def skin_region(aligned: np.ndarray, landmarks68: np.ndarray, covered: Optional[np.ndarray] = None) -> np.ndarray:
    """(S, S) bool: the face's skin in its aligned square ``aligned`` ((S, S, 3) linear, S =
    ALIGNED_SIZE): the hull with the forehead cut at the hairline, less eyes, brows, lips and
    ``covered`` ((S, S) bool, what is in front of the face). ``landmarks68`` in the image the
    square was cut from (``occlusion.aligned_face``)."""
    lm = _aligned_landmarks(landmarks68)
    size = ALIGNED_SIZE
    skin = regions.visible_skin(aligned, lm, LIFT) > 0.5
    features = np.zeros((size, size), np.uint8)
    for eye in regions.eye_polygons(lm, grow=0.35):
        cv2.fillConvexPoly(features, np.round(eye * 16).astype(np.int32), 1, lineType=cv2.LINE_8, shift=4)
    lips = cv2.convexHull(np.round(lm[48:60] * 16).astype(np.int32))
    cv2.fillConvexPoly(features, lips, 1, lineType=cv2.LINE_8, shift=4)
    thick = max(int(round(0.06 * regions.face_size(lm))), 1)
    for brow in (lm[17:22], lm[22:27]):
        cv2.polylines(features, [np.round(brow).astype(np.int32)], False, 1, thickness=thick)
    grow = max(int(round(0.02 * regions.face_size(lm))), 1)
    features = cv2.dilate(features, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    region = skin & (features == 0)
    if covered is not None:
        region &= ~np.asarray(covered, bool)
    return region


def measure(aligned: np.ndarray, landmarks68: np.ndarray, covered: Optional[np.ndarray] = None) -> Optional[Tone]:
    """The skin tone of one face in its aligned square (see ``skin_region``); None when fewer than
    64 skin pixels are seen."""
    img = np.maximum(np.nan_to_num(np.asarray(aligned, np.float32), nan=0.0, posinf=0.0, neginf=0.0), 0.0)
    region = skin_region(img, landmarks68, covered)
    if region.sum() < _MIN_PIXELS:
        return None
    eps = 1e-4
    px = img[region].astype(np.float64)
    mean = px.mean(axis=0) + eps
    luma = LUMA_709
    # the shading field: luminance low-passed inside the region, a wider blur where the region is thin
    y = (img @ luma.astype(np.float32)) * region
    w = region.astype(np.float32)
    fine_w = cv2.GaussianBlur(w, (0, 0), FIELD_SIGMA)
    wide_w = cv2.GaussianBlur(w, (0, 0), 3.0 * FIELD_SIGMA)
    fine = cv2.GaussianBlur(y, (0, 0), FIELD_SIGMA) / np.maximum(fine_w, 1e-6)
    wide = cv2.GaussianBlur(y, (0, 0), 3.0 * FIELD_SIGMA) / np.maximum(wide_w, 1e-6)
    # the spread of the skin's detail around its broad shading: the shading is the field's (relight),
    # so a hard key light on the plate does not raise the contrast of the source's pores and features
    spread = float((np.log(px @ luma + eps) - np.log(np.maximum(fine[region], 0.0) + eps)).std())
    g = grid_to_aligned()
    idx = np.arange(GRID)
    xs = np.clip(np.round(g[0, 0] * idx + g[0, 2]).astype(int), 0, ALIGNED_SIZE - 1)
    ys = np.clip(np.round(g[1, 1] * idx + g[1, 2]).astype(int), 0, ALIGNED_SIZE - 1)
    cell = np.ix_(ys, xs)
    t = np.clip(fine_w[cell] / 0.3, 0.0, 1.0)   # full trust a few sigmas into the skin, none far outside
    wide_cells = np.where(wide_w[cell] > 1e-3, wide[cell], float(mean @ luma))
    lo = t * fine[cell] + (1.0 - t) * wide_cells
    shading = np.log(np.maximum(lo, 0.0) + eps) - np.log(float(mean @ luma))
    return Tone(mean, spread, shading, _chroma_slope(img, region, fine, fine_w),
                _chroma_field(img, w, fine_w, wide_w, cell, t, mean))


def _chroma_field(img: np.ndarray, w: np.ndarray, fine_w: np.ndarray, wide_w: np.ndarray, cell: tuple,
                  trust: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """(2, GRID, GRID) broad log(R / Y) and log(B / Y) over the skin ``w`` relative to the ``mean``
    colour's, at the grid ``cell``s: low-passed as the shading field is, a wider blur where the skin
    is thin (``trust``), the mean colour itself where there is none."""
    eps = 1e-4
    luma = LUMA_709.astype(np.float32)
    fine = np.stack([cv2.GaussianBlur(img[..., c] * w, (0, 0), FIELD_SIGMA) for c in range(3)], axis=-1)
    wide = np.stack([cv2.GaussianBlur(img[..., c] * w, (0, 0), 3.0 * FIELD_SIGMA) for c in range(3)], axis=-1)
    out = np.zeros((2, GRID, GRID))
    for k, c in enumerate((0, 2)):
        def ratio(lo: np.ndarray) -> np.ndarray:
            lo = lo[cell]
            return np.log(np.maximum(lo[..., c], 0.0) + eps) - np.log(np.maximum(lo @ luma, 0.0) + eps)
        base = float(np.log(mean[c] + eps) - np.log(float(mean @ LUMA_709) + eps))
        wide_r = np.where(wide_w[cell] > 1e-3, ratio(wide), base)
        out[k] = trust * ratio(fine) + (1.0 - trust) * wide_r - base
    return out


def _chroma_slope(img: np.ndarray, region: np.ndarray, luma_lo: np.ndarray, weight_lo: np.ndarray) -> np.ndarray:
    """(2,) least-squares slopes of the broad log(R / Y) and log(B / Y) against the broad log Y over
    the skin (low-passed as the field is); 0 where the shading hardly varies. Bounded to +-1."""
    eps = 1e-4
    w = region.astype(np.float32)
    x = np.log(np.maximum(luma_lo[region], 0.0) + eps)
    x = x - x.mean()
    if float((x * x).mean()) < 1e-3:   # flat light: no shadow to learn the colour of
        return np.zeros(2)
    out = []
    for c in (0, 2):
        lo = cv2.GaussianBlur(img[..., c] * w, (0, 0), FIELD_SIGMA) / np.maximum(weight_lo, 1e-6)
        y = np.log(np.maximum(lo[region], 0.0) + eps) - np.log(np.maximum(luma_lo[region], 0.0) + eps)
        out.append(float(np.clip((x * (y - y.mean())).mean() / (x * x).mean(), -1.0, 1.0)))
    return np.array(out)


def track_tones(tones: Sequence[Optional[Tone]], frames: Sequence[int], cuts: Sequence[int],
                trusted: np.ndarray) -> list[Optional[np.ndarray]]:
    """Packed tones of one track's entries (``frames``: positions in the plate's frame list, sorted)
    smoothed over each piece between cuts and gaps: gains and spread in log space, the field as it
    is; entries not ``trusted`` (something in front of the face) or unmeasured are filled from
    their neighbours. All None when no entry was measured."""
    ok = np.array([tn is not None for tn in tones]) & np.asarray(trusted, bool)
    measured = [tn for tn in tones if tn is not None]
    if not measured:
        return [None] * len(tones)
    if not ok.any():   # covered in every frame: the partial views are all there is
        ok = np.array([tn is not None for tn in tones])
    filler = pack(measured[0])
    table = np.stack([pack(tn) if tn is not None else filler for tn in tones])
    gains = smooth_estimates(np.maximum(table[:, :4], 1e-8), frames, cuts, 0, ok, log=True)
    field = smooth_estimates(table[:, 4:], frames, cuts, 0, ok)
    out = [np.round(np.concatenate([gains[i], field[i]]), 6) for i in range(len(tones))]
    # four decimals of a log ratio (0.01 %) are all a colour needs; the chroma fields are two thirds of the numbers
    start = 6 + GRID * GRID
    for v in out:
        v[start:] = np.round(v[start:], 4)
    return out

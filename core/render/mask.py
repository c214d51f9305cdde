"""Face mattes built from SMOOTHED landmarks, so they do not flicker from frame to frame.

All functions work on a region of interest (ROI) of the plate: ``offset = (x0, y0)`` is the plate
pixel coordinate of ROI element ``[0, 0]`` and points are given in plate pixel coordinates
(INTERFACES.md "Coordinates"). Sizes (erode, feather, forehead) are in units of the face size so a
setting means the same on a 40-px background face and a full-frame close-up.

Mattes are float32 ``(h, w)`` in 0..1 and exactly 0 away from the face (finite blur kernels and a
small floor), which is what makes "bit-identical outside the matte" a meaningful promise.
"""
from __future__ import annotations

from typing import Optional, Sequence

import cv2
import numpy as np
from faceplate.core.geometry import align
from faceplate.core.geometry.ibug import BROWS, JAW, face_size
from faceplate.core.models.parser import DEFAULT_REGIONS, FaceParser, region_ids

# Values below this are set to exactly 0: they would not change a half-float pixel anyway and
# keeping them would blur the boundary between "changed" and "bit-identical".
MATTE_FLOOR = 1.0 / 1024.0


def face_outline(landmarks68: np.ndarray, forehead: float = 0.5) -> np.ndarray:
    """Closed outline (N, 2) of the face: jaw line plus the brows raised by ``forehead``.

    ``forehead`` is the lift of the brow arc as a fraction of the brow-to-chin height (iBUG-68 has
    no forehead points; without the lift the matte would cut through the brows).
    """
    lm = np.asarray(landmarks68, dtype=np.float64).reshape(68, 2)
    brows = lm[BROWS]
    up = brows.mean(axis=0) - lm[8]
    height = float(np.linalg.norm(up))
    up = up / max(height, 1e-9)
    lifted = brows + up * (forehead * height)
    # Brows run image-left to image-right (17..26); walk them backwards to close the jaw contour.
    return np.vstack([lm[JAW], lifted[::-1]])


def _fill(points: np.ndarray, shape: tuple[int, int], offset: tuple[int, int]) -> np.ndarray:
    """Anti-aliased convex fill of ``points`` (plate coords) into an (h, w) float32 ROI."""
    h, w = shape
    local = np.asarray(points, np.float64) - np.asarray(offset, np.float64)
    hull = cv2.convexHull(local.astype(np.float32)).reshape(-1, 2)
    shift = 4  # sub-pixel precision for the polygon vertices
    poly = np.round(hull * (1 << shift)).astype(np.int32)
    canvas = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(canvas, poly, 255, lineType=cv2.LINE_AA, shift=shift)
    return canvas.astype(np.float32) / 255.0


def refine(matte: np.ndarray, size: float, erode: float = 0.0, feather: float = 0.08) -> np.ndarray:
    """Erode (negative: dilate) and feather a hard matte, both in units of the face ``size``.

    ``feather`` is the width of the soft edge; it is centred half inside the edge so a feathered matte still fades to 0 close to
    the outline instead of spilling far past it.
    """
    m = np.asarray(matte, np.float32)
    feather_px = max(float(feather) * size, 0.0)
    grow = -(float(erode) * size + 0.5 * feather_px)
    # beyond the ROI's diagonal a bigger kernel changes nothing: cap it (no giant kernel to build)
    radius = int(min(round(abs(grow)), np.ceil(np.hypot(*m.shape[:2])) + 1))
    if radius > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        m = cv2.dilate(m, kernel) if grow > 0 else cv2.erode(m, kernel)
    sigma = feather_px / 4.0  # the 2 %..98 % ramp of a Gaussian edge is ~4 sigma wide = the feather
    if sigma > 0.3:
        k = 2 * int(np.ceil(2.5 * sigma)) + 1
        m = cv2.GaussianBlur(m, (k, k), sigma, sigma, borderType=cv2.BORDER_CONSTANT)
    m = np.clip(m, 0.0, 1.0)
    m[m < MATTE_FLOOR] = 0.0
    m[m > 1.0 - MATTE_FLOOR] = 1.0  # blur round-off: the face core is fully replaced
    return m.astype(np.float32)


def hull_mask(landmarks68: np.ndarray, shape: tuple[int, int], offset: tuple[int, int] = (0, 0),
              forehead: float = 0.5, erode: float = 0.0, feather: float = 0.08) -> np.ndarray:
    """Soft matte from the landmark hull with a forehead extension; (h, w) float32 0..1."""
    hard = _fill(face_outline(landmarks68, forehead), shape, offset)
    return refine(hard, face_size(landmarks68), erode, feather)


def _aligned_template(size: int = 256) -> np.ndarray:
    """Soft face oval in ArcFace-112 template space, rendered at ``size`` (float32 0..1)."""
    s = size / 112.0
    canvas = np.zeros((size, size), np.float32)
    # Oval centred between the eyes and the mouth, covering brows to chin of the template face.
    cv2.ellipse(canvas, (int(round(56.0 * s)), int(round(64.0 * s))), (int(round(41 * s)), int(round(54 * s))),
                0.0, 0.0, 360.0, 1.0, thickness=-1, lineType=cv2.LINE_AA)
    return cv2.GaussianBlur(canvas, (0, 0), 6.0 * s)


def aligned_mask(points5: np.ndarray, shape: tuple[int, int], offset: tuple[int, int] = (0, 0),
                 erode: float = 0.0, feather: float = 0.08, size: Optional[float] = None) -> np.ndarray:
    """Soft oval defined once in aligned (ArcFace template) space and warped onto the face."""

    tsize = 256
    m_img_to_t = align.arcface_transform(np.asarray(points5, np.float64) - np.asarray(offset, np.float64), 112)
    m_img_to_t = np.vstack([m_img_to_t, [0, 0, 1]])
    scale_t = np.diag([tsize / 112.0, tsize / 112.0, 1.0])
    m = (scale_t @ m_img_to_t)[:2]
    h, w = shape
    oval = cv2.warpAffine(_aligned_template(tsize), m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    face = size if size is not None else 112.0 / max(align.scale_of(m_img_to_t[:2]), 1e-9) * 0.8
    hard = (oval >= 0.5).astype(np.float32)
    return refine(hard, face, erode, feather)


def parser_mask(parser: FaceParser, image_rgb_uint8: np.ndarray, landmarks68: np.ndarray,
                regions: Sequence[str] = DEFAULT_REGIONS, offset: tuple[int, int] = (0, 0),
                erode: float = 0.0, feather: float = 0.08) -> np.ndarray:
    """Matte of the chosen parser regions, parsed on an FFHQ-style crop and warped back.

    ``image_rgb_uint8`` is the ROI (display-referred) the landmarks are relative to via ``offset``.
    """

    local = np.asarray(landmarks68, np.float64) - np.asarray(offset, np.float64)
    m = align.ffhq_transform(local, parser.size)
    crop = cv2.warpAffine(image_rgb_uint8, m, (parser.size, parser.size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    labels = parser.labels(crop)
    chosen = np.isin(labels, region_ids(regions)).astype(np.float32)
    h, w = image_rgb_uint8.shape[:2]
    back = cv2.warpAffine(chosen, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    hard = (back >= 0.5).astype(np.float32)
    return refine(hard, face_size(landmarks68), erode, feather)


def bbox(matte: np.ndarray) -> Optional[tuple[int, int, int, int]]:
    """Inclusive (xmin, ymin, xmax, ymax) of matte > 0 in array coordinates, None when empty."""
    ys = np.flatnonzero(matte.max(axis=1) > 0)
    if ys.size == 0:
        return None
    xs = np.flatnonzero(matte.max(axis=0) > 0)
    return int(xs[0]), int(ys[0]), int(xs[-1]), int(ys[-1])


def occlusion_in_image(mask_aligned: np.ndarray, aligned_to_image: np.ndarray, shape: tuple[int, int],
                       feather: Optional[float] = None) -> np.ndarray:
    """(h, w) float32 0..1 occlusion in image (or ROI) pixels, soft-edged, 0 away from the occluder.

    mask_aligned: (N, N) bool/float stored mask; aligned_to_image: (2, 3) from the N-px aligned square
    to the target pixels (e.g. ``align.invert(aligned_transform(points, N))``, shifted for an ROI);
    shape: (h, w). The occluder is covered fully: grown by one mask cell (a cell is only known to hold
    some occluder, and the detection's edge is a cell coarse) plus 1.5 ``feather`` px (``feather``
    defaults to 0.3 cells), so the soft edge, about 2 ``feather`` px wide, lies on the face side, never
    on the occluder. Multiply the face matte by (1 - it).
    """
    h, w = int(shape[0]), int(shape[1])
    m = np.asarray(mask_aligned, np.float32)
    if not m.any():
        return np.zeros((h, w), np.float32)
    cell = align.scale_of(aligned_to_image)
    sigma = float(feather) if feather is not None else max(0.3 * cell, 0.5)
    warped = cv2.warpAffine(m, np.asarray(aligned_to_image, np.float64), (w, h), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    # grow by a cell, then 1.5 sigma, so after the blur (doubled, clipped) every pixel within a cell of a
    # flagged one, corners too, reads 1
    r = int(np.ceil(cell + 1.5 * sigma))
    grown = cv2.dilate((warped >= 0.5).astype(np.float32), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    soft = np.clip(2.0 * cv2.GaussianBlur(grown, (0, 0), sigma), 0.0, 1.0)
    soft[soft < 1.0 / 1024.0] = 0.0
    return soft.astype(np.float32)

"""What a face parser says lies in front of a tracked face's skin (analyze side): glasses and hair.

A BiSeNet-style parser (``--parser``) labels each entry's FFHQ-style crop; the chosen regions
(default glasses and hair) are carried into occlusion's aligned square and stored with the occlusion
mask, so the render keeps the plate there: rims and lenses stay the actor's, a fringe over the
forehead stays in front. The classical occlusion finder cannot see them: it flags what differs from
the track's own median face, and glasses worn the whole shot are part of that median.

Per entry, the mask is in occlusion's ``STORE_SIZE`` grid (``occlusion.aligned_transform``'s square);
``steady`` takes a pixel two frames of three agree on, so a parser's one-frame misses and speckles
do not flicker the matte. Deterministic for a given parser.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import cv2
import numpy as np

from faceplate.core.analyze.occlusion import ALIGNED_SIZE, STORE_SIZE, aligned_transform, downsample_mask
from faceplate.core.geometry import align
from faceplate.core.models.parser import region_ids

PARSED_REGIONS = ("glasses", "hair")   # default --parser-regions: what is worn in front of the skin


@dataclass
class Parsing:
    """What analyze's appearance pass needs to run a parser: the FaceParser, the ColourPipeline that
    gives it sRGB, and the region names kept (``models.parser.REGIONS``)."""
    parser: Any
    colour: Any
    regions: tuple[str, ...] = PARSED_REGIONS

    def mask(self, image_linear: np.ndarray, points: np.ndarray) -> np.ndarray:
        return parsed_mask(self.parser, self.colour, image_linear, points, self.regions)


def parsed_mask(parser: Any, colour: Any, image_linear: np.ndarray, points: np.ndarray,
                regions: Sequence[str] = PARSED_REGIONS, size: int = ALIGNED_SIZE,
                store: int = STORE_SIZE) -> np.ndarray:
    """(store, store) bool: the parser's ``regions`` for the face at ``points`` ((68, 2) landmarks or
    (5, 2) ArcFace-order points in pixels of ``image_linear``, (h, w, 3) linear float), in occlusion's
    aligned square. ``parser``: a FaceParser;
    ``colour``: the ColourPipeline that turns the plate into the parser's sRGB. A cell is set when
    any parser pixel of it is, so a thin rim is never lost to the smaller grid."""
    lm = np.asarray(points, np.float64).reshape(-1, 2)
    to_crop = align.ffhq_transform(lm, parser.size)
    crop = cv2.warpAffine(np.nan_to_num(np.asarray(image_linear, np.float32), nan=0.0, posinf=0.0, neginf=0.0),
                          to_crop, (parser.size, parser.size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    chosen = np.isin(parser.labels(colour.to_uint8(crop)), region_ids(regions)).astype(np.uint8)
    if not chosen.any():
        return np.zeros((store, store), bool)
    crop_to_aligned = align.compose(aligned_transform(lm, size), align.invert(to_crop))
    # the crop is finer than the aligned square: grow each chosen pixel by one aligned pixel first
    reach = int(np.ceil(1.0 / max(align.scale_of(crop_to_aligned), 1e-6)))
    grown = cv2.dilate(chosen, np.ones((reach, reach), np.uint8))
    aligned = cv2.warpAffine(grown, crop_to_aligned, (size, size), flags=cv2.INTER_NEAREST,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return downsample_mask(aligned > 0, store)


def reframe(mask: np.ndarray, points: np.ndarray, new_points: np.ndarray, size: int = ALIGNED_SIZE) -> np.ndarray:
    """(s, s) bool: ``mask``, a stored grid in the aligned square of the face at ``points``, carried
    into the aligned square of the same face at ``new_points`` (its landmarks re-registered). Every
    cell the moved cells touch is set, so a rim is never uncovered by the move."""
    m = np.asarray(mask, bool)
    if not m.any():
        return m.copy()
    store = m.shape[0]
    factor = size / store
    # grid cell g <-> aligned pixel (g + 0.5) * factor - 0.5
    grid_to_aligned = np.array([[factor, 0.0, 0.5 * factor - 0.5], [0.0, factor, 0.5 * factor - 0.5]])
    old_to_new = align.compose(aligned_transform(new_points, size), align.invert(aligned_transform(points, size)))
    move = align.compose(align.invert(grid_to_aligned), align.compose(old_to_new, grid_to_aligned))
    grown = cv2.dilate(m.astype(np.uint8), np.ones((3, 3), np.uint8))
    return cv2.warpAffine(grown, move, (store, store), flags=cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0


def steady(masks: np.ndarray) -> np.ndarray:
    """(T, s, s) bool masks of consecutive frames of one shot segment, each pixel set where at least
    two of (previous, this, next) frame set it; the first and last frame are kept as they are."""
    m = np.asarray(masks, bool)
    if m.shape[0] < 3:
        return m.copy()
    out = m.copy()
    votes = m[:-2].astype(np.uint8) + m[1:-1] + m[2:]
    out[1:-1] = votes >= 2
    return out

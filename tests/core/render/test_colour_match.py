"""Colour matching in linear light on real faces: v2's chroma bound keeps a grey plate grey."""
from __future__ import annotations

import cv2
import numpy as np

from faceplate.core.geometry import align
from faceplate.core.render.colour_match import bound_chroma, colour_match
from tests.core.t1_faces import face_crop, face_ellipse

LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


def _warped(source_name: str, plate_points: np.ndarray, shape) -> np.ndarray:
    src, ps = face_crop(source_name)
    return cv2.warpAffine(src, align.estimate_similarity(ps, plate_points), shape[1::-1], flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT).astype(np.float32)


def _chroma_spread(x: np.ndarray, where: np.ndarray) -> float:
    """Mean per-channel std of rgb / luma inside ``where``, after a 1.5 px blur (colour, not grain)."""
    b = cv2.GaussianBlur(x, (0, 0), 1.5)
    c = b / np.maximum(b @ LUMA, 1e-4)[..., None]
    return float(c[where].std(axis=0).mean())


def test_a_colour_source_on_a_grey_plate_stays_grey():
    """A real colour face swapped onto a black-and-white real face (with faint coloured grain, as a
    scan of a monochrome print has): per-channel gains and the contrast exponent leave the source's
    colour variation (lips, warm cheeks, cool shadows); the bound takes it to the plate's."""
    plate, pp = face_crop("centre")
    grey = np.repeat((plate @ LUMA)[..., None], 3, axis=2)
    grey = grey * (1.0 + 0.01 * np.random.default_rng(3).standard_normal(grey.shape)).astype(np.float32)
    swap = _warped("front", pp, grey.shape[:2])
    skin = face_ellipse(pp, grey.shape[:2], 0.8)
    matched = colour_match(swap, grey, skin)
    assert _chroma_spread(matched, skin) > 4.0 * _chroma_spread(grey, skin)      # the case has colour to lose
    out = bound_chroma(matched, grey, skin)
    assert _chroma_spread(out, skin) <= 1.5 * _chroma_spread(grey, skin)
    # colour only: every pixel keeps its luminance
    np.testing.assert_allclose(out @ LUMA, np.maximum(matched, 0.0) @ LUMA, rtol=1e-4, atol=1e-6)


def test_bound_never_adds_colour_and_takes_the_plates_mean():
    """On a colour plate the swap's colour variation is only ever reduced, its median colour is the plate's."""
    plate, pp = face_crop("front")
    skin = face_ellipse(pp, plate.shape[:2], 0.8)
    for source in ("centre", "right"):
        swap = _warped(source, pp, plate.shape[:2])
        out = bound_chroma(swap, plate, skin)
        assert _chroma_spread(out, skin) <= _chroma_spread(swap, skin) + 1e-3

        def median_chroma(x):
            return np.median((x / np.maximum(x @ LUMA, 1e-4)[..., None])[skin], axis=0)
        assert np.abs(median_chroma(out) - median_chroma(plate)).max() < 0.05
    assert bound_chroma(plate, plate, np.zeros(skin.shape, bool)) is plate     # nothing to measure on

"""Grain measured on a real face with known synthetic grain, grain synthesis, regrain, detail matching."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy import ndimage

from faceplate.core.render import grain as g
from tests.core.t1_faces import face_crop, face_ellipse

GRAIN_STD = np.array([0.02, 0.009, 0.007])   # linear; the face is about (0.72, 0.31, 0.14)


def _neighbour_corr(field: np.ndarray) -> float:
    """Mean correlation of horizontally and vertically adjacent values of a (h, w) field."""
    h = np.corrcoef(field[:, :-1].ravel(), field[:, 1:].ravel())[0, 1]
    v = np.corrcoef(field[:-1].ravel(), field[1:].ravel())[0, 1]
    return float(0.5 * (h + v))


def _grain_field(shape, blur, seed=1, taps=None) -> np.ndarray:
    """Unit-std grain, independent per channel: white noise through scipy's Gaussian (not the
    module's filters) or through a separable ``taps`` kernel (a grain that is not Gaussian)."""
    white = np.random.default_rng(seed).standard_normal((*shape, 3))
    if taps is not None:
        f = ndimage.convolve1d(ndimage.convolve1d(white, taps, axis=0), taps, axis=1)
    elif blur > 0:
        f = np.stack([ndimage.gaussian_filter(white[..., c], blur) for c in range(3)], -1)
    else:
        f = white
    return f / f.std(axis=(0, 1))


@pytest.fixture(scope="module")
def face():
    """A soft (no grain of its own) real face, 400x400, and its face region."""
    crop, p5 = face_crop("centre")
    return cv2.GaussianBlur(crop, (0, 0), 2.5), face_ellipse(p5, crop.shape[:2])


@pytest.mark.parametrize("blur, taps", [(0.7, None), (0.0, None), (0.0, np.array([0.4, 1.0, 0.4]))],
                         ids=["gaussian-0.6", "white", "3-tap-0.6"])
def test_measures_grain_correlation_and_strength_through_face_structure(face, blur, taps):
    base, where = face
    field = _grain_field(base.shape[:2], blur, taps=taps)
    truth = np.array([_neighbour_corr(field[..., c]) for c in range(3)])
    model = g.measure_grain(base + field * GRAIN_STD, where)
    assert np.all(np.abs(model.correlation - truth) <= 0.05), (model.correlation, truth)
    assert np.all(np.abs(model.std / GRAIN_STD - 1.0) <= 0.10), model.std / GRAIN_STD
    if blur == 0.7:
        assert np.all(np.abs(truth - 0.6) < 0.03)   # the case the issue names


def test_synthesized_grain_has_the_plates_correlation_and_strength(face):
    base, where = face
    field = _grain_field(base.shape[:2], 0.7)
    plate_corr = np.array([_neighbour_corr(field[..., c]) for c in range(3)])
    model = g.measure_grain(base + field * GRAIN_STD, where)
    synth = g.synthesize_grain(model, base.shape[:2], g.grain_seed(1001, 3))
    assert synth.dtype == np.float32 and synth.shape == base.shape
    for c in range(3):
        assert abs(_neighbour_corr(synth[..., c]) - plate_corr[c]) <= 0.1
    assert np.all(np.abs(synth.std(axis=(0, 1)) / GRAIN_STD - 1.0) <= 0.10)
    # white plate grain gives white synthetic grain: the correlation is really carried over
    white = g.measure_grain(base + _grain_field(base.shape[:2], 0.0) * GRAIN_STD, where)
    synth_white = g.synthesize_grain(white, base.shape[:2], 7)
    assert abs(_neighbour_corr(synth_white[..., 1])) < 0.1


def test_grain_is_deterministic_per_frame_and_track(face):
    base, where = face
    model = g.measure_grain(base + _grain_field(base.shape[:2], 0.7) * GRAIN_STD, where)
    a = g.synthesize_grain(model, (120, 90), g.grain_seed(1001, 1))
    b = g.synthesize_grain(model, (120, 90), g.grain_seed(1001, 1))
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, g.synthesize_grain(model, (120, 90), g.grain_seed(1002, 1)))
    assert not np.array_equal(a, g.synthesize_grain(model, (120, 90), g.grain_seed(1001, 2)))


def test_regrain_brings_a_clean_swap_to_the_plates_grain(face):
    base, where = face
    plate_model = g.measure_grain(base + _grain_field(base.shape[:2], 0.7) * GRAIN_STD, where)
    swap, _ = face_crop("front")
    swap = cv2.GaussianBlur(swap, (0, 0), 2.5)          # a clean swap (no grain of its own)
    out = swap + g.regrain(swap, plate_model, where, 1001, 1)
    got = g.measure_grain(out, where)
    assert np.all(np.abs(got.std / plate_model.std - 1.0) <= 0.10)
    assert np.all(np.abs(got.correlation - plate_model.correlation) <= 0.05)
    # an already grainy swap gets less, so it does not end up grainier than the plate
    grainy = swap + _grain_field(swap.shape[:2], 0.7, seed=5) * GRAIN_STD * 0.8
    twice = g.measure_grain(grainy + g.regrain(grainy, plate_model, where, 1001, 1), where)
    assert np.all(twice.std / plate_model.std <= 1.10)


@pytest.mark.parametrize("blur", [1.0, 2.0])
def test_match_detail_softens_a_sharp_swap_to_the_plates_softness(blur):
    sharp, p5 = face_crop("centre")
    where = face_ellipse(p5, sharp.shape[:2])
    plate = cv2.GaussianBlur(sharp, (0, 0), blur)
    before = g.detail_ratio(sharp, where) / g.detail_ratio(plate, where)
    assert before > 1.15                                  # the pair really differs
    out, sigma = g.match_detail(sharp, plate, where)
    assert abs(g.detail_ratio(out, where) / g.detail_ratio(plate, where) - 1.0) <= 0.15
    assert abs(sigma - blur) < 0.25                       # the same photo: the blur is found again
    # a different person's face, and a grainy plate (grain taken out of the sharpness)
    other, _ = face_crop("front")
    grainy = plate + _grain_field(plate.shape[:2], 0.7) * GRAIN_STD
    out, _ = g.match_detail(other, grainy, where, plate_grain=g.measure_grain(grainy, where))
    assert abs(g.detail_ratio(out, where) / g.detail_ratio(plate, where) - 1.0) <= 0.15


def test_match_detail_never_sharpens():
    sharp, p5 = face_crop("centre")
    where = face_ellipse(p5, sharp.shape[:2])
    soft = cv2.GaussianBlur(sharp, (0, 0), 2.0)
    out, sigma = g.match_detail(soft, sharp, where)
    assert sigma == 0.0 and out is soft

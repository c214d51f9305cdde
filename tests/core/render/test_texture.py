"""Skin texture limited to the plate skin's, band by band, on real faces (the wheel's t1 photo)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from faceplate.core.render import texture as tx
from faceplate.core.render.grain import measure_grain
from tests.core.t1_faces import face_crop, face_ellipse

FACE_SIZE = 266.0   # px: bands up to 8 px count fully as texture (face_crop's faces are about 230 px)


def _with_texture(rgb: np.ndarray, amount: float, sigma: float = 8.0) -> np.ndarray:
    """``rgb`` with everything finer than ``sigma`` px scaled by ``amount`` (in log luminance terms)."""
    log = np.log(np.maximum(rgb, 1e-4))
    base = cv2.GaussianBlur(log, (0, 0), sigma)
    return np.exp(base + amount * (log - base)).astype(np.float32)


@pytest.fixture(scope="module")
def face():
    crop, p5 = face_crop("centre")
    return crop, face_ellipse(p5, crop.shape[:2])


def test_bands_that_count_as_texture_grow_with_the_face():
    assert tx.texture_bands(60.0) == [(0.0, 1.0), (1.0, 2.0), (2.0, 4.0)]   # the finest bands at least
    assert tx.texture_bands(230.0) == [(0.0, 1.0), (1.0, 2.0), (2.0, 4.0), (4.0, 8.0)]
    assert tx.texture_bands(600.0)[-1] == (8.0, 16.0)
    weights = np.array([tx.band_weights(s) for s in np.arange(60.0, 700.0, 1.0)])
    assert np.all(np.diff(weights, axis=0) >= 0) and np.abs(np.diff(weights, axis=0)).max() < 0.02


def test_a_face_growing_over_a_shot_brings_a_band_in_gradually(face):
    """One px more of face must not switch a band's limit on: that is a pop between two frames."""
    crop, where = face
    plate, swap = _with_texture(crop, 0.3, sigma=16.0), _with_texture(crop, 1.2, sigma=16.0)
    sizes = (132.0, 134.0, 200.0, 266.0)      # the 4-8 px band at weight 0, 0.03, 0.58, 1
    outs = [tx.limit_texture(swap, plate, where, s)[0] for s in sizes]
    step = np.abs(outs[1] - outs[0])[where].mean()
    whole = np.abs(outs[3] - outs[0])[where].mean()
    print(f"mean change: 2 px more face {step:.5f}, the band fully in {whole:.5f}")
    assert whole > 0.002 and step < 0.1 * whole
    assert np.abs(outs[2] - outs[0])[where].mean() < whole


def test_a_textured_swap_is_brought_down_to_a_smooth_plate_skin(face):
    crop, where = face
    plate = _with_texture(crop, 0.3)
    bands = tx.texture_bands(FACE_SIZE)
    want = tx.band_amplitudes(plate, where, bands)
    swap = _with_texture(crop, 1.2)                       # pores and blotches 4x the plate's
    assert np.all(tx.band_amplitudes(swap, where, bands) > 1.5 * want)
    out, gains = tx.limit_texture(swap, plate, where, FACE_SIZE)
    got = tx.band_amplitudes(out, where, bands)
    print("plate", want.round(4), "swap", tx.band_amplitudes(swap, where, bands).round(4), "out", got.round(4))
    assert np.all(gains < 0.7)
    assert np.all(np.abs(got / want - 1.0) < 0.2)
    # only the luminance's texture changes: the colour of every pixel stays
    ratio_in, ratio_out = swap[..., 0] / swap[..., 1], out[..., 0] / out[..., 1]
    assert np.allclose(ratio_in[where], ratio_out[where], rtol=1e-4)
    # nothing outside the skin it was given
    assert np.array_equal(out[~where], swap[~where])


def test_a_different_persons_texture_is_matched_and_coarser_structure_kept(face):
    crop, where = face
    plate = _with_texture(crop, 0.4, sigma=16.0)
    other, _ = face_crop("front")
    out, _ = tx.limit_texture(other, plate, where, 100.0)   # small face: bands up to 4 px only
    bands = tx.texture_bands(100.0)
    got, want = tx.band_amplitudes(out, where, bands), tx.band_amplitudes(plate, where, bands)
    before = tx.band_amplitudes(other, where, bands)
    print("plate", want.round(4), "source", before.round(4), "out", got.round(4))
    assert np.all(got[:2] <= 1.2 * want[:2])
    # the 2-4 px band also holds the source's coarser structure leaking through its filter: lowered,
    # not chased down to the plate's
    assert want[2] < got[2] < 0.95 * before[2]
    coarse = [(4.0, 8.0), (8.0, 16.0)]     # the source's facial structure, not texture
    kept, source = tx.band_amplitudes(out, where, coarse), tx.band_amplitudes(other, where, coarse)
    print("coarse bands: source", source.round(4), "out", kept.round(4), "plate",
          tx.band_amplitudes(plate, where, coarse).round(4))
    assert np.allclose(kept, source, rtol=0.15)   # only what overlaps the finer bands' filters
    assert np.all(kept > 1.2 * tx.band_amplitudes(plate, where, coarse))   # not brought to the plate's


def test_never_adds_texture(face):
    crop, where = face
    smooth = _with_texture(crop, 0.3)
    out, gains = tx.limit_texture(smooth, crop, where, FACE_SIZE)
    assert out is smooth and np.all(gains == 1.0)


def _grainy(plate: np.ndarray, where: np.ndarray, seed: int):
    """``plate`` under 1 % film grain of 0.7 px (its finest band about six times a smooth skin's), and
    the grain model measured on it."""
    rng = np.random.default_rng(seed)
    grain = cv2.GaussianBlur(rng.normal(0.0, 1.0, plate.shape[:2]).astype(np.float32), (0, 0), 0.7)
    grainy = (plate * (1.0 + 0.01 * grain / grain.std())[..., None]).astype(np.float32)
    return grainy, measure_grain(grainy, where)


def test_the_plates_grain_is_not_counted_as_skin_texture(face):
    """Grain is put back after the finish: a smooth plate skin under grain must not let the swap keep
    its pores (they would come back with the grain on top)."""
    crop, where = face
    plate = _with_texture(crop, 0.3)
    grainy, model = _grainy(plate, where, 3)
    swap = _with_texture(crop, 1.5)
    bands = tx.texture_bands(FACE_SIZE)
    want = tx.band_amplitudes(plate, where, bands)
    blind, _ = tx.limit_texture(swap, grainy, where, FACE_SIZE)
    seen, _ = tx.limit_texture(swap, grainy, where, FACE_SIZE, plate_grain=model)
    fine_blind, fine_seen = (tx.band_amplitudes(x, where, bands)[0] for x in (blind, seen))
    print(f"finest band: plate {want[0]:.4f}, grain counted as texture {fine_blind:.4f}, taken out {fine_seen:.4f}")
    assert fine_blind > 1.5 * want[0]
    assert abs(fine_seen / want[0] - 1.0) < 0.35


def test_stored_amplitudes_have_the_grain_taken_out_at_render(face):
    """Analyze stores the plate skin's amplitudes grain included; render takes out the entry's grain
    (the grain that changes from frame to frame). Given the same grain, stored or measured here is
    the same limit."""
    crop, where = face
    grainy, model = _grainy(_with_texture(crop, 0.3), where, 4)
    swap = _with_texture(crop, 1.2)
    stored = tx.plate_texture(grainy, where)
    assert np.all(stored >= tx.band_amplitudes(grainy, where, tx.ALL_BANDS, model))    # grain included
    measured, _ = tx.limit_texture(swap, grainy, where, FACE_SIZE, plate_grain=model)
    from_file, _ = tx.limit_texture(swap, grainy, where, FACE_SIZE, plate_grain=model, plate_amplitudes=stored)
    bands = tx.texture_bands(FACE_SIZE)
    assert np.allclose(tx.band_amplitudes(from_file, where, bands), tx.band_amplitudes(measured, where, bands),
                       rtol=0.05)     # render measures on a box round the skin, the file on the whole crop

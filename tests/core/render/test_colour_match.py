"""Colour matching in linear light on real faces: v2's chroma bound keeps a grey plate grey."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

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


def test_a_small_red_blemish_of_the_source_does_not_stay_red_on_a_grey_plate():
    """A mark a few pixels wide (a red spot on the source's nose) is too small for the robust spread
    that scales the swap's colour variation: on a black-and-white plate it was the one red thing on
    the face (photos bench, takeo). Its colour goes to within a few of the plate's spreads."""
    plate, pp = face_crop("centre")
    grey = np.repeat((plate @ LUMA)[..., None], 3, axis=2)
    grey = grey * (1.0 + 0.01 * np.random.default_rng(3).standard_normal(grey.shape)).astype(np.float32)
    skin = face_ellipse(pp, grey.shape[:2], 0.8)
    swap = grey.copy()
    spot = np.zeros(skin.shape, np.uint8)
    cv2.circle(spot, tuple(int(v) for v in pp[2]), 4, 1, -1)          # on the nose tip, 9 px across
    spot = spot.astype(bool)
    swap[spot] *= np.array([1.6, 0.85, 0.8], np.float32)
    out = bound_chroma(swap, grey, skin)

    def redness(x):
        b = cv2.GaussianBlur(x, (0, 0), 1.5)
        return (b[..., 0] / np.maximum(b @ LUMA, 1e-4))[spot].mean() - 1.0
    spread = _chroma_spread(grey, skin)
    print(f"spot's R/Y - 1: swap {redness(swap):.3f}, bounded {redness(out):.3f}; plate's spread {spread:.4f}")
    assert redness(swap) > 0.3
    assert redness(out) < 0.25 * redness(swap)


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


def _relit(swap, points, where, field, slope):
    from faceplate.core.analyze import occlusion as oc
    from faceplate.core.analyze.tone import Tone
    from faceplate.core.render.colour_match import relight_tone

    size = float(np.linalg.norm(points[1] - points[0])) * 2.3
    tone = Tone(np.array([0.30, 0.20, 0.13]), 0.1, field, np.asarray(slope, np.float64))
    return relight_tone(swap, where.astype(np.float32), tone, oc.aligned_transform(points), size), size


def _broad_chroma(x: np.ndarray, size: float) -> np.ndarray:
    b = cv2.GaussianBlur(x, (0, 0), 0.1 * size)
    return b / np.maximum(b @ LUMA, 1e-6)[..., None]


def test_relit_to_the_plates_tone_the_swap_is_redder_where_the_plates_shading_darkens_it():
    """The plate's skin is redder and less blue where it is darker (chroma slopes -0.4, +0.6) and its
    shading field darkens the image-right half. A swap of even skin, relit to that stored tone,
    takes the darkening and, with it, the plate's shadow colour (shaded by luminance alone it read
    grey in the plate's shadows)."""
    from faceplate.core.analyze.tone import GRID

    _, points = face_crop("centre")
    shape = (256, 256)
    where = face_ellipse(points, shape)
    swap = np.broadcast_to(np.array([0.30, 0.20, 0.13], np.float32), shape + (3,)).copy()
    field = np.zeros((GRID, GRID))
    field[:, GRID // 2:] = -0.7
    out, size = _relit(swap, points, where, field, (-0.4, 0.6))
    grey, _ = _relit(swap, points, where, field, (0.0, 0.0))
    xx = np.mgrid[:shape[0], :shape[1]][1]
    mid = float(points[:, 0].mean())
    left, right = where & (xx < mid - 0.15 * size), where & (xx > mid + 0.15 * size)
    dy = np.log(float((out[right] @ LUMA).mean()) / float((out[left] @ LUMA).mean()))
    chroma = _broad_chroma(out, size)
    dr = np.log(float(chroma[right][:, 0].mean()) / float(chroma[left][:, 0].mean()))
    db = np.log(float(chroma[right][:, 2].mean()) / float(chroma[left][:, 2].mean()))
    print(f"right/left log luminance {dy:.2f}; log R/Y {dr:.3f}, log B/Y {db:.3f}")
    assert dy < -0.3                                          # the field's shading arrived
    # near the plate's slopes (-0.4, +0.6; the broad low-pass blurs the step between the halves)
    assert -0.5 < dr / dy < -0.2 and 0.3 < db / dy < 0.75
    assert np.allclose(grey @ LUMA, out @ LUMA, rtol=1e-3)   # the colour moved, not the luminance
    flat = _broad_chroma(grey, size)
    assert abs(np.log(flat[right][:, 0].mean() / flat[left][:, 0].mean())) < 0.02   # no slope: even colour


def test_relit_to_the_plates_tone_a_colour_patch_of_the_sources_own_light_goes():
    """A warm patch of the source's own light on one cheek (a stage key on the forehead, a coloured
    bounce): relit to the plate's tone, the patch's broad colour is the skin's around it."""
    from faceplate.core.analyze.tone import GRID

    _, points = face_crop("centre")
    shape = (256, 256)
    where = face_ellipse(points, shape)
    size = float(np.linalg.norm(points[1] - points[0])) * 2.3
    yy, xx = np.mgrid[:shape[0], :shape[1]].astype(np.float32)
    cheek = points[3] + 0.25 * (points[0] - points[4])
    patch = np.exp(-((xx - cheek[0]) ** 2 + (yy - cheek[1]) ** 2) / (2 * (0.15 * size) ** 2))
    swap = np.array([0.30, 0.20, 0.13], np.float32) * (1.0 + patch[..., None] * np.array([0.5, 0.0, -0.3],
                                                                                             np.float32))
    out, _ = _relit(swap.astype(np.float32), points, where, np.zeros((GRID, GRID)), (0.0, 0.0))
    core, around = where & (patch > 0.7), where & (patch > 0.05) & (patch < 0.2)
    red_share = lambda x, m: float((x[m][:, 0] / x[m].sum(axis=1)).mean())     # noqa: E731
    before = red_share(_broad_chroma(swap, size), core) - red_share(_broad_chroma(swap, size), around)
    after = red_share(_broad_chroma(out, size), core) - red_share(_broad_chroma(out, size), around)
    print(f"the patch's extra red share {before:.3f} -> {after:.3f}")
    assert after < 0.4 * before


def test_relit_to_the_plates_tone_the_swap_takes_the_plates_colour_where_it_lies():
    """The plate's skin is redder on the image-right half at the same luminance (a cheek's flush, a
    warm bounce): with the tone's chroma field the swap of even skin is redder there too, its
    luminance unchanged; the slopes alone (an older track file) could not place it."""
    from faceplate.core.analyze import occlusion as oc
    from faceplate.core.analyze.tone import GRID, Tone
    from faceplate.core.render.colour_match import relight_tone

    _, points = face_crop("centre")
    shape = (256, 256)
    where = face_ellipse(points, shape)
    size = float(np.linalg.norm(points[1] - points[0])) * 2.3
    swap = np.broadcast_to(np.array([0.30, 0.20, 0.13], np.float32), shape + (3,)).copy()
    chroma = np.zeros((2, GRID, GRID))
    chroma[0, :, GRID // 2:], chroma[1, :, GRID // 2:] = 0.2, -0.2      # right half: redder, less blue

    def relit(field):
        tone = Tone(np.array([0.30, 0.20, 0.13]), 0.1, np.zeros((GRID, GRID)), np.zeros(2), field)
        return relight_tone(swap, where.astype(np.float32), tone, oc.aligned_transform(points), size)

    out, older = relit(chroma), relit(None)
    xx = np.mgrid[:shape[0], :shape[1]][1]
    mid = float(points[:, 0].mean())
    left, right = where & (xx < mid - 0.15 * size), where & (xx > mid + 0.15 * size)
    ratio = lambda x, c: np.log(float(_broad_chroma(x, size)[right][:, c].mean())  # noqa: E731
                                / float(_broad_chroma(x, size)[left][:, c].mean()))
    print(f"right/left log R/Y {ratio(out, 0):.3f}, log B/Y {ratio(out, 2):.3f}")
    assert 0.1 < ratio(out, 0) < 0.25 and -0.25 < ratio(out, 2) < -0.1
    assert abs(ratio(older, 0)) < 0.02
    assert np.allclose(out @ LUMA, older @ LUMA, rtol=1e-3)   # the colour moved, not the luminance


def _fine_slopes(x: np.ndarray, where: np.ndarray, sigma: float) -> np.ndarray:
    """Least-squares slopes of each pixel's log(R / Y) and log(B / Y) less its surroundings' against
    its log Y less its surroundings' (low-passed at ``sigma`` inside ``where``)."""
    w = cv2.GaussianBlur(where.astype(np.float32), (0, 0), sigma) + 1e-6
    lo = np.stack([cv2.GaussianBlur(x[..., c] * where, (0, 0), sigma) for c in range(3)], axis=-1) / w[..., None]
    y, lo_y = np.maximum(x @ LUMA, 1e-5), np.maximum(lo @ LUMA, 1e-5)
    a = (np.log(y) - np.log(lo_y))[where]
    a = a - a.mean()
    out = []
    for c in (0, 2):
        b = (np.log(np.maximum(x[..., c], 1e-5) / y) - np.log(np.maximum(lo[..., c], 1e-5) / lo_y))[where]
        out.append(float(a @ (b - b.mean()) / (a @ a)))
    return np.array(out)


def test_coupled_the_swaps_fine_colour_follows_its_fine_shading_as_the_plates_skin_does():
    """Real skin is redder where it is darker, detail by detail. A swap whose fine colour does not
    follow its shading (its darker patches read grey on a warm plate) gets the plate's coupling,
    luminance untouched; a swap that already has it is left as it is."""
    from faceplate.core.render.colour_match import couple_chroma

    plate, pp = face_crop("front")
    skin = face_ellipse(pp, plate.shape[:2], 0.8)
    sigma = 0.12 * 2.3 * float(np.linalg.norm(pp[1] - pp[0]))
    want = _fine_slopes(plate, skin, sigma)
    assert want[0] < -0.1 and want[1] > 0.1          # the real plate skin's coupling: darker is redder
    swap = _warped("centre", pp, plate.shape[:2])
    # the swap's colour made broad only: its fine shading stays, its fine colour does not follow it
    broad = np.stack([cv2.GaussianBlur(swap[..., c], (0, 0), sigma) for c in range(3)], axis=-1)
    grey_detail = broad / np.maximum(broad @ LUMA, 1e-6)[..., None] * (swap @ LUMA)[..., None]
    before = _fine_slopes(grey_detail, skin, sigma)
    assert np.all(np.abs(before) < 0.08)
    out = couple_chroma(grey_detail, plate, skin, sigma)
    # the plate's slopes, the change bounded to 0.6 (this plate's blue coupling is 1.08: a hard bluish key)
    np.testing.assert_allclose(_fine_slopes(out, skin, sigma), before + np.clip(want - before, -0.6, 0.6), atol=0.08)
    np.testing.assert_allclose(out @ LUMA, grey_detail @ LUMA, rtol=1e-4, atol=1e-6)
    same = couple_chroma(plate, plate, skin, sigma)
    np.testing.assert_allclose(same, plate, rtol=1e-4, atol=1e-6)
    assert couple_chroma(swap, plate, np.zeros(skin.shape, bool), sigma) is swap   # nothing to measure on


def test_matched_to_the_plates_tone_the_sources_detail_is_lowered_never_raised():
    """The plate's spread is its own face's detail; raising the source's mild detail to that amount
    blotched it. A flatter plate still flattens the source; the mean colour is the plate's either way."""
    from faceplate.core.analyze.tone import Tone
    from faceplate.core.render.colour_match import match_tone

    swap, pp = face_crop("centre")
    skin = face_ellipse(pp, swap.shape[:2], 0.8)
    field = np.zeros((8, 8))
    source = Tone(swap[skin].mean(axis=0).astype(np.float64), 0.2, field)

    def spread(x):   # of one channel: a gain per channel leaves it, the contrast exponent scales it
        return float(np.log(x[skin][:, 1] + 1e-12).std())

    for plate_spread, widest in ((0.4, 1.0), (0.1, 0.5)):
        plate = Tone(np.array([0.30, 0.20, 0.13]), plate_spread, field)
        out = match_tone(swap, source, plate)
        assert spread(out) <= widest * spread(swap) * 1.001, plate_spread
        np.testing.assert_allclose(out[skin].mean(axis=0), plate.mean, rtol=0.2)

"""Occlusion found in aligned space over a shot, stored compactly, mapped back onto image pixels."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from faceplate.core.geometry import align
from faceplate.core.errors import TrackFileError
from faceplate.core.analyze import occlusion as oc
from faceplate.core.io.track_file import decode_mask, encode_mask
from faceplate.core.render.mask import occlusion_in_image
from tests.core.occluded_shot import OCCLUDED, SIZE, make_shot


def _image_masks(shot):
    """Per frame: (flagged occlusion in image pixels via the stored 64x64 string, true face region)."""
    crops = np.stack([oc.aligned_face(f, p) for f, p in zip(shot.frames, shot.points)])
    masks = oc.detect_occlusion(crops)
    out = []
    for m, p, tp in zip(masks, shot.points, shot.true_points):
        code = encode_mask(oc.downsample_mask(m))
        assert code.isascii() and len(code) < 200
        soft = occlusion_in_image(decode_mask(code), align.invert(oc.aligned_transform(p, oc.STORE_SIZE)),
                                     (SIZE, SIZE))
        face = cv2.warpAffine(oc.face_region().astype(np.float32), align.invert(oc.aligned_transform(tp)),
                              (SIZE, SIZE)) > 0.5
        out.append((soft > 0.5, face))
    return out


@pytest.mark.parametrize("face, kind, eye_px", [("centre", "cup", 110.0), ("front", "skin", 110.0),
                                                ("right", "cup", 40.0), ("centre", "skin", 200.0), ("back", "skin", 110.0)])
def test_occluder_crossing_the_mouth_is_found_and_clean_frames_stay_clean(face, kind, eye_px):
    shot = make_shot(face, kind, eye_px=eye_px)
    found = total = 0
    for t, (flagged, region) in enumerate(_image_masks(shot)):
        if t in OCCLUDED:
            truth = shot.occluder[t] & region
            found += int((flagged & truth).sum())
            total += int(truth.sum())
            # nothing much flagged away from the object; its edge is grown on purpose, by about two
            # aligned pixels (0.1 eye distances), so a tracking error cannot uncover it
            r = int(round(0.15 * eye_px))
            near = cv2.dilate(shot.occluder[t].astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0
            assert (flagged & region & ~near).sum() <= 0.05 * region.sum()
        else:
            assert (flagged & region).sum() <= 0.05 * region.sum(), t
    assert total > 0 and found >= 0.9 * total, found / total


@pytest.mark.parametrize("scale", [2.2, 3.0])
def test_an_object_over_much_of_the_face_does_not_flag_all_of_it(scale):
    """A bright card over nearly half the face (scale 2.2) pulls a plain median gain toward it, and
    then the whole face reads as changed: the frames much of whose face is covered get a robust gain.
    Over 59 % of it (3.0) the card is the main cluster of the frame's residuals: the face's gain is
    the cluster found from the gain the clear frames around it expect (34 % of the face was flagged
    beside the card before)."""
    shot = make_shot("centre", "card", object_scale=scale)
    worst = 0.0
    for t, (flagged, region) in enumerate(_image_masks(shot)):
        if t in OCCLUDED:
            truth = shot.occluder[t] & region
            assert (flagged & truth).sum() >= 0.9 * truth.sum()
            near = cv2.dilate(shot.occluder[t].astype(np.uint8), np.ones((35, 35), np.uint8)) > 0
            worst = max(worst, (flagged & region & ~near).sum() / region.sum())
    assert worst <= 0.05, worst


def test_detection_is_deterministic_and_needs_three_frames():
    shot = make_shot("centre", "cup")
    crops = np.stack([oc.aligned_face(f, p) for f, p in zip(shot.frames, shot.points)])
    a = oc.detect_occlusion(crops)
    assert a.tobytes() == oc.detect_occlusion(crops.copy()).tobytes()
    assert not oc.detect_occlusion(crops[:2]).any()
    assert oc.track_occlusion(shot.frames[:6], shot.points[:6]) == oc.track_occlusion(shot.frames[:6], shot.points[:6])


def test_mask_strings_round_trip_exactly():
    rng = np.random.default_rng(3)
    for mask in (np.zeros((64, 64), bool), np.ones((64, 64), bool), rng.random((64, 64)) > 0.5,
                 rng.random((32, 32)) > 0.9, rng.random((128, 128)) > 0.97):
        text = encode_mask(mask)
        assert text.isascii() and "\n" not in text
        back = decode_mask(text)
        assert back.dtype == bool and np.array_equal(back, mask)
    assert len(encode_mask(np.zeros((64, 64), bool))) < 24
    for bad in ("", "64", "64:!!!", "x:AAAA", "64:" + encode_mask(np.zeros((8, 8), bool)).split(":")[1]):
        with pytest.raises(TrackFileError):
            decode_mask(bad)


def test_downsampled_mask_never_uncovers_an_occluded_pixel():
    rng = np.random.default_rng(4)
    mask = rng.random((128, 128)) > 0.995
    small = oc.downsample_mask(mask, 64)
    up = np.repeat(np.repeat(small, 2, axis=0), 2, axis=1)
    assert np.all(up[mask])


def test_occlusion_in_image_is_soft_and_covers_the_mask():
    mask = np.zeros((64, 64), bool)
    mask[20:40, 24:44] = True
    points = np.array([[180.0, 170.0], [240.0, 171.0], [210.0, 205.0], [186.0, 236.0], [236.0, 237.0]])
    to_image = align.invert(oc.aligned_transform(points, 64))
    soft = occlusion_in_image(mask, to_image, (400, 400))
    assert soft.dtype == np.float32 and soft.shape == (400, 400)
    inside = align.transform_points(np.argwhere(mask)[:, ::-1].astype(np.float64), to_image).round().astype(int)
    assert np.all(soft[inside[:, 1], inside[:, 0]] >= 0.99)
    assert 0 < ((soft > 0) & (soft < 1)).sum() < 0.5 * (soft >= 1).sum()   # a soft edge, not a blur
    assert soft[:50].max() == 0.0 and not occlusion_in_image(np.zeros((64, 64)), to_image, (400, 400)).any()


def test_an_object_at_the_jaw_outside_the_inner_oval_is_found_when_the_matte_hull_is_given():
    """The region looked at is each frame's matte hull, not the inner face oval: an object over the jaw
    corner (outside ``face_region``, inside the hull) is flagged; clean frames stay clean."""
    shot = make_shot("centre", "skin", eye_px=110.0)
    crops = np.stack([oc.aligned_face(f, p) for f, p in zip(shot.frames, shot.points)])
    size = crops.shape[1]
    oval = oc.face_region(size)
    hull = cv2.dilate(oval.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (17, 17))) > 0
    hulls = np.repeat(hull[None], len(crops), axis=0)
    ys, xs = np.mgrid[0:size, 0:size]
    patch = hull & ~oval & (ys > 0.7 * size) & (xs < 0.5 * size)     # the jaw corner, outside the oval
    assert patch.sum() > 40
    crops[8:14, patch] = np.array([0.05, 0.12, 0.4], np.float32)    # a blue object in six occluded frames
    found = oc.detect_occlusion(crops, hulls=hulls, reach=3.0)
    assert found[8:14][:, patch].mean() >= 0.95
    assert not oc.detect_occlusion(crops)[8:14][:, patch].any()      # the old oval never looked there
    for t in [t for t in range(len(crops)) if t not in OCCLUDED]:   # the shot's own object: 8..15
        assert (found[t] & hull).sum() <= 0.02 * hull.sum(), t


def test_occlusion_in_image_covers_a_cell_around_the_mask_before_the_soft_edge():
    """The soft edge lies on the face side: every image pixel within one mask cell of a flagged cell is 1."""
    mask = np.zeros((64, 64), bool)
    mask[30:34, 30:34] = True
    points = np.array([[180.0, 170.0], [240.0, 171.0], [210.0, 205.0], [186.0, 236.0], [236.0, 237.0]])
    to_image = align.invert(oc.aligned_transform(points, 64))
    cell = align.scale_of(to_image)
    soft = occlusion_in_image(mask, to_image, (400, 400))
    grown = np.zeros((64 * 8, 64 * 8), bool)
    grown[(30 - 1) * 8:(34 + 1) * 8, (30 - 1) * 8:(34 + 1) * 8] = True   # a cell all round, at 1/8 cell
    sub = (np.argwhere(grown)[:, ::-1] + 0.5) / 8.0 - 0.5
    pix = align.transform_points(sub, to_image)
    inside = pix[(np.abs(pix - pix.mean(0)) < 0.5 * (4 + 2) * cell - 1.0).all(axis=1)].round().astype(int)
    assert cell > 2 and np.all(soft[inside[:, 1], inside[:, 0]] >= 0.99)


def test_a_long_piece_is_judged_against_a_bounded_sample_and_still_finds_the_object():
    """A piece longer than the median sample (96 frames: the occluded shot, then the same motion clear,
    back and forth) is judged frame by frame against a median of evenly spread frames: the object is
    found as in the short shot, the clear frames stay clean, and half-float crops give the same masks."""
    shot, clear = make_shot("centre", "cup"), make_shot("centre", "none")
    crops = np.stack([oc.aligned_face(f, p) for f, p in zip(shot.frames, shot.points)])
    still = np.stack([oc.aligned_face(f, p) for f, p in zip(clear.frames, clear.points)])
    long = np.concatenate([crops, still[::-1], still, still[::-1]])
    assert len(long) > oc.MEDIAN_FRAMES
    masks = oc.detect_occlusion(long)
    region = oc.face_region()
    for t in range(len(long)):
        if t in OCCLUDED:
            truth = oc.aligned_face(shot.occluder[t].astype(np.float32), shot.points[t])[..., 0] > 0.5
            assert (masks[t] & truth & region).sum() >= 0.8 * (truth & region).sum(), t
        else:
            assert (masks[t] & region).sum() <= 0.05 * region.sum(), t
    assert np.array_equal(oc.detect_occlusion(long.astype(np.float16)), oc.detect_occlusion(
        long.astype(np.float16).astype(np.float32)))

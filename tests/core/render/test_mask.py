"""Mattes from smoothed landmarks: hull with forehead, aligned oval, parser regions, erode/feather."""
from __future__ import annotations

import numpy as np
import pytest

from faceplate.core.geometry import align
from faceplate.core.render.mask import MATTE_FLOOR, aligned_mask, hull_mask, parser_mask
from faceplate.core.models.parser import FaceParser, region_ids
from faceplate.core.geometry.ibug import face_size
from tests.fakes.parser import skin_where_red


@pytest.fixture(scope="module")
def takeo(package_faces):
    from tests.package_faces import reference_points
    return reference_points(package_faces)


def _scaled(lm, s, offset=(0.0, 0.0)):
    return lm * s + np.asarray(offset)


def test_hull_covers_face_and_forehead_and_is_zero_far_away(takeo):
    lm = _scaled(takeo, 2.0, (40, 60))
    m = hull_mask(lm, (500, 400), forehead=0.3, feather=0.08)
    assert m.dtype == np.float32 and m.shape == (500, 400)
    nose = np.round(lm[30]).astype(int)
    assert m[nose[1], nose[0]] == 1.0
    brow_mid = lm[17:27].mean(axis=0)
    up = brow_mid - lm[8]
    forehead = np.round(brow_mid + 0.15 * up).astype(int)   # above the brows, inside the lift
    assert m[forehead[1], forehead[0]] > 0.9
    no_lift = hull_mask(lm, (500, 400), forehead=0.0, feather=0.08)
    assert no_lift[forehead[1], forehead[0]] < 0.1
    assert m[0, 0] == 0.0 and m[-1, -1] == 0.0
    assert np.all((m == 0) | (m >= MATTE_FLOOR))      # no invisible tails


def test_erode_and_feather_scale_with_face_size(takeo):
    ramps = []
    for s in (1.0, 3.0):
        lm = _scaled(takeo, s)
        shape = (int(260 * s), int(200 * s))
        hard = hull_mask(lm, shape, feather=0.0)
        eroded = hull_mask(lm, shape, erode=0.05, feather=0.0)
        grown = hull_mask(lm, shape, erode=-0.05, feather=0.0)
        area = hard.sum()
        # The same setting removes the same fraction of the face at any size.
        assert 0.75 < eroded.sum() / area < 0.9
        assert 1.1 < grown.sum() / area < 1.25
        soft = hull_mask(lm, shape, feather=0.15)
        ramps.append(((soft > 0.02) & (soft < 0.98)).sum() / area)
    # The feather ramp covers the same fraction of the face at both sizes: width ∝ face size.
    assert 0.1 < ramps[0] < 0.6 and abs(ramps[1] / ramps[0] - 1) < 0.2, ramps


def test_offset_places_the_matte_in_plate_coordinates(takeo):
    lm = _scaled(takeo, 1.0, (500, 300))
    roi = hull_mask(lm, (260, 200), offset=(480, 280))
    full = hull_mask(lm, (600, 720))
    assert np.array_equal(roi, full[280:540, 480:680])


def test_aligned_mask_follows_the_face(takeo):
    lm = _scaled(takeo, 2.0, (40, 60))
    p5 = align.points5_from_landmarks68(lm)
    m = aligned_mask(p5, (500, 400), feather=0.05, size=face_size(lm))
    nose = np.round(lm[30]).astype(int)
    assert m[nose[1], nose[0]] == 1.0 and m[0, 0] == 0.0
    ys, xs = np.nonzero(m > 0.5)
    # The oval spans roughly the jaw width, centred on the face.
    assert abs(xs.mean() - lm[:, 0].mean()) < 0.1 * face_size(lm)
    assert 0.6 < (xs.max() - xs.min()) / np.linalg.norm(lm[16] - lm[0]) < 1.4


def test_parser_regions(takeo, tmp_path):
    import onnxruntime as ort
    path = tmp_path / "bisenet.onnx"
    skin_where_red(path)
    parser = FaceParser(ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]))
    lm = _scaled(takeo, 2.0, (40, 60))
    img = np.zeros((500, 400, 3), np.uint8)
    img[..., 1] = 120
    img[:, :int(lm[30, 0])] = (200, 80, 80)     # image-left half reads as skin
    m = parser_mask(parser, img, lm, regions=("skin",), feather=0.0)
    y = int(lm[30, 1])
    assert m[y, int(lm[30, 0]) - 20] == 1.0 and m[y, int(lm[30, 0]) + 20] == 0.0
    assert parser_mask(parser, img, lm, regions=("hair",), feather=0.0).max() == 0.0
    with pytest.raises(ValueError, match="unknown face region"):
        region_ids(["beard"])

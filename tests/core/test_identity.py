"""Identity: same person scores above the recognizer's threshold, different people below."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from faceplate.core.analyze.pyramid import detect_faces
from faceplate.core import identity
from faceplate.core.models.zoo import load_detector, load_recognizer
from faceplate.core.models.locate import MODEL_PATH_ENV

SAME = ["obama", "obama2", "obama3", "obama-480p"]


@pytest.fixture(scope="module")
def faces(asset):
    det = load_detector()
    out = {}
    for name in SAME + ["biden", "two_people"]:
        img = cv2.cvtColor(cv2.imread(str(asset(f"media/face_recognition/{name}.jpg"))), cv2.COLOR_BGR2RGB)
        dets = detect_faces(det, img)
        # two_people: Obama left, Biden right; elsewhere the largest face is the subject
        dets = sorted(dets, key=lambda d: d.box[0]) if name == "two_people" else [max(dets, key=lambda d: d.width)]
        out[name] = (img, dets)
    return out


@pytest.mark.parametrize("name", ["dlib-128", "mobilefacenet"])
def test_same_vs_different_person(name, faces, monkeypatch, assets):
    monkeypatch.setenv(MODEL_PATH_ENV, str(assets / "models"))
    rec = load_recognizer(name)
    emb = {k: np.stack([rec.embed(img, d.points5) for d in dets]) for k, (img, dets) in faces.items()}
    for e in emb.values():
        assert e.shape[1] == rec.dim == 128
        np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    obama = np.concatenate([emb[k][:1] for k in SAME])
    same = identity.cosine_matrix(obama, obama)[np.triu_indices(len(SAME), 1)]
    # two_people.jpg: Obama is on the left, Biden on the right
    diff = identity.cosine_matrix(obama, np.concatenate([emb["biden"][:1], emb["two_people"][1:2]])).ravel()
    t = identity.threshold_for(rec)
    assert same.min() > t > diff.max(), (same.min(), t, diff.max())
    assert identity.cosine(emb["two_people"][0], emb["obama"][0]) >= t
    assert identity.cosine(emb["two_people"][1], emb["obama"][0]) < t


def test_cosine_helpers():
    a = np.array([3.0, 4.0])
    assert identity.cosine(a, 2 * a) == pytest.approx(1.0)
    assert identity.cosine(a, [-4.0, 3.0]) == pytest.approx(0.0)
    m = identity.cosine_matrix(np.eye(3), np.eye(3)[:2])
    np.testing.assert_allclose(m, np.eye(3)[:, :2])
    mean = identity.mean_embedding([[1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(mean, [2 ** -0.5, 2 ** -0.5], rtol=1e-6)
    assert identity.cosine(a, np.zeros(2)) is None and identity.cosine(None, a) is None

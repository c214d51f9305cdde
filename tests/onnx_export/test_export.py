"""`faceplate export`: contract metadata, ONNX checker, parity with torch, fp16, and the exports
working in the core (recognizer loading, swapper rendering an EXR plate)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from faceplate.core.cli.__init__ import main
from faceplate.core.errors import FaceplateError, ModelError
from faceplate.onnx_export.export import export_checkpoint
from faceplate.training.config import config_from_dict
from tests.training.facecrops import TINY_IDENTITY, TINY_SWAPPER, face_dataset, mobilefacenet  # noqa: F401

pytestmark = pytest.mark.assets


@pytest.fixture(scope="module")
def checkpoints(face_dataset, mobilefacenet, tmp_path_factory):
    from faceplate.training.identity_train import train_identity
    from faceplate.training.swapper_train import train_swapper

    root = tmp_path_factory.mktemp("ckpts")
    ident = train_identity(config_from_dict("identity", {**TINY_IDENTITY, "steps": 2, "input_size": 112,
                                                         "dataset": str(face_dataset), "out_dir": str(root / "id")}),
                           progress=False)
    swap = train_swapper(config_from_dict("swapper", {**TINY_SWAPPER, "steps": 2, "input_size": 112,
                                                      "dataset": str(face_dataset), "out_dir": str(root / "sw"),
                                                      "recognizer": str(mobilefacenet)}), progress=False)
    return Path(ident.checkpoint), Path(swap.checkpoint)


def _meta(path: Path) -> dict:
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def test_identity_export_contract_checker_and_parity(checkpoints, tmp_path):
    from faceplate.core.models.contract import contract_from_onnx
    from faceplate.core.models.locate import resolve

    out = tmp_path / "rec.onnx"
    report = export_checkpoint(checkpoints[0], out)
    assert report.max_abs_diff <= 1e-4
    onnx.checker.check_model(onnx.load(str(out)), full_check=True)
    contract = contract_from_onnx(str(out))
    assert (contract.role, contract.family, contract.input_size, contract.alignment, contract.embedding_dim) == \
        ("recognizer", "faceplate", (112, 112), "arcface112", 32)
    entry, _ = resolve(str(out), "recognizer")          # the core identifies it from the metadata alone
    assert entry.contract == contract
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    emb = session.run(None, {"input": np.random.rand(1, 3, 112, 112).astype(np.float32)})[0]
    assert emb.shape == (1, 32) and abs(float(np.linalg.norm(emb)) - 1) < 1e-5
    assert json.loads(_meta(out)["faceplate.checkpoint"])["kind"] == "identity"


def test_exported_recognizer_embeds_through_the_core(checkpoints, tmp_path, asset):
    import cv2

    from faceplate.core.models.zoo import load_recognizer
    from tests.training.facecrops import _detector, detect

    out = tmp_path / "rec.onnx"
    export_checkpoint(checkpoints[0], out)
    rec = load_recognizer(str(out))
    rgb = cv2.cvtColor(cv2.imread(str(asset("media/face_recognition/obama.jpg"))), cv2.COLOR_BGR2RGB)
    points = detect(_detector(asset("MANIFEST.md").parent), rgb)[0][1]
    e = rec.embed(rgb, points)
    assert e.shape == (32,) and abs(float(np.linalg.norm(e)) - 1) < 1e-5


def test_swapper_export_dynamic_batch_fp16_and_recognizer_metadata(checkpoints, mobilefacenet, tmp_path):
    from faceplate.core.filesystem import sha256_file
    from faceplate.core.models.contract import contract_from_onnx

    out = tmp_path / "swap.onnx"
    report = export_checkpoint(checkpoints[1], out, dynamic_batch=True, opset=17)
    assert report.max_abs_diff <= 1e-4
    c = contract_from_onnx(str(out))
    assert (c.role, c.family, c.latent, c.inputs, c.output_range, c.embedding_dim) == \
        ("swapper", "faceplate", "embedding", {"target": "target", "source": "source"}, (0.0, 1.0), 128)
    rec = json.loads(_meta(out)["faceplate.recognizer"])
    assert rec == {"name": "MobileFaceNet", "sha256": sha256_file(mobilefacenet), "family": "mobilefacenet",
                   "embedding_dim": 128}
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    y = session.run(None, {"target": np.random.rand(3, 3, 112, 112).astype(np.float32),
                           "source": np.random.rand(3, 128).astype(np.float32)})[0]
    assert y.shape == (3, 3, 112, 112) and 0 <= y.min() and y.max() <= 1
    half = tmp_path / "swap16.onnx"
    report16 = export_checkpoint(checkpoints[1], half, fp16=True)
    assert report16.max_abs_diff <= 2e-2
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in onnx.load(str(half)).graph.initializer)
    assert half.stat().st_size < 0.7 * out.stat().st_size


def test_failed_parity_or_bad_arguments_write_nothing(checkpoints, tmp_path, capsys):
    out = tmp_path / "rec.onnx"
    out.write_bytes(b"previous good file")
    with pytest.raises(ModelError, match="parity check failed"):
        export_checkpoint(checkpoints[0], out, tolerance=-1.0)
    assert out.read_bytes() == b"previous good file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.onnx"]     # no temp file left behind
    assert main(["export", str(checkpoints[0]), "-o", str(tmp_path / "x.pth")]) == 2
    assert main(["export", str(tmp_path / "missing.safetensors"), "-o", str(tmp_path / "y.onnx")]) == 2
    err = capsys.readouterr().err
    assert "must end in .onnx" in err and "checkpoint not found" in err


def test_export_cli_prints_parity(checkpoints, tmp_path, capsys):
    out = tmp_path / "cli.onnx"
    assert main(["export", str(checkpoints[0]), "-o", str(out), "--opset", "17"]) == 0
    assert "parity max abs diff" in capsys.readouterr().out and out.is_file()


def test_exported_swapper_renders_an_exr_plate_through_the_core(checkpoints, mobilefacenet, tmp_path):
    """End to end: sample plate → analyze → render with our exported swapper and its recognizer."""
    import OpenImageIO as oiio

    model = tmp_path / "swap.onnx"
    export_checkpoint(checkpoints[1], model)
    sample = tmp_path / "sample"
    assert main(["sample", str(sample), "--count", "2"]) == 0
    plate = str(sample / "plate.####.exr")
    track = tmp_path / "shot.track.json"
    assert main(["analyze", plate, "--frames", "1001-1002", "-o", str(track)]) == 0
    out = tmp_path / "out" / "swap.####.exr"
    code = main(["render", plate, "--track", str(track), "--source", str(sample / "source.png"),
                 "--model", str(model), "--recognizer", str(mobilefacenet), "--frames", "1001-1002",
                 "--out", str(out), "--no-regrain"])
    assert code == 0
    frame = tmp_path / "out" / "swap.1001.exr"
    spec = oiio.ImageInput.open(str(frame)).spec()
    assert "faceplate.matte" in list(spec.channelnames)
    assert spec.get_string_attribute("faceplate/model_sha256") != ""
    src = oiio.ImageBuf(str(sample / "plate.1001.exr")).get_pixels(oiio.FLOAT)
    got = oiio.ImageBuf(str(frame)).get_pixels(oiio.FLOAT)
    changed = np.abs(got[..., :3] - src[..., :3]).max(axis=2) > 0
    assert changed.any()                                    # the swapper changed the faces


def test_exports_round_trip_through_the_onnx_importer_and_train_a_swapper(checkpoints, face_dataset, tmp_path):
    """The documented path: export the identity model, then use that .onnx as the swapper's frozen recognizer."""
    import torch

    from faceplate.training.onnx_import import load_onnx_module
    from faceplate.training.swapper_train import train_swapper

    rec = tmp_path / "rec.onnx"
    export_checkpoint(checkpoints[0], rec, dynamic_batch=True)
    swap = tmp_path / "swap.onnx"
    export_checkpoint(checkpoints[1], swap, dynamic_batch=True)
    rng = np.random.default_rng(0)
    for path, feeds in ((rec, {"input": rng.random((2, 3, 112, 112), np.float32)}),
                        (swap, {"target": rng.random((2, 3, 112, 112), np.float32),
                                "source": rng.random((2, 128), np.float32)})):
        ref = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
        with torch.no_grad():
            got = load_onnx_module(path)(*[torch.from_numpy(v) for v in feeds.values()]).numpy()
        assert float(np.abs(got - ref).max()) < 1e-4, path.name
    result = train_swapper(config_from_dict("swapper", {**TINY_SWAPPER, "steps": 2, "dataset": str(face_dataset),
                                                        "out_dir": str(tmp_path / "sw"), "recognizer": str(rec)}),
                           progress=False)
    out = tmp_path / "swap2.onnx"
    export_checkpoint(result.checkpoint, out)
    meta = json.loads(_meta(out)["faceplate.recognizer"])
    assert (meta["family"], meta["embedding_dim"], meta["name"]) == ("faceplate", 32, "rec")

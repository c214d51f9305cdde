"""The ONNX→torch converter reproduces onnxruntime on the real MobileFaceNet recognizer."""
from __future__ import annotations

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import torch

from faceplate.core.errors import ModelError
from faceplate.training.onnx_import import load_onnx_module
from tests.training.facecrops import mobilefacenet  # noqa: F401  (fixture)

pytestmark = pytest.mark.assets


def test_mobilefacenet_parity_with_onnxruntime_on_real_faces(mobilefacenet, asset):
    from faceplate.core.models.contract import MOBILEFACENET_CONTRACT
    from faceplate.core.models.zoo import load_recognizer

    rec = load_recognizer(str(mobilefacenet))
    crops = []
    for name in ("obama.jpg", "obama2.jpg", "biden.jpg"):
        from tests.training.facecrops import _detector, detect

        rgb = cv2.cvtColor(cv2.imread(str(asset(f"media/face_recognition/{name}"))), cv2.COLOR_BGR2RGB)
        points = detect(_detector(asset("MANIFEST.md").parent), rgb)[0][1]
        crops.append(rec.crop(rgb, points))
    c = MOBILEFACENET_CONTRACT
    blob = ((np.stack(crops).astype(np.float32) - np.float32(c.mean)) / np.float32(c.std)).transpose(0, 3, 1, 2)
    blob = np.ascontiguousarray(blob, dtype=np.float32)
    session = ort.InferenceSession(str(mobilefacenet), providers=["CPUExecutionProvider"])
    reference = np.concatenate([session.run(None, {"input0": b[None]})[0] for b in blob])
    module = load_onnx_module(mobilefacenet)
    with torch.no_grad():
        got = module(torch.from_numpy(blob)).numpy()      # batch 3 through a graph traced at batch 1
    assert got.shape == reference.shape == (3, 128)
    assert float(np.abs(got - reference).max()) < 1e-4
    e = got / np.linalg.norm(got, axis=1, keepdims=True)
    assert e[0] @ e[1] > 0.5 > e[0] @ e[2]              # obama/obama same, obama/biden different
    x = torch.from_numpy(blob).requires_grad_()
    module(x).sum().backward()                           # gradients reach the image (identity loss)
    assert float(x.grad.abs().sum()) > 0
    assert not any(p.requires_grad for p in module.parameters())


def test_unsupported_ops_and_bad_files_are_named(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("Einsum", ["x", "x"], ["y"], equation="ij,jk->ik")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2])])
    path = tmp_path / "einsum.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(ModelError, match="Einsum"):
        load_onnx_module(path)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"nope")
    with pytest.raises(ModelError, match="bad.onnx"):
        load_onnx_module(bad)

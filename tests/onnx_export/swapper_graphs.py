"""Swapper-shaped ONNX graphs with random weights, a face the installed insightface wheel ships,
and a session wrapper that records what a pipeline fed its model (for the parity tests)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def swapper_graph(path: Path, size: int, emap: bool, seed: int = 0) -> Path:
    """inputs ``target`` [1,3,S,S] and ``source`` [1,512], output [1,3,S,S] in 0..1.

    Two small convs plus a per-channel shift from the source vector, around a skip connection,
    so the output depends on every input pixel's neighbourhood and on the latent (gain about 1: an
    input rounded to 8 bits moves the output by under 1/255). With ``emap``
    a 512x512 ``emap`` initializer is stored last, where insightface reads it (inswapper layout).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array((rng.standard_normal((8, 3, 3, 3)) * 0.2).astype(np.float32), "w1"),
             numpy_helper.from_array((rng.standard_normal((3, 8, 3, 3)) * 0.2).astype(np.float32), "w2"),
             numpy_helper.from_array((rng.standard_normal((512, 3)) * 0.05).astype(np.float32), "wl"),
             numpy_helper.from_array(np.array([1, 3, 1, 1], np.int64), "shape")]
    nodes = [helper.make_node("Conv", ["target", "w1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
             helper.make_node("MatMul", ["source", "wl"], ["style"]),
             helper.make_node("Reshape", ["style", "shape"], ["style4"]),
             helper.make_node("Add", ["c2", "style4"], ["a"]),
             helper.make_node("Add", ["a", "target"], ["b"]),
             helper.make_node("Sigmoid", ["b"], ["output"])]
    if emap:
        q = np.linalg.qr(rng.standard_normal((512, 512)))[0].astype(np.float32)
        inits.append(numpy_helper.from_array(q, "emap"))
    graph = helper.make_graph(
        nodes, "swapper", [helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, size, size]),
                           helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 512])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, size, size])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def quiet_session(path: Path):
    """A CPU onnxruntime session that does not warn about the (unused) emap initializer."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


class RecordingSession:
    """Wraps an onnxruntime session; keeps the last feeds and first output."""

    def __init__(self, inner):
        self.inner, self.feeds, self.output = inner, None, None

    def get_inputs(self):
        return self.inner.get_inputs()

    def get_outputs(self):
        return self.inner.get_outputs()

    def run(self, names, feeds):
        self.feeds = {k: np.array(v) for k, v in feeds.items()}
        self.output = self.inner.run(names, feeds)[0]
        return [self.output]


def insightface_image(name: str = "t1.jpg") -> Path:
    """A sample photo inside the installed insightface wheel (t1.jpg: a group of six faces)."""
    import insightface

    return Path(os.path.dirname(insightface.__file__)) / "data" / "images" / name


def faces_inside(rgb: np.ndarray, transform_for, size: int) -> list[np.ndarray]:
    """5-point sets (our default detector) of the faces whose ``size`` crop lies inside the image,
    so the reference's black border and our replicated edge never enter the comparison."""
    import cv2

    from faceplate.core.models.zoo import load_detector
    from faceplate.core.analyze.pyramid import detect_faces

    out = []
    for det in detect_faces(load_detector(), rgb, min_face=32):
        p5 = np.asarray(det.points5, np.float64)
        inv = cv2.invertAffineTransform(transform_for(p5))
        corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64) @ inv[:, :2].T + inv[:, 2]
        if corners.min() >= 1 and corners[:, 0].max() < rgb.shape[1] - 2 and corners[:, 1].max() < rgb.shape[0] - 2:
            out.append(p5)
    return out

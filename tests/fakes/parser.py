"""Fake BiSeNet-style face parsers for tests: a 1x1 convolution from the normalised RGB input
((x - ImageNet mean) / std, as ``models.parser.FaceParser`` feeds it) to 19 class logits, saved as a
real ONNX file, so a parser run goes through ONNX Runtime and ``FaceParser.labels`` as a real one does."""
from __future__ import annotations

import numpy as np


def write_conv_parser(path, weights: np.ndarray, bias: np.ndarray | None = None, size: int = 512) -> str:
    """``weights`` (19, 3): class logit = weights[c] . normalised RGB + bias[c]. Returns the path."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.asarray(weights, np.float32).reshape(19, 3, 1, 1)
    b = np.zeros(19, np.float32) if bias is None else np.asarray(bias, np.float32).reshape(19)
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 19, size, size])
    g = helper.make_graph([helper.make_node("Conv", ["input", "w", "b"], ["out"])], "bisenet", [x], [y],
                          initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return str(path)


def skin_where_red(path) -> str:
    """Skin (class 1) where the normalised R > G, else background (class 0)."""
    w = np.zeros((19, 3), np.float32)
    w[1] = (1.0, -1.0, 0.0)
    w[0] = (-1.0, 1.0, 0.0)
    return write_conv_parser(path, w)


def glasses_where_green(path) -> str:
    """Glasses (class 6, ``eye_g``) where the normalised G stands 2 above the mean of R and B (a
    saturated green), else skin (class 1)."""
    w = np.zeros((19, 3), np.float32)
    w[6] = (-0.5, 1.0, -0.5)
    bias = np.full(19, -10.0, np.float32)
    bias[6], bias[1] = -2.0, 0.0
    return write_conv_parser(path, w, bias)

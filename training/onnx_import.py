"""A small ONNX → torch converter for face recognizers, so a pretrained ONNX recognizer can be the
frozen identity network of swapper training (onnx2torch needs torchvision, which is unusable here).

It interprets the ONNX graph node by node in ``forward`` with torch ops, so gradients flow to the
input (the identity loss needs d(embedding)/d(image)); weights are frozen buffers. Supported ops
cover MobileFaceNet/ArcFace/IResNet-style exports: Conv, BatchNormalization, PRelu, Relu, LeakyRelu,
Sigmoid, Clip, Add, Sub, Mul, Div, Flatten, Gemm, MatMul, Reshape, Transpose, GlobalAveragePool,
AveragePool, MaxPool, Concat, Identity, Dropout, Constant, Shape/Gather/Unsqueeze (for dynamic
reshapes), ReduceMean, Pad, Squeeze, Pow, Sqrt, ReduceL2, LpNormalization, Expand, Slice,
ConstantOfShape, InstanceNormalization and Resize (nearest/linear) — enough for our own exports too.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from faceplate.core.errors import ModelError


def _attrs(node) -> dict[str, Any]:
    from onnx import helper, numpy_helper

    out = {}
    for a in node.attribute:
        value = helper.get_attribute_value(a)
        if hasattr(value, "dims"):  # TensorProto
            value = numpy_helper.to_array(value)
        elif isinstance(value, bytes):
            value = value.decode()
        out[a.name] = value
    return out


def _pads(pads, spatial: int):
    """ONNX pads [b1, b2, ..., e1, e2, ...] → torch F.pad order (last dim first)."""
    pads = list(pads) if pads is not None else [0] * (2 * spatial)
    out = []
    for i in reversed(range(spatial)):
        out += [pads[i], pads[i + spatial]]
    return out


class OnnxModule(nn.Module):
    """Runs an ONNX graph with torch ops. ``forward(*inputs)`` returns the first output (or a tuple)."""

    SUPPORTED = {"Conv", "BatchNormalization", "PRelu", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "Add", "Sub",
                 "Mul", "Div", "Flatten", "Gemm", "MatMul", "Reshape", "Transpose", "GlobalAveragePool",
                 "AveragePool", "MaxPool", "Concat", "Identity", "Dropout", "Constant", "Shape", "Gather",
                 "Unsqueeze", "Squeeze", "ReduceMean", "Pad", "Pow", "Sqrt", "ReduceL2", "LpNormalization", "Cast",
                 "Softmax", "Expand", "Slice", "ConstantOfShape", "InstanceNormalization", "Resize"}

    def __init__(self, model_proto):
        super().__init__()
        from onnx import numpy_helper

        graph = model_proto.graph
        unsupported = sorted({n.op_type for n in graph.node} - self.SUPPORTED)
        if unsupported:
            raise ModelError(f"ONNX recognizer uses ops this converter does not support: {', '.join(unsupported)}; "
                             f"use a recognizer made of plain conv/bn/activation layers")
        self._names: dict[str, str] = {}
        init_names = set()
        for i, init in enumerate(graph.initializer):
            key = f"w{i}"
            array = numpy_helper.to_array(init)
            self.register_buffer(key, torch.from_numpy(np.array(array)))
            self._names[init.name] = key
            init_names.add(init.name)
        self.input_names = [i.name for i in graph.input if i.name not in init_names]
        self.output_names = [o.name for o in graph.output]
        self.nodes = [(n.op_type, list(n.input), list(n.output), _attrs(n)) for n in graph.node]
        for p in self.buffers():
            p.requires_grad_(False)

    def forward(self, *inputs: torch.Tensor):
        env: dict[str, Any] = {name: getattr(self, key) for name, key in self._names.items()}
        env[""] = None
        for name, value in zip(self.input_names, inputs):
            env[name] = value
        for op, ins, outs, attrs in self.nodes:
            args = [env[i] if i else None for i in ins]
            result = getattr(self, f"_op_{op}")(args, attrs)
            if not isinstance(result, tuple):
                result = (result,)
            for name, value in zip(outs, result):
                env[name] = value
        results = tuple(env[o] for o in self.output_names)
        return results[0] if len(results) == 1 else results

    # -- ops -------------------------------------------------------------------------------------
    def _op_Conv(self, a, at):
        x, w, b = a[0], a[1], a[2] if len(a) > 2 else None
        spatial = w.dim() - 2
        strides = at.get("strides", [1] * spatial)
        dil = at.get("dilations", [1] * spatial)
        groups = at.get("group", 1)
        if at.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
            raise ModelError(f"ONNX Conv auto_pad={at['auto_pad']} is not supported by the converter")
        pads = at.get("pads", [0] * 2 * spatial)
        if list(pads[:spatial]) == list(pads[spatial:]):
            return F.conv2d(x, w, b, strides, list(pads[:spatial]), dil, groups) if spatial == 2 else \
                F.conv1d(x, w, b, strides, list(pads[:spatial]), dil, groups)
        x = F.pad(x, _pads(pads, spatial))
        return F.conv2d(x, w, b, strides, 0, dil, groups)

    def _op_BatchNormalization(self, a, at):
        x, scale, bias, mean, var = a[:5]
        return F.batch_norm(x, mean, var, scale, bias, False, 0.0, at.get("epsilon", 1e-5))

    def _op_PRelu(self, a, at):
        x, slope = a
        if slope.dim() >= 1 and slope.numel() == x.shape[1] and x.dim() > 1:
            slope = slope.reshape(1, -1, *([1] * (x.dim() - 2)))
        return torch.where(x >= 0, x, x * slope)

    def _op_Relu(self, a, at): return F.relu(a[0])
    def _op_LeakyRelu(self, a, at): return F.leaky_relu(a[0], at.get("alpha", 0.01))
    def _op_Sigmoid(self, a, at): return torch.sigmoid(a[0])
    def _op_Tanh(self, a, at): return torch.tanh(a[0])

    def _op_Clip(self, a, at):
        lo = a[1] if len(a) > 1 and a[1] is not None else at.get("min")
        hi = a[2] if len(a) > 2 and a[2] is not None else at.get("max")
        lo = float(lo) if lo is not None else None
        hi = float(hi) if hi is not None else None
        return torch.clamp(a[0], lo, hi)

    def _op_Add(self, a, at): return a[0] + a[1]
    def _op_Sub(self, a, at): return a[0] - a[1]
    def _op_Mul(self, a, at): return a[0] * a[1]
    def _op_Div(self, a, at): return a[0] / a[1]
    def _op_Pow(self, a, at): return torch.pow(a[0], a[1])
    def _op_Sqrt(self, a, at): return torch.sqrt(a[0])
    def _op_Identity(self, a, at): return a[0]
    def _op_Dropout(self, a, at): return a[0]
    def _op_Constant(self, a, at): return torch.as_tensor(np.array(at["value"]))
    def _op_Cast(self, a, at): return a[0]
    def _op_Softmax(self, a, at): return torch.softmax(a[0], at.get("axis", -1))

    def _op_Flatten(self, a, at):
        axis = at.get("axis", 1)
        x = a[0]
        lead = int(np.prod(x.shape[:axis])) if axis else 1
        return x.reshape(lead, -1)

    def _op_Gemm(self, a, at):
        x, w = a[0], a[1]
        if at.get("transA", 0):
            x = x.t()
        if at.get("transB", 0):
            w = w.t()
        y = at.get("alpha", 1.0) * (x @ w)
        if len(a) > 2 and a[2] is not None:
            y = y + at.get("beta", 1.0) * a[2]
        return y

    def _op_MatMul(self, a, at): return a[0] @ a[1]

    def _op_Reshape(self, a, at):
        x, shape = a
        shape = [int(s) for s in shape.tolist()]
        if not at.get("allowzero", 0):
            shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
        if shape and shape[0] == 1 and x.dim() > 0 and x.shape[0] != 1:
            shape[0] = x.shape[0]  # exports trace with batch 1 and bake it in; keep the batch dimension
        return x.reshape(shape)

    def _op_Transpose(self, a, at):
        perm = at.get("perm", list(reversed(range(a[0].dim()))))
        return a[0].permute(*perm)

    def _op_GlobalAveragePool(self, a, at): return a[0].mean(dim=tuple(range(2, a[0].dim())), keepdim=True)

    def _op_AveragePool(self, a, at):
        k = at["kernel_shape"]
        x = a[0]
        pads = at.get("pads", [0] * 2 * len(k))
        if any(pads):
            x = F.pad(x, _pads(pads, len(k)))
        return F.avg_pool2d(x, k, at.get("strides", k), ceil_mode=bool(at.get("ceil_mode", 0)),
                            count_include_pad=bool(at.get("count_include_pad", 0)) or not any(pads))

    def _op_MaxPool(self, a, at):
        k = at["kernel_shape"]
        x = a[0]
        pads = at.get("pads", [0] * 2 * len(k))
        if any(pads):
            x = F.pad(x, _pads(pads, len(k)), value=float("-inf"))
        return F.max_pool2d(x, k, at.get("strides", k), ceil_mode=bool(at.get("ceil_mode", 0)))

    def _op_Concat(self, a, at): return torch.cat(a, dim=at.get("axis", 0))
    def _op_Shape(self, a, at): return torch.tensor(list(a[0].shape), dtype=torch.int64)

    def _op_Gather(self, a, at):
        x, idx = a
        return torch.index_select(x, at.get("axis", 0), idx.reshape(-1).long()).reshape(
            *x.shape[:at.get("axis", 0)], *idx.shape, *x.shape[at.get("axis", 0) + 1:])

    def _op_Unsqueeze(self, a, at):
        axes = at.get("axes") if "axes" in at else a[1].tolist()
        x = a[0]
        for ax in sorted(int(v) for v in axes):
            x = x.unsqueeze(ax)
        return x

    def _op_Squeeze(self, a, at):
        axes = at.get("axes") if "axes" in at else (a[1].tolist() if len(a) > 1 and a[1] is not None else None)
        if axes is None:
            return a[0].squeeze()
        x = a[0]
        for ax in sorted((int(v) % x.dim() for v in axes), reverse=True):
            x = x.squeeze(ax)
        return x

    def _op_ReduceMean(self, a, at):
        axes = at.get("axes") if "axes" in at else (a[1].tolist() if len(a) > 1 else None)
        keep = bool(at.get("keepdims", 1))
        return a[0].mean(dim=tuple(axes), keepdim=keep) if axes is not None else a[0].mean()

    def _op_ReduceL2(self, a, at):
        axes = at.get("axes") if "axes" in at else (a[1].tolist() if len(a) > 1 else None)
        keep = bool(at.get("keepdims", 1))
        return torch.sqrt((a[0] ** 2).sum(dim=tuple(axes), keepdim=keep))

    def _op_LpNormalization(self, a, at): return F.normalize(a[0], p=at.get("p", 2), dim=at.get("axis", -1))

    def _op_Expand(self, a, at):
        shape = [int(v) for v in a[1].tolist()]
        x = a[0]
        lead = len(shape) - x.dim()
        if lead > 0:
            x = x.reshape([1] * lead + list(x.shape))
        target = [max(d, s) if s != 1 else d for d, s in zip(x.shape, shape)]  # ONNX Expand broadcasts both ways
        return x.expand(*target)

    def _op_Slice(self, a, at):
        x = a[0]
        starts, ends = a[1].tolist(), a[2].tolist()
        axes = a[3].tolist() if len(a) > 3 and a[3] is not None else list(range(len(starts)))
        steps = a[4].tolist() if len(a) > 4 and a[4] is not None else [1] * len(starts)
        index = [slice(None)] * x.dim()
        flips = []
        for st, en, ax, sp in zip(starts, ends, axes, steps):
            ax = int(ax) % x.dim()
            n = x.shape[ax]
            st = max(min(int(st) + n if st < 0 else int(st), n), 0) if sp > 0 else int(st)
            en = max(min(int(en) + n if en < 0 else int(en), n), 0) if sp > 0 else int(en)
            if sp > 0:
                index[ax] = slice(st, en, int(sp))
            else:  # negative steps: flip then slice
                flips.append((ax, st, en, int(sp), n))
        y = x[tuple(index)]
        for ax, st, en, sp, n in flips:
            st = n - 1 if st >= n else (st + n if st < 0 else st)
            en = -1 if en < -n else (en + n if en < 0 else en)
            idx = torch.arange(st, en, sp, device=y.device)
            y = torch.index_select(y, ax, idx)
        return y

    def _op_ConstantOfShape(self, a, at):
        value = at.get("value")
        fill = torch.as_tensor(np.array(value)).reshape(-1)[0] if value is not None else torch.tensor(0.0)
        return torch.full([int(v) for v in a[0].tolist()], fill.item(), dtype=fill.dtype)

    def _op_InstanceNormalization(self, a, at):
        return F.instance_norm(a[0], weight=a[1], bias=a[2], eps=at.get("epsilon", 1e-5))

    def _op_Resize(self, a, at):
        x = a[0]
        scales = a[2] if len(a) > 2 and a[2] is not None and a[2].numel() else None
        sizes = a[3] if len(a) > 3 and a[3] is not None else None
        mode = at.get("mode", "nearest")
        if mode not in ("nearest", "linear"):
            raise ModelError(f"ONNX Resize mode {mode!r} is not supported by the converter")
        align = at.get("coordinate_transformation_mode", "half_pixel") == "align_corners"
        size = [int(v) for v in sizes.tolist()[2:]] if sizes is not None else \
            [int(np.floor(d * float(s))) for d, s in zip(x.shape[2:], scales.tolist()[2:])]
        if mode == "nearest":
            return F.interpolate(x, size=size, mode="nearest")
        return F.interpolate(x, size=size, mode="bilinear" if x.dim() == 4 else "linear",
                             align_corners=align if align else False)

    def _op_Pad(self, a, at):
        pads = a[1].tolist() if len(a) > 1 and a[1] is not None else at["pads"]
        value = float(a[2]) if len(a) > 2 and a[2] is not None else float(at.get("value", 0.0))
        mode = at.get("mode", "constant")
        spatial = len(pads) // 2
        torch_pads = _pads(pads, spatial)
        while torch_pads and torch_pads[-2:] == [0, 0]:  # torch pads only trailing dims
            torch_pads = torch_pads[:-2]
        return F.pad(a[0], torch_pads, mode={"constant": "constant", "reflect": "reflect", "edge": "replicate"}[mode],
                     value=value if mode == "constant" else None)


def load_onnx_module(path_or_bytes: Union[str, Path, bytes]) -> OnnxModule:
    """Load an ONNX file (or bytes) as a frozen torch module in eval mode."""
    import onnx

    try:
        proto = onnx.load_from_string(path_or_bytes) if isinstance(path_or_bytes, bytes) else onnx.load(str(path_or_bytes))
    except Exception as exc:
        raise ModelError(f"{path_or_bytes if not isinstance(path_or_bytes, bytes) else '<bytes>'}: not a readable ONNX "
                         f"model ({exc}); pass an .onnx recognizer") from exc
    module = OnnxModule(proto)
    module.eval()
    return module

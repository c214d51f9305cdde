"""Convert third-party PyTorch state_dicts to ONNX files carrying a faceplate contract.

Supported: MediaPipe FaceMesh 468 (``mpp_blazeface_landmark.pth`` or ``facemesh.pth``: BlazeBlock
backbone, coordinate and face-flag heads; ONNX ``input`` [N,3,192,192] -> ``landmarks`` [N,1404] in
192-px crop units, ``flag`` [N,1]) and the standard RetinaFace mobilenet0.25 (``Pytorch_Retinaface_mobilenet0.25_Final.pth``:
MobileNetV1-0.25 body, 3-level FPN, SSH context modules, class/box/landmark heads). The network is
written here from the published description and its tensor names (``*.STATE_DICT_KEYS.txt`` in
the assets); weights load with ``strict=True`` through ``torch.load(weights_only=True)`` (no pickle
code runs). The ONNX takes ``input`` [N,3,H,W] (BGR minus (104,117,123), any H, W) and returns
``loc`` [N,A,4], ``conf`` [N,A,2] (softmax) and ``landmarks`` [N,A,10] — the contract
``faceplate.core.models.RETINAFACE_CONTRACT``, stored in ``metadata_props``.

    python -m faceplate.onnx_export.third_party retinaface IN.pth OUT.onnx
    python -m faceplate.onnx_export.third_party facemesh IN.pth OUT.onnx

Not converted: the "1MB" RetinaFace variants (slim/RFB: different priors and blocks) and BlazeFace
(our detectors supply the face box and eye line FaceMesh needs).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Union

from faceplate.core.errors import ModelError
from faceplate.core.filesystem import atomic_path, sha256_file

# sha256 of the state_dicts this module knows how to convert (MANIFEST.md provenance).
KNOWN_STATE_DICTS = {
    "2979b33ffafda5d74b6948cd7a5b9a7a62f62b949cef24e95fd15d2883a65220": "retinaface",  # Pytorch_Retinaface mnet0.25
    "2c529987e67f82e58a608a394aabf245a3afa19ac2f761981894f70b4df9fdca": "facemesh",    # MediaPipe (zmurez port)
    "a8395f8a89b15cabdd2e97df1c66280de4697a5484ebe03936c2e36e90a0a25a": "facemesh",    # facemesh.pytorch
}


def _retinaface_module():
    """Build the RetinaFace mobilenet0.25 torch module (torch imported lazily)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    def conv_bn(cin, cout, stride=1, leaky=0.0, k=3):
        return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout),
                             nn.LeakyReLU(negative_slope=leaky, inplace=True))

    def conv_bn_plain(cin, cout):  # no activation: summed before the SSH ReLU
        return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))

    def conv_dw(cin, cout, stride, leaky=0.1):  # depthwise 3x3 then pointwise 1x1
        return nn.Sequential(
            nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin),
            nn.LeakyReLU(negative_slope=leaky, inplace=True),
            nn.Conv2d(cin, cout, 1, 1, 0, bias=False), nn.BatchNorm2d(cout),
            nn.LeakyReLU(negative_slope=leaky, inplace=True))

    class Body(nn.Module):  # MobileNetV1 x0.25, three outputs at strides 8/16/32
        def __init__(self):
            super().__init__()
            self.stage1 = nn.Sequential(conv_bn(3, 8, 2, leaky=0.1), conv_dw(8, 16, 1), conv_dw(16, 32, 2),
                                        conv_dw(32, 32, 1), conv_dw(32, 64, 2), conv_dw(64, 64, 1))
            self.stage2 = nn.Sequential(conv_dw(64, 128, 2), *[conv_dw(128, 128, 1) for _ in range(5)])
            self.stage3 = nn.Sequential(conv_dw(128, 256, 2), conv_dw(256, 256, 1))

        def forward(self, x):
            a = self.stage1(x)
            b = self.stage2(a)
            return a, b, self.stage3(b)

    class FPN(nn.Module):
        def __init__(self, ins=(64, 128, 256), out=64):
            super().__init__()
            leaky = 0.1 if out <= 64 else 0.0
            self.output1 = conv_bn(ins[0], out, leaky=leaky, k=1)
            self.output2 = conv_bn(ins[1], out, leaky=leaky, k=1)
            self.output3 = conv_bn(ins[2], out, leaky=leaky, k=1)
            self.merge1 = conv_bn(out, out, leaky=leaky)
            self.merge2 = conv_bn(out, out, leaky=leaky)

        def forward(self, feats):
            o1, o2, o3 = self.output1(feats[0]), self.output2(feats[1]), self.output3(feats[2])
            o2 = self.merge2(o2 + F.interpolate(o3, size=o2.shape[2:], mode="nearest"))
            o1 = self.merge1(o1 + F.interpolate(o2, size=o1.shape[2:], mode="nearest"))
            return o1, o2, o3

    class SSH(nn.Module):  # context module: 3x3, "5x5" and "7x7" branches from stacked 3x3s
        def __init__(self, cin=64, cout=64):
            super().__init__()
            leaky = 0.1 if cout <= 64 else 0.0
            self.conv3X3 = conv_bn_plain(cin, cout // 2)
            self.conv5X5_1 = conv_bn(cin, cout // 4, leaky=leaky)
            self.conv5X5_2 = conv_bn_plain(cout // 4, cout // 4)
            self.conv7X7_2 = conv_bn(cout // 4, cout // 4, leaky=leaky)
            self.conv7x7_3 = conv_bn_plain(cout // 4, cout // 4)

        def forward(self, x):
            c5 = self.conv5X5_1(x)
            c7 = self.conv7X7_2(c5)
            return F.relu(torch.cat([self.conv3X3(x), self.conv5X5_2(c5), self.conv7x7_3(c7)], dim=1))

    class Head(nn.Module):
        def __init__(self, per_anchor, anchors=2, cin=64):
            super().__init__()
            self.per_anchor = per_anchor
            self.conv1x1 = nn.Conv2d(cin, anchors * per_anchor, 1)

        def forward(self, x):
            y = self.conv1x1(x).permute(0, 2, 3, 1)  # cell-major, anchor-minor: the prior order
            return y.reshape(y.shape[0], -1, self.per_anchor)

    class RetinaFace(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = Body()
            self.fpn = FPN()
            self.ssh1, self.ssh2, self.ssh3 = SSH(), SSH(), SSH()
            self.ClassHead = nn.ModuleList([Head(2) for _ in range(3)])
            self.BboxHead = nn.ModuleList([Head(4) for _ in range(3)])
            self.LandmarkHead = nn.ModuleList([Head(10) for _ in range(3)])

        def forward(self, x):
            p = self.fpn(self.body(x))
            f = [self.ssh1(p[0]), self.ssh2(p[1]), self.ssh3(p[2])]
            loc = torch.cat([h(t) for h, t in zip(self.BboxHead, f)], dim=1)
            conf = torch.cat([h(t) for h, t in zip(self.ClassHead, f)], dim=1)
            lmk = torch.cat([h(t) for h, t in zip(self.LandmarkHead, f)], dim=1)
            return loc, F.softmax(conf, dim=-1), lmk

    return RetinaFace()


def _load_state(pth: Union[str, Path]) -> dict:
    """torch.load(weights_only=True) of a state_dict; a missing or unreadable file is a one-line ModelError."""
    import torch

    if not Path(pth).is_file():
        raise ModelError(f"{pth}: weights file not found; pass an existing .pth state_dict")
    try:
        state = torch.load(str(pth), map_location="cpu", weights_only=True)
    except Exception as exc:  # not a zip/pickle, truncated, or pickled objects weights_only refuses
        raise ModelError(f"{pth}: not a readable PyTorch state_dict ({str(exc).splitlines()[0][:120]}); "
                         f"pass the original .pth weights file") from None
    if not isinstance(state, dict):
        raise ModelError(f"{pth}: holds a {type(state).__name__}, not a state_dict; pass the original .pth weights file")
    return state


def load_retinaface(pth: Union[str, Path]):
    """The torch module with the state_dict loaded strictly (eval mode)."""
    state = _load_state(pth)
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    net = _retinaface_module()
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"{Path(pth).name}: not a standard RetinaFace mobilenet0.25 state_dict "
                         f"({str(exc).splitlines()[0][:120]}); use Pytorch_Retinaface_mobilenet0.25_Final.pth") from None
    return net.eval()


def convert_retinaface(pth: Union[str, Path], out_onnx: Union[str, Path], opset: int = 17) -> str:
    """RetinaFace mobilenet0.25 .pth -> ONNX with the RetinaFace contract; returns the ONNX sha256."""
    import onnx
    import torch

    from faceplate.core.models.contract import ONNX_CONTRACT_KEY, RETINAFACE_CONTRACT

    net = load_retinaface(pth)
    example = torch.zeros(1, 3, 320, 320)
    with atomic_path(out_onnx) as tmp:
        torch.onnx.export(net, (example,), str(tmp), input_names=["input"], output_names=["loc", "conf", "landmarks"],
                          opset_version=opset, dynamo=False, do_constant_folding=True,
                          dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"},
                                        "loc": {0: "batch", 1: "anchors"}, "conf": {0: "batch", 1: "anchors"},
                                        "landmarks": {0: "batch", 1: "anchors"}})
        proto = onnx.load(str(tmp))
        contract = RETINAFACE_CONTRACT.to_dict()
        contract["output"] += f"; converted from {Path(pth).name} (sha256 {sha256_file(pth)[:16]})"
        proto.metadata_props.add(key=ONNX_CONTRACT_KEY, value=json.dumps(contract))
        onnx.save(proto, str(tmp))
    return sha256_file(out_onnx)


def _facemesh_module(variant: str):
    """MediaPipe FaceMesh (468 points) torch module. ``variant``: "mediapipe" (zmurez naming:
    backbone1/2a/2b, input zero-padded right/bottom) or "facemesh" (facemesh.pytorch naming:
    backbone/coord_head/conf_head, input reflection-padded left/top). Same blocks otherwise."""
    import torch.nn.functional as F
    from torch import nn

    class Block(nn.Module):  # depthwise 3x3 + pointwise 1x1, residual (max-pooled, zero-padded channels)
        def __init__(self, cin, cout, stride=1):
            super().__init__()
            self.stride, self.channel_pad = stride, cout - cin
            self.convs = nn.Sequential(nn.Conv2d(cin, cin, 3, stride, 0 if stride == 2 else 1, groups=cin),
                                       nn.Conv2d(cin, cout, 1))
            self.act = nn.PReLU(cout)

        def forward(self, x):
            if self.stride == 2:
                h = F.pad(x, (0, 2, 0, 2))
                x = F.max_pool2d(x, 2, 2)
            else:
                h = x
            if self.channel_pad > 0:
                x = F.pad(x, (0, 0, 0, 0, 0, self.channel_pad))
            return self.act(self.convs(h) + x)

    def backbone():
        chans = [(16, 16, 1), (16, 16, 1), (16, 32, 2), (32, 32, 1), (32, 32, 1), (32, 64, 2), (64, 64, 1),
                 (64, 64, 1), (64, 128, 2), (128, 128, 1), (128, 128, 1), (128, 128, 2), (128, 128, 1), (128, 128, 1)]
        return nn.Sequential(nn.Conv2d(3, 16, 3, 2, 0), nn.PReLU(16), *[Block(a, b, s) for a, b, s in chans])

    def coord_head():
        return nn.Sequential(Block(128, 128, 2), Block(128, 128), Block(128, 128), nn.Conv2d(128, 32, 1),
                             nn.PReLU(32), Block(32, 32), nn.Conv2d(32, 1404, 3))

    def conf_head():
        return nn.Sequential(Block(128, 128, 2), nn.Conv2d(128, 32, 1), nn.PReLU(32), Block(32, 32),
                             nn.Conv2d(32, 1, 3))

    class FaceMesh(nn.Module):
        def __init__(self):
            super().__init__()
            if variant == "mediapipe":
                self.backbone1, self.backbone2a, self.backbone2b = backbone(), coord_head(), conf_head()
            else:
                self.backbone, self.coord_head, self.conf_head = backbone(), coord_head(), conf_head()

        def forward(self, x):
            if variant == "mediapipe":
                f = self.backbone1(F.pad(x, (0, 1, 0, 1)))
                coords, flag = self.backbone2a(f), self.backbone2b(f)
            else:
                f = self.backbone(F.pad(x, (1, 0, 1, 0), mode="reflect"))
                coords, flag = self.coord_head(f), self.conf_head(f)
            # (N, 1404): 468 (x, y, z) in 192-px crop units; (N, 1): face probability
            return coords.reshape(x.shape[0], 1404), flag.reshape(x.shape[0], 1).sigmoid()

    return FaceMesh()


def load_facemesh(pth: Union[str, Path]):
    """(torch module in eval mode, variant) for either FaceMesh state_dict layout."""
    state = _load_state(pth)
    variant = "mediapipe" if any(k.startswith("backbone1.") for k in state) else "facemesh"
    net = _facemesh_module(variant)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"{Path(pth).name}: not a MediaPipe FaceMesh state_dict "
                         f"({str(exc).splitlines()[0][:120]}); use mpp_blazeface_landmark.pth or facemesh.pth") from None
    return net.eval(), variant


def convert_facemesh(pth: Union[str, Path], out_onnx: Union[str, Path], opset: int = 17) -> str:
    """FaceMesh .pth -> ONNX (input [N,3,192,192] RGB) with the facemesh468 contract; returns sha256."""
    import onnx
    import torch

    from faceplate.core.models.contract import FACEMESH468_CONTRACT, ONNX_CONTRACT_KEY

    net, variant = load_facemesh(pth)
    with atomic_path(out_onnx) as tmp:
        torch.onnx.export(net, (torch.zeros(1, 3, 192, 192),), str(tmp), input_names=["input"],
                          output_names=["landmarks", "flag"], opset_version=opset, dynamo=False,
                          do_constant_folding=True,
                          dynamic_axes={"input": {0: "batch"}, "landmarks": {0: "batch"}, "flag": {0: "batch"}})
        proto = onnx.load(str(tmp))
        contract = FACEMESH468_CONTRACT.to_dict()
        if variant == "facemesh":  # facemesh.pytorch was trained on x/127.5 - 1
            contract["mean"], contract["std"] = [127.5] * 3, [127.5] * 3
        contract["output"] += f"; converted from {Path(pth).name} (sha256 {sha256_file(pth)[:16]})"
        proto.metadata_props.add(key=ONNX_CONTRACT_KEY, value=json.dumps(contract))
        onnx.save(proto, str(tmp))
    return sha256_file(out_onnx)


CONVERTERS = {"retinaface": convert_retinaface, "facemesh": convert_facemesh}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m faceplate.onnx_export.third_party",
                                 description="Convert a third-party PyTorch state_dict to an ONNX with a faceplate contract.")
    ap.add_argument("family", choices=sorted(CONVERTERS))
    ap.add_argument("pth")
    ap.add_argument("onnx")
    args = ap.parse_args(argv)
    try:
        digest = CONVERTERS[args.family](args.pth, args.onnx)
    except ModelError as exc:
        print(f"faceplate: error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.onnx} sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

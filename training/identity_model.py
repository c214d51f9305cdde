"""Identity encoder networks: MobileFaceNet- and IResNet-style backbones and ArcFace/CosFace heads.

Input: (N, 3, S, S) float32 RGB in 0..1 of an arcface112-aligned crop (S = input_size, usually 112);
the backbone normalises internally with ImageNet-style mean/std so exported models take 0..1 input.
Output: (N, embedding_dim) float32 (not normalised; the export L2-normalises).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)


def _ch(c: int, width: float) -> int:
    return max(8, int(round(c * width / 8)) * 8)


class ConvBN(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int = 3, s: int = 1, groups: int = 1, act: bool = True):
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
        if act:
            layers.append(nn.PReLU(cout))
        super().__init__(*layers)


class Bottleneck(nn.Module):
    """Inverted residual: 1x1 expand, 3x3 depthwise, 1x1 linear project."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int):
        super().__init__()
        hidden = cin * expansion
        self.residual = stride == 1 and cin == cout
        self.body = nn.Sequential(ConvBN(cin, hidden, 1), ConvBN(hidden, hidden, 3, stride, groups=hidden),
                                  ConvBN(hidden, cout, 1, act=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class Normalise(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class MobileFaceNet(nn.Module):
    # (expansion, channels, repeats, stride) per stage, as in the MobileFaceNet paper.
    STAGES = ((2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1))

    def __init__(self, embedding_dim: int = 512, input_size: int = 112, width: float = 1.0):
        super().__init__()
        c64 = _ch(64, width)
        self.norm = Normalise()
        self.stem = nn.Sequential(ConvBN(3, c64, 3, 2), ConvBN(c64, c64, 3, 1, groups=c64))
        blocks: list[nn.Module] = []
        cin = c64
        for expansion, channels, repeats, stride in self.STAGES:
            cout = _ch(channels, width)
            for i in range(repeats):
                blocks.append(Bottleneck(cin, cout, stride if i == 0 else 1, expansion))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        c512 = _ch(512, width)
        self.conv_last = ConvBN(cin, c512, 1)
        spatial = input_size // 16
        # Global depthwise conv (GDC): a learned spatial weighting instead of average pooling.
        self.gdc = ConvBN(c512, c512, spatial, 1, groups=c512, act=False)
        self.gdc[0].padding = (0, 0)
        self.linear = nn.Conv2d(c512, embedding_dim, 1, bias=False)
        self.bn = nn.BatchNorm1d(embedding_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(self.norm(x)))
        x = self.linear(self.gdc(self.conv_last(x)))
        return self.bn(x.flatten(1))


class IRBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout),
                                  nn.PReLU(cout), nn.Conv2d(cout, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout))
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + (x if self.short is None else self.short(x))


class IResNet(nn.Module):
    """Small improved-ResNet (IResNet-18 layout: 2 blocks per stage)."""

    def __init__(self, embedding_dim: int = 512, input_size: int = 112, width: float = 1.0, layers=(2, 2, 2, 2)):
        super().__init__()
        chans = [_ch(c, width) for c in (64, 128, 256, 512)]
        self.norm = Normalise()
        self.stem = nn.Sequential(nn.Conv2d(3, chans[0], 3, 1, 1, bias=False), nn.BatchNorm2d(chans[0]), nn.PReLU(chans[0]))
        blocks: list[nn.Module] = []
        cin = chans[0]
        for cout, n in zip(chans, layers):
            for i in range(n):
                blocks.append(IRBlock(cin, cout, 2 if i == 0 else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        spatial = input_size // 16
        self.bn2 = nn.BatchNorm2d(cin)
        self.dropout = nn.Dropout(0.0)
        self.fc = nn.Linear(cin * spatial * spatial, embedding_dim)
        self.features = nn.BatchNorm1d(embedding_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn2(self.blocks(self.stem(self.norm(x))))
        return self.features(self.fc(self.dropout(x.flatten(1))))


def build_backbone(name: str, embedding_dim: int, input_size: int, width: float) -> nn.Module:
    if input_size % 16:
        from faceplate.core.errors import FaceplateError
        raise FaceplateError(f"identity input_size {input_size} must be a multiple of 16 (e.g. 112)")
    if name == "mobilefacenet":
        return MobileFaceNet(embedding_dim, input_size, width)
    if name == "iresnet":
        return IResNet(embedding_dim, input_size, width)
    from faceplate.core.errors import FaceplateError
    raise FaceplateError(f"unknown identity backbone {name!r}; use mobilefacenet or iresnet")


class MarginHead(nn.Module):
    """Additive angular (ArcFace) or additive cosine (CosFace) margin softmax over class centres."""

    def __init__(self, embedding_dim: int, num_classes: int, loss: str = "arcface", margin: float = 0.5,
                 scale: float = 64.0):
        super().__init__()
        if loss not in ("arcface", "cosface"):
            from faceplate.core.errors import FaceplateError
            raise FaceplateError(f"unknown identity loss {loss!r}; use arcface or cosface")
        self.weight = nn.Parameter(torch.empty(num_classes, embedding_dim))
        nn.init.normal_(self.weight, std=0.01)
        self.loss, self.margin, self.scale = loss, margin, scale

    def logits(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cos = F.linear(F.normalize(embeddings), F.normalize(self.weight)).clamp(-1 + 1e-7, 1 - 1e-7)
        onehot = F.one_hot(labels, cos.shape[1]).to(cos.dtype)
        if self.loss == "cosface":
            target = cos - self.margin
        else:
            theta = torch.acos(cos)
            # Past pi - m the angle would wrap; fall back to a CosFace-like penalty there (standard "easy margin" guard).
            target = torch.where(theta + self.margin < math.pi, torch.cos(theta + self.margin),
                                 cos - self.margin * math.sin(self.margin))
        return self.scale * (onehot * target + (1 - onehot) * cos)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.logits(embeddings, labels), labels)


class IdentityEncoder(nn.Module):
    """Backbone + L2 normalisation: what gets exported (input 0..1 RGB, output unit-length embedding)."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.backbone(x), dim=1)

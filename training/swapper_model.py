"""SimSwap-style swapper networks and the frozen recognizer wrapper used for the identity loss.

Generator: ``forward(target, source)``; target (N,3,S,S) float32 RGB 0..1, aligned to the swapper's
template; source (N,D) the L2-normalised identity embedding of the source face from the recognizer
the swapper was trained with. Output (N,3,S,S) RGB in 0..1, same alignment as the target.
Encoder (7x7 conv + stride-2 convs) → ``id_blocks`` residual blocks whose instance norms take
scale/shift from the embedding (AdaIN identity injection) → upsample-conv decoder.
Instance norm rather than batch norm: batch-size independent, so training and export behave alike.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class AdaIN(nn.Module):
    def __init__(self, channels: int, latent_dim: int):
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.style = nn.Linear(latent_dim, 2 * channels)
        nn.init.zeros_(self.style.weight)
        nn.init.zeros_(self.style.bias)

    def forward(self, x: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.style(latent).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        return self.norm(x) * (1 + gamma) + beta


class IDBlock(nn.Module):
    """Residual block with AdaIN identity injection after each conv."""

    def __init__(self, channels: int, latent_dim: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1, padding_mode="reflect")
        self.ada1 = AdaIN(channels, latent_dim)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, padding_mode="reflect")
        self.ada2 = AdaIN(channels, latent_dim)

    def forward(self, x: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.ada1(self.conv1(x), latent))
        return x + self.ada2(self.conv2(y), latent)


def _conv_in_relu(cin: int, cout: int, k: int, s: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, k // 2, padding_mode="reflect"),
                         nn.InstanceNorm2d(cout, affine=True), nn.ReLU(inplace=True))


class Generator(nn.Module):
    def __init__(self, latent_dim: int, base: int = 64, down_layers: int = 3, id_blocks: int = 9):
        super().__init__()
        self.latent_dim = latent_dim
        chans = [min(base * 2 ** i, 512) for i in range(down_layers + 1)]
        self.stem = _conv_in_relu(3, chans[0], 7, 1)
        self.down = nn.Sequential(*[_conv_in_relu(chans[i], chans[i + 1], 3, 2) for i in range(down_layers)])
        self.blocks = nn.ModuleList([IDBlock(chans[-1], latent_dim) for _ in range(id_blocks)])
        ups = []
        for i in reversed(range(down_layers)):
            ups += [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                    _conv_in_relu(chans[i + 1], chans[i], 3, 1)]
        self.up = nn.Sequential(*ups)
        self.head = nn.Conv2d(chans[0], 3, 7, 1, 3, padding_mode="reflect")
        self.factor = 2 ** down_layers

    def forward(self, target: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        x = self.down(self.stem(target * 2 - 1))
        for block in self.blocks:
            x = block(x, source)
        return (torch.tanh(self.head(self.up(x))) + 1) * 0.5


class PatchDiscriminator(nn.Module):
    """PatchGAN: returns every layer's activations; the last is the (N,1,h,w) real/fake map."""

    def __init__(self, channels: int = 64, layers: int = 3):
        super().__init__()
        seq = [nn.Sequential(nn.Conv2d(3, channels, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True))]
        c = channels
        for i in range(1, layers):
            nc = min(c * 2, 512)
            seq.append(nn.Sequential(nn.Conv2d(c, nc, 4, 2, 1), nn.InstanceNorm2d(nc, affine=True),
                                     nn.LeakyReLU(0.2, inplace=True)))
            c = nc
        nc = min(c * 2, 512)
        seq.append(nn.Sequential(nn.Conv2d(c, nc, 4, 1, 1), nn.InstanceNorm2d(nc, affine=True),
                                 nn.LeakyReLU(0.2, inplace=True)))
        seq.append(nn.Sequential(nn.Conv2d(nc, 1, 4, 1, 1)))
        self.layers = nn.ModuleList(seq)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        return feats


class MultiScaleDiscriminator(nn.Module):
    """Patch discriminators on the image and on 2x, 4x ... downsampled copies."""

    def __init__(self, channels: int = 64, layers: int = 3, scales: int = 2):
        super().__init__()
        self.discs = nn.ModuleList([PatchDiscriminator(channels, layers) for _ in range(scales)])

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        out = []
        for i, disc in enumerate(self.discs):
            if i:
                x = F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
            out.append(disc(x * 2 - 1))
        return out


def affine_theta(m: np.ndarray, in_size: int, out_size: int) -> torch.Tensor:
    """affine_grid theta (1,2,3) for a pixel-space (2,3) map ``m`` input→output (align_corners=False)."""
    full = np.vstack([m, [0, 0, 1]])
    inv = np.linalg.inv(full)                                          # output px -> input px
    n_in = np.array([[2.0 / in_size, 0, 1.0 / in_size - 1], [0, 2.0 / in_size, 1.0 / in_size - 1], [0, 0, 1]])
    n_out_inv = np.array([[out_size / 2.0, 0, out_size / 2.0 - 0.5], [0, out_size / 2.0, out_size / 2.0 - 0.5], [0, 0, 1]])
    theta = n_in @ inv @ n_out_inv
    return torch.tensor(theta[:2], dtype=torch.float32).unsqueeze(0)


class FrozenRecognizer(nn.Module):
    """A frozen identity network fed from the swapper's crops: warp to its 112-style crop, normalise, embed.

    ``net`` takes the recognizer's own input convention ((pixel_0_255 - mean) / std, channel order),
    ``theta`` maps the swapper crop to the recognizer crop. Output (N, D) L2-normalised.
    """

    def __init__(self, net: nn.Module, input_size: int, mean, std, channel_order: str, theta: torch.Tensor,
                 name: str, sha256: str, family: str, dim: int):
        super().__init__()
        self.net = net.eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.input_size = input_size
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1) / 255.0)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1) / 255.0)
        self.register_buffer("theta", theta)
        self.bgr = channel_order == "BGR"
        self.name, self.sha256, self.family, self.dim = name, sha256, family, dim

    def train(self, mode: bool = True):  # always eval: frozen BN statistics
        return super().train(False)

    def forward(self, crops01: torch.Tensor) -> torch.Tensor:
        n = crops01.shape[0]
        grid = F.affine_grid(self.theta.expand(n, 2, 3), [n, 3, self.input_size, self.input_size], align_corners=False)
        x = F.grid_sample(crops01, grid, mode="bilinear", padding_mode="border", align_corners=False)
        if self.bgr:
            x = x.flip(1)
        x = (x - self.mean) / self.std
        return F.normalize(self.net(x).flatten(1).float(), dim=1)


def load_recognizer(path: str, alignment: str, crop_size: int, name: Optional[str] = None) -> FrozenRecognizer:
    """The swapper's frozen recognizer from an ONNX recognizer (any the core accepts) or an identity checkpoint."""
    from pathlib import Path

    from faceplate.core.geometry import align
    from faceplate.core.errors import FaceplateError
    from faceplate.core.filesystem import sha256_file

    if not path:
        raise FaceplateError("swapper config: set `recognizer:` to a recognizer .onnx (e.g. an exported identity "
                             "model or MobileFaceNet.onnx) or an identity checkpoint .safetensors")
    p = Path(path)
    if not p.is_file():
        raise FaceplateError(f"{p}: recognizer not found; set `recognizer:` to an existing .onnx or .safetensors")
    if p.suffix.lower() == ".onnx":
        from faceplate.core.models.locate import resolve

        from .onnx_import import load_onnx_module

        entry, _ = resolve(str(p), "recognizer")
        c = entry.contract
        if c.alignment != "arcface112" or c.input_size is None:
            raise FaceplateError(f"{p}: recognizer alignment {c.alignment!r} / input {c.input_size}: the swapper "
                                 f"needs an arcface112-aligned fixed-size recognizer")
        net = load_onnx_module(str(p))
        size, mean, std, order, family = c.input_size[0], c.mean, c.std, c.channel_order, c.family
        dim = int(c.embedding_dim or 0)
        sha = entry.sha256
    else:
        from .checkpoint import load_checkpoint
        from .config import config_from_json
        from .identity_model import IdentityEncoder, build_backbone

        ck = load_checkpoint(p)
        if ck.kind != "identity":
            raise FaceplateError(f"{p}: a {ck.kind} checkpoint, not an identity checkpoint; pass an identity model")
        icfg = config_from_json(ck.config)
        net = IdentityEncoder(build_backbone(icfg.backbone, icfg.embedding_dim, icfg.input_size, icfg.width))
        net.load_state_dict(ck.models["encoder"])
        size, mean, std, order, family = icfg.input_size, (0.0,) * 3, (255.0,) * 3, "RGB", "faceplate"
        dim, sha = icfg.embedding_dim, sha256_file(p)
    canon = align.ARCFACE_112
    to_crop = align.arcface_transform(canon, crop_size) if alignment == "arcface112" else align.ffhq_transform(canon, crop_size)
    m = align.compose(align.arcface_transform(canon, size), align.invert(to_crop))   # swapper crop px -> recognizer px
    if not dim:
        with torch.no_grad():
            dim = int(net(torch.zeros(1, 3, size, size)).flatten(1).shape[1])
    return FrozenRecognizer(net, size, mean, std, order, affine_theta(m, crop_size, size), name or p.stem, sha, family, dim)

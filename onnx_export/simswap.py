"""Official SimSwap generator checkpoints → ONNX with a faceplate swapper contract.

    faceplate export --from simswap checkpoints/people/latest_net_G.pth -o simswap_224.onnx

The generator (``Generator_Adain_Upsample`` of the official repository's models/fs_networks.py for
224 crops and fs_networks_512.py for 512) is written here from its published description with the
same module names, so the official state_dict loads with ``strict=True``. Weights are read with
``torch.load(weights_only=True)`` or from .safetensors; no pickled code ever runs. The crop size is
told by the keys (``down0`` exists only in the 512 network).

The ONNX takes ``target`` [1,3,S,S] (RGB 0..1, SimSwap's crop) and ``source`` [1,512] (the
L2-normalised identity) and returns ``swap`` [1,3,S,S] in 0..1; its contract (metadata
``faceplate.contract``) is the SimSwap one core uses for the official crops: family "simswap",
alignment "newarc" (224) or "ffhq5" (512).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Union

from faceplate.core.errors import ModelError

N_BLOCKS = 9          # fs_model.py builds the generator with n_blocks=9, deep=False, latent_size=512
LATENT = 512


def simswap_generator(crop_size: int):
    """An untrained official-layout generator for 224 or 512 crops (torch imported lazily)."""
    import torch
    from torch import nn

    class InstanceNorm(nn.Module):            # parameter-free, eps 1e-8 inside the rsqrt
        def forward(self, x):
            x = x - torch.mean(x, (2, 3), True)
            return x * torch.rsqrt(torch.mean(x * x, (2, 3), True) + 1e-8)

    class ApplyStyle(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.linear = nn.Linear(LATENT, channels * 2)

        def forward(self, x, latent):
            style = self.linear(latent).view(-1, 2, x.size(1), 1, 1)
            return x * (style[:, 0] + 1.0) + style[:, 1]

    class ResnetBlockAdain(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.conv1 = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), InstanceNorm())
            self.style1 = ApplyStyle(dim)
            self.act1 = nn.ReLU(True)
            self.conv2 = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), InstanceNorm())
            self.style2 = ApplyStyle(dim)

        def forward(self, x, latent):
            y = self.act1(self.style1(self.conv1(x), latent))
            return x + self.style2(self.conv2(y), latent)

    def down(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1), nn.BatchNorm2d(cout), nn.ReLU(True))

    def up(cin, cout):
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear"), nn.Conv2d(cin, cout, 3, 1, 1),
                             nn.BatchNorm2d(cout), nn.ReLU(True))

    class Generator(nn.Module):
        def __init__(self, big: bool):
            super().__init__()
            first = 32 if big else 64
            self.big = big
            self.first_layer = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(3, first, 7), nn.BatchNorm2d(first),
                                             nn.ReLU(True))
            if big:
                self.down0 = down(32, 64)
            self.down1, self.down2, self.down3 = down(64, 128), down(128, 256), down(256, 512)
            self.BottleNeck = nn.Sequential(*[ResnetBlockAdain(512) for _ in range(N_BLOCKS)])
            self.up3, self.up2, self.up1 = up(512, 256), up(256, 128), up(128, 64)
            if big:
                self.up0 = up(64, 32)
            self.last_layer = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(first, 3, 7), nn.Tanh())

        def forward(self, target, source):
            x = self.first_layer(target)
            if self.big:
                x = self.down0(x)
            x = self.down3(self.down2(self.down1(x)))
            for block in self.BottleNeck:
                x = block(x, source)
            x = self.up1(self.up2(self.up3(x)))
            if self.big:
                x = self.up0(x)
            return (self.last_layer(x) + 1) / 2

    if crop_size not in (224, 512):
        raise ValueError(f"SimSwap generators exist for 224 and 512 crops, not {crop_size}")
    return Generator(crop_size == 512).eval()


def _pickle_advice(path: Path) -> str:
    return (f"{path.name}: a whole pickled model (SimSwap's arcface_checkpoint.tar is one), which faceplate never "
            f"unpickles; convert it once in a trusted sandbox with SimSwap's code on the path: `python -c \"import torch, "
            f"safetensors.torch as st; m = torch.load('{path.name}', weights_only=False); "
            f"st.save_file(m.state_dict(), 'weights.safetensors')\"`, then pass weights.safetensors")


def read_state_dict(path: Union[str, Path]) -> dict[str, Any]:
    """Tensors of a .pth/.pt/.tar state_dict (weights_only) or a .safetensors file; ModelError otherwise."""
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: checkpoint not found; pass the SimSwap generator file (e.g. latest_net_G.pth)")
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file
        return dict(load_file(str(path)))
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ModelError(_pickle_advice(path)) from None
    except Exception as exc:  # not a torch file at all
        raise ModelError(f"{path.name}: not a readable PyTorch state_dict ({str(exc).splitlines()[0][:120]}); "
                         f"pass the SimSwap generator .pth") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise ModelError(_pickle_advice(path))
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def load_simswap_generator(path: Union[str, Path]):
    """(generator in eval mode with the checkpoint's weights, crop size); strict key match."""
    state = read_state_dict(path)
    name = Path(path).name
    if "BottleNeck.0.style1.linear.weight" not in state:
        arcface = "layer1.0.conv1.weight" in state and "fc.weight" in state
        what = ("SimSwap's ArcFace (identity) network, not its generator; faceplate does not convert it yet — "
                "give the swapper an identity with --recognizer / --source-embedding" if arcface
                else "not a SimSwap Generator_Adain_Upsample state_dict (no BottleNeck.*.style1 keys)")
        raise ModelError(f"{name}: {what}; pass the generator file (e.g. latest_net_G.pth or 550000_net_G.pth)")
    crop = 512 if "down0.0.weight" in state else 224
    model = simswap_generator(crop)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        raise ModelError(f"{name}: does not match the official SimSwap {crop} generator "
                         f"({(lines[1] if len(lines) > 1 else lines[0])[:160]}); pass an unmodified checkpoint") from None
    return model.eval(), crop


def simswap_contract(crop: int) -> dict[str, Any]:
    """The contract core's SimSwap signature gives the same graph (core/swap.py SIMSWAP_CONTRACT)."""
    return {"role": "swapper", "family": "simswap", "input_size": [crop, crop], "channel_order": "RGB",
            "mean": [0.0, 0.0, 0.0], "std": [255.0, 255.0, 255.0], "alignment": "newarc" if crop == 224 else "ffhq5",
            "output": f"swap [N,3,{crop},{crop}] RGB 0..1 in SimSwap's aligned crop", "embedding_dim": LATENT,
            "latent": "embedding", "output_range": [0.0, 1.0], "inputs": {"target": "target", "source": "source"}}

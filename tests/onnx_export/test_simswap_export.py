"""`faceplate export --from simswap`: the official generator layout (strict load, weights only),
contract metadata, torch-vs-ONNX parity, the ArcFace-pickle message, and the exported model
rendering an EXR plate with the plate's bytes unchanged outside the matte."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from faceplate.core.cli.__init__ import main
from faceplate.core.errors import ModelError
from faceplate.onnx_export.simswap import load_simswap_generator, simswap_generator
from tests.onnx_export.swapper_graphs import insightface_image

# Keys and shapes as the official models/fs_networks.py (224) and fs_networks_512.py (512) name them
# (n_blocks=9, latent 512): read from the repository, not from our module.
OFFICIAL_224 = {"first_layer.1.weight": (64, 3, 7, 7), "first_layer.2.running_var": (64,),
                "down1.0.weight": (128, 64, 3, 3), "down3.1.num_batches_tracked": (),
                "BottleNeck.0.conv1.1.weight": (512, 512, 3, 3), "BottleNeck.0.style1.linear.weight": (1024, 512),
                "BottleNeck.8.conv2.1.bias": (512,), "BottleNeck.8.style2.linear.bias": (1024,),
                "up3.1.weight": (256, 512, 3, 3), "up1.2.running_mean": (64,), "last_layer.1.weight": (3, 64, 7, 7)}
OFFICIAL_512 = {"first_layer.1.weight": (32, 3, 7, 7), "down0.0.weight": (64, 32, 3, 3), "down0.1.bias": (64,),
                "up0.1.weight": (32, 64, 3, 3), "up0.2.running_var": (32,), "last_layer.1.weight": (3, 32, 7, 7)}
COUNTS = {224: 7 + 3 * 7 + 9 * 8 + 3 * 7 + 2, 512: 7 + 4 * 7 + 9 * 8 + 4 * 7 + 2}   # conv+BN layers, 9 blocks


def official_shaped_checkpoint(path: Path, crop: int, seed: int = 0) -> Path:
    """A state_dict with the official names and random weights, saved the way SimSwap saves G."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in simswap_generator(crop).state_dict().items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(1000)
        elif key.endswith("running_var"):
            state[key] = 0.5 + torch.rand(value.shape, generator=gen)
        elif value.dim() > 1:
            state[key] = torch.randn(value.shape, generator=gen) * (1.0 / value[0].numel()) ** 0.5
        else:
            state[key] = 0.1 * torch.randn(value.shape, generator=gen)
    torch.save(state, str(path))
    return path


@pytest.mark.parametrize("crop,expected", [(224, OFFICIAL_224), (512, OFFICIAL_512)])
def test_generator_has_the_official_state_dict_layout(crop, expected):
    state = simswap_generator(crop).state_dict()
    assert len(state) == COUNTS[crop]
    for key, shape in expected.items():
        assert tuple(state[key].shape) == shape, key


def test_strict_load_refuses_other_files_with_one_line_messages(tmp_path):
    ckpt = official_shaped_checkpoint(tmp_path / "latest_net_G.pth", 224)
    model, crop = load_simswap_generator(ckpt)
    assert crop == 224 and not model.training
    state = torch.load(str(ckpt), weights_only=True)
    del state["BottleNeck.3.conv1.1.bias"]
    torch.save(state, str(tmp_path / "cut.pth"))
    with pytest.raises(ModelError, match="does not match the official SimSwap 224 generator"):
        load_simswap_generator(tmp_path / "cut.pth")
    # SimSwap's arcface_checkpoint.tar is a pickled nn.Module; any pickled object stands in for it.
    with open(tmp_path / "arcface_checkpoint.tar", "wb") as handle:
        pickle.dump(torch.nn.Sequential(torch.nn.Linear(2, 2)), handle)
    with pytest.raises(ModelError) as err:
        load_simswap_generator(tmp_path / "arcface_checkpoint.tar")
    message = str(err.value)
    assert "\n" not in message and "never unpickles" in message and "weights_only=False" in message
    assert "state_dict()" in message and "safetensors" in message
    arcface = {"conv1.weight": torch.zeros(64, 3, 3, 3), "layer1.0.conv1.weight": torch.zeros(64, 64, 3, 3),
               "fc.weight": torch.zeros(512, 25088)}
    from safetensors.torch import save_file
    save_file(arcface, str(tmp_path / "arcface.safetensors"))
    with pytest.raises(ModelError, match="ArcFace"):
        load_simswap_generator(tmp_path / "arcface.safetensors")


def test_export_512_contract_and_parity(tmp_path):
    from faceplate.onnx_export.export import export_simswap

    ckpt = official_shaped_checkpoint(tmp_path / "550000_net_G.pth", 512, seed=1)
    report = export_simswap(ckpt, tmp_path / "simswap_512.onnx")
    print(f"simswap 512 export parity: {report.max_abs_diff:.3g}")
    assert report.max_abs_diff <= 1e-4
    assert (report.contract["input_size"], report.contract["alignment"]) == ([512, 512], "ffhq5")


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    from tests.core.render_plates import make_shot

    folder = tmp_path_factory.mktemp("simswap_shot")
    return make_shot(folder, insightface_image("t1.jpg"), str(insightface_image("t1.jpg")), frames=[1001, 1002])


def test_export_from_simswap_then_render_an_exr_plate(shot, tmp_path, capsys):
    import OpenImageIO as oiio

    from faceplate.core.models.contract import contract_from_onnx
    from faceplate.core.io.frames import sequence_path
    from faceplate.core.render.engines.neural import load_swapper

    ckpt = official_shaped_checkpoint(tmp_path / "latest_net_G.pth", 224)
    model = tmp_path / "simswap_224.onnx"
    assert main(["export", "--from", "simswap", str(ckpt), "-o", str(model)]) == 0
    printed = capsys.readouterr().out
    diff = float(printed.split("parity max abs diff ")[1].split()[0])
    print(f"simswap 224 export parity: {diff:.3g}")
    assert diff <= 1e-4
    meta = {p.key: p.value for p in onnx.load(str(model)).metadata_props}
    assert json.loads(meta["faceplate.checkpoint"])["kind"] == "simswap"
    contract = contract_from_onnx(str(model))
    assert (contract.role, contract.family, contract.alignment, contract.input_size, contract.latent) == \
        ("swapper", "simswap", "newarc", (224, 224), "embedding")
    assert load_swapper(str(model)).contract == contract

    embedding = tmp_path / "source.npy"
    np.save(embedding, np.random.default_rng(0).standard_normal(512).astype(np.float32))
    out = tmp_path / "out" / "swap.####.exr"
    assert main(["render", shot.pattern, "--track", shot.track, "--source-embedding", str(embedding),
                 "--model", str(model), "--frames", "1001-1002", "--out", str(out), "--no-regrain"]) == 0
    for f in shot.frames:
        src = oiio.ImageInput.open(sequence_path(shot.pattern, f))
        plate = np.asarray(src.read_image(0, 0, 0, src.spec().nchannels, "half"))
        src.close()
        dst = oiio.ImageInput.open(str(out).replace("####", f"{f:04d}"))
        spec = dst.spec()
        got = np.asarray(dst.read_image(0, 0, 0, spec.nchannels, "float"))
        dst.close()
        assert list(spec.channelnames)[-1] == "faceplate.matte"
        outside = got[..., -1] == 0
        stored = got[..., :3].astype(np.float16).view(np.uint16)
        original = plate[..., :3].view(np.uint16)
        assert np.array_equal(stored[outside], original[outside]), f"frame {f}: bytes changed outside the matte"
        changed = (stored != original).any(axis=2)
        assert changed.sum() > 2000 and not (changed & outside).any()

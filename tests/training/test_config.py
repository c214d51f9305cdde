"""Config loading: unknown keys named with the closest valid key, types checked, paths resolved."""
from __future__ import annotations

import pytest

from faceplate.core.errors import FaceplateError
from faceplate.training.config import config_from_dict, config_from_json, config_to_json, load_config


def test_unknown_key_names_the_closest_valid_key(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("dataset: data\nlearing_rate: 0.1\n")
    with pytest.raises(FaceplateError) as err:
        load_config(cfg, "identity")
    message = str(err.value)
    assert "'learing_rate'" in message and str(cfg) in message
    cfg.write_text("dataset: data\nbatchsize: 4\n")
    with pytest.raises(FaceplateError, match="did you mean 'batch_size'"):
        load_config(cfg, "identity")
    with pytest.raises(FaceplateError, match="did you mean 'lambda_id'"):
        config_from_dict("swapper", {"lambda_idd": 1.0})


def test_types_are_checked_and_coerced(tmp_path):
    assert config_from_dict("identity", {"lr": "2e-4", "steps": 10.0}).lr == pytest.approx(2e-4)
    with pytest.raises(FaceplateError, match="'steps' expects int"):
        config_from_dict("identity", {"steps": "many"})
    with pytest.raises(FaceplateError, match="'augment' expects bool"):
        config_from_dict("identity", {"augment": "yes"})


def test_paths_resolve_against_the_config_folder_and_kind_is_checked(tmp_path):
    cfg = tmp_path / "sub" / "c.yaml"
    cfg.parent.mkdir()
    cfg.write_text("kind: swapper\ndataset: ../faces\nout_dir: runs/a\nrecognizer: r.onnx\ninput_size: 256\n")
    loaded = load_config(cfg, "swapper")
    assert loaded.dataset == str((tmp_path / "faces").resolve())
    assert loaded.out_dir == str((tmp_path / "sub" / "runs" / "a").resolve())
    assert loaded.input_size == 256
    assert config_from_json(config_to_json(loaded)) == loaded
    with pytest.raises(FaceplateError, match="train swapper"):
        load_config(cfg, "identity")
    with pytest.raises(FaceplateError, match="not found"):
        load_config(tmp_path / "missing.yaml", "identity")


def test_shipped_configs_load():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "training" / "configs"
    files = sorted(folder.glob("*.yaml"))
    assert files, "training/configs/*.yaml missing"
    for f in files:
        kind = "swapper" if f.name.startswith("swapper") else "identity"
        load_config(f, kind)

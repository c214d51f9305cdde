"""Training configuration: typed dataclasses loaded from YAML, unknown keys rejected by name.

A config file is a flat YAML mapping (nested ``data:``/``model:`` sections are not used, so a
typo can always be pointed at exactly). Unknown keys raise FaceplateError naming the key and the
closest valid key (difflib), so a misspelt ``learing_rate`` never silently trains with defaults.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from faceplate.core.errors import FaceplateError


@dataclass
class CommonConfig:
    dataset: str = ""                 # DATASET/<group>/<k>/<id>.png
    out_dir: str = "runs/run"         # checkpoints, tensorboard logs, loss CSV
    steps: int = 1000
    batch_size: int = 32
    lr: float = 2e-4
    seed: int = 0
    log_every: int = 10               # scalars to TensorBoard / CSV every N steps
    image_every: int = 200            # image grids to TensorBoard every N steps (swapper)
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    resume: str = ""                  # "" | "auto" (latest in out_dir) | path to a checkpoint
    amp: bool = True                  # mixed precision, only used on CUDA
    threads: int = 0                  # torch CPU threads; 0 = torch default
    data_workers: int = 0             # threads warping each batch; 0 = 1 on the CPU, min(8, cores) on a GPU
    val_fraction: float = 0.1         # held-out identities/images for verification
    max_images_per_class: int = 0     # 0 = all
    augment: bool = True
    overfit_batches: int = 0          # debugging: > 0 cycles through this many fixed batches (loss must fall)
    device: str = "auto"              # "auto" (CUDA if present) | "cpu" | "cuda"


@dataclass
class IdentityConfig(CommonConfig):
    input_size: int = 112             # crops are resized to this (arcface112-aligned)
    embedding_dim: int = 512
    backbone: str = "mobilefacenet"   # "mobilefacenet" | "iresnet"
    width: float = 1.0                # channel multiplier (tiny configs use < 1)
    loss: str = "arcface"             # "arcface" | "cosface"
    margin: float = 0.5               # arcface: additive angle (rad); cosface: cosine margin (e.g. 0.35)
    scale: float = 64.0
    weight_decay: float = 5e-4
    momentum: float = 0.9
    optimizer: str = "sgd"            # "sgd" | "adamw"


@dataclass
class SwapperConfig(CommonConfig):
    input_size: int = 224             # 224 | 256 | 512 (any multiple of 2**down_layers)
    alignment: str = "arcface112"     # crop template the generator works in: "arcface112" (scaled) | "ffhq"
    recognizer: str = ""              # frozen identity network: an ONNX recognizer or an identity checkpoint
    recognizer_name: str = ""         # name recorded in the export; default: the file's stem
    base_channels: int = 64
    down_layers: int = 3
    id_blocks: int = 9
    disc_channels: int = 64
    disc_layers: int = 3
    disc_scales: int = 2
    lambda_id: float = 10.0
    lambda_rec: float = 10.0
    lambda_fm: float = 10.0
    lambda_adv: float = 1.0
    lambda_gp: float = 0.0            # R1-style gradient penalty on real images; 0 = off
    same_identity_fraction: float = 0.5  # share of batches whose source is the target itself
    beta1: float = 0.0
    beta2: float = 0.99


CONFIG_TYPES = {"identity": IdentityConfig, "swapper": SwapperConfig}
AnyConfig = Union[IdentityConfig, SwapperConfig]


def config_from_dict(kind: str, values: dict[str, Any], source: str = "config") -> AnyConfig:
    """Build a config of ``kind`` ("identity"|"swapper"); unknown keys and bad types raise FaceplateError."""
    if kind not in CONFIG_TYPES:
        raise FaceplateError(f"{source}: unknown training kind {kind!r}; use identity or swapper")
    cls = CONFIG_TYPES[kind]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in (values or {}).items():
        if key == "kind":
            continue
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(sorted(fields))}"
            raise FaceplateError(f"{source}: unknown config key {key!r}{hint}")
        default = fields[key].default
        kwargs[key] = _coerce(key, value, default, source)
    return cls(**kwargs)


def _coerce(key: str, value: Any, default: Any, source: str) -> Any:
    # YAML reads 2e-4 as a string in some dialects and ints where floats are meant: coerce to the default's type.
    try:
        if isinstance(default, bool):
            if isinstance(value, bool):
                return value
            raise ValueError
        if isinstance(default, int):
            if isinstance(value, bool) or float(value) != int(float(value)):
                raise ValueError
            return int(float(value))
        if isinstance(default, float):
            return float(value)
        if isinstance(default, str):
            return "" if value is None else str(value)
    except (TypeError, ValueError):
        pass
    else:
        return value
    raise FaceplateError(f"{source}: config key {key!r} expects {type(default).__name__}, got {value!r}")


def load_config(path: Union[str, Path], kind: str) -> AnyConfig:
    """Read a YAML config file; relative dataset/out_dir/recognizer paths resolve against the file's folder."""
    import yaml  # PyYAML is in the train extra

    path = Path(path)
    if not path.is_file():
        raise FaceplateError(f"{path}: config file not found; pass an existing --config YAML file")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise FaceplateError(f"{path}: not valid YAML ({str(exc).splitlines()[0]}); fix the syntax") from exc
    if not isinstance(values, dict):
        raise FaceplateError(f"{path}: expected a mapping of key: value, got {type(values).__name__}")
    if values.get("kind", kind) != kind:
        raise FaceplateError(f"{path}: this is a {values['kind']!r} config; run `faceplate train {values['kind']}`")
    cfg = config_from_dict(kind, values, source=str(path))
    for key in ("dataset", "out_dir", "recognizer"):
        value = getattr(cfg, key, "")
        if value and not Path(value).is_absolute():
            setattr(cfg, key, str((path.parent / value).resolve()))
    if cfg.resume and cfg.resume != "auto" and not Path(cfg.resume).is_absolute():
        cfg.resume = str((path.parent / cfg.resume).resolve())
    return cfg


def config_to_json(cfg: AnyConfig) -> str:
    return json.dumps({"kind": config_kind(cfg), **dataclasses.asdict(cfg)}, sort_keys=True)


def config_from_json(text: str) -> AnyConfig:
    values = json.loads(text)
    return config_from_dict(values.pop("kind"), values, source="checkpoint config")


def config_kind(cfg: AnyConfig) -> str:
    return "swapper" if isinstance(cfg, SwapperConfig) else "identity"


# Keys that change tensor shapes: a checkpoint whose values differ cannot be resumed into this config.
ARCHITECTURE_KEYS = {
    "identity": ("input_size", "embedding_dim", "backbone", "width", "loss", "optimizer"),
    "swapper": ("input_size", "base_channels", "down_layers", "id_blocks", "disc_channels",
                "disc_layers", "disc_scales"),
}

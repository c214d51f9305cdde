"""Training checkpoints: one safetensors file holding models, optimizers, step, config and RNG state.

No pickle anywhere: tensors go into the safetensors body, everything else (step, config, optimizer
hyper-parameters, Python/NumPy RNG state) into its string metadata as JSON. Restoring every RNG
and the data sampler's state makes resume exact: the next step's loss equals the uninterrupted run's.

Tensor names: ``model/<name>/<param>``, ``optim/<name>/<param index>/<key>``, ``rng/torch``.
Metadata key ``faceplate.checkpoint``: JSON {"format": "faceplate.checkpoint/1", "kind", "step",
"config", "optim": {name: {"param_groups", "scalars"}}, "rng": {"python", "numpy", "sampler", "ranks"},
"extra"}. Under torchrun every rank draws its own batches and random numbers, so ``rng.ranks`` holds
one ``rank_state()`` per rank (gathered to rank 0 at each checkpoint) and each rank resumes its own.
"""
from __future__ import annotations

import base64
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from faceplate.core.errors import FaceplateError
from faceplate.core.filesystem import atomic_path

FORMAT = "faceplate.checkpoint/1"
META_KEY = "faceplate.checkpoint"
_NAME = re.compile(r"^step_(\d{8})\.safetensors$")


@dataclass
class Checkpoint:
    """What a checkpoint file holds, as loaded (tensors are torch tensors on CPU)."""
    path: str
    kind: str                      # "identity" | "swapper"
    step: int
    config: str                    # config JSON (config.config_to_json)
    models: dict[str, dict[str, Any]]        # name -> state_dict
    optimizers: dict[str, dict[str, Any]]    # name -> optimizer state_dict
    rng: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


def checkpoint_path(out_dir: Union[str, Path], step: int) -> Path:
    return Path(out_dir) / "checkpoints" / f"step_{step:08d}.safetensors"


def list_checkpoints(out_dir: Union[str, Path]) -> list[Path]:
    folder = Path(out_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _NAME.match(p.name))


def latest_checkpoint(out_dir: Union[str, Path]) -> Optional[Path]:
    found = list_checkpoints(out_dir)
    return found[-1] if found else None


def capture_rng(sampler_state: Any = None) -> dict[str, Any]:
    """Python + NumPy global RNG state (JSON) and the data sampler's own state."""
    version, internal, gauss = random.getstate()
    np_state = np.random.get_state()
    return {
        "python": [version, list(internal), gauss],
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "sampler": sampler_state,
    }


def rank_state(sampler_state: Any = None) -> dict[str, Any]:
    """This process's full random state as JSON: Python, NumPy, sampler, torch CPU and its CUDA device."""
    import torch

    state = capture_rng(sampler_state)
    state["torch"] = base64.b64encode(torch.get_rng_state().numpy().tobytes()).decode("ascii")
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = base64.b64encode(torch.cuda.get_rng_state().numpy().tobytes()).decode("ascii")
    return state


def restore_rank_state(state: dict[str, Any]) -> Any:
    """Restore what ``rank_state`` captured (CUDA on the current device); returns the sampler state."""
    import torch

    def tensor(text: str):
        return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8).clone()

    restore_rng(state, tensor(state["torch"]))
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensor(state["cuda"]))
    return state.get("sampler")


def restore_rng(rng: dict[str, Any], torch_state=None) -> None:
    import torch

    version, internal, gauss = rng["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = rng["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    if torch_state is not None:
        torch.set_rng_state(torch_state)


def save_checkpoint(path: Union[str, Path], kind: str, step: int, config_json: str,
                    models: dict[str, Any], optimizers: dict[str, Any],
                    sampler_state: Any = None, extra: Optional[dict[str, Any]] = None,
                    rank_states: Optional[list[dict[str, Any]]] = None) -> Path:
    """Write models (nn.Module or state_dict) and optimizers atomically to ``path``; ``rank_states``
    (one ``rank_state()`` per torchrun rank, in rank order) makes a multi-process resume exact."""
    import torch
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    for name, model in models.items():
        state = model.state_dict() if hasattr(model, "state_dict") and not isinstance(model, dict) else model
        for key, value in state.items():
            tensors[f"model/{name}/{key}"] = value.detach().cpu().contiguous().clone()
    optim_meta: dict[str, Any] = {}
    for name, optimizer in optimizers.items():
        state = optimizer.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for index, per_param in state["state"].items():
            for key, value in per_param.items():
                if torch.is_tensor(value):
                    tensors[f"optim/{name}/{index}/{key}"] = value.detach().cpu().contiguous().clone()
                else:
                    scalars.setdefault(str(index), {})[key] = value
        optim_meta[name] = {"param_groups": state["param_groups"], "scalars": scalars}
    tensors["rng/torch"] = torch.get_rng_state().clone()
    if torch.cuda.is_available():
        for i, cuda_state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda{i}"] = cuda_state.clone()
    rng = capture_rng(sampler_state)
    if rank_states:
        rng["ranks"] = rank_states
    meta = {"format": FORMAT, "kind": kind, "step": int(step), "config": config_json,
            "optim": optim_meta, "rng": rng, "extra": extra or {}}
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={META_KEY: json.dumps(meta)})
    return path


def load_checkpoint(path: Union[str, Path]) -> Checkpoint:
    """Load a checkpoint; FaceplateError when it is missing, corrupt or not ours."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FaceplateError(f"{path}: checkpoint not found; pass an existing .safetensors checkpoint")
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta_text = (handle.metadata() or {}).get(META_KEY)
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as exc:  # safetensors raises its own error types for truncated/corrupt files
        raise FaceplateError(f"{path}: not a readable safetensors checkpoint ({exc}); "
                             f"use another checkpoint from the run's checkpoints/ folder") from exc
    if not meta_text:
        raise FaceplateError(f"{path}: safetensors file without faceplate checkpoint metadata; "
                             f"pass a checkpoint written by `faceplate train`")
    meta = json.loads(meta_text)
    if meta.get("format") != FORMAT:
        raise FaceplateError(f"{path}: checkpoint format {meta.get('format')!r}, expected {FORMAT!r}")
    models: dict[str, dict[str, Any]] = {}
    optim_tensors: dict[str, dict[int, dict[str, Any]]] = {}
    for key, value in tensors.items():
        head, _, rest = key.partition("/")
        if head == "model":
            name, _, param = rest.partition("/")
            models.setdefault(name, {})[param] = value
        elif head == "optim":
            name, index, opt_key = rest.split("/", 2)
            optim_tensors.setdefault(name, {}).setdefault(int(index), {})[opt_key] = value
    optimizers: dict[str, dict[str, Any]] = {}
    for name, info in meta["optim"].items():
        state = {idx: dict(values) for idx, values in optim_tensors.get(name, {}).items()}
        for index, scalars in info["scalars"].items():
            state.setdefault(int(index), {}).update(scalars)
        optimizers[name] = {"state": state, "param_groups": info["param_groups"]}
    rng = dict(meta["rng"])
    rng["torch"] = tensors.get("rng/torch")
    rng["cuda"] = [tensors[k] for k in sorted(tensors) if k.startswith("rng/cuda")]
    return Checkpoint(path=str(path), kind=meta["kind"], step=int(meta["step"]), config=meta["config"],
                      models=models, optimizers=optimizers, rng=rng, extra=meta.get("extra", {}))


def check_compatible(ckpt: Checkpoint, kind: str, config_json: str, arch_keys: tuple[str, ...]) -> None:
    """Refuse to resume a checkpoint whose kind or architecture differs from the config's."""
    if ckpt.kind != kind:
        raise FaceplateError(f"{ckpt.path}: is a {ckpt.kind} checkpoint, cannot resume `train {kind}`; "
                             f"point resume at a {kind} checkpoint or start a new out_dir")
    mine, theirs = json.loads(config_json), json.loads(ckpt.config)
    for key in arch_keys:
        if mine.get(key) != theirs.get(key):
            raise FaceplateError(f"{ckpt.path}: incompatible checkpoint: {key}={theirs.get(key)!r} there, "
                                 f"{mine.get(key)!r} in the config; use the same {key} or a new out_dir")


def prune_checkpoints(out_dir: Union[str, Path], keep: int) -> None:
    if keep <= 0:
        return
    for old in list_checkpoints(out_dir)[:-keep]:
        old.unlink(missing_ok=True)

"""Checkpoint → ONNX with the model contract in ``metadata_props``, checked and parity-tested.

    report = export_checkpoint("runs/swap/checkpoints/step_00010000.safetensors", "swap.onnx")

Identity checkpoints export the encoder as a recognizer: input ``input`` (N,3,S,S) RGB 0..1 of an
arcface112-aligned crop, output ``embedding`` (N,D) L2-normalised; contract role "recognizer",
family "faceplate". Swapper checkpoints export the generator: inputs ``target`` (N,3,S,S) RGB 0..1
and ``source`` (N,D) L2-normalised embedding from the recognizer named in metadata key
``faceplate.recognizer`` (JSON: name, sha256, family, embedding_dim); output ``swap`` (N,3,S,S) 0..1.
The file is written atomically and only after the ONNX checker passes and onnxruntime agrees with
torch within the tolerance (1e-4 max abs for fp32), so a failed export never replaces a good file.
"""
from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from faceplate.core.errors import FaceplateError, ModelError
from faceplate.core.filesystem import atomic_path, sha256_file

log = logging.getLogger("faceplate.export")

CONTRACT_KEY = "faceplate.contract"          # == faceplate.core.models.ONNX_CONTRACT_KEY
RECOGNIZER_KEY = "faceplate.recognizer"
CHECKPOINT_KEY = "faceplate.checkpoint"     # {"sha256", "step", "kind"} provenance


@dataclass
class ExportReport:
    path: str
    role: str
    max_abs_diff: float
    tolerance: float
    sha256: str
    contract: dict[str, Any]


def build_from_checkpoint(path: Union[str, Path]):
    """(torch module in eval mode, kind, config, checkpoint) for an identity or swapper checkpoint."""
    from faceplate.training.checkpoint import load_checkpoint
    from faceplate.training.config import config_from_json

    ck = load_checkpoint(path)
    cfg = config_from_json(ck.config)
    if ck.kind == "identity":
        from faceplate.training.identity_model import IdentityEncoder, build_backbone

        model = IdentityEncoder(build_backbone(cfg.backbone, cfg.embedding_dim, cfg.input_size, cfg.width))
        model.load_state_dict(ck.models["encoder"])
    elif ck.kind == "swapper":
        from faceplate.training.swapper_model import Generator

        dim = int(ck.extra.get("recognizer", {}).get("embedding_dim") or 0)
        if not dim:
            raise FaceplateError(f"{path}: swapper checkpoint without recognizer information; re-save it with "
                                 f"`faceplate train swapper`")
        model = Generator(dim, cfg.base_channels, cfg.down_layers, cfg.id_blocks)
        model.load_state_dict(ck.models["G"])
    else:
        raise FaceplateError(f"{path}: unknown checkpoint kind {ck.kind!r}")
    return model.eval(), ck.kind, cfg, ck


def contract_for(kind: str, cfg: Any, ck: Any) -> dict[str, Any]:
    """The ModelContract dict (core.models.ModelContract.to_dict layout) of an exported checkpoint."""
    s = int(cfg.input_size)
    if kind == "identity":
        return {"role": "recognizer", "family": "faceplate", "input_size": [s, s], "channel_order": "RGB",
                "mean": [0.0, 0.0, 0.0], "std": [255.0, 255.0, 255.0], "alignment": "arcface112",
                "output": f"[N,{cfg.embedding_dim}] L2-normalised identity embedding",
                "embedding_dim": int(cfg.embedding_dim), "latent": None, "output_range": [-1.0, 1.0],
                "inputs": {"image": "input"}}
    rec = ck.extra["recognizer"]
    return {"role": "swapper", "family": "faceplate", "input_size": [s, s], "channel_order": "RGB",
            "mean": [0.0, 0.0, 0.0], "std": [255.0, 255.0, 255.0], "alignment": cfg.alignment,
            "output": f"swap [N,3,{s},{s}] RGB 0..1 in the target's aligned crop",
            "embedding_dim": int(rec["embedding_dim"]), "latent": "embedding", "output_range": [0.0, 1.0],
            "inputs": {"target": "target", "source": "source"}}



def _wrap_fp16(model):
    """Half-precision weights and compute, float32 inputs/outputs (callers keep feeding float32)."""
    import torch

    class Half(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner.half()

        def forward(self, *xs):
            return self.inner(*[x.half() for x in xs]).float()

    return Half(model).eval()


def export_checkpoint(checkpoint: Union[str, Path], output: Union[str, Path], fp16: bool = False, opset: int = 17,
                      dynamic_batch: bool = False, name: Optional[str] = None,
                      tolerance: Optional[float] = None) -> ExportReport:
    """Export, check and parity-test; FaceplateError/ModelError (and no file written) on any failure."""
    output = _onnx_output(output)
    model, kind, cfg, ck = build_from_checkpoint(checkpoint)
    contract = contract_for(kind, cfg, ck)
    meta = {CHECKPOINT_KEY: json.dumps({"sha256": sha256_file(checkpoint), "step": ck.step, "kind": kind,
                                        "name": name or output.stem})}
    if kind == "swapper":
        meta[RECOGNIZER_KEY] = json.dumps(ck.extra["recognizer"], sort_keys=True)
    half = (lambda: _wrap_fp16(build_from_checkpoint(checkpoint)[0])) if fp16 else None
    return _export_module(model, half, contract, meta, output, int(cfg.input_size), opset, dynamic_batch, tolerance,
                          f"faceplate {kind} exported from {Path(checkpoint).name} (step {ck.step})")


def export_simswap(checkpoint: Union[str, Path], output: Union[str, Path], fp16: bool = False, opset: int = 17,
                   dynamic_batch: bool = False, name: Optional[str] = None,
                   tolerance: Optional[float] = None) -> ExportReport:
    """An official SimSwap generator checkpoint (224 or 512) to a contract-carrying, parity-checked ONNX."""
    from .simswap import load_simswap_generator, simswap_contract

    output = _onnx_output(output)
    model, crop = load_simswap_generator(checkpoint)
    meta = {CHECKPOINT_KEY: json.dumps({"sha256": sha256_file(checkpoint), "step": None, "kind": "simswap",
                                        "name": name or output.stem})}
    half = (lambda: _wrap_fp16(load_simswap_generator(checkpoint)[0])) if fp16 else None
    return _export_module(model, half, simswap_contract(crop), meta, output, crop, opset, dynamic_batch, tolerance,
                          f"SimSwap {crop} generator converted from {Path(checkpoint).name}")


def _onnx_output(output: Union[str, Path]) -> Path:
    output = Path(output)
    if output.suffix.lower() != ".onnx":
        raise FaceplateError(f"{output}: the output must end in .onnx")
    return output


def _export_module(model, half_model, contract: dict[str, Any], meta: dict[str, str], output: Path, s: int,
                   opset: int, dynamic_batch: bool, tolerance: Optional[float], doc: str) -> ExportReport:
    """Trace ``model`` (or ``half_model()`` for fp16) to ``output`` with ``contract`` and ``meta`` in
    metadata_props; ONNX checker, then onnxruntime vs torch on a fixed random input."""
    import onnx
    import onnxruntime as ort
    import torch

    gen = torch.Generator().manual_seed(1234)
    n = 2 if dynamic_batch else 1
    if contract["role"] == "recognizer":
        example = (torch.rand(n, 3, s, s, generator=gen),)
        input_names, output_names = ["input"], ["embedding"]
    else:
        src = torch.nn.functional.normalize(torch.randn(n, contract["embedding_dim"], generator=gen), dim=1)
        example = (torch.rand(n, 3, s, s, generator=gen), src)
        input_names, output_names = ["target", "source"], ["swap"]
    with torch.no_grad():
        reference = model(*example).numpy()
    export_model = half_model() if half_model is not None else model
    dynamic_axes = {n_: {0: "batch"} for n_ in input_names + output_names} if dynamic_batch else None
    tol = tolerance if tolerance is not None else (2e-2 if half_model is not None else 1e-4)
    with atomic_path(output) as tmp:
        with torch.no_grad(), warnings.catch_warnings():
            # The TorchScript exporter warns about instance-norm "training mode" (our norms have no running
            # statistics, so train and eval are the same op) and unfoldable slices; parity below is the real check.
            warnings.simplefilter("ignore", UserWarning)
            torch.onnx.export(export_model, example, str(tmp), input_names=input_names, output_names=output_names,
                              opset_version=opset, dynamic_axes=dynamic_axes, dynamo=False, do_constant_folding=True)
        proto = onnx.load(str(tmp))
        del proto.metadata_props[:]
        for key, value in {CONTRACT_KEY: json.dumps(contract, sort_keys=True), **meta}.items():
            proto.metadata_props.add(key=key, value=value)
        proto.producer_name = "faceplate"
        proto.doc_string = doc
        try:
            onnx.checker.check_model(proto, full_check=True)
        except Exception as exc:
            raise ModelError(f"{output}: the ONNX checker rejected the export ({str(exc).splitlines()[0]}); "
                             f"try another --opset") from exc
        onnx.save(proto, str(tmp))
        try:
            session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
            got = session.run(None, {n_: t.numpy() for n_, t in zip(input_names, example)})[0]
        except Exception as exc:
            raise ModelError(f"{output}: onnxruntime cannot run the export ({str(exc).splitlines()[0][:200]}); "
                             f"try without --fp16 or another --opset") from exc
        diff = float(np.max(np.abs(got.astype(np.float64) - reference)))
        log.info("export parity %s: max abs diff %.3g (tolerance %g)", output.name, diff, tol)
        if not diff <= tol:
            raise ModelError(f"{output}: parity check failed: onnxruntime differs from torch by {diff:.3g} "
                             f"(tolerance {tol:g}); nothing was written")
    return ExportReport(path=str(output), role=contract["role"], max_abs_diff=diff, tolerance=tol,
                        sha256=sha256_file(output), contract=contract)

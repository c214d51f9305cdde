"""ONNX Runtime sessions on the best execution provider, and the input preparation every ONNX
model class shares.
"""
from __future__ import annotations

import logging

import cv2
import numpy as np
from faceplate.core.errors import ModelError
from faceplate.core.models.contract import ModelContract, ModelSource, _label, check_input_shape
from faceplate.core.models.manifest import ModelEntry

log = logging.getLogger("faceplate.models")


PROVIDER_ORDER = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CoreMLExecutionProvider",
                  "DmlExecutionProvider", "CPUExecutionProvider")


def choose_providers(preferred: list[str] | None = None) -> list[str]:
    """Best available providers, TensorRT > CUDA > CoreML > DirectML > CPU; CPU always last."""
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    order = list(preferred) if preferred else list(PROVIDER_ORDER)
    chosen = [p for p in order if p in available and p != "CPUExecutionProvider"]
    return chosen + ["CPUExecutionProvider"]


def open_session(model: ModelSource, providers: list[str] | None = None, label: str | None = None):
    """An onnxruntime InferenceSession on the best providers; logs which one runs, naming the model
    (``label``, else the file name)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    # No busy-waiting between ops: the plate reader/writer threads share the cores with inference,
    # and spinning workers took a core from them (analyze on 2 cores: 144 -> 106 ms CPU per frame).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(bytes(model) if isinstance(model, (bytes, bytearray)) else str(model),
                                       sess_options=opts, providers=providers or choose_providers())
    except Exception as exc:  # noqa: BLE001 - ORT raises several types for a bad file
        raise ModelError(f"{label or _label(model)}: onnxruntime cannot load it ({str(exc).splitlines()[0][:160]}); "
                         f"check the file is a complete ONNX model") from None
    log.info("%s runs on %s", label or _label(model), session.get_providers()[0])
    return session


def _as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {img.shape}")
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(img)


def _blob(image_rgb: np.ndarray, contract: ModelContract) -> np.ndarray:
    """(H,W,3) uint8 RGB -> (1,3,H,W) float32 per the contract's channel order and mean/std."""
    img = np.asarray(image_rgb)
    if img.dtype != np.uint8:
        img = image_rgb[..., ::-1] if contract.channel_order == "BGR" else image_rgb
        x = (img.astype(np.float32) - np.asarray(contract.mean, np.float32)) / np.asarray(contract.std, np.float32)
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None])
    # uint8: a 256-entry table per channel holds exactly (v - mean) / std in float32, so a lookup
    # gives the same values as the arithmetic at a fraction of the cost (detector inputs are 640²)
    mean = np.asarray(contract.mean, np.float32).reshape(-1)
    std = np.asarray(contract.std, np.float32).reshape(-1)
    mean, std = np.broadcast_to(mean, (3,)), np.broadcast_to(std, (3,))
    levels = np.arange(256, dtype=np.float32)
    h, w = img.shape[:2]
    out = np.empty((1, 3, h, w), np.float32)
    for c in range(3):  # mean/std are in the model's channel order
        table = (levels - mean[c]) / std[c]
        np.take(table, img[:, :, 2 - c if contract.channel_order == "BGR" else c], out=out[0, c])
    return out


class _OnnxModel:
    def __init__(self, entry: ModelEntry, model: ModelSource, providers: list[str] | None = None) -> None:
        self.name = entry.name
        self.sha256 = entry.sha256
        self.entry = entry
        self.contract = entry.contract
        self.session = open_session(model, providers, label=_label(model, entry))
        self.provider = self.session.get_providers()[0]
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        check_input_shape(self.contract, [(i.name, list(i.shape)) for i in self.session.get_inputs()],
                          _label(model, entry))

    def _run(self, blob: np.ndarray) -> list[np.ndarray]:
        return self.session.run(self.output_names, {self.input_name: blob})


def _pad_to(image: np.ndarray, w: int, h: int, value: tuple[int, int, int]) -> np.ndarray:
    ih, iw = image.shape[:2]
    if image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3 and ih <= h and iw <= w:
        # one pass in OpenCV; the same pixels as filling then copying
        return cv2.copyMakeBorder(np.ascontiguousarray(image), 0, h - ih, 0, w - iw, cv2.BORDER_CONSTANT,
                                  value=tuple(int(v) for v in value))
    out = np.empty((h, w, 3), dtype=np.uint8)
    out[...] = np.asarray(value, dtype=np.uint8)
    out[: image.shape[0], : image.shape[1]] = image
    return out


def _fit(image: np.ndarray, w: int, h: int) -> tuple[np.ndarray, float]:
    """Downscale (never upscale) to fit (w, h), keeping aspect; returns image and scale."""
    ih, iw = image.shape[:2]
    s = min(1.0, w / iw, h / ih)
    if s < 1.0:
        image = cv2.resize(image, (max(1, int(iw * s)), max(1, int(ih * s))), interpolation=cv2.INTER_AREA)
    return image, s

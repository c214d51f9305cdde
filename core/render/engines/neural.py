"""The neural engine: ONNX swappers (inswapper_128, SimSwap, our exports) through their contract.

Neural engines see a display-referred (sRGB-encoded, clamped) aligned crop through their
``ModelContract``; ``delta = to_linear(model_out) - to_linear(model_in)`` in crop space, warped back
with the inverse alignment. insightface's 8-bit full-frame paste-back is never used.
"""
from __future__ import annotations

import json
from typing import Any, Optional

import cv2
import numpy as np
from faceplate.core.colour import ColourPipeline
from faceplate.core.errors import FaceplateError, ModelError
from faceplate.core.filesystem import sha256_file
from faceplate.core.geometry import align
from faceplate.core.models.contract import ModelContract, infer_swapper_contract
from faceplate.core.models.locate import resolve
from faceplate.core.models.manifest import registry
from faceplate.core.models.session import open_session
from faceplate.core.render.colour_match import colour_match
from faceplate.core.types import SwapResult

# SimSwap's own templates (official repo, insightface_func/utils/face_align_ffhqandnewarc.py).
# "newarc" (its 224 models): five head-pose templates in a 112 frame (left profile ... right
# profile), scaled by size/112; the one the points fit best (least summed distance) is used.
SIMSWAP_NEWARC_112 = np.array([
    [[51.642, 50.115], [57.617, 49.990], [35.740, 69.007], [51.157, 89.050], [57.025, 89.702]],
    [[45.031, 50.118], [65.568, 50.872], [39.677, 68.111], [45.177, 86.190], [64.246, 86.758]],
    [[39.730, 51.138], [72.270, 51.138], [56.000, 68.493], [42.463, 87.010], [69.537, 87.010]],
    [[46.845, 50.872], [67.382, 50.118], [72.737, 68.111], [48.167, 86.758], [67.236, 86.190]],
    [[54.796, 49.990], [60.771, 50.115], [76.673, 69.007], [55.388, 89.702], [61.257, 89.050]]])
# "ffhq5" (its 512 model): one 5-point template in a 512 frame, scaled by size/512.
SIMSWAP_FFHQ_512 = np.array([[192.98138, 239.94708], [318.90277, 240.1936], [256.63416, 314.01935],
                             [201.26117, 371.41043], [313.08905, 371.15118]])


def _best_template_transform(points5: np.ndarray, templates: np.ndarray) -> np.ndarray:
    """Similarity onto whichever template the 5 points fit with the least summed distance."""
    p = np.asarray(points5, np.float64).reshape(5, 2)
    best, best_err = None, np.inf
    for template in templates:
        m = align.estimate_similarity(p, template)
        err = float(np.sqrt((((p @ m[:, :2].T + m[:, 2]) - template) ** 2).sum(axis=1)).sum())
        if err < best_err:
            best, best_err = m, err
    return best


def _template_transform(contract: ModelContract, landmarks68: np.ndarray, points5: np.ndarray, size: int) -> np.ndarray:
    """Image -> model-crop transform (2, 3) for the contract's alignment template."""
    kind = (contract.alignment or "arcface112").lower()
    if kind in ("arcface112", "arcface"):
        return align.arcface_transform(points5, size)
    if kind == "newarc":
        return _best_template_transform(points5, SIMSWAP_NEWARC_112 * (size / 112.0))
    if kind == "ffhq5":
        return _best_template_transform(points5, SIMSWAP_FFHQ_512[None] * (size / 512.0))
    if kind == "ffhq":
        return align.ffhq_transform(landmarks68 if landmarks68 is not None else points5, size)
    if kind == "box":
        lm = np.asarray(landmarks68 if landmarks68 is not None else points5, np.float64)
        box = np.array([*lm.min(axis=0), *lm.max(axis=0)])
        return align.box_transform(box, size, 1.5)
    raise ModelError(f"swapper alignment {contract.alignment!r} is not supported; use arcface112, newarc, ffhq5, "
                     f"ffhq or box")


class NeuralSwapper:
    """An ONNX swapper driven by its ModelContract (inswapper, simswap, or our own exports)."""

    needs_embedding = True

    def __init__(self, session: Any, contract: ModelContract, name: str, sha256: str, emap: Optional[np.ndarray] = None,
                 recognizer: Optional[dict] = None):
        self.session, self.contract, self.name, self.sha256 = session, contract, name, sha256
        self.emap = emap
        # Our exports name the recognizer whose embedding space they were trained in
        # (metadata "faceplate.recognizer": name, sha256, family, embedding_dim).
        self.recognizer = recognizer
        inputs = session.get_inputs()
        names = dict(getattr(contract, "inputs", None) or {})
        four_d = [i for i in inputs if len(i.shape) == 4]
        two_d = [i for i in inputs if len(i.shape) == 2]
        self.target_input = names.get("target") or (four_d[0].name if len(four_d) == 1 else None)
        self.source_input = names.get("source") or (two_d[0].name if len(two_d) == 1 else None)
        known = {i.name for i in inputs}
        if self.target_input not in known or self.source_input not in known:
            raise ModelError(f"{name}: inputs {sorted(known)} do not match a swapper contract "
                             f"(one (1,3,S,S) target image and one (1,D) identity); pass a supported swapper")
        size = contract.input_size
        if size is None:
            shape = next(i.shape for i in inputs if i.name == self.target_input)
            if not all(isinstance(d, int) for d in shape[2:]):
                raise ModelError(f"{name}: the contract gives no input size and the model's is dynamic; "
                                 f"re-export with a fixed size")
            size = (shape[3], shape[2])
        self.size = int(size[0])
        if (contract.latent or "embedding") == "emap" and self.emap is None:
            raise ModelError(f"{name}: an emap-latent swapper (inswapper) needs its emap matrix; "
                             f"the model file has none — pass the original inswapper_128.onnx")

    @classmethod
    def from_onnx(cls, model: bytes | str, contract: ModelContract, name: str, sha256: str,
                  session: Any = None) -> "NeuralSwapper":
        """Build from model bytes/path; for inswapper the emap is the graph's last initializer."""
        import onnx
        from onnx import numpy_helper

        emap = None
        proto = onnx.load_from_string(model) if isinstance(model, (bytes, bytearray)) else onnx.load(model)
        if (contract.latent or "") == "emap":
            if not proto.graph.initializer:
                raise ModelError(f"{name}: no initializers, so no emap; this is not an inswapper model")
            emap = numpy_helper.to_array(proto.graph.initializer[-1]).astype(np.float32)
        recognizer = None
        for prop in proto.metadata_props:
            if prop.key == "faceplate.recognizer":
                try:
                    recognizer = dict(json.loads(prop.value))
                except (ValueError, TypeError):
                    recognizer = None
        if session is None:
            session = open_session(model, label=name)
        return cls(session, contract, name, sha256, emap, recognizer)

    def latent(self, embedding: np.ndarray) -> np.ndarray:
        """(1, D) identity input: the normalised embedding, times emap (renormalised) for inswapper."""
        if embedding is None:
            raise FaceplateError(f"{self.name} needs a source identity embedding: pass --source photos or "
                                 f"--source-embedding e.npy")
        e = np.asarray(embedding, np.float64).reshape(1, -1)
        dim = getattr(self.contract, "embedding_dim", None)
        if dim and e.shape[1] != dim:
            raise FaceplateError(f"{self.name} needs a {dim}-d identity embedding, got {e.shape[1]}-d; pass "
                                 f"--source-embedding with a {dim}-d ArcFace embedding (.npy) or a matching --recognizer")
        e = e / max(np.linalg.norm(e), 1e-12)
        if self.emap is not None:
            e = e @ self.emap.astype(np.float64)
            e = e / max(np.linalg.norm(e), 1e-12)
        return e.astype(np.float32)

    def _to_input(self, crop01: np.ndarray) -> np.ndarray:
        c = self.contract
        x = crop01 * 255.0
        if c.channel_order.upper() == "BGR":
            x = x[..., ::-1]
        x = (x - np.asarray(c.mean, np.float32)) / np.asarray(c.std, np.float32)
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None].astype(np.float32))

    def _from_output(self, y: np.ndarray) -> np.ndarray:
        c = self.contract
        y = np.asarray(y, np.float32)
        if y.ndim != 4 or y.shape[1] != 3:
            raise ModelError(f"{self.name}: output {y.shape} is not a (1,3,S,S) image; the model does not "
                             f"match its contract")
        img = y[0].transpose(1, 2, 0)
        if c.channel_order.upper() == "BGR":
            img = img[..., ::-1]
        lo, hi = c.output_range
        img = (img - lo) / (hi - lo)
        if img.shape[:2] != (self.size, self.size):
            img = cv2.resize(img, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return np.clip(img, 0.0, 1.0).astype(np.float32)

    def swap(self, crop_linear: np.ndarray, landmarks68: np.ndarray, points5: np.ndarray,
             colour: Optional[ColourPipeline] = None, latent: Optional[np.ndarray] = None, face_matte: Optional[np.ndarray] = None,
             colour_match_on: bool = True) -> SwapResult:
        h, w = crop_linear.shape[:2]
        s = self.size
        m = _template_transform(self.contract, landmarks68, points5, s)
        model_in = _aligned_model_input(crop_linear, m, s, colour)
        out = self.session.run(None, {self.target_input: self._to_input(model_in),
                                      self.source_input: np.asarray(latent, np.float32)})[0]
        model_out = self._from_output(out)
        in_lin = colour.to_linear(model_in)
        out_lin = colour.to_linear(model_out)
        if colour_match_on:
            out_lin = colour_match(out_lin, in_lin, _aligned_face_area(self.contract, s))
        delta_crop = out_lin - in_lin
        inv = cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR
        delta = cv2.warpAffine(delta_crop, m, (w, h), flags=inv, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
        # Coverage fades out over the crop's outer 4 % so the crop's square edge never shows.
        edge = max(2, int(round(0.04 * s)))
        ramp = np.ones((s, s), np.float32)
        ramp = cv2.copyMakeBorder(ramp[edge:-edge, edge:-edge], edge, edge, edge, edge, cv2.BORDER_CONSTANT, value=0.0)
        ramp = cv2.GaussianBlur(ramp, (0, 0), edge / 2.0)
        coverage = cv2.warpAffine(ramp, m, (w, h), flags=inv, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
        coverage[coverage < 1e-3] = 0.0
        return SwapResult((delta * (coverage > 0)[..., None]).astype(np.float32), coverage.astype(np.float32))



def _aligned_model_input(crop_linear: np.ndarray, m: np.ndarray, size: int, colour: ColourPipeline) -> np.ndarray:
    """The (size, size, 3) model-space crop: encode for the model first, then resample.

    The reference pipelines (insightface INSwapper, SimSwap) warp 8-bit sRGB frames, so their
    models were trained on crops resampled in display space; resampling in linear light first
    differs by up to ~20/255 at hard edges (tests/onnx_export/test_parity_inswapper.py). Only the
    part of the ROI the crop samples is encoded (its footprint plus the bilinear neighbours).
    """
    h, w = crop_linear.shape[:2]
    corners = np.array([[0, 0], [size - 1, 0], [0, size - 1], [size - 1, size - 1]], np.float64)
    inv = cv2.invertAffineTransform(m)
    foot = corners @ inv[:, :2].T + inv[:, 2]
    x0, y0 = np.clip(np.floor(foot.min(axis=0)).astype(int) - 2, 0, [w - 1, h - 1])
    x1, y1 = np.clip(np.ceil(foot.max(axis=0)).astype(int) + 3, 1, [w, h])
    if x1 <= x0 or y1 <= y0:       # the crop lies wholly outside the ROI: sample its replicated edge
        x0, y0, x1, y1 = 0, 0, w, h
    display = colour.to_model(crop_linear[y0:y1, x0:x1])
    shifted = m.copy()
    shifted[:, 2] += m[:, :2] @ np.array([x0, y0], np.float64)
    return cv2.warpAffine(display, shifted, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _aligned_face_area(contract: ModelContract, size: int) -> np.ndarray:
    """Central face oval of an aligned crop (where colour statistics are measured)."""
    m = np.zeros((size, size), np.float32)
    cv2.ellipse(m, (size // 2, int(size * 0.55)), (int(size * 0.30), int(size * 0.38)), 0, 0, 360, 1.0, -1)
    return m


def load_swapper(name_or_path: str) -> NeuralSwapper:
    """A NeuralSwapper for a registry name or an ONNX file (sha256 checked against the registry)."""
    import os


    reg = registry()
    if name_or_path in reg:
        entry, model = resolve(name_or_path, "swapper")
        return NeuralSwapper.from_onnx(model, entry.contract, entry.name, entry.sha256)
    from faceplate.core.models.locate import file_or_slot
    name_or_path = file_or_slot(name_or_path, "swapper model", "pass an existing .onnx file or a name from "
                                                               "`faceplate models list`")
    label = os.path.basename(name_or_path)
    sha = sha256_file(name_or_path)
    for entry in reg.values():  # a known file under its own name must have its known hash
        if os.path.basename(entry.location) == label and entry.sha256 != sha:
            raise ModelError(f"{label}: sha256 {sha[:12]}… does not match the registered {entry.sha256[:12]}… "
                             f"for {entry.name}; re-download the file")
    try:
        contract = infer_swapper_contract(name_or_path, label)
    except ModelError:
        raise
    except Exception as exc:  # not an ONNX at all
        raise ModelError(f"{label}: not a readable ONNX model ({str(exc).splitlines()[0][:120]}); "
                         f"pass a swapper .onnx") from None
    return NeuralSwapper.from_onnx(name_or_path, contract, os.path.splitext(label)[0], sha)

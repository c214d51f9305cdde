"""Swap engines: classical (piecewise-affine warp of a source photo) and neural (ONNX swappers).

Every engine works on one face on a plate ROI in SQUARE pixels (render desqueezes first) and
returns a ``SwapResult``: the change ``delta = swap_linear − crop_linear`` in scene-linear light and
where the engine produced an image (``coverage``). Computing the change rather than a new image
means plate detail, super-whites and negative values survive wherever the engine did not change
them; render multiplies it by the matte and composites it as a delta.

Neural engines see a display-referred (sRGB-encoded, clamped) aligned crop through their
``ModelContract``; ``delta = to_linear(model_out) − to_linear(model_in)`` in crop space, warped back
with the inverse alignment. insightface's 8-bit full-frame paste-back is never used.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Optional

import cv2
import numpy as np

from faceplate.core import align
from faceplate.core.errors import FaceplateError, ModelError
from faceplate.core.mask import BROWS, face_size

CLASSICAL_NAME = "classical"
CLASSICAL_VERSION = "classical/1"   # stands in for a model sha256 in provenance


@dataclass
class SwapResult:
    delta: np.ndarray      # (h, w, 3) float32 linear change, 0 where coverage == 0
    coverage: np.ndarray   # (h, w) float32 0..1, where the engine produced an image


@dataclass
class SourceFace:
    """The source identity: a face photo (linear light) and/or an identity embedding."""
    image_linear: Optional[np.ndarray] = None   # (H, W, 3) float32 scene-linear, square pixels
    landmarks: Optional[np.ndarray] = None      # (68, 2) in image_linear's pixels
    embedding: Optional[np.ndarray] = None      # (D,) float32 L2-normalised
    sha256: str = ""                            # hash of the source files (provenance)
    images: list = field(default_factory=list)  # file names, for messages


# ------------------------------------------------------------------------------ colour match

def colour_match(swap: np.ndarray, reference: np.ndarray, where: np.ndarray,
                 max_gain: float = 2.0) -> np.ndarray:
    """Match ``swap`` to ``reference`` inside ``where``, in linear light.

    Per channel the mean is matched by a gain (light is multiplicative: an additive shift would
    push dark pixels negative and tint them), and contrast by one exponent from the std of log
    luminance: ``x' = mean_ref · (x / mean_swap) ** gamma``. ``gamma`` is bounded to
    ``[1/max_gain, max_gain]`` so a flat or blown region cannot explode it.
    """
    sel = np.asarray(where) > 0.5
    if sel.sum() < 16:
        return swap
    eps = 1e-4
    s = np.maximum(swap[sel].astype(np.float64), 0.0)
    r = np.maximum(np.nan_to_num(reference[sel].astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0), 0.0)
    mu_s, mu_r = s.mean(axis=0) + eps, r.mean(axis=0) + eps
    luma = np.array([0.2126, 0.7152, 0.0722])
    sd_s, sd_r = float(np.log(s @ luma + eps).std()), float(np.log(r @ luma + eps).std())
    gamma = float(np.clip(sd_r / max(sd_s, 1e-6), 1.0 / max_gain, max_gain))
    ratio = np.maximum(swap.astype(np.float64), 0.0) / mu_s + 1e-12
    return (mu_r * ratio ** gamma).astype(np.float32)


def relight(swap: np.ndarray, reference: np.ndarray, where: np.ndarray, size: float,
            scale: float = 0.12, max_gain: float = 2.0) -> np.ndarray:
    """Give ``swap`` the reference's broad shading (key/fill direction) in linear light.

    Both are low-passed at ``scale`` face sizes inside ``where`` (normalised convolution, so the
    region's edge does not darken the estimate); the per-pixel ratio, bounded to
    ``[1/max_gain, max_gain]``, multiplies the swap. Detail finer than the blur stays the source's.
    """
    sel = (np.asarray(where) > 0.5).astype(np.float32)
    if sel.sum() < 64:
        return swap
    sigma = max(scale * size, 1.0)
    w = cv2.GaussianBlur(sel, (0, 0), sigma) + 1e-6
    ref = np.maximum(np.nan_to_num(reference, nan=0.0, posinf=0.0, neginf=0.0), 0.0) * sel[..., None]
    src = np.maximum(swap, 0.0) * sel[..., None]
    lo_ref = cv2.GaussianBlur(ref, (0, 0), sigma) / w[..., None]
    lo_src = cv2.GaussianBlur(src, (0, 0), sigma) / w[..., None]
    # One gain per pixel from luminance: shading, not colour (colour_match did colour).
    luma = np.array([0.2126, 0.7152, 0.0722], np.float32)
    gain = (lo_ref @ luma + 1e-4) / (lo_src @ luma + 1e-4)
    gain = np.clip(gain, 1.0 / max_gain, max_gain)
    return (swap * gain[..., None]).astype(np.float32)


# ------------------------------------------------------------------------------ classical

def _forehead(landmarks68: np.ndarray, lift: float = 0.35) -> np.ndarray:
    lm = np.asarray(landmarks68, np.float64)
    brows = lm[BROWS]
    up = brows.mean(axis=0) - lm[8]
    return brows + up * lift


def _mesh_points(landmarks68: np.ndarray) -> np.ndarray:
    """Vertices of the warp mesh (105, 2): landmarks, forehead points, and an outer ring.

    The ring (the jaw + forehead outline pushed 25 % away from the face centre) makes the mesh
    cover the whole matte even when a turned head folds the outline, so the matte never has
    notches where no triangle landed.
    """
    lm = np.asarray(landmarks68, np.float64).reshape(68, 2)
    forehead = _forehead(lm)
    outline = np.vstack([lm[:17], forehead])
    centre = lm[27:36].mean(axis=0)
    ring = centre + (outline - centre) * 1.25
    return np.vstack([lm, forehead, ring])


class ClassicalSwapper:
    """Source photo warped onto the target's smoothed dense landmarks by piecewise affine.

    The triangulation is computed once on the source mesh, so every frame uses the same
    triangles (deterministic, no flicker from re-triangulating moving points).
    """

    name = CLASSICAL_NAME
    sha256 = CLASSICAL_VERSION
    needs_embedding = False

    def __init__(self, source: SourceFace):
        if source.image_linear is None or source.landmarks is None:
            raise FaceplateError("the classical engine needs a source photo: pass --source actor.jpg "
                                 "(an embedding alone only drives neural swappers)")
        from scipy.spatial import Delaunay

        img = np.asarray(source.image_linear, np.float32)
        mesh = _mesh_points(source.landmarks)
        # Keep only the face area of the source (with margin) so per-frame resampling is cheap.
        x0, y0 = np.floor(mesh.min(axis=0) - 0.1 * face_size(source.landmarks)).astype(int)
        x1, y1 = np.ceil(mesh.max(axis=0) + 0.1 * face_size(source.landmarks)).astype(int)
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, img.shape[1] - 1), min(y1, img.shape[0] - 1)
        self.image = np.ascontiguousarray(img[y0:y1 + 1, x0:x1 + 1])
        self.mesh = mesh - np.array([x0, y0], np.float64)
        self.size = face_size(source.landmarks)
        self.triangles = Delaunay(self.mesh).simplices.astype(np.int32)

    def swap(self, crop_linear: np.ndarray, landmarks68: np.ndarray, points5: np.ndarray,
             colour: Any = None, latent: Any = None, face_matte: Optional[np.ndarray] = None,
             colour_match_on: bool = True) -> SwapResult:
        h, w = crop_linear.shape[:2]
        dst = _mesh_points(landmarks68)
        # Pre-shrink the source to the target's face size: remap alone would alias when minifying.
        scale = face_size(landmarks68) / self.size
        src_img, src_mesh = self.image, self.mesh
        if scale < 0.8:
            sw = max(int(round(self.image.shape[1] * scale)), 1)
            sh = max(int(round(self.image.shape[0] * scale)), 1)
            src_img = cv2.resize(self.image, (sw, sh), interpolation=cv2.INTER_AREA)
            src_mesh = (self.mesh + 0.5) * np.array([sw / self.image.shape[1], sh / self.image.shape[0]]) - 0.5
        ids = np.zeros((h, w), np.int32)
        shift = 4
        for t, tri in enumerate(self.triangles):
            poly = np.round(dst[tri] * (1 << shift)).astype(np.int32)
            cv2.fillConvexPoly(ids, poly, t + 1, lineType=cv2.LINE_8, shift=shift)
        covered = ids > 0
        if not covered.any():
            return SwapResult(np.zeros((h, w, 3), np.float32), np.zeros((h, w), np.float32))
        # One affine per triangle (target -> source), gathered per pixel.
        affines = np.zeros((len(self.triangles) + 1, 2, 3), np.float64)
        for t, tri in enumerate(self.triangles):
            affines[t + 1] = cv2.getAffineTransform(dst[tri].astype(np.float32), src_mesh[tri].astype(np.float32))
        rows, cols = np.nonzero(covered)
        a = affines[ids[rows, cols]]
        xs, ys = cols.astype(np.float64), rows.astype(np.float64)
        map_x = np.full((h, w), -1.0, np.float32)
        map_y = np.full((h, w), -1.0, np.float32)
        map_x[rows, cols] = a[:, 0, 0] * xs + a[:, 0, 1] * ys + a[:, 0, 2]
        map_y[rows, cols] = a[:, 1, 0] * xs + a[:, 1, 1] * ys + a[:, 1, 2]
        warped = cv2.remap(src_img, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        crop = np.nan_to_num(crop_linear.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        if colour_match_on:
            where = covered if face_matte is None else (covered & (face_matte > 0.5))
            warped = colour_match(warped, crop, where)
            warped = relight(warped, crop, where, face_size(landmarks68))
        coverage = covered.astype(np.float32)
        # Keep the target's own mouth interior (teeth, tongue): a warped closed mouth stretched
        # over an open one reads as smeared lips. A closed mouth has no area here: no effect.
        inner = np.round(np.asarray(landmarks68, np.float64)[60:68] * (1 << shift)).astype(np.int32)
        hole = np.zeros((h, w), np.uint8)
        cv2.fillPoly(hole, [inner], 255, lineType=cv2.LINE_AA, shift=shift)
        if hole.any():
            sigma = max(0.01 * face_size(landmarks68), 0.5)
            hole_f = cv2.GaussianBlur(hole.astype(np.float32) / 255.0, (0, 0), sigma)
            coverage *= 1.0 - np.clip(hole_f, 0.0, 1.0)
            coverage[coverage < 1e-3] = 0.0
        delta = (warped - crop) * coverage[..., None]
        return SwapResult(delta.astype(np.float32), coverage)


# ------------------------------------------------------------------------------ neural

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


def _template_transform(contract: Any, landmarks68: np.ndarray, points5: np.ndarray, size: int) -> np.ndarray:
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

    def __init__(self, session: Any, contract: Any, name: str, sha256: str, emap: Optional[np.ndarray] = None,
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
    def from_onnx(cls, model: bytes | str, contract: Any, name: str, sha256: str,
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
            session = pipeline_session(model, name)
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
             colour: Any = None, latent: Any = None, face_matte: Optional[np.ndarray] = None,
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


def _aligned_model_input(crop_linear: np.ndarray, m: np.ndarray, size: int, colour: Any) -> np.ndarray:
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


def pipeline_session(model: Any, label: str) -> Any:
    """An onnxruntime session for render's pipeline: best providers, and intra-op threads that
    sleep instead of spin-waiting between kernels, so the reader and writer threads get the
    cores while the network runs (spinning made overlapped read/compute/write slower than serial)."""
    import onnxruntime as ort

    from faceplate.core.models import choose_providers

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(bytes(model) if isinstance(model, (bytes, bytearray)) else str(model),
                                       sess_options=opts, providers=choose_providers())
    except Exception as exc:  # noqa: BLE001 - ORT raises several types for a bad file
        raise ModelError(f"{label}: onnxruntime cannot load it ({str(exc).splitlines()[0][:160]}); "
                         f"check the file is a complete ONNX model") from None
    logging.getLogger("faceplate.render").info("%s runs on %s", label, session.get_providers()[0])
    return session


def _aligned_face_area(contract: Any, size: int) -> np.ndarray:
    """Central face oval of an aligned crop (where colour statistics are measured)."""
    m = np.zeros((size, size), np.float32)
    cv2.ellipse(m, (size // 2, int(size * 0.55)), (int(size * 0.30), int(size * 0.38)), 0, 0, 360, 1.0, -1)
    return m


# ------------------------------------------------------------------------------ contracts

def swapper_contract(model_path: Optional[str], entry_contract: Any = None) -> Any:
    """The swapper contract: from a registry entry, or the model's own metadata (our exports)."""
    if entry_contract is not None and getattr(entry_contract, "role", "swapper") == "swapper":
        return entry_contract
    if model_path:
        from faceplate.core.models import contract_from_onnx
        contract = contract_from_onnx(model_path)
        if contract is not None:
            if contract.role != "swapper":
                raise ModelError(f"{model_path}: its contract says role {contract.role!r}, not a swapper; "
                                 f"pass a swapper model to --model")
            return contract
    raise ModelError(f"{model_path}: matches no known swapper contract (inswapper_128, simswap, or a "
                     f"faceplate export with 'faceplate.contract' metadata); pass a supported model")


def contract_json(contract: Any) -> str:
    return json.dumps(contract.to_dict() if hasattr(contract, "to_dict") else dict(contract), sort_keys=True)


# ------------------------------------------------------------------------------ loading

# Third-party swappers carry no metadata: recognised by their signature (input sizes, emap).
INSWAPPER_CONTRACT = dict(role="swapper", family="inswapper", input_size=(128, 128), channel_order="RGB",
                          mean=(0.0, 0.0, 0.0), std=(255.0, 255.0, 255.0), alignment="arcface112",
                          output="[1,3,128,128] RGB 0..1", embedding_dim=512, latent="emap",
                          output_range=(0.0, 1.0), inputs={})
# SimSwap: RGB 0..1 in, (tanh + 1) / 2 out; its 224 models crop with "newarc", its 512 with "ffhq5".
SIMSWAP_CONTRACT = dict(role="swapper", family="simswap", input_size=(224, 224), channel_order="RGB",
                        mean=(0.0, 0.0, 0.0), std=(255.0, 255.0, 255.0), alignment="newarc",
                        output="[1,3,S,S] RGB 0..1", embedding_dim=512, latent="embedding",
                        output_range=(0.0, 1.0), inputs={})


def infer_swapper_contract(model: Any, label: str) -> Any:
    """Contract of a swapper ONNX: its own metadata, else the inswapper / SimSwap signature.

    ModelError (one line, naming the file) when it matches none.
    """
    from faceplate.core import models

    ours = models.contract_from_onnx(model)
    if ours is not None:
        if ours.role != "swapper":
            raise ModelError(f"{label}: its contract says it is a {ours.role}, not a swapper; pass a swapper to --model")
        return ours
    ins, outs, proto = models.onnx_signature(model)
    images = [(n, d) for n, d in ins if len(d) == 4]
    ids = [(n, d) for n, d in ins if len(d) == 2]
    if len(ins) == 2 and len(images) == 1 and len(ids) == 1 and len(outs) == 1:
        dims = images[0][1]
        s = dims[2] if isinstance(dims[2], int) else None
        d = ids[0][1][1] if isinstance(ids[0][1][1], int) else None
        inputs = {"target": images[0][0], "source": ids[0][0]}
        last = proto.graph.initializer[-1] if proto.graph.initializer else None
        emap_like = last is not None and list(last.dims) == [d, d]
        if s == 128 and d == 512 and emap_like:
            return models.ModelContract.from_dict({**INSWAPPER_CONTRACT, "inputs": inputs})
        if s in (224, 256, 512) and d == 512:
            contract = {**SIMSWAP_CONTRACT, "input_size": (s, s), "inputs": inputs}
            if s == 512:
                contract["alignment"] = "ffhq5"
            return models.ModelContract.from_dict(contract)
    raise ModelError(f"{label}: matches no swapper contract (inswapper_128, SimSwap 224/256/512 or a faceplate "
                     f"export with '{models.ONNX_CONTRACT_KEY}' metadata); pass a supported swapper ONNX")


def load_swapper(name_or_path: str) -> NeuralSwapper:
    """A NeuralSwapper for a registry name or an ONNX file (sha256 checked against the registry)."""
    import os

    from faceplate.core import models
    from faceplate.core.filesystem import sha256_file

    reg = models.registry()
    if name_or_path in reg:
        entry, model = models.resolve(name_or_path, "swapper")
        return NeuralSwapper.from_onnx(model, entry.contract, entry.name, entry.sha256)
    if not os.path.isfile(name_or_path):
        raise ModelError(f"{name_or_path}: swapper model not found; pass an existing .onnx file or a name "
                         f"from `faceplate models list`")
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

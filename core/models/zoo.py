"""The model zoo: a name or file routed to its model class (like insightface's ``model_zoo``).
"""
from __future__ import annotations

import os
from typing import Any

from faceplate.core.errors import ModelError
from faceplate.core.models.arcface import OnnxRecognizer
from faceplate.core.models.box_landmarker import Insight106Landmarker, PFLD98Landmarker
from faceplate.core.models.contract import ModelSource
from faceplate.core.models.dlib_models import DlibLandmarker, DlibRecognizer
from faceplate.core.models.facemesh import FaceMesh468Landmarker
from faceplate.core.models.grid_detector import SCRFDDetector, YuNetDetector
from faceplate.core.models.locate import resolve
from faceplate.core.models.manifest import DEFAULT_DETECTOR, DEFAULT_LANDMARKER, DEFAULT_RECOGNIZER, ModelEntry
from faceplate.core.models.retinaface import RetinaFaceDetector


def _require_onnx(entry: ModelEntry, model: ModelSource) -> None:
    if isinstance(model, str) and model.lower().endswith((".pth", ".pt")):
        raise ModelError(f"{os.path.basename(model)}: a PyTorch state_dict ('{entry.name}'); convert it first: "
                         f"python -m faceplate.onnx_export.third_party {entry.contract.family.rstrip('468')} "
                         f"{model} OUT.onnx, then pass OUT.onnx")


def load_detector(name_or_path: str | None = None, providers: list[str] | None = None, **options: Any):
    """A Detector (``detect(image_rgb) -> list[Detection]``) for a registry name or an ONNX path."""
    entry, model = resolve(name_or_path or DEFAULT_DETECTOR, "detector")
    _require_onnx(entry, model)
    cls = {"retinaface": RetinaFaceDetector, "yunet": YuNetDetector, "scrfd": SCRFDDetector}.get(entry.contract.family)
    if cls is None:
        raise ModelError(f"{entry.name}: detector family {entry.contract.family!r} is not supported; "
                         f"use a RetinaFace, SCRFD or YuNet model")
    return cls(entry, model, providers, **options)


def load_landmarker(name_or_path: str | None = None, providers: list[str] | None = None):
    """A Landmarker (``landmarks(image_rgb, detection) -> (68, 2)`` iBUG order)."""
    entry, model = resolve(name_or_path or DEFAULT_LANDMARKER, "landmarker")
    _require_onnx(entry, model)
    family = entry.contract.family
    if family == "dlib68":
        return DlibLandmarker(entry, model)
    if family == "pfld98":
        return PFLD98Landmarker(entry, model, providers)
    if family == "insight106":
        return Insight106Landmarker(entry, model, providers)
    if family == "facemesh468":
        return FaceMesh468Landmarker(entry, model, providers)
    raise ModelError(f"{entry.name}: landmarker family {family!r} is not supported; use dlib-68, PFLD-98 or 2d106")


def load_recognizer(name_or_path: str | None = None, providers: list[str] | None = None):
    """A Recognizer (``embed(image_rgb, points5) -> (dim,)`` float32, L2-normalised)."""
    entry, model = resolve(name_or_path or DEFAULT_RECOGNIZER, "recognizer")
    family = entry.contract.family
    if family == "dlib128":
        return DlibRecognizer(entry, model)
    if family in ("arcface", "mobilefacenet"):
        return OnnxRecognizer(entry, model, providers)
    if family == "faceplate" and entry.contract.alignment == "arcface112":
        # Our own exports (faceplate export): self-described, ArcFace-template crop at their input size.
        return OnnxRecognizer(entry, model, providers)
    raise ModelError(f"{entry.name}: recognizer family {family!r} (alignment {entry.contract.alignment!r}) is not "
                     f"supported; use dlib-128, ArcFace, MobileFaceNet or a `faceplate export` of an identity encoder")


def load_parser(name_or_path: str, providers: list[str] | None = None):
    """A FaceParser (``labels(crop_rgb_uint8) -> (S, S)`` class ids) for a BiSeNet-style ONNX file, or
    the bisenet_parser slot's file name found in the $FACEPLATE_MODEL_PATH folders."""
    from faceplate.core.filesystem import sha256_file
    from faceplate.core.models.locate import file_or_slot
    from faceplate.core.models.parser import FaceParser
    from faceplate.core.models.session import open_session

    path = file_or_slot(name_or_path, "face parser model", "check the --parser path (or see `faceplate models "
                                                           "list` for the bisenet_parser slot)")
    parser = FaceParser(open_session(path, providers), name=os.path.basename(path))
    parser.sha256 = sha256_file(path)
    return parser


class ModelCache:
    """The models one process has loaded, by (role, name): each is loaded once, however many passes
    (``swap`` runs analyze and render) ask for it. An explicit object, handed from pass to pass."""

    def __init__(self, providers: list[str] | None = None) -> None:
        self.providers = providers
        self._loaded: dict[tuple[str, str], Any] = {}

    def get(self, role: str, name_or_path: str | None = None) -> Any:
        loaders = {"detector": load_detector, "landmarker": load_landmarker, "recognizer": load_recognizer}
        defaults = {"detector": DEFAULT_DETECTOR, "landmarker": DEFAULT_LANDMARKER, "recognizer": DEFAULT_RECOGNIZER}
        key = (role, name_or_path or defaults[role])
        if key not in self._loaded:
            self._loaded[key] = loaders[role](key[1], self.providers)
        return self._loaded[key]

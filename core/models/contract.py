"""Model contracts: how to feed a model and read its output, and identifying an ONNX file's contract
from our metadata (``faceplate.contract``) or its input/output signature.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union, get_args

from faceplate.core.errors import ModelError
from faceplate.core.types import Role

if TYPE_CHECKING:  # the manifest's entries hold contracts
    from faceplate.core.models.manifest import ModelEntry

ONNX_CONTRACT_KEY = "faceplate.contract"


ROLES: tuple[str, ...] = get_args(Role)


ModelSource = Union[bytes, str]


@dataclass(frozen=True)
class ModelContract:
    """How to feed a model and read its output. JSON-serialisable via to_dict()/from_dict()."""

    role: str
    family: str
    input_size: tuple[int, int] | None      # (w, h); None = dynamic
    channel_order: str                      # "RGB" | "BGR"
    mean: tuple[float, float, float]        # model_input = (pixel_0_255 - mean) / std
    std: tuple[float, float, float]
    alignment: str                          # "arcface112" | "newarc" | "ffhq5" | "ffhq" | "box" | "none"
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


def _label(model: ModelSource, entry: ModelEntry | None = None) -> str:
    if isinstance(model, (bytes, bytearray)):
        return entry.name if entry else "<in-memory model>"
    return os.path.basename(str(model))


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
    ours = contract_from_onnx(model)
    if ours is not None:
        if ours.role != "swapper":
            raise ModelError(f"{label}: its contract says it is a {ours.role}, not a swapper; pass a swapper to --model")
        return ours
    ins, outs, proto = onnx_signature(model)
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
            return ModelContract.from_dict({**INSWAPPER_CONTRACT, "inputs": inputs})
        if s in (224, 256, 512) and d == 512:
            contract = {**SIMSWAP_CONTRACT, "input_size": (s, s), "inputs": inputs}
            if s == 512:
                contract["alignment"] = "ffhq5"
            return ModelContract.from_dict(contract)
    raise ModelError(f"{label}: matches no swapper contract (inswapper_128, SimSwap 224/256/512 or a faceplate "
                     f"export with '{ONNX_CONTRACT_KEY}' metadata); pass a supported swapper ONNX")

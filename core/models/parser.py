"""BiSeNet-style face parsers: per-pixel face regions (skin, brows, eyes, glasses, hair, ...).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from faceplate.core.errors import FaceplateError, ModelError

# BiSeNet face-parsing classes (CelebAMask-HQ order, as the public face-parsing models use).
PARSER_CLASSES = ("background", "skin", "l_brow", "r_brow", "l_eye", "r_eye", "eye_g", "l_ear", "r_ear",
                  "ear_r", "nose", "mouth", "u_lip", "l_lip", "neck", "neck_l", "cloth", "hair", "hat")


# User-facing region names (--regions) -> parser class ids.
REGIONS = {
    "skin": (1,), "brows": (2, 3), "eyes": (4, 5), "glasses": (6,), "ears": (7, 8), "nose": (10,),
    "mouth": (11,), "lips": (12, 13), "neck": (14,), "hair": (17,),
}


DEFAULT_REGIONS = ("skin", "brows", "eyes", "nose", "mouth", "lips")


def region_ids(regions: Sequence[str]) -> tuple[int, ...]:
    """Parser class ids for region names; ValueError naming an unknown one."""
    ids: list[int] = []
    for name in regions:
        key = name.strip().lower()
        if key not in REGIONS:
            raise ValueError(f"unknown face region {name!r}; choose from {', '.join(sorted(REGIONS))}")
        ids.extend(REGIONS[key])
    return tuple(sorted(set(ids)))


def regions_from_text(text: str | None, flag: str, default: Sequence[str]) -> tuple[str, ...]:
    """Region names from a comma-separated option (``default`` when empty); a one-line error naming
    ``flag`` and the unknown region."""
    regions = tuple(r.strip() for r in text.split(",") if r.strip()) if text else tuple(default)
    try:
        region_ids(regions)
    except ValueError as exc:
        raise FaceplateError(f"{flag}: {exc}") from None
    return regions


@dataclass
class FaceParser:
    """A BiSeNet-style parser: square RGB input (ImageNet mean/std), (1, C>=19, S, S) class logits."""
    session: object            # onnxruntime.InferenceSession
    size: int = 512
    mean: tuple[float, float, float] = (0.485 * 255, 0.456 * 255, 0.406 * 255)
    std: tuple[float, float, float] = (0.229 * 255, 0.224 * 255, 0.225 * 255)
    channel_order: str = "RGB"
    name: str = "parser"
    sha256: str = ""

    def __post_init__(self) -> None:
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise ModelError(f"{self.name}: a face parser has one (1,3,S,S) input; this model has "
                             f"{[i.shape for i in inputs]} — pass a BiSeNet-style parser")
        shape, out = inputs[0].shape, self.session.get_outputs()[0].shape
        # another kind of model with a 4-D input (a recognizer, a detector): refused here, by its
        # shapes, not by a shape error from ONNX Runtime at the first face
        fixed = [d for d in shape[2:] if isinstance(d, int)]
        if (isinstance(shape[1], int) and shape[1] != 3) or (len(fixed) == 2 and fixed[0] != fixed[1]) \
                or len(out) != 4 or (isinstance(out[1], int) and out[1] < len(PARSER_CLASSES)):
            raise ModelError(f"{self.name}: not a face parser (input {list(shape)}, output {list(out)}; expected "
                             f"(1,3,S,S) in, (1,19,S,S) class logits out) — pass a BiSeNet-style parser")
        if len(fixed) == 2:
            self.size = int(fixed[0])  # a parser exported at a fixed size runs at that size

    def labels(self, crop_rgb_uint8: np.ndarray) -> np.ndarray:
        """(S, S) int class labels of a (S, S, 3) uint8 RGB crop."""
        x = crop_rgb_uint8.astype(np.float32)
        if self.channel_order == "BGR":
            x = x[..., ::-1]
        x = (x - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        blob = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
        name = self.session.get_inputs()[0].name
        out = self.session.run(None, {name: blob})[0]
        if out.ndim != 4 or out.shape[1] < len(PARSER_CLASSES):
            raise ModelError(f"{self.name}: parser output {out.shape} is not (1, 19, S, S) class logits")
        return np.argmax(out[0], axis=0).astype(np.int32)

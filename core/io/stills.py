"""Still photos (a source actor, a reference face): one decoder for every command.

JPEG/PNG/TIFF photos are display-referred sRGB and are used as they are; scene-linear stills (EXR, HDR)
are encoded for the models through the colour pipeline. Either way the result is the sRGB-encoded
image the face models see.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

import numpy as np

from faceplate.core.colour import ColourPipeline
from faceplate.core.errors import FaceplateError
from faceplate.core.io.exr import read_image

SCENE_LINEAR_EXTENSIONS = (".exr", ".hdr")


@dataclass
class Still:
    """A decoded photo. rgb01: (H, W, 3) float32 sRGB-encoded 0..1; rgb8: the same as uint8."""

    path: str
    rgb01: np.ndarray
    rgb8: np.ndarray


def read_still(path: str, what: str = "photo", colour: Optional[ColourPipeline] = None) -> Still:
    """Decode a photo; a one-line FaceplateError naming ``what`` (e.g. "source image") when it can't be."""
    if not os.path.isfile(path):
        raise FaceplateError(f"{path}: {what} not found; check the path")
    frame = read_image(path)
    if os.path.splitext(path)[1].lower() in SCENE_LINEAR_EXTENSIONS:
        rgb01 = (colour or ColourPipeline()).to_model(frame.rgb_pixels())
    else:
        rgb01 = np.clip(np.nan_to_num(frame.rgb_pixels()), 0.0, 1.0)
    rgb01 = np.asarray(rgb01, np.float32)
    return Still(path=path, rgb01=rgb01, rgb8=np.rint(rgb01 * 255.0).astype(np.uint8))

"""Choosing which faces to swap: a reference photo's identity, matched against the tracks.
"""
from __future__ import annotations

import os
from typing import Any, Optional, Sequence

import cv2
import numpy as np
from faceplate.core.errors import FaceplateError
from faceplate.core.identity import cosine
from faceplate.core.types import Track


def reference_embedding(path: str, detector: Any, recognizer: Any, colour: Any = None,
                        min_face: float = 20.0) -> np.ndarray:
    """Embedding of the largest face in a reference photo (JPEG/PNG as sRGB; EXR through ``colour``)."""
    from faceplate.core.analyze.pyramid import detect_faces

    if not os.path.isfile(path):
        raise FaceplateError(f"{path}: target face image not found; check the --target-face path")
    ext = os.path.splitext(path)[1].lower()
    image: Optional[np.ndarray] = None
    if ext in (".exr", ".hdr", ".dpx") and colour is not None:
        from faceplate.core.io.exr import read_image
        frame = read_image(path)
        image = colour.to_uint8(frame.rgb_pixels())
    else:
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        if bgr is not None:
            image = np.ascontiguousarray(bgr[:, :, ::-1])
    if image is None:
        raise FaceplateError(f"{path}: cannot read the target face image; pass a JPEG/PNG/EXR photo of the person")
    dets = detect_faces(detector, image, min_face=min(min_face, 0.1 * min(image.shape[:2])))
    if not dets:
        raise FaceplateError(f"{path}: no face found in the target face image; use a clear, frontal photo")
    best = max(dets, key=lambda d: d.width * d.height)
    return np.asarray(recognizer.embed(image, best.points5), dtype=np.float32)



def match_target(tracks: Sequence[Track], reference: np.ndarray, threshold: float) -> dict[int, float]:
    """Cosine similarity of every track's mean embedding to ``reference``: {track id: cosine}."""
    out = {}
    for t in tracks:
        cos = cosine(t.embedding, reference)
        out[t.id] = float(cos) if cos is not None else -1.0
    return out


def is_track_ids(spec: str) -> bool:
    """True for a ``--targets`` value of track ids ("1" or "1,2"); otherwise it names a reference photo."""
    return all(part.strip().isdigit() for part in spec.split(","))

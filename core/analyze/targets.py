"""Choosing which faces to swap: a reference photo's identity, matched against the tracks.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from faceplate.core.analyze.photo import face_in_photo
from faceplate.core.colour import ColourPipeline
from faceplate.core.identity import cosine
from faceplate.core.types import Detector, Recognizer, Track


def reference_embedding(path: str, detector: Detector, recognizer: Recognizer, colour: Optional[ColourPipeline] = None,
                        min_face: float = 20.0) -> np.ndarray:
    """Embedding of the largest face in a reference photo (JPEG/PNG as sRGB; EXR through ``colour``)."""

    photo = face_in_photo(path, detector, "target face image", colour, min_face=min_face, small_photo=True)
    return np.asarray(recognizer.embed(photo.still.rgb8, photo.detection.points5), dtype=np.float32)



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

"""Choosing which faces to swap: a reference photo's identity, matched against the tracks, and the
tracks that are most likely not a face at all (a hand, the back of a head seen once or twice).
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


# A track is kept when the detector was sure of it once, or when it was seen often enough to be a face
# coming and going: a weak detection in one or two frames of a long shot is a hand, a fist, the back of a
# head, and a swap pasted on it is the worst kind of stray matte.
WEAK_SCORE = 0.9
MIN_DETECTIONS = 3
MIN_SHARE = 0.25


def weak_tracks(tracks: Sequence[Track], frame_count: int, min_score: float = WEAK_SCORE,
                min_detections: int = MIN_DETECTIONS, min_share: float = MIN_SHARE) -> dict[int, dict]:
    """{track id: {"detections", "best_score"}} of tracks never detected with ``min_score`` and detected in
    fewer than ``min_detections`` frames and under ``min_share`` of the ``frame_count`` analysed frames
    (so a one- or two-frame analysis keeps whatever it finds)."""
    weak = {}
    for t in tracks:
        detected = [e for e in t.entries.values() if e.source == "detected"]
        best = max((float(e.score) for e in detected), default=0.0)
        if best < min_score and len(detected) < min_detections and len(detected) < min_share * frame_count:
            weak[t.id] = {"detections": len(detected), "best_score": round(best, 3)}
    return weak

"""The face in a photo: a still decoded once and its largest face (warning when there are several)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

from faceplate.core.analyze.pyramid import detect_faces
from faceplate.core.colour import ColourPipeline
from faceplate.core.errors import FaceplateError
from faceplate.core.io.stills import Still, read_still
from faceplate.core.types import Detection, Detector

log = logging.getLogger("faceplate.analyze")


@dataclass
class PhotoFace:
    still: Still
    detection: Detection


def largest_face(detections: list[Detection], path: str, what: str = "photo") -> Detection:
    """The largest detection; a one-line error when there is none, a warning when there are several."""
    if not detections:
        raise FaceplateError(f"{path}: no face found in the {what}; pass a photo with one clear, frontal face")
    if len(detections) > 1:
        log.warning("%s: %d faces found; using the largest", path, len(detections))
    return max(detections, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))


def face_in_photo(path: str, detector: Detector, what: str = "photo", colour: Optional[ColourPipeline] = None,
                  min_face: float = 32.0, small_photo: bool = False) -> PhotoFace:
    """Decode ``path`` and find its largest face of at least ``min_face`` px (with ``small_photo``, at most
    a tenth of the photo's short side, so a tight crop of a face is searched at every scale)."""
    still = read_still(path, what, colour)
    if small_photo:
        min_face = min(min_face, 0.1 * min(still.rgb8.shape[:2]))
    return PhotoFace(still, largest_face(detect_faces(detector, still.rgb8, min_face=min_face), path, what))

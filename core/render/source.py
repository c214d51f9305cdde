"""The source identity: the source photo(s) or an embedding file, read once per render.
"""
from __future__ import annotations

import hashlib
import logging
import os
from typing import Optional, Sequence

import numpy as np
from faceplate.core.analyze.photo import face_in_photo
from faceplate.core.colour import ColourPipeline
from faceplate.core.errors import FaceplateError
from faceplate.core.face import brows
from faceplate.core.filesystem import sha256_file
from faceplate.core.identity import threshold_for
from faceplate.core.models.zoo import load_detector, load_landmarker
from faceplate.core.types import Detector, Landmarker, Recognizer, SourceFace

log = logging.getLogger("faceplate.render")


def load_source_identity(images: Sequence[str], embedding_path: Optional[str] = None,
                         colour: Optional[ColourPipeline] = None, detector: Optional[Detector] = None,
                         landmarker: Optional[Landmarker] = None, recognizer: Optional[Recognizer] = None,
                         outlier_cosine: Optional[float] = None) -> SourceFace:
    """The source identity from photos (and/or a saved embedding .npy).

    Each photo: detect (largest face, warning if several), 68 landmarks, embedding. Embeddings
    are averaged after dropping photos far from the others (warning); the photo closest to the
    mean is the one the classical engine warps. A saved embedding replaces the photos' mean.
    """
    if not images and not embedding_path:
        raise FaceplateError("no source identity: pass --source actor.jpg (repeatable) or --source-embedding e.npy")
    digest = hashlib.sha256()
    faces = []
    if images:
        detector = detector or load_detector()
        landmarker = landmarker or load_landmarker()
        for path in images:
            photo = face_in_photo(path, detector, "source image", colour, min_face=32)
            digest.update(sha256_file(path).encode())
            rgb01, rgb8, det = photo.still.rgb01, photo.still.rgb8, photo.detection
            lm = brows.lift_to_image(rgb8, landmarker.landmarks(rgb8, det))
            emb = None
            if recognizer is not None:
                emb = np.asarray(recognizer.embed(rgb8, np.asarray(det.points5, np.float64)), np.float32)
            faces.append((path, rgb01, lm, emb))
    embedding = None
    chosen = faces[0] if faces else None
    embs = [f[3] for f in faces if f[3] is not None]
    if len(embs) == len(faces) and embs:
        e = np.stack(embs).astype(np.float64)
        mean = e.mean(axis=0)
        mean /= max(np.linalg.norm(mean), 1e-12)
        limit = threshold_for(recognizer) if outlier_cosine is None else outlier_cosine
        keep = list(range(len(faces)))
        if len(faces) > 2:  # with two photos there is no majority to call one an outlier
            others = [(e.sum(axis=0) - e[i]) for i in range(len(faces))]
            keep = [i for i in range(len(faces))
                    if float(e[i] @ others[i]) / max(np.linalg.norm(others[i]), 1e-12) >= limit]
        dropped = [faces[i][0] for i in range(len(faces)) if i not in keep]
        if dropped:
            log.warning("source photos dropped as a different identity than the rest: %s", ", ".join(dropped))
            keep = keep or list(range(len(faces)))
            mean = e[keep].mean(axis=0)
            mean /= max(np.linalg.norm(mean), 1e-12)
        embedding = mean.astype(np.float32)
        chosen = faces[max(keep, key=lambda i: float(e[i] @ mean))]
    if embedding_path:
        if not os.path.isfile(embedding_path):
            raise FaceplateError(f"{embedding_path}: source embedding not found; check the path")
        try:
            loaded = np.load(embedding_path, allow_pickle=False)
        except Exception:
            raise FaceplateError(f"{embedding_path}: not a numpy .npy embedding; save it with numpy.save") from None
        try:
            loaded = np.asarray(loaded, np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise FaceplateError(f"{embedding_path}: not a numeric embedding; save the identity vector with "
                                 f"numpy.save") from None
        if loaded.size < 64:
            raise FaceplateError(f"{embedding_path}: expected a 1-D identity embedding (e.g. 512 floats), got "
                                 f"{loaded.size} values")
        bad = int(np.count_nonzero(~np.isfinite(loaded)))
        if bad:
            raise FaceplateError(f"{embedding_path}: {bad} of its {loaded.size} values are NaN/Inf; re-save a finite "
                                 f"identity embedding")
        if np.abs(loaded).max() == 0:
            raise FaceplateError(f"{embedding_path}: the embedding is all zeros; re-save the identity embedding")
        loaded = loaded / np.abs(loaded).max()  # huge-but-finite values normalise without overflow
        embedding = (loaded / np.linalg.norm(loaded)).astype(np.float32)
        digest.update(sha256_file(embedding_path).encode())
    source = SourceFace(embedding=embedding, sha256=digest.hexdigest(), images=[f[0] for f in faces])
    if chosen is not None:
        if colour is None:
            colour = ColourPipeline()
        source.image_linear = colour.to_linear(chosen[1])  # photos are display-referred sRGB
        source.landmarks = chosen[2]
    return source

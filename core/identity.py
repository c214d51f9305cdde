"""Identity embeddings: computing them for detections and comparing them.

Recognizer objects come from ``models.load_recognizer``; every embedding is a (dim,) float32
L2-normalised vector, so cosine similarity is a dot product.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .detect import Detection

# Cosine thresholds separating same / different people, per recognizer family, measured on the
# asset photos (bench/bench_models.py): dlib's 128-d space is compact (different people still
# score ~0.8), ArcFace-style spaces spread them around 0.
SAME_PERSON_THRESHOLD = {"dlib128": 0.90, "mobilefacenet": 0.45, "arcface": 0.35}


def l2_normalise(v: np.ndarray) -> np.ndarray:
    """Rows (or the vector) scaled to unit length, float32."""
    a = np.asarray(v, dtype=np.float32)
    n = np.linalg.norm(a, axis=-1, keepdims=True)
    return a / np.maximum(n, 1e-12)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embeddings (normalised here, so raw vectors work too)."""
    return float(np.dot(l2_normalise(np.ravel(a)), l2_normalise(np.ravel(b))))


def cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) cosine similarities between rows of a (N, D) and b (M, D)."""
    return l2_normalise(np.atleast_2d(a)) @ l2_normalise(np.atleast_2d(b)).T


def mean_embedding(embeddings: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Normalised mean of several embeddings of one person (the track file's ``embedding``)."""
    e = l2_normalise(np.atleast_2d(np.asarray(embeddings, dtype=np.float32)))
    return l2_normalise(e.mean(axis=0))


def threshold_for(recognizer: Any) -> float:
    """Same-person cosine threshold for a recognizer object (by its contract family)."""
    family = getattr(getattr(recognizer, "contract", None), "family", None)
    return SAME_PERSON_THRESHOLD.get(family, 0.5)


def same_person(a: np.ndarray, b: np.ndarray, recognizer: Any = None, threshold: float | None = None) -> bool:
    """True when two embeddings are the same person under the recognizer's threshold."""
    t = threshold if threshold is not None else threshold_for(recognizer)
    return cosine(a, b) >= t


def embed_faces(recognizer: Any, image_rgb: np.ndarray, detections: Sequence[Detection],
                points5: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """(N, dim) embeddings of detections; ``points5`` overrides their points (e.g. from 68 landmarks)."""
    pts = points5 if points5 is not None else [d.points5 for d in detections]
    if len(pts) == 0:
        return np.zeros((0, int(getattr(recognizer, "dim", 0))), dtype=np.float32)
    return np.stack([recognizer.embed(image_rgb, p) for p in pts]).astype(np.float32)

"""Identity embeddings: normalising, averaging and comparing them, and the same-person thresholds.

Recognizer objects come from ``models.load_recognizer``; every embedding is a (dim,) float32
L2-normalised vector, so cosine similarity is a dot product.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

# Cosine at/above which two embeddings are the same person, per recognizer family. Measured on the
# asset photos (same person / different people): dlib-128 on our 5-point chips >= 0.954 / <= 0.897,
# MobileFaceNet >= 0.71 / <= 0.14 (MANIFEST: threshold near 0.5); ArcFace-style: the usual 0.35.
# (analyze used 0.93 and the source-outlier check 0.90 for dlib-128: 0.90 sits on the different-people
# maximum, so the one value is 0.93.)
SAME_PERSON_THRESHOLD = {"dlib128": 0.93, "mobilefacenet": 0.45, "arcface": 0.35}
DEFAULT_SAME_PERSON_THRESHOLD = 0.5


def l2_normalise(v: np.ndarray) -> np.ndarray:
    """Rows (or the vector) scaled to unit length, float32."""
    a = np.asarray(v, dtype=np.float32)
    if a.ndim == 1:  # one embedding: the norm as recognizers have always computed it (bit-stable)
        return a / max(float(np.linalg.norm(a)), 1e-12)
    n = np.linalg.norm(a, axis=-1, keepdims=True)
    return a / np.maximum(n, 1e-12)


def cosine(a: Optional[np.ndarray], b: Optional[np.ndarray]) -> Optional[float]:
    """Cosine similarity of two embeddings (raw vectors work too); None when either is missing or zero."""
    if a is None or b is None:
        return None
    a, b = np.ravel(a), np.ravel(b)
    if a.size == 0 or b.size == 0:
        return None
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0 or nb == 0:
        return None
    return float(np.dot(a, b) / (na * nb))


def cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) cosine similarities between rows of a (N, D) and b (M, D)."""
    return l2_normalise(np.atleast_2d(a)) @ l2_normalise(np.atleast_2d(b)).T


def mean_embedding(embeddings: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Normalised mean of several embeddings of one person (the track file's ``embedding``)."""
    e = l2_normalise(np.atleast_2d(np.asarray(embeddings, dtype=np.float32)))
    return l2_normalise(e.mean(axis=0))


def threshold_for(recognizer: Any, override: Optional[float] = None) -> float:
    """Same-person cosine threshold for a recognizer object (by its contract family), unless overridden."""
    if override is not None:
        return float(override)
    family = getattr(getattr(recognizer, "contract", None), "family", None)
    return SAME_PERSON_THRESHOLD.get(family, DEFAULT_SAME_PERSON_THRESHOLD)

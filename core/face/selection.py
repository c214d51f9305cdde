"""Performance-matched selection: for each face and frame, the library frame closest in pose,
eye and mouth state (and gaze, when both sides have it), along a path with a switching cost.

Run in analyze over the whole shot (Viterbi: dynamic programming over frames × library frames),
stored per track-file entry, so render of frame f needs only frame f's entry. A library frame
whose identity embedding (the engine's own recognizer) is far from the library's mean — a blurred
or wrong face — is penalised; no recognizer score ever judges the output pixels.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from faceplate.core.face.expression import Expression, measure

# Distance units: 15° of yaw, 10° of pitch/roll, 0.1 of eye openness, 0.15 of mouth openness,
# 0.1 of gaze; 0.1 of smile (mouth-corner lift), where both sides have it.
FEATURE_SCALES = np.array([15.0, 10.0, 10.0, 0.1, 0.1, 0.15, 0.1, 0.1])
SMILE_SCALE = 0.1


@dataclass
class SelectionSettings:
    switch_cost: float = 2.0           # in squared feature units; higher switches less often
    use_gaze: bool = False             # the target side needs pixels for gaze: off in analyze
    identity_penalty: float = 4.0      # cost for a library frame far from the library's identity
    identity_floor: float = 0.9        # cosine to the mean below which the penalty applies (dlib-128 space)


def unary_costs(targets: Sequence[Expression], library: Sequence[Expression], settings: SelectionSettings,
                embeddings: Optional[Sequence[Optional[np.ndarray]]] = None) -> np.ndarray:
    """(T, K) squared, scaled feature distance of every target frame to every library frame."""
    t = np.stack([e.vector() for e in targets]) / FEATURE_SCALES
    k = np.stack([e.vector() for e in library]) / FEATURE_SCALES
    if not settings.use_gaze:
        t, k = t[:, :6], k[:, :6]
    cost = ((t[:, None, :] - k[None, :, :]) ** 2).sum(axis=2)
    smile_t = np.array([e.smile for e in targets], np.float64)
    smile_k = np.array([e.smile for e in library], np.float64)
    smile_d = ((smile_t[:, None] - smile_k[None, :]) / SMILE_SCALE) ** 2
    cost = cost + np.where(np.isfinite(smile_d), smile_d, 0.0)  # unknown on either side: not counted
    if embeddings is not None and all(e is not None for e in embeddings) and len(embeddings) > 2:
        e = np.stack(embeddings).astype(np.float64)
        mean = e.mean(axis=0)
        cos = e @ mean / max(np.linalg.norm(mean), 1e-12) / np.maximum(np.linalg.norm(e, axis=1), 1e-12)
        cost = cost + settings.identity_penalty * (cos < settings.identity_floor)[None, :]
    return cost


def viterbi(cost: np.ndarray, switch_cost: float) -> list[int]:
    """Minimum of Σ cost[t, k_t] + switch_cost · #(k_t ≠ k_{t-1}); ties go to the lower index."""
    n_t, n_k = cost.shape
    acc = cost[0].copy()
    back = np.zeros((n_t, n_k), np.int32)
    for t in range(1, n_t):
        best = int(np.argmin(acc))
        switch = acc[best] + switch_cost
        stay = acc <= switch
        back[t] = np.where(stay, np.arange(n_k), best)
        acc = np.where(stay, acc, switch) + cost[t]
    path = [int(np.argmin(acc))]
    for t in range(n_t - 1, 0, -1):
        path.append(int(back[t, path[-1]]))
    return path[::-1]


def select_track(entries: dict[int, Any], library: Any, settings: Optional[SelectionSettings] = None) -> dict[int, int]:
    """{frame: library frame index} for one track's entries (smoothed landmarks), whole-shot path."""
    settings = settings or SelectionSettings()
    frames = sorted(entries)
    if not frames:
        return {}
    if len(library.frames) == 1:
        return {f: 0 for f in frames}
    targets = [measure(np.asarray(entries[f].landmarks, np.float64)) for f in frames]
    cost = unary_costs(targets, [lf.expression for lf in library.frames], settings,
                       [lf.embedding for lf in library.frames])
    return dict(zip(frames, viterbi(cost, settings.switch_cost)))


def nearest(target: Expression, library: Any, settings: Optional[SelectionSettings] = None) -> int:
    """The best library frame for one frame alone (render's fallback when the track file has no choice)."""
    settings = settings or SelectionSettings()
    if len(library.frames) == 1:
        return 0
    cost = unary_costs([target], [lf.expression for lf in library.frames], settings,
                       [lf.embedding for lf in library.frames])
    return int(np.argmin(cost[0]))


def assign_source_frames(tracks: Sequence[Any], library: Any, settings: Optional[SelectionSettings] = None) -> dict:
    """Set ``entry.source_frame`` on every entry of ``tracks``; returns the record for the track file."""
    switches = 0
    for track in tracks:
        chosen = select_track(track.entries, library, settings)
        previous = None
        for f in sorted(chosen):
            track.entries[f].source_frame = chosen[f]
            switches += previous is not None and previous != chosen[f]
            previous = chosen[f]
    return {"sha256": library.sha256, "frames": len(library.frames), "switches": int(switches)}

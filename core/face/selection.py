"""Performance-matched selection: for each face and frame, the library frame closest in pose,
eye and mouth state, brow raise (and gaze, when both sides have it), along a path with a
switching cost.

Run in analyze over the whole shot (Viterbi: dynamic programming over frames × library frames),
stored per track-file entry, so render of frame f needs only frame f's entry. A library frame
whose identity embedding (the engine's own recognizer) is far from the library's mean — a blurred
or wrong face — is penalised; no recognizer score ever judges the output pixels.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from faceplate.core.analyze.temporal import segment_starts
from faceplate.core.face import likeness
from faceplate.core.face.expression import Expression, measure

# Distance units: 15° of yaw, 10° of pitch/roll, 0.1 of eye openness, 0.15 of mouth openness,
# 0.1 of gaze; 0.1 of smile (mouth-corner lift), where both sides have it. Not the mouth's width: it
# differs between people as much as a grin changes it, and weighed in the path it pulled faces to the
# clip's widest-mouthed frame, the one with a hand in front of the face (photos · clip face 3: identity
# 0.32 -> 0.09); it only decides whether the source's mouth stands in (WIDTH_TOLERANCE).
FEATURE_SCALES = np.array([15.0, 10.0, 10.0, 0.1, 0.1, 0.15, 0.1, 0.1])
SMILE_SCALE = 0.1
# The brows' raise above each person's own resting height (likeness.brow_raises), in face widths: a
# source frame with raised brows (and the forehead folds and socket shadows that come with them)
# is a poor stand-in for an actor whose brows rest. A full raise is about 0.12 face widths (the clip
# library's raised frames: 0.11-0.12); half of it costs as much as 15 degrees of yaw.
BROW_SCALE = 0.06

# How far apart the source's and the actor's eye state (relative difference of the two eyes' mean
# openness; gaze in eye widths) and mouth state (relative difference of openness; smile, the corner
# lift, in mouth widths) may be for the source's own eyes or mouth to stand in for the actor's: full
# use within half a tolerance, none beyond one and a half. Openness is compared relatively (floor
# 0.1): 68-point lids and lips are noisy and people's open eyes differ in shape, while a blink, a
# squint or lips parting over the teeth change openness by a large fraction of itself. A closed grin
# and a neutral mouth have the same openness: the smile tells them apart.
EYE_TOLERANCE, MOUTH_TOLERANCE, SMILE_TOLERANCE, GAZE_TOLERANCE = 0.15, 0.3, 0.1, 0.1
# Mouth width, relatively: people at rest differ by up to a third (1.3-1.9, expression.mouth_width), a
# broad grin stretches a mouth by a fifth or more. A source mouth a quarter narrower than the actor's
# grin warped across it is a smeared mouth (the photos bench's Cruise with the clip's talking frame).
WIDTH_TOLERANCE = 0.15
# A feature is the source's or the plate's, never a steady mix (two eyes half over each other are a
# ghost): each frame's match is decided with hysteresis (on from SHARE_ON, off below SHARE_OFF), a
# decision held for fewer than SHARE_MIN_RUN frames between two others follows its neighbours (at a
# piece's ends, one of a single frame), and the change fades
# over about five frames (Gaussian of SHARE_SIGMA frames) instead of popping.
SHARE_ON, SHARE_OFF, SHARE_MIN_RUN, SHARE_SIGMA = 0.6, 0.4, 6, 1.5
# A switch of library frame dissolves over SWITCH_HALF frames either side of it (a pop is flicker).
SWITCH_HALF = 2


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


def _relative(a: Any, b: Any) -> Any:
    """|a - b| / max(a, b) (NaN where either is unknown)."""
    return np.abs(a - b) / np.maximum(np.maximum(a, b), 1e-9)


def feature_matches(source: Any, actor: Any) -> np.ndarray:
    """(3,) how well the source frame's [image-left eye, image-right eye, mouth] stands in for the
    actor's: 1 where openness (and gaze, when both were measured) agree, 0 where they differ (closed
    or downcast eyes, a mouth open on one side only, a grin much wider than the source's mouth).
    Where 1, that feature is the source's own."""
    def near(d: float) -> float:
        return float(np.clip(1.5 - d, 0.0, 1.0))

    gaze = 0.0
    if (source.gaze_x or source.gaze_y) and (actor.gaze_x or actor.gaze_y):
        gaze = float(np.hypot(source.gaze_x - actor.gaze_x, source.gaze_y - actor.gaze_y)) / GAZE_TOLERANCE
    eye_s, eye_a = 0.5 * (source.eye_left + source.eye_right), 0.5 * (actor.eye_left + actor.eye_right)
    eyes = near(max(abs(eye_s - eye_a) / max(eye_s, eye_a, 0.1) / EYE_TOLERANCE, gaze))
    mouth = abs(source.mouth - actor.mouth) / max(source.mouth, actor.mouth, 0.1) / MOUTH_TOLERANCE
    if np.isfinite(source.smile) and np.isfinite(actor.smile):  # NaN: an older source file has none
        mouth = max(mouth, abs(source.smile - actor.smile) / SMILE_TOLERANCE)
    width = _relative(source.mouth_width, actor.mouth_width)
    if np.isfinite(width):   # NaN: a source file from before the mouth width was measured
        mouth = max(mouth, float(width) / WIDTH_TOLERANCE)
    return np.array([eyes, eyes, near(mouth)])


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


def _targets(entries: dict[int, Any]) -> dict[int, Expression]:
    """{frame: the actor's state} from each entry's (smoothed) landmarks."""
    return {f: measure(np.asarray(e.landmarks, np.float64)) for f, e in entries.items()}


def select_track(entries: dict[int, Any], library: Any, settings: Optional[SelectionSettings] = None,
                 targets: Optional[dict[int, Expression]] = None) -> dict[int, int]:
    """{frame: library frame index} for one track's entries (smoothed landmarks), whole-shot path.
    ``targets``: the entries' states (``_targets``) when the caller has them already."""
    settings = settings or SelectionSettings()
    frames = sorted(entries)
    if not frames:
        return {}
    if len(library.frames) == 1:
        return {f: 0 for f in frames}
    targets = targets if targets is not None else _targets(entries)
    cost = unary_costs([targets[f] for f in frames], [lf.expression for lf in library.frames], settings,
                       [lf.embedding for lf in library.frames])
    cost = cost + brow_costs([np.asarray(entries[f].landmarks, np.float64) for f in frames],
                             [np.asarray(lf.landmarks, np.float64) for lf in library.frames])
    return dict(zip(frames, viterbi(cost, settings.switch_cost)))


def brow_costs(actor: Sequence[np.ndarray], library: Sequence[np.ndarray]) -> np.ndarray:
    """(T, K) squared, scaled difference of the actor's brow raise in each of its T frames and the
    source's in each of the K library frames, each raise taken from that person's own resting brows
    over the shot / the library. Needs the whole shot (the actor's resting height): analyze only."""
    if len(library) < 2 or not len(actor):
        return np.zeros((len(actor), len(library)))
    t, k = likeness.brow_raises(list(actor)), likeness.brow_raises(list(library))
    return ((t[:, None] - k[None, :]) / BROW_SCALE) ** 2


def nearest(target: Expression, library: Any, settings: Optional[SelectionSettings] = None) -> int:
    """The best library frame for one frame alone (render's fallback when the track file has no choice)."""
    settings = settings or SelectionSettings()
    if len(library.frames) == 1:
        return 0
    cost = unary_costs([target], [lf.expression for lf in library.frames], settings,
                       [lf.embedding for lf in library.frames])
    return int(np.argmin(cost[0]))


def _with_gaze(state: Expression, entry: Any) -> Expression:
    """The actor's state with the gaze analyze measured on the plate for this entry (when it did)."""
    gaze = getattr(entry, "gaze", None)
    if gaze is None:
        return state
    return dataclasses.replace(state, gaze_x=float(gaze[0]), gaze_y=float(gaze[1]))


def _smooth_runs(values: np.ndarray, breaks: np.ndarray, sigma: float) -> np.ndarray:
    """(T, K) ``values`` Gaussian-smoothed along T (``sigma`` rows), separately between breaks
    (``breaks[t]``: row t starts a new run), edges reflected."""
    out = np.asarray(values, np.float64).copy()
    starts = list(np.flatnonzero(breaks)) + [len(out)]
    radius = max(int(np.ceil(3 * sigma)), 1)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    for a, b in zip(starts[:-1], starts[1:]):
        run = out[a:b]
        if len(run) < 2:
            continue
        padded = np.pad(run, ((radius, radius), (0, 0)), mode="reflect" if len(run) > radius else "edge")
        out[a:b] = np.stack([np.convolve(padded[:, k], kernel, mode="valid") for k in range(run.shape[1])], axis=1)
    return out


def _decided(raw: np.ndarray, breaks: np.ndarray) -> np.ndarray:
    """(T,) 0/1 per frame from (T,) matches in 0..1: hysteresis, then runs shorter than
    ``SHARE_MIN_RUN`` frames between two others take their neighbours' state (each run between
    breaks apart; the first and last run of a piece stand from two frames on)."""
    out = np.zeros(len(raw))
    starts = list(np.flatnonzero(breaks)) + [len(raw)]
    for a, b in zip(starts[:-1], starts[1:]):
        state = raw[a] >= 0.5
        for t in range(a, b):
            state = raw[t] >= SHARE_OFF if state else raw[t] >= SHARE_ON
            out[t] = float(state)
        changed = True
        while changed and b - a > SHARE_MIN_RUN:
            changed = False
            edges = [a] + [t for t in range(a + 1, b) if out[t] != out[t - 1]] + [b]
            runs = [(edges[i + 1] - edges[i], edges[i], edges[i + 1]) for i in range(len(edges) - 1)]
            # a run that ends the piece (or starts it) is one change, not a flicker: eyes that close
            # over the last frames of a shot stay closed (one frame alone is as likely a noisy lid)
            short = [r for i, r in enumerate(runs)
                     if r[0] < (SHARE_MIN_RUN if 0 < i < len(runs) - 1 else 2)]
            if len(runs) > 1 and short:
                _, lo, hi = min(short)       # the shortest run first, so a flicker dissolves into its context
                out[lo:hi] = 1.0 - out[lo]
                changed = True
    return out


def _breaks(frames: list[int], positions: Optional[dict[int, int]], cuts: Sequence[int]) -> np.ndarray:
    """(T,) bool: frame t of the sorted ``frames`` starts a piece (a cut, or a gap in the plate's frames)."""
    def at(f: int) -> int:
        return int(positions[f]) if positions is not None else int(f)

    return segment_starts([at(f) for f in frames], [at(c) for c in cuts if positions is None or c in positions],
                          max_gap=0)


def switch_dissolves(chosen: dict[int, int], positions: Optional[dict[int, int]] = None,
                     cuts: Sequence[int] = (), half: int = SWITCH_HALF) -> dict[int, tuple[int, float]]:
    """{frame: (the other library frame, its weight)} around each switch of ``chosen`` (the path of
    one track): ``half`` frames on either side of a switch dissolve from the old library frame to the
    new one in equal steps (two each side: the new one at 1/8, 3/8, then the old one at 3/8, 1/8), so
    a switch is a short dissolve, not a pop. Never across a cut or a gap; where two switches are
    closer than that, each frame takes the nearer one's."""
    frames = sorted(chosen)
    breaks = _breaks(frames, positions, cuts)
    piece = np.cumsum(breaks)
    out: dict[int, tuple[int, float]] = {}
    nearest: dict[int, float] = {}   # frame index -> its distance to the switch it dissolves for
    for i in range(1, len(frames)):
        old, new = chosen[frames[i - 1]], chosen[frames[i]]
        if old == new or breaks[i]:
            continue
        for o in range(-half, half):
            j = i + o
            if not 0 <= j < len(frames) or piece[j] != piece[i]:
                continue
            main, other = (old, new) if o < 0 else (new, old)
            if chosen[frames[j]] != main or nearest.get(j, half + 1) <= abs(o + 0.5):
                continue
            w = (o + half + 0.5) / (2 * half)
            out[frames[j]] = (int(other), round(w if o < 0 else 1.0 - w, 4))
            nearest[j] = abs(o + 0.5)
    return out


def feature_shares(entries: dict[int, Any], chosen: dict[int, int], library: Any,
                   positions: Optional[dict[int, int]] = None, cuts: Sequence[int] = (),
                   targets: Optional[dict[int, Expression]] = None) -> dict[int, np.ndarray]:
    """{frame: (3,) share of the chosen library frame's [image-left eye, image-right eye, mouth] that
    stands in for the actor's} for one track: ``feature_matches`` per entry, decided over the shot
    (hysteresis, no decision shorter than ``SHARE_MIN_RUN`` frames) and faded (``SHARE_SIGMA``
    frames), restarting at cuts and gaps, so a feature is the source's or the plate's and changes by
    a short dissolve, not on a single frame's noisy lid or lip landmarks. ``positions``:
    each frame's index in the plate's frame list (default the frame numbers); ``cuts``: frame numbers
    that start a shot; ``targets``: the entries' states (``_targets``) when the caller has them."""
    frames = sorted(chosen)
    if not frames:
        return {}
    targets = targets if targets is not None else _targets(entries)
    breaks = _breaks(frames, positions, cuts)
    raw = np.stack([feature_matches(library.frames[chosen[f]].expression, _with_gaze(targets[f], entries[f]))
                    for f in frames])
    decided = np.stack([_decided(raw[:, k], breaks) for k in range(3)], axis=1)
    smooth = np.clip(_smooth_runs(decided, breaks, SHARE_SIGMA), 0.0, 1.0)
    return {f: np.round(smooth[i], 3) for i, f in enumerate(frames)}


def assign_source_frames(tracks: Sequence[Any], library: Any, settings: Optional[SelectionSettings] = None,
                         positions: Optional[dict[int, int]] = None, cuts: Sequence[int] = ()) -> dict:
    """Set ``entry.source_frame``, ``entry.features`` (``feature_shares``) and ``entry.source_mix``
    (``switch_dissolves``) on every entry of ``tracks``; returns the record for the track file."""
    switches = 0
    for track in tracks:
        targets = _targets(track.entries)   # measured once: the path and the shares read the same states
        chosen = select_track(track.entries, library, settings, targets)
        shares = feature_shares(track.entries, chosen, library, positions, cuts, targets)
        mixes = switch_dissolves(chosen, positions, cuts)
        previous = None
        for f in sorted(chosen):
            track.entries[f].source_frame = chosen[f]
            track.entries[f].features = shares[f]
            track.entries[f].source_mix = mixes.get(f)
            switches += previous is not None and previous != chosen[f]
            previous = chosen[f]
    return {"sha256": library.sha256, "frames": len(library.frames), "switches": int(switches)}

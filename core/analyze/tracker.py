"""The multi-face tracker: per-frame observations associated into tracks.

The tracker associates per-frame observations to tracks with the Hungarian algorithm on a cost made
of box overlap, landmark distance and identity-embedding distance, so two people crossing keep
their ids. Gaps up to ``max_gap`` frames are filled by interpolation (flagged ``interpolated``); a
longer gap or a shot cut ends the track's segment. A face that comes back (after a cut or a long
gap) keeps its old id when its identity matches.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional, Sequence

import numpy as np
from faceplate.core.geometry.boxes import box_iou, box_size
from faceplate.core.identity import cosine
from faceplate.core.types import N_LANDMARKS, FaceEntry, Track


@dataclass
class Observation:
    """One face found in one frame (analysis space: plate pixels, any consistent space works)."""
    box: np.ndarray                       # (4,) float64
    points5: np.ndarray                   # (5, 2) float64
    landmarks: np.ndarray                 # (68, 2) float64
    score: float
    embedding: Optional[np.ndarray] = None  # (D,) float32, L2-normalised
    # Computes ``embedding`` on demand: recognizers cost more than detection, so the tracker asks
    # only when identity decides something (ambiguity, a new face, a periodic refresh).
    embed: Optional[Callable[[], np.ndarray]] = field(default=None, repr=False)

    def get_embedding(self) -> Optional[np.ndarray]:
        if self.embedding is None and self.embed is not None:
            self.embedding = np.asarray(self.embed(), dtype=np.float32).reshape(-1)
            self.embed = None
        return self.embedding


@dataclass
class TrackerSettings:
    max_gap: int = 8                 # frames (positions in the analysed frame list) filled by interpolation
    identity_threshold: float = 0.5  # cosine at/above which two embeddings are the same person
    min_iou: float = 0.05            # below this (with a far landmark distance) a pair cannot match on motion
    max_landmark_dist: float = 0.6   # mean landmark distance / face size beyond which motion says "no"
    relink: bool = True              # a returning face keeps its old id when its identity matches
    embed_every: int = 5             # refresh a track's identity at least every N frames (lazy embeddings)
    embed_first: int = 3             # embed every frame of a new track's first N frames (stable mean)


@dataclass
class _Segment:
    """Consecutive observations of one track, no cut and no gap > max_gap inside."""
    positions: list[int] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)


@dataclass
class _TrackState:
    id: int
    segments: list[_Segment] = field(default_factory=list)
    emb_sum: Optional[np.ndarray] = None
    emb_count: int = 0
    active: bool = True
    last_embedded: int = -10 ** 9

    @property
    def last(self) -> Observation:
        return self.segments[-1].observations[-1]

    @property
    def last_pos(self) -> int:
        return self.segments[-1].positions[-1]

    def mean_embedding(self) -> Optional[np.ndarray]:
        if self.emb_sum is None or self.emb_count == 0:
            return None
        m = self.emb_sum / self.emb_count
        n = float(np.linalg.norm(m))
        return (m / n).astype(np.float32) if n > 0 else m.astype(np.float32)

    def predict(self, pos: int) -> tuple[np.ndarray, np.ndarray]:
        """Constant-velocity guess of box and landmarks at ``pos`` from the segment's last two frames."""
        seg = self.segments[-1]
        last = seg.observations[-1]
        if len(seg.observations) < 2:
            return last.box, last.landmarks
        prev = seg.observations[-2]
        dt_prev = seg.positions[-1] - seg.positions[-2]
        k = (pos - seg.positions[-1]) / max(dt_prev, 1)
        return last.box + k * (last.box - prev.box), last.landmarks + k * (last.landmarks - prev.landmarks)

    def add(self, pos: int, frame: int, obs: Observation, new_segment: bool) -> None:
        if new_segment or not self.segments:
            self.segments.append(_Segment())
        seg = self.segments[-1]
        seg.positions.append(pos)
        seg.frames.append(frame)
        seg.observations.append(obs)
        if obs.embedding is not None and obs.embedding.size:
            e = obs.embedding.astype(np.float64)
            self.emb_sum = e.copy() if self.emb_sum is None else self.emb_sum + e
            self.emb_count += 1
            self.last_embedded = pos


_FORBIDDEN = 1e6


class Tracker:
    """Frame-by-frame association; ``finish()`` returns tracks with gaps filled (unsmoothed).

    Feed frames in order with ``update(frame, observations, cut=...)``. ``cut=True`` means this
    frame starts a new shot: every active track's segment ends before it.
    """

    def __init__(self, settings: Optional[TrackerSettings] = None):
        self.settings = settings or TrackerSettings()
        self._states: list[_TrackState] = []
        self._next_id = 1
        self._pos = -1
        self.frames: list[int] = []
        self.cuts: list[int] = []

    # -- association cost -------------------------------------------------------------------
    def _motion_cost(self, st: _TrackState, obs: Observation, pos: int) -> float:
        s = self.settings
        pbox, plm = st.predict(pos)
        iou = float(box_iou(pbox, obs.box)[0, 0])
        size = 0.5 * (box_size(pbox) + box_size(obs.box))
        lm_dist = float(np.mean(np.linalg.norm(plm - obs.landmarks, axis=1))) / size
        if iou < s.min_iou and lm_dist > s.max_landmark_dist:
            return _FORBIDDEN  # too far to be the same face moving; re-linking by identity handles returns
        return (1.0 - iou) + min(lm_dist, 2.0)

    def _identity_cost(self, st: _TrackState, obs: Observation) -> float:
        """0 for the same embedding, 1 at the identity threshold, growing beyond (capped)."""
        cos = cosine(st.mean_embedding(), obs.get_embedding())
        if cos is None:
            return 0.0
        thr = self.settings.identity_threshold
        return float(min(max(1.0 - cos, 0.0) / max(1.0 - thr, 1e-3), 5.0))

    def update(self, frame: int, observations: Sequence[Observation], cut: bool = False) -> list[int]:
        """Associate this frame's observations; returns the track id given to each observation.

        Embeddings are computed (through ``Observation.embed``) only where identity matters; the
        callables are dropped before returning so no frame image outlives its frame.
        """
        from scipy.optimize import linear_sum_assignment

        self._pos += 1
        pos = self._pos
        s = self.settings
        self.frames.append(int(frame))
        if cut and pos > 0:
            self.cuts.append(int(frame))
            for st in self._states:
                st.active = False
        for st in self._states:  # a segment ends after a gap longer than max_gap
            if st.active and pos - st.last_pos > s.max_gap + 1:
                st.active = False

        active = [st for st in self._states if st.active]
        ids: list[Optional[int]] = [None] * len(observations)
        if active and observations:
            cost = np.array([[self._motion_cost(st, o, pos) for o in observations] for st in active])
            feasible = cost < _FORBIDDEN
            # identity decides wherever motion leaves a choice: a track with several candidate
            # faces, or a face several tracks could claim (people crossing)
            rows = feasible.sum(axis=1) > 1
            cols = feasible.sum(axis=0) > 1
            for r in range(len(active)):
                for c in range(len(observations)):
                    if feasible[r, c] and (rows[r] or cols[c]):
                        cost[r, c] += 2.0 * self._identity_cost(active[r], observations[c])
            rr, cc = linear_sum_assignment(cost)
            for r, c in zip(rr, cc):
                if cost[r, c] >= _FORBIDDEN:
                    continue
                st, obs = active[r], observations[c]
                if pos - st.last_embedded >= s.embed_every or st.emb_count < s.embed_first:
                    obs.get_embedding()
                    if self._identity_cost(st, obs) > 3.0 and st.emb_count >= s.embed_first:
                        continue  # clearly someone else in the same place: a new face, not this track
                st.add(pos, frame, obs, new_segment=False)
                ids[c] = st.id
        matched = {i for i in ids if i is not None}
        for c, obs in enumerate(observations):
            if ids[c] is not None:
                continue
            obs.get_embedding()
            st = self._relink(obs, exclude=matched)
            if st is None:
                st = _TrackState(id=self._next_id)
                self._next_id += 1
                self._states.append(st)
            st.active = True
            st.add(pos, frame, obs, new_segment=True)
            ids[c] = st.id
            matched.add(st.id)
        for obs in observations:
            obs.embed = None
        return [int(i) for i in ids]  # type: ignore[arg-type]

    def _relink(self, obs: Observation, exclude: set[int]) -> Optional[_TrackState]:
        """An ended track of the same person (best cosine above threshold), or None."""
        if not self.settings.relink:
            return None
        best, best_cos = None, self.settings.identity_threshold
        for st in self._states:
            if st.active or st.id in exclude:
                continue
            cos = cosine(st.mean_embedding(), obs.get_embedding())
            if cos is not None and cos >= best_cos:
                best, best_cos = st, cos
        return best

    # -- output -------------------------------------------------------------------------------
    def finish(self) -> list[Track]:
        """Tracks with one entry per observed frame plus interpolated entries for short gaps.

        Smoothed fields equal the raw ones here; ``faceplate.core.smooth`` fills them.
        """
        tracks: list[Track] = []
        for st in sorted(self._states, key=lambda s: s.id):
            entries: dict[int, FaceEntry] = {}
            for seg in st.segments:
                for i, (pos, frame, obs) in enumerate(zip(seg.positions, seg.frames, seg.observations)):
                    entries[frame] = _entry_from(frame, "detected", obs.score, obs.box, obs.points5, obs.landmarks)
                    if i + 1 < len(seg.positions) and seg.positions[i + 1] - pos > 1:
                        nxt = seg.observations[i + 1]
                        span = seg.positions[i + 1] - pos
                        for k in range(1, span):
                            t = k / span
                            f = self.frames[pos + k]
                            entries[f] = _entry_from(
                                f, "interpolated", 0.0,
                                (1 - t) * obs.box + t * nxt.box,
                                (1 - t) * obs.points5 + t * nxt.points5,
                                (1 - t) * obs.landmarks + t * nxt.landmarks)
            emb = st.mean_embedding()
            tracks.append(Track(id=st.id, embedding=emb if emb is not None else np.zeros(0, np.float32),
                                entries=dict(sorted(entries.items()))))
        return tracks


def _entry_from(frame: int, source: str, score: float, box, points5, landmarks) -> FaceEntry:
    box = np.asarray(box, dtype=np.float64).reshape(4)
    p5 = np.asarray(points5, dtype=np.float64).reshape(5, 2)
    lm = np.asarray(landmarks, dtype=np.float64).reshape(N_LANDMARKS, 2)
    return FaceEntry(frame=int(frame), source=source, score=float(score), box=box.copy(), box_raw=box.copy(),
                     points5=p5.copy(), points5_raw=p5.copy(), landmarks=lm.copy(), landmarks_raw=lm.copy())


def segments(track: Track, frames: Sequence[int], cuts: Iterable[int], max_gap: int) -> list[list[int]]:
    """Split a track's frames into runs with no cut inside and no gap (in ``frames`` positions) > max_gap.

    Smoothing and interpolation never cross a segment boundary.
    """
    index = {f: i for i, f in enumerate(frames)}
    cut_set = set(cuts)
    runs: list[list[int]] = []
    prev_pos: Optional[int] = None
    for f in sorted(track.entries):
        pos = index.get(f)
        if pos is None:  # an entry outside the analysed list (hand-added): its own segment
            runs.append([f])
            prev_pos = None
            continue
        crossed_cut = prev_pos is not None and any(frames[p] in cut_set for p in range(prev_pos + 1, pos + 1))
        if prev_pos is None or pos - prev_pos > max_gap + 1 or crossed_cut:
            runs.append([f])
        else:
            runs[-1].append(f)
        prev_pos = pos
    return runs

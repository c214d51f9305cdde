"""The track file (``faceplate.track/1``) and the multi-face tracker that fills it.

The track file is the only thing that crosses from analyze to render, so loading validates every
field and names the first bad one ("shot.track.json: tracks[0].frames.1001.landmarks: expected 68
points, got 67"). Coordinates are plate pixel coordinates (see docs/INTERFACES.md): x right, y down,
stored (squeezed) pixels, absolute EXR pixel space.

The tracker associates per-frame observations to tracks with the Hungarian algorithm on a cost made
of box overlap, landmark distance and identity-embedding distance, so two people crossing keep
their ids. Gaps up to ``max_gap`` frames are filled by interpolation (flagged ``interpolated``); a
longer gap or a shot cut ends the track's segment. A face that comes back (after a cut or a long
gap) keeps its old id when its identity matches.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence, Union

import numpy as np

from faceplate.core.errors import TrackFileError
from faceplate.core.filesystem import atomic_path, sha256_file

FORMAT = "faceplate.track/1"
SOURCES = ("detected", "interpolated", "manual")
N_LANDMARKS = 68

PathLike = Union[str, Path]


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------

@dataclass
class FaceEntry:
    """One face in one frame. Plain fields are smoothed (what render uses); ``*_raw`` are measured.

    box: (4,) float64 x0, y0, x1, y1; points5: (5, 2) ArcFace order; landmarks: (68, 2) iBUG-68.
    """
    frame: int
    source: str
    score: float
    box: np.ndarray
    box_raw: np.ndarray
    points5: np.ndarray
    points5_raw: np.ndarray
    landmarks: np.ndarray
    landmarks_raw: np.ndarray

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FaceEntry):
            return NotImplemented
        return (self.frame == other.frame and self.source == other.source and self.score == other.score
                and all(np.array_equal(getattr(self, n), getattr(other, n)) for n in _ARRAY_FIELDS))


_ARRAY_FIELDS = ("box", "box_raw", "points5", "points5_raw", "landmarks", "landmarks_raw")


@dataclass
class Track:
    """One person through the shot: id, mean L2-normalised identity embedding (D,) float32, entries."""
    id: int
    embedding: np.ndarray
    entries: dict[int, FaceEntry] = field(default_factory=dict)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Track):
            return NotImplemented
        return (self.id == other.id and np.array_equal(self.embedding, other.embedding)
                and self.entries == other.entries)

    @property
    def frames(self) -> list[int]:
        return sorted(self.entries)


@dataclass
class PlateInfo:
    """The plate a track file was made from (first frame's geometry)."""
    pattern: str
    first: int
    last: int
    step: int
    width: int
    height: int
    pixel_aspect: float
    data_window: tuple[int, int, int, int]
    display_window: tuple[int, int, int, int]
    layer: Optional[str]
    colourspace: Optional[str]
    fingerprint: str


@dataclass
class TrackFile:
    plate: PlateInfo
    models: dict[str, Any]
    settings: dict[str, Any]
    cuts: list[int]
    tracks: list[Track]
    faceplate_version: str = "0.1.0"

    def track(self, track_id: int) -> Track:
        for t in self.tracks:
            if t.id == track_id:
                return t
        raise KeyError(track_id)


# --------------------------------------------------------------------------------------------
# Save
# --------------------------------------------------------------------------------------------

def _num(x: float) -> float:
    x = float(x)
    if not math.isfinite(x):  # JSON has no NaN; a non-finite point is a bug upstream
        raise ValueError(f"non-finite value {x!r} cannot be stored in a track file")
    return x


def _entry_to_dict(e: FaceEntry) -> dict[str, Any]:
    return {
        "source": e.source,
        "score": _num(e.score),
        "box": [_num(v) for v in np.asarray(e.box).reshape(4)],
        "box_raw": [_num(v) for v in np.asarray(e.box_raw).reshape(4)],
        "points5": [[_num(x), _num(y)] for x, y in np.asarray(e.points5).reshape(-1, 2)],
        "points5_raw": [[_num(x), _num(y)] for x, y in np.asarray(e.points5_raw).reshape(-1, 2)],
        "landmarks": [[_num(x), _num(y)] for x, y in np.asarray(e.landmarks).reshape(-1, 2)],
        "landmarks_raw": [[_num(x), _num(y)] for x, y in np.asarray(e.landmarks_raw).reshape(-1, 2)],
    }


def track_file_to_dict(tf: TrackFile) -> dict[str, Any]:
    p = tf.plate
    return {
        "format": FORMAT,
        "faceplate_version": tf.faceplate_version,
        "plate": {
            "pattern": p.pattern, "frames": [int(p.first), int(p.last), int(p.step)],
            "width": int(p.width), "height": int(p.height), "pixel_aspect": float(p.pixel_aspect),
            "data_window": [int(v) for v in p.data_window],
            "display_window": [int(v) for v in p.display_window],
            "layer": p.layer, "colourspace": p.colourspace, "fingerprint": p.fingerprint,
        },
        "models": tf.models,
        "settings": tf.settings,
        "cuts": [int(c) for c in tf.cuts],
        "tracks": [
            {"id": int(t.id),
             "embedding": [_num(v) for v in np.asarray(t.embedding).reshape(-1)],
             "frames": {str(f): _entry_to_dict(t.entries[f]) for f in sorted(t.entries)}}
            for t in tf.tracks
        ],
    }


def _is_leaf_list(value: Any) -> bool:
    """Numbers, or a list of number pairs: printed on one line so a person can read the file."""
    if not isinstance(value, list):
        return False
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value) or all(
        isinstance(v, list) and all(isinstance(w, (int, float)) and not isinstance(w, bool) for w in v)
        for v in value)


def _dumps(value: Any, indent: int = 0) -> str:
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f'{pad}  {json.dumps(str(k))}: {_dumps(v, indent + 1)}' for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list) and value and not _is_leaf_list(value):
        items = [f"{pad}  {_dumps(v, indent + 1)}" for v in value]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(value, allow_nan=False)  # repr floats: exact round trip


def save_track_file(tf: TrackFile, path: PathLike) -> str:
    """Validate and write ``tf`` atomically; return the sha256 of the written file."""
    data = track_file_to_dict(tf)
    _validate(data, str(path))  # never write a file we would refuse to load
    text = _dumps(data) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return sha256_file(path)


def track_file_sha256(path: PathLike) -> str:
    return sha256_file(path)


# --------------------------------------------------------------------------------------------
# Load + validation
# --------------------------------------------------------------------------------------------

class _Bad(Exception):
    def __init__(self, where: str, what: str):
        super().__init__(f"{where}: {what}")
        self.where, self.what = where, what


def _type_name(v: Any) -> str:
    if v is None:
        return "null"
    return {bool: "true/false", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(v), type(v).__name__)


def _get(obj: dict, key: str, where: str) -> Any:
    if key not in obj:
        raise _Bad(f"{where}.{key}" if where else key, "missing")
    return obj[key]


def _as_int(v: Any, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise _Bad(where, f"expected an integer, got {_type_name(v)}")
    return int(v)


def _as_number(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise _Bad(where, f"expected a number, got {_type_name(v)}")
        raise _Bad(where, f"expected a finite number, got {float(v)!r}")  # NaN/Infinity, which JSON here allows
    return float(v)


def _as_str(v: Any, where: str, optional: bool = False) -> Optional[str]:
    if v is None and optional:
        return None
    if not isinstance(v, str):
        raise _Bad(where, f"expected a string, got {_type_name(v)}")
    return v


def _as_dict(v: Any, where: str) -> dict:
    if not isinstance(v, dict):
        raise _Bad(where, f"expected an object, got {_type_name(v)}")
    return v


def _as_list(v: Any, where: str) -> list:
    if not isinstance(v, list):
        raise _Bad(where, f"expected a list, got {_type_name(v)}")
    return v


def _int_list(v: Any, n: int, where: str) -> tuple[int, ...]:
    v = _as_list(v, where)
    if len(v) != n:
        raise _Bad(where, f"expected {n} integers, got {len(v)}")
    return tuple(_as_int(x, f"{where}[{i}]") for i, x in enumerate(v))


def _box(v: Any, where: str) -> np.ndarray:
    v = _as_list(v, where)
    if len(v) != 4:
        raise _Bad(where, f"expected 4 numbers x0, y0, x1, y1, got {len(v)}")
    box = np.array([_as_number(x, f"{where}[{i}]") for i, x in enumerate(v)], dtype=np.float64)
    if box[2] < box[0] or box[3] < box[1]:
        raise _Bad(where, "expected x0 <= x1 and y0 <= y1")
    return box


def _points(v: Any, n: int, where: str) -> np.ndarray:
    v = _as_list(v, where)
    if len(v) != n:
        raise _Bad(where, f"expected {n} points, got {len(v)}")
    out = np.empty((n, 2), dtype=np.float64)
    for i, p in enumerate(v):
        if not isinstance(p, list) or len(p) != 2:
            raise _Bad(f"{where}[{i}]", "expected a point [x, y]")
        out[i, 0] = _as_number(p[0], f"{where}[{i}][0]")
        out[i, 1] = _as_number(p[1], f"{where}[{i}][1]")
    return out


def _entry(v: Any, frame: int, where: str) -> FaceEntry:
    v = _as_dict(v, where)
    source = _as_str(_get(v, "source", where), f"{where}.source")
    if source not in SOURCES:
        raise _Bad(f"{where}.source", f"expected one of {', '.join(SOURCES)}, got {source!r}")
    score = _as_number(_get(v, "score", where), f"{where}.score")
    parsed: dict[str, np.ndarray] = {}
    for name, reader in (("box", lambda x, w: _box(x, w)),
                         ("points5", lambda x, w: _points(x, 5, w)),
                         ("landmarks", lambda x, w: _points(x, N_LANDMARKS, w))):
        parsed[name] = reader(_get(v, name, where), f"{where}.{name}")
        raw_key = f"{name}_raw"
        if raw_key in v:
            parsed[raw_key] = reader(v[raw_key], f"{where}.{raw_key}")
        elif source == "manual":  # a hand-added entry needs no detector values
            parsed[raw_key] = parsed[name].copy()
        else:
            raise _Bad(f"{where}.{raw_key}", "missing")
    return FaceEntry(frame=frame, source=source, score=score, **parsed)


def _validate(data: Any, name: str) -> TrackFile:
    try:
        return _parse(data)
    except _Bad as bad:
        raise TrackFileError(f"{name}: {bad.where}: {bad.what}; fix that field or re-run `faceplate analyze`") \
            from None


def _parse(data: Any) -> TrackFile:
    if not isinstance(data, dict):
        raise _Bad("(top level)", f"expected an object, got {_type_name(data)}")
    fmt = data.get("format")
    if fmt is None:
        raise _Bad("format", f"missing (expected \"{FORMAT}\"): not a faceplate track file")
    if fmt != FORMAT:
        raise _Bad("format", f"expected \"{FORMAT}\", got {fmt!r} (made by another faceplate version?)")
    version = _as_str(data.get("faceplate_version", "0.0.0"), "faceplate_version")

    p = _as_dict(_get(data, "plate", ""), "plate")
    frames = _int_list(_get(p, "frames", "plate"), 3, "plate.frames")
    if frames[2] < 1 or frames[1] < frames[0]:
        raise _Bad("plate.frames", "expected [first, last, step] with first <= last and step >= 1")
    width = _as_int(_get(p, "width", "plate"), "plate.width")
    height = _as_int(_get(p, "height", "plate"), "plate.height")
    if width < 1 or height < 1:
        raise _Bad("plate.width" if width < 1 else "plate.height", "expected a positive size")
    aspect = _as_number(_get(p, "pixel_aspect", "plate"), "plate.pixel_aspect")
    if aspect <= 0:
        raise _Bad("plate.pixel_aspect", "expected a positive number")
    windows = {}
    for key in ("data_window", "display_window"):
        w = _int_list(_get(p, key, "plate"), 4, f"plate.{key}")
        if w[2] < w[0] or w[3] < w[1]:
            raise _Bad(f"plate.{key}", "expected [xmin, ymin, xmax, ymax] with min <= max")
        windows[key] = w
    plate = PlateInfo(
        pattern=_as_str(_get(p, "pattern", "plate"), "plate.pattern"),
        first=frames[0], last=frames[1], step=frames[2], width=width, height=height, pixel_aspect=aspect,
        data_window=windows["data_window"], display_window=windows["display_window"],
        layer=_as_str(p.get("layer"), "plate.layer", optional=True),
        colourspace=_as_str(p.get("colourspace"), "plate.colourspace", optional=True),
        fingerprint=_as_str(_get(p, "fingerprint", "plate"), "plate.fingerprint"),
    )

    models = _as_dict(_get(data, "models", ""), "models")
    for role, m in models.items():
        m = _as_dict(m, f"models.{role}")
        _as_str(_get(m, "name", f"models.{role}"), f"models.{role}.name")
        _as_str(_get(m, "sha256", f"models.{role}"), f"models.{role}.sha256")
    settings = _as_dict(_get(data, "settings", ""), "settings")
    cuts = [_as_int(c, f"cuts[{i}]") for i, c in enumerate(_as_list(_get(data, "cuts", ""), "cuts"))]

    tracks: list[Track] = []
    seen_ids: set[int] = set()
    dim: Optional[int] = None
    for ti, t in enumerate(_as_list(_get(data, "tracks", ""), "tracks")):
        where = f"tracks[{ti}]"
        t = _as_dict(t, where)
        tid = _as_int(_get(t, "id", where), f"{where}.id")
        if tid < 0:
            raise _Bad(f"{where}.id", "expected a non-negative integer")
        if tid in seen_ids:
            raise _Bad(f"{where}.id", f"duplicate track id {tid}")
        seen_ids.add(tid)
        emb_list = _as_list(_get(t, "embedding", where), f"{where}.embedding")
        emb = np.array([_as_number(x, f"{where}.embedding[{i}]") for i, x in enumerate(emb_list)],
                       dtype=np.float32)
        if dim is not None and emb.size != dim:
            raise _Bad(f"{where}.embedding", f"expected {dim} numbers like the other tracks, got {emb.size}")
        dim = emb.size
        entries: dict[int, FaceEntry] = {}
        for key, ev in _as_dict(_get(t, "frames", where), f"{where}.frames").items():
            fwhere = f"{where}.frames.{key}"
            try:
                frame = int(key)
                if str(frame) != key.strip():
                    raise ValueError
            except ValueError:
                raise _Bad(fwhere, "expected a frame number as the key") from None
            entries[frame] = _entry(ev, frame, fwhere)
        tracks.append(Track(id=tid, embedding=emb, entries=dict(sorted(entries.items()))))
    return TrackFile(plate=plate, models=models, settings=settings, cuts=cuts, tracks=tracks,
                     faceplate_version=version)


def load_track_file(path: PathLike) -> TrackFile:
    """Read and fully validate a track file; TrackFileError names the file and the first bad field."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TrackFileError(f"{name}: no such track file; run `faceplate analyze` first or fix the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TrackFileError(f"{name}: cannot read the track file ({exc}); check the path and permissions") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TrackFileError(f"{name}: not valid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg}); "
                             f"fix that line or re-run `faceplate analyze`") from None
    return _validate(data, name)


# --------------------------------------------------------------------------------------------
# Tracker
# --------------------------------------------------------------------------------------------

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


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _face_size(box: np.ndarray) -> float:
    return float(max(1.0, math.sqrt(max(box[2] - box[0], 1.0) * max(box[3] - box[1], 1.0))))


def _cosine(a: Optional[np.ndarray], b: Optional[np.ndarray]) -> Optional[float]:
    if a is None or b is None or a.size == 0 or b.size == 0:
        return None
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0 or nb == 0:
        return None
    return float(np.dot(a, b) / (na * nb))


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
        iou = box_iou(pbox, obs.box)
        size = 0.5 * (_face_size(pbox) + _face_size(obs.box))
        lm_dist = float(np.mean(np.linalg.norm(plm - obs.landmarks, axis=1))) / size
        if iou < s.min_iou and lm_dist > s.max_landmark_dist:
            return _FORBIDDEN  # too far to be the same face moving; re-linking by identity handles returns
        return (1.0 - iou) + min(lm_dist, 2.0)

    def _identity_cost(self, st: _TrackState, obs: Observation) -> float:
        """0 for the same embedding, 1 at the identity threshold, growing beyond (capped)."""
        cos = _cosine(st.mean_embedding(), obs.get_embedding())
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
            cos = _cosine(st.mean_embedding(), obs.get_embedding())
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


def match_target(tracks: Sequence[Track], reference: np.ndarray, threshold: float) -> dict[int, float]:
    """Cosine similarity of every track's mean embedding to ``reference``: {track id: cosine}."""
    out = {}
    for t in tracks:
        cos = _cosine(t.embedding, reference)
        out[t.id] = float(cos) if cos is not None else -1.0
    return out

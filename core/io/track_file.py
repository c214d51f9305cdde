"""The track file (``faceplate.track/1``): writing it, and loading it with every field validated.

The track file is the only thing that crosses from analyze to render, so loading validates every
field and names the first bad one ("shot.track.json: tracks[0].frames.1001.landmarks: expected 68
points, got 67").
"""
from __future__ import annotations

import base64
import json
import math
import zlib
from pathlib import Path
from typing import Any, Optional

import numpy as np
from faceplate.core.errors import TrackFileError
from faceplate.core.filesystem import atomic_path, sha256_file
from faceplate.core.types import N_LANDMARKS, SOURCES, FaceEntry, PathLike, PlateInfo, Track, TrackFile

FORMAT = "faceplate.track/1"
MAX_INT = 10 ** 9          # frame numbers, sizes, ids and window edges
MAX_SIZE = 1 << 17         # plate width/height (131072 px): far beyond any film back
# Points may leave the frame (a face half out of shot) but not by more than this many frame
# sizes: beyond it a matte or crop derived from them would be unbounded (a landmarks-x1000 typo).
POINT_REACH = 2.0

GRAIN_VALUES = 9     # std (3), size (3), channel correlations rg, rb, gb
TEXTURE_VALUES = 5   # the plate skin's texture amplitude per octave band (render/texture.TEXTURE_VALUES)
TONE_GRID = 8        # cells a side of the plate's shading field (analyze/tone)
# mean linear RGB (3), log-luma spread, shading field, chroma slopes (2), chroma fields (2 grids)
TONE_VALUES = 4 + 3 * TONE_GRID * TONE_GRID + 2
TONE_VALUES_BEFORE_CHROMA_FIELD = 4 + TONE_GRID * TONE_GRID + 2   # older files (before the slopes: 2 fewer)


# ------------------------------------------------------------------------------------ occlusion masks

def encode_mask(mask: np.ndarray) -> str:
    """ASCII ``"<size>:<base64>"`` of a square (N, N) bool mask (bit-packed, zlib): ~16 chars when
    empty, a few hundred for a large occluder at 64x64; decodes exactly with ``decode_mask``."""
    mask = np.asarray(mask, bool)
    if mask.ndim != 2 or mask.shape[0] != mask.shape[1]:
        raise ValueError(f"encode_mask needs a square 2-D mask, got {mask.shape}")
    packed = zlib.compress(np.packbits(mask.ravel()).tobytes(), 9)
    return f"{mask.shape[0]}:{base64.b64encode(packed).decode('ascii')}"


def decode_mask(text: str) -> np.ndarray:
    """(N, N) bool from ``encode_mask``'s string; TrackFileError naming the problem when malformed."""
    try:
        head, body = str(text).split(":", 1)
        size = int(head)
        bits = np.unpackbits(np.frombuffer(zlib.decompressobj().decompress(base64.b64decode(body, validate=True), 1 << 17), np.uint8))
        if not 0 < size <= 1024 or bits.size < size * size:  # a 64² mask is stored; bound what a typo can allocate
            raise ValueError("too few bits")
        return bits[:size * size].reshape(size, size).astype(bool)
    except (ValueError, zlib.error, TypeError) as exc:
        raise TrackFileError(f"occlusion mask {str(text)[:24]!r}… is not a valid '<size>:<base64>' mask ({exc}); "
                             f"re-run `faceplate analyze` to rebuild the track file") from None


def _num(x: float) -> float:
    x = float(x)
    if not math.isfinite(x):  # JSON has no NaN; a non-finite point is a bug upstream
        raise ValueError(f"non-finite value {x!r} cannot be stored in a track file")
    return x


def _entry_to_dict(e: FaceEntry) -> dict[str, Any]:
    out = {
        "source": e.source,
        "score": _num(e.score),
        "box": [_num(v) for v in np.asarray(e.box).reshape(4)],
        "box_raw": [_num(v) for v in np.asarray(e.box_raw).reshape(4)],
        "points5": [[_num(x), _num(y)] for x, y in np.asarray(e.points5).reshape(-1, 2)],
        "points5_raw": [[_num(x), _num(y)] for x, y in np.asarray(e.points5_raw).reshape(-1, 2)],
        "landmarks": [[_num(x), _num(y)] for x, y in np.asarray(e.landmarks).reshape(-1, 2)],
        "landmarks_raw": [[_num(x), _num(y)] for x, y in np.asarray(e.landmarks_raw).reshape(-1, 2)],
    }
    if e.source_frame is not None:  # engine v2: only written when analyze chose one
        out["source_frame"] = int(e.source_frame)
    if e.occlusion:  # only frames where something covers the face
        out["occlusion"] = str(e.occlusion)
    if e.grain is not None:
        out["grain"] = [_num(v) for v in np.asarray(e.grain).reshape(-1)]
    if e.tone is not None:
        out["tone"] = [_num(v) for v in np.asarray(e.tone).reshape(-1)]
    if e.gaze is not None:
        out["gaze"] = [_num(v) for v in np.asarray(e.gaze).reshape(2)]
    if e.features is not None:
        out["features"] = [_num(v) for v in np.asarray(e.features).reshape(3)]
    if e.source_mix is not None:
        out["source_mix"] = [int(e.source_mix[0]), _num(e.source_mix[1])]
    if e.texture is not None:
        out["texture"] = [_num(v) for v in np.asarray(e.texture).reshape(-1)]
    return out


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
    if abs(v) > MAX_INT:  # frame numbers, sizes and ids: a typo, and a hang for range() later
        raise _Bad(where, f"expected an integer within ±{MAX_INT}, got one with {len(str(abs(v)))} digits")
    return int(v)


def _as_number(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _Bad(where, f"expected a number, got {_type_name(v)}")
    try:
        x = float(v)
    except OverflowError:  # a JSON integer beyond the float range
        raise _Bad(where, "expected a number in the float range, got a huge integer") from None
    if not math.isfinite(x):
        raise _Bad(where, f"expected a finite number, got {x!r}")  # NaN/Infinity, which JSON here allows
    return x


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


def _number_list(v: Any, n: int, where: str, what: str = "", also: tuple[int, ...] = ()) -> np.ndarray:
    """float64 (n,) from a list of ``n`` numbers (or of one of the ``also`` lengths); ``what`` names
    them in the error, after "expected n numbers"."""
    v = _as_list(v, where)
    if len(v) != n and len(v) not in also:
        raise _Bad(where, f"expected {n} numbers{what}, got {len(v)}")
    return np.array([_as_number(x, f"{where}[{i}]") for i, x in enumerate(v)])


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


def _entry(v: Any, frame: int, where: str, reach: tuple[float, float, float, float]) -> FaceEntry:
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
    for key, pts in parsed.items():
        xy = pts.reshape(-1, 2)
        bad = ~((xy[:, 0] >= reach[0]) & (xy[:, 0] <= reach[2]) & (xy[:, 1] >= reach[1]) & (xy[:, 1] <= reach[3]))
        if bad.any():
            raise _Bad(f"{where}.{key}", f"point {xy[int(np.argmax(bad))].tolist()} lies more than {POINT_REACH:g} "
                                         f"frame sizes outside the plate")
    source_frame = None
    if v.get("source_frame") is not None:  # engine v2: the library frame analyze chose
        source_frame = _as_int(v["source_frame"], f"{where}.source_frame")
        if source_frame < 0:
            raise _Bad(f"{where}.source_frame", "expected a library frame index >= 0")
    occlusion = None
    if v.get("occlusion") is not None:  # analyze's occlusion mask in the aligned square
        occlusion = _as_str(v["occlusion"], f"{where}.occlusion")
        try:
            size = decode_mask(occlusion).shape[0]
        except TrackFileError:
            raise _Bad(f"{where}.occlusion", f"expected an occlusion mask '<size>:<base64>', got {occlusion[:24]!r}") \
                from None
        if not 8 <= size <= 512:
            raise _Bad(f"{where}.occlusion", f"expected a mask of 8 to 512 px, got {size}")
    grain = None
    if v.get("grain") is not None:  # the plate's grain around the face (render/grain.pack_grain)
        grain = _number_list(v["grain"], GRAIN_VALUES, f"{where}.grain")
    tone = None
    if v.get("tone") is not None:  # the plate's skin tone around the face, smoothed (analyze/tone)
        # older files: without the chroma fields, or also without the chroma slopes
        tone = _number_list(v["tone"], TONE_VALUES, f"{where}.tone",
                            f" (mean RGB, spread, {TONE_GRID}x{TONE_GRID} shading field, 2 chroma slopes, "
                            f"2 {TONE_GRID}x{TONE_GRID} chroma fields)",
                            also=(TONE_VALUES_BEFORE_CHROMA_FIELD, TONE_VALUES_BEFORE_CHROMA_FIELD - 2))
        if len(tone) == TONE_VALUES_BEFORE_CHROMA_FIELD - 2:   # written before the chroma slopes: none
            tone = np.concatenate([tone, [0.0, 0.0]])
        if not (np.all(tone[:4] > 0) and np.all(np.abs(tone[4:]) < 50)):
            raise _Bad(f"{where}.tone", "expected a positive mean colour and spread and a log shading field "
                                        "(|value| < 50)")
    gaze = None
    if v.get("gaze") is not None:  # iris offset in eye widths, measured on the plate
        gaze = _number_list(v["gaze"], 2, f"{where}.gaze", " (x, y in eye widths)")
        if not np.all(np.abs(gaze) <= 1.0):
            raise _Bad(f"{where}.gaze", "expected offsets within one eye width (|value| <= 1)")
    features = None
    if v.get("features") is not None:  # engine v2: the source's eyes/mouth share, chosen in analyze
        features = _number_list(v["features"], 3, f"{where}.features", " (left eye, right eye, mouth)")
        if not np.all((features >= 0.0) & (features <= 1.0)):
            raise _Bad(f"{where}.features", "expected shares between 0 and 1")
    source_mix = None
    if v.get("source_mix") is not None:  # engine v2: a second library frame dissolved in around a switch
        values = _as_list(v["source_mix"], f"{where}.source_mix")
        if len(values) != 2:
            raise _Bad(f"{where}.source_mix", f"expected [library frame, weight], got {len(values)} values")
        source_mix = (_as_int(values[0], f"{where}.source_mix[0]"), _as_number(values[1], f"{where}.source_mix[1]"))
        if source_mix[0] < 0 or not 0.0 <= source_mix[1] <= 1.0:
            raise _Bad(f"{where}.source_mix", "expected a library frame index >= 0 and a weight between 0 and 1")
    texture = None
    if v.get("texture") is not None:  # the plate skin's texture per octave band, smoothed (render/texture)
        texture = _number_list(v["texture"], TEXTURE_VALUES, f"{where}.texture",
                               " (log-luminance amplitude per octave band, 0-1, 1-2, 2-4, 4-8, 8-16 px)")
        if not np.all((texture >= 0.0) & (texture < 10.0)):
            raise _Bad(f"{where}.texture", "expected amplitudes between 0 and 10")
    return FaceEntry(frame=frame, source=source, score=score, source_frame=source_frame, occlusion=occlusion,
                     grain=grain, tone=tone, gaze=gaze, features=features, source_mix=source_mix, texture=texture,
                     **parsed)


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
    if width > MAX_SIZE or height > MAX_SIZE:
        raise _Bad("plate.width" if width > MAX_SIZE else "plate.height", f"expected at most {MAX_SIZE} px")
    from faceplate.core.io.frames import MAX_FRAMES
    if len(range(frames[0], frames[1] + 1, frames[2])) > MAX_FRAMES:
        raise _Bad("plate.frames", f"expected at most {MAX_FRAMES:,} frames")
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

    side = float(max(width, height)) * POINT_REACH
    dw, disp = windows["data_window"], windows["display_window"]
    reach = (min(dw[0], disp[0]) - side, min(dw[1], disp[1]) - side,
             max(dw[2], disp[2]) + side, max(dw[3], disp[3]) + side)
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
                       dtype=np.float64)
        if emb.size and np.abs(emb).max() > 1e30:  # stored as float32: would become inf
            raise _Bad(f"{where}.embedding", "expected values within ±1e30")
        emb = emb.astype(np.float32)
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
            entries[frame] = _entry(ev, frame, fwhere, reach)
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

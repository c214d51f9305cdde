"""Analyze's second pass: what each tracked face looks like over the shot (occlusion, grain, skin texture,
tone, gaze).

Runs after tracking and smoothing, so every entry (interpolated ones too) has its final landmarks.
The plate is streamed once more; per entry only a small aligned crop (``occlusion.ALIGNED_SIZE``² plus
a margin for re-registration, half float, about 150 KB, parked in a temporary file), a few grain
and skin-texture numbers and the gaze are kept, and per track the previous frame's grain crop (the
grain that changes between frames, ``analyze/temporal_grain``), so memory does not grow with the
frame size, nor with the shot's length while it streams. Then, per track and per piece of it
between cuts and gaps, the piece's crops are read back (about 0.5 MB a frame while it is worked on:
the bench's 400-frame plate peaks 210 MB above its 100-frame one) and occlusion is detected over the
whole piece (``analyze/occlusion``; a partly covered face is re-registered from its visible pixels,
``analyze/registration``), and the grain, skin-texture and skin-tone estimates are smoothed over it
(``analyze/temporal``, ``analyze/tone``), so render needs only frame f's entry: chunked renders stay
byte-identical.
"""
from __future__ import annotations

import dataclasses
import logging
import tempfile
from typing import Any, Iterable, Optional, Sequence

import cv2
import numpy as np

from faceplate.core.analyze import occlusion as oc
from faceplate.core.analyze import parsed as ps
from faceplate.core.analyze import registration
from faceplate.core.analyze import tone as tn
from faceplate.core.analyze.temporal import segment_starts, smooth_estimates
from faceplate.core.analyze.temporal_grain import temporal_grain
from faceplate.core.face.expression import gaze
from faceplate.core.face.regions import feature_mask, visible_skin
from faceplate.core.geometry import align
from faceplate.core.geometry.align import points5_from_landmarks68
from faceplate.core.io.track_file import decode_mask, encode_mask
from faceplate.core.render.grain import GrainModel, measure_grain, pack_grain
from faceplate.core.render.texture import plate_texture
from faceplate.core.types import Track

log = logging.getLogger("faceplate.analyze")

_MAX_GRAIN_PX = 160_000   # a huge face: grain is measured on a centred window of about this many pixels
# aligned px kept around each crop: a covered frame's re-registered crop is re-cut from it (corrections
# on the bench's plates reach 7 px of the 128 px square)
_PAD = 16
_MIN_TEXTURE_PX = 256     # bare skin pixels below which a frame's texture is not measured


class _CropSpill:
    """Aligned crops parked on disk between the plate pass and the per-piece work, so memory does
    not grow with the shot's length (about 150 KB a face-frame). An anonymous temporary file: the
    system removes it when it is closed or the process dies."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile(prefix="faceplate-crops-")
        self.where: dict[tuple[int, int], tuple[int, tuple[int, ...], np.dtype]] = {}

    def put(self, key: tuple[int, int], crop: np.ndarray) -> None:
        crop = np.ascontiguousarray(crop)
        self.where[key] = (self.file.seek(0, 2), crop.shape, crop.dtype)
        self.file.write(crop.tobytes())

    def pop(self, key: tuple[int, int]) -> np.ndarray:
        offset, shape, dtype = self.where.pop(key)
        self.file.seek(offset)
        return np.frombuffer(self.file.read(int(np.prod(shape)) * dtype.itemsize), dtype).reshape(shape)

    def close(self) -> None:
        self.file.close()


def _grain_region(lin: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(crop of the plate around the face (h, w, 3) float32, face oval in it (h, w) bool, the crop's
    top-left corner (x, y) in ``lin``'s pixels)."""
    h, w = lin.shape[:2]
    to_aligned = oc.aligned_transform(points)
    inv = cv2.invertAffineTransform(to_aligned)
    s = oc.ALIGNED_SIZE
    corners = np.array([[0, 0], [s, 0], [0, s], [s, s]], np.float64) @ inv[:, :2].T + inv[:, 2]
    x0, y0 = np.maximum(np.floor(corners.min(axis=0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(corners.max(axis=0)).astype(int) + 1, [w, h])
    area = max((x1 - x0) * (y1 - y0), 1)
    if area > _MAX_GRAIN_PX:   # keep the centre: grain is the same all over the face
        k = np.sqrt(_MAX_GRAIN_PX / area)
        cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * k / 2, (y1 - y0) * k / 2
        x0, x1, y0, y1 = int(cx - hw), int(cx + hw), int(cy - hh), int(cy + hh)
    if x1 - x0 < 16 or y1 - y0 < 16:
        return np.zeros((0, 0, 3), np.float32), np.zeros((0, 0), bool), np.zeros(2)
    crop = np.nan_to_num(np.asarray(lin[y0:y1, x0:x1], np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    shift = np.array([[1.0, 0.0, x0], [0.0, 1.0, y0]])
    to_crop_aligned = to_aligned @ np.vstack([shift, [0.0, 0.0, 1.0]])
    region = cv2.warpAffine(oc.face_region().astype(np.uint8), cv2.invertAffineTransform(to_crop_aligned),
                            (x1 - x0, y1 - y0), flags=cv2.INTER_NEAREST) > 0
    return crop, region, np.array([x0, y0], np.float64)


def _texture_values(crop: np.ndarray, landmarks: np.ndarray) -> Optional[np.ndarray]:
    """The plate skin's texture (``render/texture.plate_texture``, grain included) on the face's
    visible bare skin in ``crop`` (no eyes, mouth, hair or backdrop: what render's finish compares
    the swap's texture with); ``landmarks``: (68, 2) in the crop's pixels. None: too little skin."""
    if landmarks.shape != (68, 2) or crop.size == 0:
        return None
    bare = (visible_skin(crop, landmarks, 0.3) > 0.5) & (feature_mask(landmarks, crop.shape[:2]) < 0.05)
    if bare.sum() < _MIN_TEXTURE_PX:
        return None
    return plate_texture(crop, bare)


def _moved(entry: Any, landmarks: np.ndarray, decimals: int) -> Any:
    """The entry with re-registered landmarks; its 5 points and box follow them."""
    old = np.asarray(entry.landmarks, np.float64)
    p5 = np.asarray(entry.points5, np.float64) + (points5_from_landmarks68(landmarks) - points5_from_landmarks68(old))
    m = align.estimate_similarity(old, landmarks)
    b = np.asarray(entry.box, np.float64)
    corners = align.transform_points(np.array([[b[0], b[1]], [b[2], b[1]], [b[0], b[3]], [b[2], b[3]]]), m)
    box = np.concatenate([corners.min(axis=0), corners.max(axis=0), b[4:]])
    return dataclasses.replace(entry, landmarks=np.round(landmarks, decimals), points5=np.round(p5, decimals),
                               box=np.round(box, decimals))


def _grain_values(model: GrainModel) -> Optional[np.ndarray]:
    return pack_grain(model) if model.samples > 0 else None


def _moving_grain(moving: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]], ti: int, frames: list[int],
                  pos: list[int], cut_pos: list[int], covered: dict[int, float], spatial_std: np.ndarray,
                  spatial_size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """((T, 3) std, (T, 3) size) of the grain that changes from frame to frame
    (``analyze/temporal_grain``), smoothed over the track's pieces; the one-frame ``spatial_*`` where
    it could not be measured (a first frame, an occluder passing). The std only ever lowers the
    one-frame estimate (what does not change is the face's texture); the size is the changing
    grain's (the one-frame residual's correlation reads the face's texture too)."""
    values = [moving.get((ti, f)) for f in frames]
    ok = np.array([v is not None and covered[f] < 0.02 and covered.get(g, 0.0) < 0.02
                   for v, f, g in zip(values, frames, [None] + frames[:-1])])
    if ok.sum() < 3:
        return spatial_std, spatial_size
    std = np.stack([v[0] if v is not None else spatial_std[i] for i, v in enumerate(values)])
    size = np.stack([v[1] if v is not None else spatial_size[i] for i, v in enumerate(values)])
    return (np.minimum(smooth_estimates(np.maximum(std, 1e-8), pos, cut_pos, 0, ok, log=True), spatial_std),
            smooth_estimates(size, pos, cut_pos, 0, ok))


def _trusted_table(values: list[Optional[np.ndarray]], frames: list[int],
                   covered: dict[int, float]) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """((T, K) one track's per-entry estimates, (T,) which to trust) for ``smooth_estimates``: not
    trusted where none was measured or something covers the face (filled with a trusted row, which
    the smoothing replaces from the neighbours). None: nothing to trust."""
    valid = np.array([v is not None and covered[f] < 0.02 for v, f in zip(values, frames)])
    if not valid.any():
        return None
    filler = next(v for v, ok in zip(values, valid) if ok)
    return np.stack([v if v is not None else filler for v in values]), valid


def _smoothed_texture(values: list[Optional[np.ndarray]], frames: list[int], pos: list[int], cut_pos: list[int],
                      covered: dict[int, float]) -> dict[int, np.ndarray]:
    """{frame: the plate skin's texture amplitudes smoothed over the track's pieces (in log)}, each
    frame's from its neighbours where it was not measured or something covers the face."""
    found = _trusted_table(values, frames, covered)
    if found is None:
        return {}
    table, valid = found
    smooth = smooth_estimates(np.maximum(table, 1e-6), pos, cut_pos, 0, valid, log=True)
    return {f: np.round(smooth[i], 5) for i, f in enumerate(frames)}


def _cells(code: str, shape: tuple[int, ...]) -> np.ndarray:
    """(h, w) bool: a stored occlusion mask scaled (nearest) to an aligned crop of ``shape``."""
    return cv2.resize(decode_mask(code).astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST) > 0


def _tone_of(face: np.ndarray, landmarks: np.ndarray, code: Optional[str],
             found: Optional[str]) -> tuple[Optional[Any], bool]:
    """(the plate's skin tone of one entry, whether it is trusted): measured on ``face`` (its aligned
    crop cut with its final ``landmarks``) where the stored ``code`` leaves the skin bare; not
    trusted where what the occlusion finder ``found`` covers more than a twentieth of the skin."""
    face = np.asarray(face, np.float32)
    covered = _cells(code, face.shape) if code else None
    tone = tn.measure(face, landmarks, covered)
    if not found:
        return tone, True
    whole = tn.skin_region(face, landmarks)   # the whole skin is needed only to weigh what covers it
    return tone, bool((_cells(found, face.shape) & whole).sum() <= 0.05 * max(whole.sum(), 1))


def appearance_pass(plate: Any, tracks: list[Track], cuts: Iterable[int], occlusion: bool = True,
                    grain: bool = True, tone: bool = True, decimals: int = 3,
                    parsing: Optional[ps.Parsing] = None) -> list[Track]:
    """Tracks with ``occlusion`` (encoded aligned mask, only where something covers the face; with
    ``parsing``, the parser's glasses and hair too, ``analyze/parsed``),
    ``grain`` (smoothed plate grain around the face, and ``texture``, the plate skin's texture
    amplitudes, ``render/texture``) and ``tone`` (smoothed plate skin tone,
    ``analyze/tone``) set on every entry; where something covers a face, its landmarks re-registered
    from the visible pixels (``analyze/registration``). ``plate``: the PlateSequence analysed (read
    once more). Deterministic."""
    if not tracks or not (occlusion or grain or parsing):
        return tracks
    crops = _CropSpill()
    try:
        return _appearance(plate, tracks, cuts, occlusion, grain, tone, decimals, crops, parsing)
    finally:
        crops.close()


def _appearance(plate: Any, tracks: list[Track], cuts: Iterable[int], occlusion: bool, grain: bool, tone: bool,
                decimals: int, crops: _CropSpill, parsing: Optional[ps.Parsing]) -> list[Track]:
    # pieces and smoothing run on positions in the plate's frame list (a plate may step by 2)
    index = {int(f): i for i, f in enumerate(plate.frames)}
    cut_pos = [index[int(c)] for c in cuts if int(c) in index]
    at: dict[int, list[tuple[int, int]]] = {}
    for ti, t in enumerate(tracks):
        for f in t.entries:
            at.setdefault(int(f), []).append((ti, f))
    grains: dict[tuple[int, int], Optional[np.ndarray]] = {}
    textures: dict[tuple[int, int], Optional[np.ndarray]] = {}   # the plate skin's texture (render/texture)
    gazes: dict[tuple[int, int], np.ndarray] = {}    # iris offset per entry (face/expression.gaze)
    worn: dict[tuple[int, int], np.ndarray] = {}     # the parser's regions per entry (analyze/parsed)
    # grain that changes since the previous frame: ((3,) std, (3,) size) per entry
    moving: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    last: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}   # per track: (position, crop, points in it)
    cut_set = set(cut_pos)
    frame_origin: dict[int, np.ndarray] = {}
    for pf in (plate.iter_rgb() if hasattr(plate, "iter_rgb") else plate):
        todo = at.get(int(pf.frame), [])
        if not todo:
            continue
        lin = pf.pixels if pf.pixels.shape[2] == 3 and tuple(pf.rgb) == (0, 1, 2) else pf.rgb_pixels()
        origin = np.array([pf.data_window.xmin, pf.data_window.ymin], np.float64)
        frame_origin[int(pf.frame)] = origin
        for ti, f in todo:
            points = np.asarray(tracks[ti].entries[f].landmarks, np.float64) - origin
            if points.shape == (68, 2):
                gazes[(ti, f)] = np.round(np.clip(gaze(lin, points), -1.0, 1.0), 4)
            if parsing is not None:
                worn[(ti, f)] = parsing.mask(lin, points)
            if occlusion or tone:
                crops.put((ti, f), oc.aligned_face(lin, points, pad=_PAD).astype(np.float16))
            if grain:
                region_crop, region, corner = _grain_region(lin, points)
                model = measure_grain(region_crop, region) if region.any() else None
                grains[(ti, f)] = _grain_values(model) if model is not None else None
                textures[(ti, f)] = _texture_values(region_crop, points - corner)
                here = index[int(f)]
                before = last.pop(ti, None)
                if model is not None and model.samples:
                    if before is not None and before[0] == here - 1 and here not in cut_set:
                        found = temporal_grain(before[1], before[2], region_crop, points - corner, region)
                        if found is not None:
                            moving[(ti, f)] = found
                    last[ti] = (here, region_crop, points - corner)
        del lin
    out = []
    for ti, t in enumerate(tracks):
        frames = sorted(t.entries)
        pos = [index[f] for f in frames]
        codes: dict[int, Optional[str]] = {f: None for f in frames}
        covered: dict[int, float] = {f: 0.0 for f in frames}
        starts = np.flatnonzero(segment_starts(pos, cut_pos, max_gap=0))
        moved: dict[int, np.ndarray] = {}
        spans = list(zip(starts, list(starts[1:]) + [len(frames)]))
        # grain and tone trust only what the occlusion finder saw: glasses worn all shot long would
        # leave no frame to trust, and they do not change the plate's grain or light
        found: dict[int, Optional[str]] = {}
        tones_measured: dict[int, tuple[Optional[Any], bool]] = {}
        n_worn = 0
        # piece by piece, so only one piece's crops are ever held (a long shot's whole track was)
        for a, b in spans:
            piece = frames[a:b]
            final: Sequence[np.ndarray] = []
            if occlusion or tone:
                padded = np.stack([crops.pop((ti, f)) for f in piece])   # float16: converted a frame at a time
                if not occlusion:   # tone alone: the crops as cut
                    final = padded[:, _PAD:-_PAD, _PAD:-_PAD]
                else:
                    local = [np.asarray(t.entries[f].landmarks, np.float64) - frame_origin[f] for f in piece]
                    local, masks, fixed, final = registration.register_piece(padded, _PAD, local,
                                                                             oc.detect_for_landmarks)
                    for i in fixed:
                        moved[piece[i]] = local[i] + frame_origin[piece[i]]
                    for f, m in zip(piece, masks):
                        small = oc.downsample_mask(m)
                        if small.any():
                            codes[f] = encode_mask(small)
                            covered[f] = float(small.mean())
                del padded
            found.update((f, codes[f]) for f in piece)
            parsed_here = [f for f in piece if (ti, f) in worn]
            if parsed_here:
                for f, m in zip(parsed_here, ps.steady(np.stack([worn.pop((ti, f)) for f in parsed_here]))):
                    if f in moved:   # parsed where the face was found, stored where it was re-registered
                        m = ps.reframe(m, np.asarray(t.entries[f].landmarks, np.float64), moved[f])
                    if m.any():
                        codes[f] = encode_mask(m | decode_mask(codes[f])) if codes[f] else encode_mask(m)
                        n_worn += 1
            if tone:
                for f, face in zip(piece, final):
                    lm = moved[f] if f in moved else np.asarray(t.entries[f].landmarks, np.float64)
                    tones_measured[f] = _tone_of(face, lm, codes[f], found[f])
            del final
        smoothed: dict[int, np.ndarray] = {}
        if grain:
            found_grain = _trusted_table([grains.get((ti, f)) for f in frames], frames, covered)
            if found_grain is not None:
                table, valid = found_grain
                std = smooth_estimates(np.maximum(table[:, :3], 1e-8), pos, cut_pos, 0, valid, log=True)
                rest = smooth_estimates(table[:, 3:], pos, cut_pos, 0, valid)   # size (3), channel correlations
                std, rest[:, :3] = _moving_grain(moving, ti, frames, pos, cut_pos, covered, std, rest[:, :3])
                smoothed = {f: np.round(np.concatenate([std[i], rest[i]]), 7) for i, f in enumerate(frames)}
        textured = _smoothed_texture([textures.get((ti, f)) for f in frames], frames, pos, cut_pos, covered) \
            if grain else {}
        tones: dict[int, np.ndarray] = {}
        if tone:
            values = tn.track_tones([tones_measured[f][0] for f in frames], pos, cut_pos,
                                    np.array([tones_measured[f][1] for f in frames]))
            tones = {f: v for f, v in zip(frames, values) if v is not None}
        entries = {f: dataclasses.replace(_moved(e, moved[f], decimals) if f in moved else e,
                                          occlusion=codes.get(f), grain=smoothed.get(f), tone=tones.get(f),
                                          gaze=gazes.get((ti, f)), texture=textured.get(f))
                   for f, e in t.entries.items()}
        n_occluded = sum(c is not None for c in found.values())
        if parsing is not None:
            log.info("track %d: the parser's %s in front of the face in %d of %d frames", t.id,
                     " and ".join(parsing.regions), n_worn, len(frames))
        if n_occluded:
            log.info("track %d: something in front of the face in %d of %d frames (landmarks re-registered in %d)",
                     t.id, n_occluded, len(frames), len(moved))
        out.append(Track(t.id, t.embedding, entries))
    return out

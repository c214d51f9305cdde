"""A compositor's key edits on the baked knobs → ``manual`` entries in the track file.

Runs in faceplate's own environment (numpy, faceplate.core), never inside Nuke: the Render
button hands the node's keys to ``faceplate nuke key-edits TRACK EDITS.json``; the farm reads
them from the saved script (``faceplate farm submit --no-analyze``). The y flip is bake.py's.
"""
from __future__ import annotations

import json
from typing import Optional

import numpy as np

from faceplate.core.types import FaceEntry, TrackFile
from faceplate.core.io.track_file import load_track_file, save_track_file
from faceplate.nuke.bake import KNOB_PREFIX, POINT_NAMES, box_from_nuke, box_to_nuke, knob_name, plate_to_nuke

# Nuke stores keys as text with ~6 decimals: edits smaller than this are rounding, not a person.
EDIT_TOLERANCE_PX = 0.01
Curves = dict[str, list[list[tuple[float, float]]]]


def _points_to_nuke(points: np.ndarray, dw, inverse: bool = False) -> np.ndarray:
    return np.array([plate_to_nuke(float(x), float(y), dw, inverse) for x, y in np.asarray(points).reshape(-1, 2)])


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (2, 3) mapping src → dst (Umeyama, no reflection)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1
    r = u @ np.diag(sign) @ vt
    var = (s ** 2).sum() / len(src)
    scale = (sig * sign).sum() / var if var > 0 else 1.0
    m = np.zeros((2, 3))
    m[:, :2] = scale * r
    m[:, 2] = mu_d - scale * r @ mu_s
    return m


def _by_frame(per_index: list[list[tuple[float, float]]] | None) -> list[dict[int, float]] | None:
    """Keys per index as {frame: value} (keys on fractional frames are not baked by us: ignored)."""
    if not per_index:
        return None
    return [{int(round(f)): v for f, v in keys if abs(f - round(f)) < 1e-6} for keys in per_index]


def apply_key_edits(tf: TrackFile, curves: Curves,
                    tolerance: float = EDIT_TOLERANCE_PX) -> list[tuple[int, int]]:
    """Write a compositor's key edits back into ``tf`` as ``manual`` entries; return (track, frame)s.

    ``curves`` maps knob name → per-index keys, as read from the node (live knobs in Nuke or the
    saved .nk). A frame whose keyed 5 points or box differ from the track file by more than
    ``tolerance`` pixels becomes ``source: "manual"`` with the edited values; its dense landmarks
    follow the 5 points by the similarity transform between old and new points, so masks follow.
    """
    dw = tf.plate.display_window
    changed: list[tuple[int, int]] = []
    for track in tf.tracks:
        point_curves = [_by_frame(curves.get(knob_name(track.id, p))) for p in POINT_NAMES]
        box_curves = _by_frame(curves.get(knob_name(track.id, "box")))
        for frame in track.frames:
            entry: FaceEntry = track.entries[frame]
            new_pts = _points_to_nuke(entry.points5, dw)
            have_pts = False
            for i, pc in enumerate(point_curves):
                if not pc or len(pc) < 2:
                    continue
                for axis in (0, 1):
                    v = pc[axis].get(frame)
                    if v is not None:
                        new_pts[i, axis] = v
                        have_pts = True
            new_box = np.array(box_to_nuke(entry.box, dw))
            have_box = False
            if box_curves and len(box_curves) >= 4:
                for j in range(4):
                    v = box_curves[j].get(frame)
                    if v is not None:
                        new_box[j] = v
                        have_box = True
            pts_plate = _points_to_nuke(new_pts, dw, inverse=True) if have_pts else entry.points5
            box_plate = np.array(box_from_nuke(new_box, dw)) if have_box else entry.box
            moved_pts = float(np.abs(pts_plate - entry.points5).max()) > tolerance
            moved_box = float(np.abs(box_plate - entry.box).max()) > tolerance
            if not (moved_pts or moved_box):
                continue
            if moved_pts:
                m = _similarity(entry.points5, pts_plate)
                lm = np.asarray(entry.landmarks, dtype=np.float64)
                entry.landmarks = lm @ m[:, :2].T + m[:, 2]
                entry.points5 = np.asarray(pts_plate, dtype=np.float64)
                if not moved_box:  # the box follows the face unless it was edited itself
                    corners = np.array([[entry.box[0], entry.box[1]], [entry.box[2], entry.box[3]]])
                    c = corners @ m[:, :2].T + m[:, 2]
                    entry.box = np.array([c[:, 0].min(), c[:, 1].min(), c[:, 0].max(), c[:, 1].max()])
            if moved_box:
                entry.box = np.asarray(box_plate, dtype=np.float64)
            entry.source = "manual"
            changed.append((track.id, frame))
    return changed


def write_key_edits(track_path: str, curves: Curves) -> tuple[int, Optional[str]]:
    """Apply ``curves`` to the track file in place; (frames changed, new sha256 or None)."""
    curves = {k: v for k, v in curves.items() if k.startswith(KNOB_PREFIX)}
    if not curves:
        return 0, None
    tf = load_track_file(track_path)
    changed = apply_key_edits(tf, curves)
    return len(changed), (save_track_file(tf, track_path) if changed else None)


def read_curves_json(path: str) -> Curves:
    """The edits file the host writes: {knob: [[[frame, value], ...] per index]}."""
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    return {name: [[(float(f), float(v)) for f, v in index] for index in per_index] for name, per_index in data.items()}

"""Track data ↔ Nuke animation keys: what Analyze bakes and how a compositor's key edits return.

Pure (no nuke import): the host turns a bake plan into ``setValueAt`` calls and hands back the
knobs' keys. Per track ``N`` the FaceSwap node gets XY knobs ``fp_tN_eye_l``, ``fp_tN_eye_r``,
``fp_tN_nose``, ``fp_tN_mouth_l``, ``fp_tN_mouth_r`` (the smoothed 5 points, ArcFace order) and a
BBox knob ``fp_tN_box`` (x, y, r, t), keyed on every tracked frame in Nuke's y-up space.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from faceplate.core.types import FaceEntry, TrackFile

POINT_NAMES = ("eye_l", "eye_r", "nose", "mouth_l", "mouth_r")
KNOB_PREFIX = "fp_t"
# Nuke stores keys as text with ~6 decimals: edits smaller than this are rounding, not a person.
EDIT_TOLERANCE_PX = 0.01

Window = Sequence[int]  # (xmin, ymin, xmax, ymax) inclusive, EXR display window


def plate_to_nuke(points: np.ndarray, display_window: Window, inverse: bool = False) -> np.ndarray:
    """THE one conversion between plate pixels (EXR, y down, pixel centres on integers) and Nuke.

    Nuke's origin is the bottom-left corner of the format (= the EXR display window), y up,
    pixel centres on half-integers: ``x_n = x - xmin + 0.5``, ``y_n = ymax - y + 0.5``.
    ``inverse=True`` maps Nuke coordinates back to plate pixels. Shape (..., 2) in and out.
    Pixel aspect needs nothing here: both spaces count stored (squeezed) pixels.
    """
    xmin, _ymin, _xmax, ymax = (float(v) for v in display_window)
    p = np.asarray(points, dtype=np.float64)
    out = np.empty_like(p)
    if not inverse:
        out[..., 0] = p[..., 0] - xmin + 0.5
        out[..., 1] = ymax - p[..., 1] + 0.5
    else:
        out[..., 0] = p[..., 0] + xmin - 0.5
        out[..., 1] = ymax - p[..., 1] + 0.5
    return out


def box_to_nuke(box: np.ndarray, display_window: Window) -> np.ndarray:
    """(x0, y0, x1, y1) plate box → Nuke BBox (x, y, r, t)."""
    corners = plate_to_nuke(np.array([[box[0], box[3]], [box[2], box[1]]]), display_window)
    return np.array([corners[0, 0], corners[0, 1], corners[1, 0], corners[1, 1]])


def box_from_nuke(xyrt: Sequence[float], display_window: Window) -> np.ndarray:
    """Nuke BBox (x, y, r, t) → plate box (x0, y0, x1, y1)."""
    corners = plate_to_nuke(np.array([[xyrt[0], xyrt[1]], [xyrt[2], xyrt[3]]]), display_window, inverse=True)
    return np.array([corners[0, 0], corners[1, 1], corners[1, 0], corners[0, 1]])


def knob_name(track_id: int, part: str) -> str:
    return f"{KNOB_PREFIX}{track_id}_{part}"


@dataclass
class KnobPlan:
    """One knob to create and key: kind is "XY_Knob" or "BBox_Knob"; keys[index] = [(frame, value)]."""
    name: str
    label: str
    kind: str
    keys: list[list[tuple[int, float]]]


def bake_plan(tf: TrackFile) -> list[KnobPlan]:
    """Every knob and key Analyze writes for ``tf`` (tracks in file order, frames ascending)."""
    dw = tf.plate.display_window
    plans: list[KnobPlan] = []
    for track in tf.tracks:
        frames = track.frames
        pts = {f: plate_to_nuke(track.entries[f].points5, dw) for f in frames}
        for i, part in enumerate(POINT_NAMES):
            keys = [[(f, float(pts[f][i, 0])) for f in frames], [(f, float(pts[f][i, 1])) for f in frames]]
            plans.append(KnobPlan(knob_name(track.id, part), f"face {track.id} {part.replace('_', ' ')}",
                                  "XY_Knob", keys))
        boxes = {f: box_to_nuke(track.entries[f].box, dw) for f in frames}
        plans.append(KnobPlan(knob_name(track.id, "box"), f"face {track.id} box", "BBox_Knob",
                              [[(f, float(boxes[f][j])) for f in frames] for j in range(4)]))
    return plans


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


def apply_key_edits(tf: TrackFile, curves: dict[str, list[list[tuple[float, float]]]],
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
            new_pts = plate_to_nuke(entry.points5, dw)
            have_pts = False
            for i, pc in enumerate(point_curves):
                if not pc or len(pc) < 2:
                    continue
                for axis in (0, 1):
                    v = pc[axis].get(frame)
                    if v is not None:
                        new_pts[i, axis] = v
                        have_pts = True
            new_box = box_to_nuke(entry.box, dw)
            have_box = False
            if box_curves and len(box_curves) >= 4:
                for j in range(4):
                    v = box_curves[j].get(frame)
                    if v is not None:
                        new_box[j] = v
                        have_box = True
            pts_plate = plate_to_nuke(new_pts, dw, inverse=True) if have_pts else entry.points5
            box_plate = box_from_nuke(new_box, dw) if have_box else entry.box
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


def track_ids_in(knob_names: Iterable[str]) -> list[int]:
    """Track ids that have baked knobs among ``knob_names``."""
    ids = set()
    for name in knob_names:
        if name.startswith(KNOB_PREFIX) and "_" in name[len(KNOB_PREFIX):]:
            head = name[len(KNOB_PREFIX):].split("_", 1)[0]
            if head.isdigit():
                ids.add(int(head))
    return sorted(ids)

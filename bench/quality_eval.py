"""Grades one render against its plate: the judges read both, quality_metrics compares them.

PlateTruth (once per plate, shared by every variant): the judge's face tracks on the plate — box, five
points, 98 landmarks, openness, embedding per frame — plus the plate's known motion (synthetic plates)
and occluder masks. evaluate_render() then reads the output EXRs frame by frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

import quality_metrics as qm
from quality_judges import Judges, brow_height, eye_openness, mouth_openness
from quality_plates import acescg_to_srgb, frame_path, read_exr

MIN_FACE = 60  # px: smaller detections are neither graded nor tracked


@dataclass
class FaceState:
    box: np.ndarray
    points5: np.ndarray
    points98: np.ndarray
    embedding: np.ndarray
    eye: float
    mouth: float
    brow: float
    yaw: float  # nose offset between the eyes: 0.5 frontal, towards 0 or 1 turned


@dataclass
class PlateTruth:
    name: str
    manifest: dict
    frames: list[int]
    tracks: list[dict[int, FaceState]] = field(default_factory=list)
    known: list[int | None] = field(default_factory=list)  # manifest face of each track, if any

    def occluder(self, frame: int, shape: tuple[int, int]) -> np.ndarray:
        pattern = self.manifest.get("occluder_pattern")
        if not pattern:
            return np.zeros(shape, bool)
        return cv2.imread(str(frame_path(pattern, frame)), cv2.IMREAD_GRAYSCALE) > 127

    def motion(self, face: int, frame: int) -> np.ndarray | None:
        """3x3 plate transform of face `face` from frame-1 to frame: known for synthetic plates,
        else estimated from the judge's plate landmarks (similarity, RANSAC)."""
        if self.known[face] is not None:
            m = self.manifest["faces"][self.known[face]]["matrices"]
            index = frame - self.manifest["first"]
            return np.asarray(m[index]) @ np.linalg.inv(np.asarray(m[index - 1]))
        track = self.tracks[face]
        if frame - 1 not in track or frame not in track:
            return None
        matrix, _ = cv2.estimateAffinePartial2D(track[frame - 1].points98.astype(np.float32),
                                                track[frame].points98.astype(np.float32), method=cv2.RANSAC)
        return None if matrix is None else np.vstack([matrix, [0, 0, 1]])


def read_srgb(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(sRGB code values float32, the raw RGB floats, faceplate.matte or None) of one EXR frame."""
    channels = read_exr(path)
    rgb = np.stack([channels["R"], channels["G"], channels["B"]], axis=2)
    return acescg_to_srgb(rgb), rgb, channels.get("faceplate.matte")


def _face_state(judges: Judges, srgb8: np.ndarray, box: np.ndarray, points5: np.ndarray) -> FaceState:
    points98 = judges.landmarks98(srgb8, box)
    left, right, nose = points5[0], points5[1], points5[2]
    yaw = float((nose[0] - left[0]) / max(right[0] - left[0], 1e-6))
    return FaceState(box, points5, points98, judges.embedding(srgb8, points5), eye_openness(points98),
                     mouth_openness(points98), brow_height(points98), yaw)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    return inter / max(a[2] * a[3] + b[2] * b[3] - inter, 1e-6)


def analyse_plate(judges: Judges, name: str, manifest: dict) -> PlateTruth:
    """Judge's face tracks on the plate: detections linked frame to frame by overlap; tracks seen in
    fewer than half the frames are dropped (flickering false detections)."""
    frames = list(range(manifest["first"], manifest["last"] + 1))
    truth = PlateTruth(name, manifest, frames)
    tracks: list[dict[int, FaceState]] = []
    for frame in frames:
        srgb, _, _ = read_srgb(frame_path(manifest["pattern"], frame))
        srgb8 = srgb.round().astype(np.uint8)
        for face in judges.detect(srgb8, MIN_FACE):
            state = _face_state(judges, srgb8, face.box, face.points5)
            open_tracks = [t for t in tracks if frame - 1 in t and frame not in t]
            best = max(open_tracks, key=lambda t: _iou(t[frame - 1].box, face.box), default=None)
            if best is not None and _iou(best[frame - 1].box, face.box) > 0.3:
                best[frame] = state
            else:
                tracks.append({frame: state})
    kept = [t for t in tracks if len(t) >= len(frames) / 2]
    truth.tracks = sorted(kept, key=lambda t: (t[min(t)].box[1] > 360, t[min(t)].box[0]))
    for track in truth.tracks:
        first = min(track)
        centre = track[first].box[:2] + track[first].box[2:] / 2
        known = [(np.linalg.norm(np.asarray(f["centres"][first - manifest["first"]]) - centre), i)
                 for i, f in enumerate(manifest.get("faces", []))]
        close = min(known, default=(np.inf, None))
        truth.known.append(close[1] if close[0] < track[first].box[2] / 2 else None)
    return truth


def _face_region(box: np.ndarray, shape: tuple[int, int], grow: float = 1.3) -> np.ndarray:
    mask = np.zeros(shape, bool)
    cx, cy, half_w, half_h = box[0] + box[2] / 2, box[1] + box[3] / 2, grow * box[2] / 2, grow * box[3] / 2
    mask[max(0, int(cy - half_h)):int(cy + half_h), max(0, int(cx - half_w)):int(cx + half_w)] = True
    return mask


def evaluate_render(judges: Judges, truth: PlateTruth, out_pattern: str, source_embedding: np.ndarray) -> dict:
    """Every metric of one render against its plate; per-face lists plus run totals."""
    faces = [{"frames": 0, "identity": [], "plate_identity": [], "actor_left": [], "eye_err": [], "mouth_err": [],
              "brow_diff": [], "forehead": [], "colour": [], "coverage": [], "judge_lost": 0, "temporal_out": 0.0,
              "temporal_plate": 0.0} for _ in truth.tracks]
    totals = {"occluder_changed": 0, "occluder_px": 0, "seam_out": 0.0, "seam_plate": 0.0, "grain_out": [],
              "grain_plate": [], "energy_out": 0.0, "energy_plate": 0.0, "outside_changed": 0, "no_matte": 0,
              "stray_frames": 0}
    previous = None
    for frame in truth.frames:
        plate, plate_raw, _ = read_srgb(frame_path(truth.manifest["pattern"], frame))
        out, out_raw, matte = read_srgb(frame_path(out_pattern, frame))
        if matte is None:  # an engine without the channel: fall back to the pixels it changed
            totals["no_matte"] += 1
            matte = (np.abs(out_raw - plate_raw) > 0).any(axis=2).astype(np.float32)
        shape = matte.shape
        totals["outside_changed"] += int(((out_raw != plate_raw).any(axis=2) & (matte <= 0)).sum())
        occluder = truth.occluder(frame, shape)
        out8 = out.round().astype(np.uint8)
        detections = judges.detect(out8, MIN_FACE * 0.7)
        near_faces = np.zeros(shape, bool)
        around_faces = np.zeros(shape, bool)
        for k, track in enumerate(truth.tracks):
            if frame not in track:
                continue
            p, f = track[frame], faces[k]
            near_faces |= _face_region(p.box, shape, 1.5)
            around_faces |= _face_region(p.box, shape, 2.0)
            match = max(detections, key=lambda d: _iou(d.box, p.box), default=None)
            if match is None or _iou(match.box, p.box) < 0.3:
                f["judge_lost"] += 1
                s = _face_state(judges, out8, p.box, p.points5)
            else:
                s = _face_state(judges, out8, match.box, match.points5)
            f["frames"] += 1
            f["identity"].append(float(s.embedding @ source_embedding))
            f["plate_identity"].append(float(p.embedding @ source_embedding))
            f["actor_left"].append(float(s.embedding @ p.embedding))
            f["eye_err"].append(qm.relative_error(s.eye, p.eye))
            f["mouth_err"].append(qm.relative_error(s.mouth, p.mouth))
            f["brow_diff"].append(abs(s.brow - p.brow))
            band = qm.forehead_band(p.points98, shape) & ~occluder
            f["forehead"].append(qm.mean_abs_change(out, plate, band))
            skin = qm.lower_face_skin(p.points98, shape) & (matte > 0.5) & ~occluder
            f["colour"].append(qm.skin_colour_error(out, plate, skin, 0.05 * float(p.box[2] - p.box[0])))
            hull = np.zeros(shape, np.uint8)
            cv2.fillConvexPoly(hull, cv2.convexHull(p.points98.round().astype(np.int32)), 1)
            f["coverage"].append(float(matte[hull.astype(bool)].mean()))
            motion = truth.motion(k, frame) if previous is not None else None
            if motion is not None:
                prev_plate, prev_out, prev_matte, prev_occluder = previous
                region = (_face_region(p.box, shape) & (matte > 0.5) & qm.warp_mask(prev_matte > 0.5, motion)
                          & ~occluder & ~qm.warp_mask(prev_occluder, motion))
                change_out = qm.motion_compensated_change(prev_out, out, motion, region)
                change_plate = qm.motion_compensated_change(prev_plate, plate, motion, region)
                if np.isfinite(change_out) and np.isfinite(change_plate):
                    f["temporal_out"] += change_out
                    f["temporal_plate"] += change_plate
        # A matte away from every face the judge sees on the plate: a swap pasted on a hand or a wall.
        totals["stray_frames"] += int(((matte > 0.05) & ~around_faces).sum() > 200)
        changed, total = qm.changed_pixels(out, plate, occluder & near_faces)
        totals["occluder_changed"] += changed
        totals["occluder_px"] += total
        band = qm.seam_band(matte)
        totals["seam_out"] += float(qm.gradient_magnitude(out)[band].sum())
        totals["seam_plate"] += float(qm.gradient_magnitude(plate)[band].sum())
        inside = qm.erode(matte >= 0.98, 3) & ~occluder
        if inside.sum() > 400:
            res_out, res_plate = qm.highpass(out), qm.highpass(plate)
            totals["grain_out"].append(qm.neighbour_correlation(res_out, inside))
            totals["grain_plate"].append(qm.neighbour_correlation(res_plate, inside))
            totals["energy_out"] += qm.highpass_energy(res_out, inside)
            totals["energy_plate"] += qm.highpass_energy(res_plate, inside)
        previous = (plate, out, matte, occluder)
    return summarise(faces, totals)


def _mean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def summarise(faces: list[dict], totals: dict) -> dict:
    per_face = []
    for f in faces:
        per_face.append({
            "frames": f["frames"], "identity": _mean(f["identity"]), "plate_identity": _mean(f["plate_identity"]),
            "actor_left": _mean(f["actor_left"]), "eye_err": _mean(f["eye_err"]), "mouth_err": _mean(f["mouth_err"]),
            "brow_diff": _mean(f["brow_diff"]), "forehead": _mean(f["forehead"]), "colour": _mean(f["colour"]),
            "coverage": _mean(f["coverage"]),
            "judge_lost": f["judge_lost"], "temporal_ratio": qm.ratio(f["temporal_out"], f["temporal_plate"])})
    all_eye = [v for f in faces for v in f["eye_err"]]
    all_mouth = [v for f in faces for v in f["mouth_err"]]
    identities = [p["identity"] for p in per_face if p["frames"]]
    return {
        "faces": per_face,
        "identity_mean": _mean(identities),
        "identity_min": float(min(identities)) if identities else float("nan"),
        "plate_identity_mean": _mean([p["plate_identity"] for p in per_face if p["frames"]]),
        "actor_left_mean": _mean([p["actor_left"] for p in per_face if p["frames"]]),
        "eye_err": _mean(all_eye), "mouth_err": _mean(all_mouth),
        "brow_diff": _mean([v for f in faces for v in f["brow_diff"]]),
        "forehead": _mean([v for f in faces for v in f["forehead"]]),
        "colour": _mean([v for f in faces for v in f["colour"]]),
        "coverage": _mean([v for f in faces for v in f["coverage"]]),
        "occluder_changed_pct": (100.0 * totals["occluder_changed"] / totals["occluder_px"]
                                 if totals["occluder_px"] else float("nan")),
        "temporal_ratio": qm.ratio(sum(f["temporal_out"] for f in faces), sum(f["temporal_plate"] for f in faces)),
        "seam_ratio": qm.ratio(totals["seam_out"], totals["seam_plate"]),
        "grain_corr_out": _mean(totals["grain_out"]), "grain_corr_plate": _mean(totals["grain_plate"]),
        "sharpness_ratio": qm.ratio(totals["energy_out"], totals["energy_plate"]),
        "outside_matte_changed_px": totals["outside_changed"], "frames_without_matte": totals["no_matte"],
        "stray_matte_frames": totals["stray_frames"],
    }

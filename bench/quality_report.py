"""The quality bench's outputs: the markdown tables (targets beside the figures) and the contact sheets."""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from quality_eval import PlateTruth, read_srgb
from quality_plates import frame_path

# (key, heading, format, target text, pass test)
COLUMNS = (
    ("identity_mean", "identity cos(src, swap) mean", "{:.2f}", ">= 0.5", lambda v: v >= 0.5),
    ("identity_min", "worst face", "{:.2f}", "> 0.34", lambda v: v > 0.34),
    ("plate_identity_mean", "cos(src, plate) ref", "{:.2f}", "", None),
    ("actor_left_mean", "cos(plate, swap)", "{:.2f}", "", None),
    ("eye_err", "eye open rel err", "{:.2f}", "<= 0.25", lambda v: v <= 0.25),
    ("mouth_err", "mouth open rel err", "{:.2f}", "<= 0.35", lambda v: v <= 0.35),
    ("brow_diff", "brow height diff", "{:.3f}", "", None),
    ("forehead", "forehead band change (0-255)", "{:.1f}", "<= 12", lambda v: v <= 12),
    ("colour", "skin colour error (log)", "{:.3f}", "", None),
    ("occluder_changed_pct", "occluder px changed %", "{:.1f}", "<= 5", lambda v: v <= 5),
    ("temporal_ratio", "frame-to-frame ratio", "{:.2f}", "<= 1.5", lambda v: v <= 1.5),
    ("seam_ratio", "seam gradient ratio", "{:.2f}", "<= 1.15", lambda v: v <= 1.15),
    ("grain", "grain corr swap / plate", None, "within 0.1", None),
    ("sharpness_ratio", "sharpness ratio", "{:.2f}", "", None),
    ("coverage", "matte on face", "{:.2f}", "", None),
    ("stray_matte_frames", "frames with stray matte", "{:.0f}", "0", lambda v: v == 0),
    ("render_fps", "render frames/s", "{:.2f}", "", None),
)


def _cell(key: str, fmt: str | None, check, result: dict) -> str:
    if key == "grain":
        out, plate = result["grain_corr_out"], result["grain_corr_plate"]
        if not (math.isfinite(out) and math.isfinite(plate)):
            return "—"
        return f"{out:.2f} / {plate:.2f}" + ("" if abs(out - plate) <= 0.1 else " ✗")
    value = result.get(key, float("nan"))
    if value is None or not math.isfinite(value):
        return "—"
    return fmt.format(value) + ("" if check is None or check(value) else " ✗")


def summary_table(runs: list[dict]) -> str:
    """One row per (plate, source, variant); ✗ marks a figure that misses its target."""
    head = ["plate", "source", "variant"] + [c[1] for c in COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
             "| target | | | " + " | ".join(c[3] for c in COLUMNS) + " |"]
    for run in runs:
        cells = [run["plate"], run["source"], run["variant"]] + [_cell(c[0], c[2], c[4], run["result"]) for c in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def face_table(runs: list[dict], faces: dict[str, list[str]]) -> str:
    """Per face: identity cos(source, swap) (target > 0.34), eye / mouth error, forehead change; one
    column per (variant, source)."""
    columns = list(dict.fromkeys((r["variant"], r["source"]) for r in runs))
    lines = ["| plate | face | " + " | ".join(f"{v} · {s}" for v, s in columns) + " |",
             "|" + "---|" * (2 + len(columns))]
    for plate, names in faces.items():
        for k, name in enumerate(names):
            cells = []
            for variant, source in columns:
                run = next((r for r in runs if (r["plate"], r["variant"], r["source"]) == (plate, variant, source)), None)
                if run is None or k >= len(run["result"]["faces"]):
                    cells.append("")
                    continue
                f = run["result"]["faces"][k]
                cells.append(f"id {f['identity']:.2f} · eye {f['eye_err']:.2f} · mouth {f['mouth_err']:.2f}"
                             f" · fh {f['forehead']:.0f}")
            lines.append(f"| {plate} | {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _tile(image: np.ndarray, box: tuple[int, int, int, int], height: int) -> np.ndarray:
    x0, y0, x1, y1 = box
    crop = image[max(0, y0):y1, max(0, x0):x1]
    scale = height / crop.shape[0]
    return cv2.resize(crop, (max(1, int(crop.shape[1] * scale)), height), interpolation=cv2.INTER_AREA)


def sheet_rows(truth: PlateTruth) -> list[tuple[str, int, tuple[int, int, int, int] | None]]:
    """(label, frame, crop or None for the full frame): three consecutive frames mid-shot, then for each
    face its most occluded frame (else its most closed eyes) and its most turned head."""
    mid = truth.frames[len(truth.frames) // 2]
    rows = [(f"frame {f}", f, None) for f in range(mid - 1, mid + 2) if f in truth.frames]
    for k, track in enumerate(truth.tracks):
        def crop(frame: int) -> tuple[int, int, int, int]:
            b = track[frame].box
            cx, cy, half = b[0] + b[2] / 2, b[1] + b[3] / 2, 0.85 * max(b[2], b[3])
            return int(cx - half), int(cy - half), int(cx + half), int(cy + half)
        shape = (720, 1280)
        def covered(frame: int) -> int:  # occluder pixels over the face's box
            x, y, w, h = track[frame].box.astype(int)
            return int(truth.occluder(frame, shape)[max(0, y):y + h, max(0, x):x + w].sum())
        overlap = {f: covered(f) for f in track} if truth.manifest.get("occluder_pattern") else {}
        if overlap and max(overlap.values()) > 0:
            f = max(overlap, key=overlap.get)
            rows.append((f"face {k + 1} occluded, frame {f}", f, crop(f)))
        else:
            f = min(track, key=lambda g: track[g].eye)
            rows.append((f"face {k + 1} eyes most closed, frame {f}", f, crop(f)))
        turned = max(track, key=lambda g: abs(track[g].yaw - 0.5))
        if abs(track[turned].yaw - 0.5) > 0.15:
            rows.append((f"face {k + 1} most turned, frame {turned}", turned, crop(turned)))
    return rows


def contact_sheet(truth: PlateTruth, out_pattern: str, path: Path, title: str, height: int = 200) -> None:
    """PNG: one row per sheet_rows() entry, columns plate | swap | matte | |swap - plate| x4."""
    rows = []
    for label, frame, box in sheet_rows(truth):
        plate, _, _ = read_srgb(frame_path(truth.manifest["pattern"], frame))
        out, _, matte = read_srgb(frame_path(out_pattern, frame))
        matte = np.zeros(plate.shape[:2], np.float32) if matte is None else matte
        diff = np.clip(np.abs(out - plate) * 4, 0, 255)
        crop = box or (0, 0, plate.shape[1], plate.shape[0])
        matte_rgb = np.repeat(255 * matte[:, :, None], 3, axis=2)
        tiles = [_tile(im, crop, height if box else height * 4 // 5) for im in (plate, out, matte_rgb, diff)]
        row = np.hstack([np.pad(t, ((0, 0), (0, 4), (0, 0)), constant_values=90) for t in tiles]).astype(np.uint8)
        cv2.putText(row, label, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 0), 1, cv2.LINE_AA)
        rows.append(row)
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=90) for r in rows]
    header = np.zeros((28, width, 3), np.uint8)
    cv2.putText(header, title + "   (plate | swap | matte | |swap-plate| x4)", (6, 20),
                cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    sheet = np.vstack([header] + rows)
    tmp = path.with_name(path.stem + ".tmp.png")
    cv2.imwrite(str(tmp), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    tmp.replace(path)

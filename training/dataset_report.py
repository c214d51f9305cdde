"""Dataset report (HTML + PNG contact sheets) and hand-in packs (one zip per group).

report: DATASET/report/index.html with counts per input and rejections by reason, and one
contact sheet PNG per group and cluster (DATASET/report/<group>_<cluster>.png). A dataset with no
faces still gets a report saying so. pack: DATASET/packs/<group>.zip holding the group's face
folders and its manifest rows; zips are written atomically.
"""
from __future__ import annotations

import collections
import html
import json
import os
import zipfile
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from faceplate.core.errors import FaceplateError
from faceplate.core.filesystem import atomic_path, atomic_write_bytes, atomic_write_text

from .dataset_manifest import read_manifest, read_state
from .dataset_filters import REASONS

THUMB = 96


def contact_sheet(paths: list[Path], columns: int = 10, thumb: int = THUMB, labels: Optional[list[str]] = None) -> np.ndarray:
    """(H, W, 3) uint8 BGR grid of thumbnails; labels (e.g. ids) printed small under each."""
    n = max(1, len(paths))
    cols = min(columns, n)
    rows = (n + cols - 1) // cols
    label_h = 12 if labels else 0
    sheet = np.full((rows * (thumb + label_h), cols * thumb, 3), 32, np.uint8)
    for i, p in enumerate(paths):
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            continue
        small = cv2.resize(img, (thumb, thumb), interpolation=cv2.INTER_AREA)
        r, c = divmod(i, cols)
        y = r * (thumb + label_h)
        sheet[y:y + thumb, c * thumb:(c + 1) * thumb] = small
        if labels:
            cv2.putText(sheet, labels[i][-12:], (c * thumb + 2, y + thumb + 9), cv2.FONT_HERSHEY_PLAIN, 0.7,
                        (220, 220, 220), 1, cv2.LINE_AA)
    return sheet


def _png_bytes(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise FaceplateError("PNG encoding of a contact sheet failed")
    return buf.tobytes()


def report(out_dir: str | os.PathLike, max_faces: int = 200) -> Path:
    """Write DATASET/report/index.html + contact sheets; returns the HTML path."""
    out = Path(out_dir).resolve()
    state = read_state(out)
    if state is None:
        raise FaceplateError(f"{out} holds no dataset (no dataset.json); run `faceplate dataset build` first")
    rows = read_manifest(out)
    rep = out / "report"
    rep.mkdir(parents=True, exist_ok=True)
    for old in rep.glob("*.png"):  # sheets of an earlier report (e.g. before clustering)
        old.unlink()
    by_reason = collections.Counter(r["reason"] for r in rows if not r["kept"])
    groups: dict[str, dict] = collections.OrderedDict()
    for g in state.get("inputs", {}):
        groups[g] = {"faces": 0, "kept": 0, "reasons": collections.Counter(), "clusters": collections.defaultdict(list)}
    for r in rows:
        g = groups.setdefault(r["group"], {"faces": 0, "kept": 0, "reasons": collections.Counter(),
                                           "clusters": collections.defaultdict(list)})
        g["faces"] += 1
        if r["kept"]:
            g["kept"] += 1
            key = "unsorted" if r.get("cluster") is None else str(r["cluster"])
            if r.get("path") and (out / r["path"]).exists():
                g["clusters"][key].append(r)
        else:
            g["reasons"][r["reason"]] += 1
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>faceplate dataset report</title>",
        "<style>body{font-family:sans-serif;background:#222;color:#ddd}table{border-collapse:collapse}"
        "td,th{border:1px solid #555;padding:3px 8px}img{max-width:100%}</style></head><body>",
        f"<h1>Dataset {html.escape(str(out))}</h1>",
        f"<p>{len(rows)} faces, {sum(1 for r in rows if r['kept'])} kept, crop {state.get('size')}²</p>",
    ]
    if not rows:
        parts.append("<p><b>No faces were found in the inputs.</b></p>")
    parts.append("<h2>Rejections by reason</h2><table><tr><th>reason</th><th>faces</th></tr>")
    for reason in REASONS:
        parts.append(f"<tr><td>{reason}</td><td>{by_reason.get(reason, 0)}</td></tr>")
    parts.append("</table><h2>Inputs</h2><table><tr><th>group</th><th>source</th><th>status</th><th>faces</th>"
                 "<th>kept</th><th>rejected</th><th>error</th></tr>")
    for name, g in groups.items():
        entry = state.get("inputs", {}).get(name, {})
        rej = ", ".join(f"{k}: {v}" for k, v in sorted(g["reasons"].items()))
        parts.append(f"<tr><td>{html.escape(name)}</td><td>{html.escape(str(entry.get('source', '')))}</td>"
                     f"<td>{html.escape(str(entry.get('status', '')))}</td><td>{g['faces']}</td><td>{g['kept']}</td>"
                     f"<td>{html.escape(rej)}</td><td>{html.escape(str(entry.get('error') or ''))}</td></tr>")
    parts.append("</table><h2>Contact sheets</h2>")
    for name, g in groups.items():
        for key in sorted(g["clusters"], key=lambda k: (k == "unsorted", int(k) if k.isdigit() else 0)):
            faces = g["clusters"][key]
            shown = faces[:max_faces]
            sheet = contact_sheet([out / r["path"] for r in shown], labels=[r["id"] for r in shown])
            fname = f"{name}_{key}.png"
            atomic_write_bytes(rep / fname, _png_bytes(sheet))
            more = f" (first {max_faces})" if len(faces) > max_faces else ""
            parts.append(f"<h3>{html.escape(name)} / {key}: {len(faces)} faces{more}</h3><img src='{fname}'>")
    parts.append("</body></html>")
    index = rep / "index.html"
    atomic_write_text(index, "\n".join(parts))
    return index


def pack(out_dir: str | os.PathLike, groups: Optional[list[str]] = None) -> list[Path]:
    """One zip per group: its face folders (<group>/<k>/<id>.png) and manifest.jsonl rows."""
    out = Path(out_dir).resolve()
    state = read_state(out)
    if state is None:
        raise FaceplateError(f"{out} holds no dataset (no dataset.json); run `faceplate dataset build` first")
    rows = read_manifest(out)
    with_rows = {r["group"] for r in rows}
    names = groups or [g for g in state.get("inputs", {}) if g in with_rows]
    unknown = [g for g in names if g not in state.get("inputs", {})]
    if unknown:
        raise FaceplateError(f"{out}: no group {unknown[0]!r}; choose from {', '.join(state.get('inputs', {}))}")
    written = []
    for group in names:
        dst = out / "packs" / f"{group}.zip"
        with atomic_path(dst) as tmp:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:  # PNGs do not deflate
                group_rows = [r for r in rows if r["group"] == group]
                zf.writestr(f"{group}/manifest.jsonl",
                            "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in group_rows))
                for r in group_rows:
                    if r.get("kept") and r.get("path") and (out / r["path"]).exists():
                        zf.write(out / r["path"], r["path"])
        written.append(dst)
    return written

"""The dataset's records on disk: the manifest (one row per kept or rejected face) and the build state
that --resume continues from, repaired after a kill."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional, Sequence

from faceplate.core.errors import FaceplateError
from faceplate.core.filesystem import atomic_write_text

FORMAT = "faceplate.dataset/1"


MANIFEST = "manifest.jsonl"


STATE = "dataset.json"


def read_manifest(out_dir: str | os.PathLike) -> list[dict]:
    """All complete rows; a trailing half-written line (killed mid-append) is ignored."""
    path = Path(out_dir) / MANIFEST
    if not path.exists():
        return []
    rows = []
    text = path.read_text(encoding="utf-8")
    for line in text.split("\n"):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return rows


def write_manifest(out_dir: str | os.PathLike, rows: Sequence[dict]) -> None:
    """Rewrite the whole manifest atomically (cluster/repair)."""
    atomic_write_text(Path(out_dir) / MANIFEST, "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows))


def read_state(out_dir: str | os.PathLike) -> Optional[dict]:
    path = Path(out_dir) / STATE
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise FaceplateError(f"{path}: not valid JSON; restore it or rebuild with --force") from None
    if state.get("format") != FORMAT:
        raise FaceplateError(f"{path}: not a faceplate dataset ({state.get('format')!r}); use another folder or --force")
    return state


def write_state(out_dir: str | os.PathLike, state: dict) -> None:
    path = Path(out_dir) / STATE
    try:
        atomic_write_text(path, json.dumps(state, indent=2) + "\n")
    except OSError as exc:
        raise FaceplateError(f"cannot write {path} ({exc.strerror or exc}); free disk space and re-run with --resume") from None


def _repair_manifest(out_dir: Path, state: Optional[dict] = None) -> list[dict]:
    """Drop a trailing partial line and every row of the frame it belonged to; rewrite if needed.

    The partial line may be the FIRST row of a new frame, so the dropped rows can belong to a frame
    that was fully committed (and recorded as done in ``state``): that input is rewound to redo it."""
    path = out_dir / MANIFEST
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    rows, broken = [], False
    for line in lines:
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            broken = True
            break
    if broken or (text and not text.endswith("\n")):
        if rows:
            last = (rows[-1]["group"], rows[-1]["frame"])
            rows = [r for r in rows if (r["group"], r["frame"]) != last]
            entry = (state or {}).get("inputs", {}).get(last[0])
            if entry is not None:
                if entry.get("next_frame") is not None:
                    entry["next_frame"] = min(int(entry["next_frame"]), int(last[1]))
                if entry.get("status") == "done":
                    entry["status"] = "partial"
        write_manifest(out_dir, rows)
    return rows

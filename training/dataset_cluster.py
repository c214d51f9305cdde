"""Identity clustering of a built dataset: DATASET/<group>/unsorted → DATASET/<group>/<k>/.

Agglomerative clustering (average linkage, cosine distance) of the kept faces' identity
embeddings (stored in the manifest by `build`). ``classes=K`` cuts the tree into at most K
clusters (the course tool's "initial class count"); ``auto`` cuts it at the recognizer's
same-person distance. Clusters are numbered by size, largest first (0 = main person), ties by
first appearance, so the result is deterministic. Files are moved first, then the manifest is
rewritten atomically; a re-run finds every file wherever an interrupted run left it.
"""
from __future__ import annotations

import collections
import logging
import os
import shutil
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from faceplate.core.errors import FaceplateError

from .dataset_manifest import MANIFEST, read_manifest, read_state, write_manifest

log = logging.getLogger("faceplate.dataset")

# Same-person cosine similarity per recognizer family (faceplate.core.identity); the auto cut is
# at 1 − that similarity.
_FAMILY_BY_NAME = (("dlib", "dlib128"), ("mobilefacenet", "mobilefacenet"), ("arcface", "arcface"),
                   ("w600k", "arcface"), ("glint", "arcface"))


def auto_threshold(recognizer_name: str = "") -> float:
    """Cosine-distance cut for ``--auto`` given the recognizer's registry name."""
    from faceplate.core.identity import SAME_PERSON_THRESHOLD
    family = next((fam for key, fam in _FAMILY_BY_NAME if key in recognizer_name.lower()), "dlib128")
    return float(1.0 - SAME_PERSON_THRESHOLD.get(family, 0.5))


def cluster_embeddings(embeddings: np.ndarray, classes: Optional[int] = None,
                       threshold: Optional[float] = None) -> np.ndarray:
    """Labels 0..n-1 for (N, D) embeddings: ``classes`` clusters at most, or cut at ``threshold``.

    Labels are renumbered by cluster size (descending), ties by first member.
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    x = np.asarray(embeddings, dtype=np.float64)
    n = len(x)
    if n == 0:
        return np.zeros(0, dtype=int)
    if n == 1:
        return np.zeros(1, dtype=int)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    z = linkage(x, method="average", metric="cosine")
    if classes is not None:
        raw = fcluster(z, t=max(1, int(classes)), criterion="maxclust")
    else:
        raw = fcluster(z, t=float(threshold if threshold is not None else 0.1), criterion="distance")
    counts = collections.Counter(raw.tolist())
    first = {}
    for i, label in enumerate(raw.tolist()):
        first.setdefault(label, i)
    order = sorted(counts, key=lambda lab: (-counts[lab], first[lab]))
    remap = {lab: k for k, lab in enumerate(order)}
    return np.array([remap[lab] for lab in raw.tolist()], dtype=int)


def _find_file(out: Path, row: dict) -> Optional[Path]:
    """Where the face's PNG is now: its recorded path, else any sub-folder of its group."""
    if row.get("path") and (out / row["path"]).exists():
        return out / row["path"]
    group_dir = out / row["group"]
    if group_dir.is_dir():
        for sub in sorted(group_dir.iterdir()):
            candidate = sub / f"{row['id']}.png"
            if candidate.exists():
                return candidate
    return None


def cluster_dataset(out_dir: str | os.PathLike, classes: Optional[int] = None, auto: bool = False,
                    threshold: Optional[float] = None, merge_groups: bool = False,
                    log_fn: Callable[[str], None] = log.info) -> dict[str, dict[int, int]]:
    """Sort every group's kept faces into identity folders; returns {group: {cluster: count}}.

    merge_groups: cluster all groups together so folder k is the same person in every group.
    """
    out = Path(out_dir).resolve()
    state = read_state(out)
    if state is None:
        raise FaceplateError(f"{out} holds no dataset (no dataset.json); run `faceplate dataset build` first")
    if classes is None and not auto:
        raise FaceplateError("pass --classes K (initial number of identities) or --auto")
    if classes is not None and classes < 1:
        raise FaceplateError("--classes must be >= 1")
    if auto and threshold is None:
        threshold = auto_threshold(str(state.get("models", {}).get("recognizer", {}).get("name", "")))
    rows = read_manifest(out)
    kept = [i for i, r in enumerate(rows) if r.get("kept")]
    missing = [rows[i]["id"] for i in kept if not rows[i].get("embedding")]
    if missing:
        raise FaceplateError(f"{out / MANIFEST}: face {missing[0]} has no embedding; rebuild the dataset")
    buckets: dict[str, list[int]] = collections.defaultdict(list)
    for i in kept:
        buckets["*" if merge_groups else rows[i]["group"]].append(i)
    for key, idx in buckets.items():
        emb = np.stack([np.asarray(rows[i]["embedding"], dtype=np.float32) for i in idx])
        labels = cluster_embeddings(emb, classes=None if auto else classes, threshold=threshold)
        for i, lab in zip(idx, labels.tolist()):
            rows[i]["cluster"] = int(lab)
    summary: dict[str, dict[int, int]] = collections.defaultdict(lambda: collections.defaultdict(int))
    for i in kept:
        row = rows[i]
        src = _find_file(out, row)
        rel = f"{row['group']}/{row['cluster']}/{row['id']}.png"
        if src is None:
            log_fn(f"warning: {row['id']}.png is missing from {out / row['group']}; left out")
            row["path"] = None
            continue
        dst = out / rel
        if src != dst:
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
        row["path"] = rel
        summary[row["group"]][row["cluster"]] += 1
    write_manifest(out, rows)
    # Leave no empty folders (old cluster numbers, unsorted) behind.
    for group in {rows[i]["group"] for i in kept}:
        for sub in (out / group).iterdir():
            if sub.is_dir() and not any(sub.iterdir()):
                sub.rmdir()
    state["clusters"] = {"classes": classes, "auto": auto, "threshold": threshold, "merge_groups": merge_groups}
    from .dataset_manifest import write_state
    write_state(out, state)
    for group, counts in sorted(summary.items()):
        log_fn(f"{group}: " + ", ".join(f"{k}: {n}" for k, n in sorted(counts.items())))
    return {g: dict(c) for g, c in summary.items()}


def cluster_folder(in_dir: str | os.PathLike, out_dir: str | os.PathLike, classes: Optional[int] = None,
                   auto: bool = False, recognizer: Optional[str] = None, detector: Optional[str] = None,
                   log_fn: Callable[[str], None] = log.info, cancel=None) -> dict[int, list[str]]:
    """The GUI's classification tab: a folder of face images → out_dir/0/, 1/, … (copies).

    Works on any face crops (ours or another tool's): each image is detected again to find its
    5 points, then embedded. Images with no face go to out_dir/noface/.
    """
    import cv2

    from faceplate.core.models.zoo import load_detector, load_recognizer
    from faceplate.core.analyze.pyramid import detect_faces

    src = Path(in_dir)
    files = sorted(p for p in src.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}) \
        if src.is_dir() else []
    if not files:
        raise FaceplateError(f"{src}: no face images (.png/.jpg) found; choose the folder that holds the crops")
    if classes is None and not auto:
        raise FaceplateError("choose an initial class count or auto")
    det = load_detector(detector)
    rec = load_recognizer(recognizer)
    embs, names, noface = [], [], []
    for n, path in enumerate(files):
        if cancel is not None and cancel.is_set():
            log_fn("cancelled")
            return {}
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            log_fn(f"skipped unreadable {path.name}")
            continue
        rgb = np.ascontiguousarray(bgr[..., ::-1])
        found = detect_faces(det, rgb, min_face=max(16, min(rgb.shape[:2]) // 8))
        if not found:
            noface.append(path)
            continue
        best = max(found, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
        embs.append(np.asarray(rec.embed(rgb, best.points5), dtype=np.float32))
        names.append(path)
        if (n + 1) % 20 == 0:
            log_fn(f"embedded {n + 1}/{len(files)}")
    threshold = auto_threshold(getattr(rec, "name", "")) if auto else None
    labels = cluster_embeddings(np.stack(embs), classes=None if auto else classes, threshold=threshold) \
        if embs else np.zeros(0, int)
    out = Path(out_dir)
    result: dict[int, list[str]] = collections.defaultdict(list)
    for path, lab in zip(names, labels.tolist()):
        dst = out / str(lab) / path.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dst)
        result[int(lab)].append(path.name)
    for path in noface:
        (out / "noface").mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, out / "noface" / path.name)
    log_fn(f"{len(names)} faces in {len(result)} classes" + (f", {len(noface)} without a face" if noface else ""))
    return dict(result)

"""Face-crop datasets for training: scanning identity folders, alignment matrices, seeded batches.

Layout (the dataset builder's output): ``DATASET/<group>/<k>/<id>.png`` aligned FFHQ-style crops
(any square size), one folder per identity ``k`` per ``group``; every ``<group>/<k>`` is one class, or every ``k``
when the clusters were merged across groups (``dataset cluster --merge-groups``).

Crops reach the networks through a single affine warp from the FFHQ crop to the network's template
(``arcface112`` scaled to the input size, or ``ffhq``), with augmentation folded into the same warp.
Batches come from a NumPy PCG64 generator whose state is saved in checkpoints, so a resumed run
draws exactly the batches the uninterrupted run would have drawn.

Arrays: images are uint8 RGB ``(H, W, 3)``; batches are float32 ``(N, 3, S, S)`` in 0..1.
"""
from __future__ import annotations

import json

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

import cv2
import numpy as np

from faceplate.core.geometry import align
from faceplate.core.errors import FaceplateError

log = logging.getLogger("faceplate.training")

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
NOT_GROUPS = {"report", "packs"}        # folders `faceplate dataset` writes beside the groups

def ffhq_matrix(points5: np.ndarray, size: int) -> np.ndarray:
    """(2,3) image → FFHQ-style ``size``² crop (core.align's rule, the dataset builder's crops)."""
    return align.ffhq_transform(np.asarray(points5, dtype=np.float64), size)


def crop_to_template(src_size: int, alignment: str, out_size: int) -> np.ndarray:
    """(2,3) mapping pixels of an FFHQ crop of side ``src_size`` to the template crop of side ``out_size``.

    Fixed by the canonical face (the ArcFace template's own points): the same similarity takes any FFHQ
    crop to the crop ``core.align.arcface_transform(points5, out_size)`` would cut — what render feeds
    the swapper and what a recognizer sees.
    """
    if alignment == "ffhq":
        s = out_size / float(src_size)
        return np.array([[s, 0, 0.5 * s - 0.5], [0, s, 0.5 * s - 0.5]], dtype=np.float64)
    if alignment == "arcface112":
        canonical = align.ARCFACE_112
        return align.compose(align.arcface_transform(canonical, out_size),
                             align.invert(align.ffhq_transform(canonical, src_size)))
    raise FaceplateError(f"unknown alignment {alignment!r}; use arcface112 or ffhq")


def _compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return align.compose(a, b)


@dataclass
class DatasetIndex:
    root: str
    classes: list[str]                    # "<group>/<k>"
    items: list[tuple[str, int]]          # (path, class index)
    per_class: list[list[int]] = field(default_factory=list)   # item indices of each class

    def __post_init__(self) -> None:
        if not self.per_class:
            self.per_class = [[] for _ in self.classes]
            for i, (_, label) in enumerate(self.items):
                self.per_class[label].append(i)


def _groups_merged(root: Path) -> bool:
    """True when the dataset's clusters were made across groups (dataset.json clusters.merge_groups)."""
    try:
        state = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(((state or {}).get("clusters") or {}).get("merge_groups"))


def scan_dataset(root: Union[str, Path], min_classes: int = 2, max_per_class: int = 0) -> DatasetIndex:
    """Index ``root/<group>/<k>/*.png``; FaceplateError if missing, empty or with too few identities."""
    root = Path(root)
    if not str(root) or not root.is_dir():
        raise FaceplateError(f"{root}: dataset folder not found; set `dataset:` in the config to the output "
                             f"of `faceplate dataset build`")
    classes: list[str] = []
    items: list[tuple[str, int]] = []
    unsorted = 0
    # After `faceplate dataset cluster --merge-groups`, folder k is the same person in every group:
    # one class per k ("*/<k>"), not per <group>/<k>, or training would push a person away from himself.
    merged = _groups_merged(root)
    label_of: dict[str, int] = {}
    for group in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in NOT_GROUPS):
        for ident in sorted((p for p in group.iterdir() if p.is_dir()), key=lambda p: (len(p.name), p.name)):
            if ident.name == "unsorted":  # `dataset build` output before `dataset cluster`: no identity yet
                unsorted += 1
                continue
            files = sorted(f for f in ident.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
            if max_per_class > 0:
                files = files[:max_per_class]
            if not files:
                continue
            key = f"*/{ident.name}" if merged else f"{group.name}/{ident.name}"
            if key not in label_of:
                label_of[key] = len(classes)
                classes.append(key)
            items.extend((str(f), label_of[key]) for f in files)
    if not items and unsorted:
        raise FaceplateError(f"{root}: faces are still in <group>/unsorted/ (not sorted by identity); run "
                             f"`faceplate dataset cluster {root} --auto` first")
    if not items:
        raise FaceplateError(f"{root}: dataset is empty (no <group>/<identity>/*.png crops); build it with "
                             f"`faceplate dataset build` or point `dataset:` at its output folder")
    if len(classes) < min_classes:
        raise FaceplateError(f"{root}: found {len(classes)} identity folder(s) ({', '.join(classes)}), training "
                             f"needs at least {min_classes}; add footage of more people")
    return DatasetIndex(root=str(root), classes=classes, items=items)


def split_index(index: DatasetIndex, val_fraction: float, seed: int) -> tuple[DatasetIndex, DatasetIndex]:
    """Hold out ``val_fraction`` of each class's images (at least one when the class has ≥ 3)."""
    rng = np.random.Generator(np.random.PCG64(seed + 7919))
    train, val = [], []
    for label, members in enumerate(index.per_class):
        order = [members[i] for i in rng.permutation(len(members))]
        # Same-identity verification pairs need two held-out crops of a class: hold out 0 or >= 2.
        n_val = int(round(len(members) * val_fraction)) if val_fraction > 0 else 0
        if val_fraction > 0 and len(members) >= 5:
            n_val = max(2, n_val)
        n_val = min(n_val, len(members) - 2) if n_val >= 2 else 0
        val += [index.items[i] for i in sorted(order[:n_val])]
        train += [index.items[i] for i in sorted(order[n_val:])]
    return (DatasetIndex(index.root, index.classes, train), DatasetIndex(index.root, index.classes, val))


class ImageStore:
    """Decodes crops once (cached at a working size); corrupt files are skipped and counted."""

    def __init__(self, work_size: int, cache_limit_bytes: int = 2 << 30):
        self.work_size = int(work_size)
        self.cache: dict[str, np.ndarray] = {}
        self.corrupt: set[str] = set()
        self.cache_limit = cache_limit_bytes
        self._bytes = 0

    def get(self, path: str) -> Optional[np.ndarray]:
        if path in self.corrupt:
            return None
        hit = self.cache.get(path)
        if hit is not None:
            return hit
        image = None
        try:
            data = np.fromfile(path, dtype=np.uint8)
            image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        except (OSError, cv2.error):
            image = None
        if image is None or image.ndim != 3 or image.shape[0] < 16 or image.shape[0] != image.shape[1]:
            self.corrupt.add(path)
            log.warning("%s: unreadable or not a square face crop; skipped (%d skipped so far)", path, len(self.corrupt))
            return None
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        if image.shape[0] != self.work_size:
            interp = cv2.INTER_AREA if image.shape[0] > self.work_size else cv2.INTER_LINEAR
            image = cv2.resize(image, (self.work_size, self.work_size), interpolation=interp)
        if self._bytes + image.nbytes <= self.cache_limit:
            self.cache[path] = image
            self._bytes += image.nbytes
        return image


@dataclass
class Augment:
    flip: bool = True
    max_rotate_deg: float = 4.0
    max_scale: float = 0.04
    max_shift: float = 0.03         # fraction of the crop
    colour: float = 0.1             # brightness/contrast/saturation jitter


@dataclass(frozen=True)
class Jitter:
    """The random part of one augmented crop: a (2,3) similarity applied after the template warp, a
    mirror, and (brightness, contrast, saturation) factors (None: no colour jitter)."""
    matrix: np.ndarray
    flip: bool
    colour: Optional[tuple[float, float, float]]


def draw_jitter(rng: np.random.Generator, augment: Augment, out_size: int) -> Jitter:
    """One crop's augmentation drawn from ``rng``: a batch draws every random number first, in a fixed
    order, so the crops can then be warped in any order or in parallel with identical results."""
    angle = math.radians(rng.uniform(-augment.max_rotate_deg, augment.max_rotate_deg))
    scale = 1.0 + rng.uniform(-augment.max_scale, augment.max_scale)
    shift = rng.uniform(-augment.max_shift, augment.max_shift, size=2) * out_size
    c = (out_size - 1) / 2.0
    cos, sin = scale * math.cos(angle), scale * math.sin(angle)
    matrix = np.array([[cos, -sin, c - cos * c + sin * c + shift[0]], [sin, cos, c - sin * c - cos * c + shift[1]]])
    flip = augment.flip and bool(rng.integers(0, 2))
    colour = None
    if augment.colour > 0:
        b, ct, sat = 1 + rng.uniform(-augment.colour, augment.colour, size=3)
        colour = (float(b), float(ct), float(sat))
    return Jitter(matrix, flip, colour)


def apply_crop(image: np.ndarray, alignment: str, out_size: int, jitter: Optional[Jitter]) -> np.ndarray:
    """FFHQ crop uint8 (S,S,3) → template crop float32 (3,out,out) in 0..1, with ``jitter`` when given.
    Draws no random numbers (safe to run in worker threads)."""
    m = crop_to_template(image.shape[0], alignment, out_size)
    if jitter is not None:
        m = _compose(jitter.matrix, m)
    out = cv2.warpAffine(image, m, (out_size, out_size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    out = out.astype(np.float32) / 255.0
    if jitter is not None and jitter.flip:
        out = out[:, ::-1]
    if jitter is not None and jitter.colour is not None:
        b, ct, sat = (np.float64(v) for v in jitter.colour)
        grey = out.mean(axis=2, keepdims=True)
        out = (grey + (out - grey) * sat)
        out = (out - out.mean()) * ct + out.mean() * b
        out = np.clip(out, 0.0, 1.0)
    return np.ascontiguousarray(out.transpose(2, 0, 1), dtype=np.float32)


def warp_crop(image: np.ndarray, alignment: str, out_size: int, rng: Optional[np.random.Generator],
              augment: Optional[Augment]) -> np.ndarray:
    """FFHQ crop uint8 (S,S,3) → template crop float32 (3,out,out) in 0..1, augmented when ``rng`` given."""
    jitter = draw_jitter(rng, augment, out_size) if rng is not None and augment is not None else None
    return apply_crop(image, alignment, out_size, jitter)


class Sampler:
    """Seeded batch drawing over a DatasetIndex; ``state()``/``set_state()`` go into checkpoints."""

    def __init__(self, index: DatasetIndex, store: ImageStore, seed: int, rank: int = 0,
                 augment: Optional[Augment] = None, workers: int = 1):
        self.index = index
        self.store = store
        self.augment = augment
        self.rng = np.random.Generator(np.random.PCG64([seed, rank]))
        # Warping a batch is most of a GPU training step when done on one thread (bench_gpu: 54-67 % at
        # batch 32-64, 224²); OpenCV and NumPy release the GIL, so threads share it out.
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="faceplate-batch") if workers > 1 else None
        self._pending: Optional[tuple] = None   # (arguments, state before its draws, futures, same)

    def state(self) -> dict[str, Any]:
        """The generator state a checkpoint saves: before a prefetched batch that was not taken yet, so a
        resumed run draws that same batch."""
        return self._pending[1] if self._pending is not None else self.rng.bit_generator.state

    def set_state(self, state: dict[str, Any]) -> None:
        self._pending = None
        self.rng.bit_generator.state = state

    def prefetch_swap_batch(self, batch_size: int, size: int, alignment: str, same_fraction: float) -> None:
        """Draw the next swap_batch's random numbers now and warp it on the worker threads while the caller
        runs the GPU step; the next swap_batch with the same arguments takes it. No-op without workers."""
        key = ("swap", batch_size, size, alignment, same_fraction)
        self._prefetch(key, lambda: self._plan_swap(batch_size, size, alignment, same_fraction))

    def prefetch_identity_batch(self, batch_size: int, size: int) -> None:
        """``prefetch_swap_batch`` for the next identity_batch."""
        self._prefetch(("identity", batch_size, size), lambda: self._plan_identity(batch_size, size))

    def _prefetch(self, key: tuple, plan: Callable[[], tuple[list, Any]]) -> None:
        if self._pool is None:
            return
        self._drop_pending()
        state = self.rng.bit_generator.state
        jobs, extra = plan()
        self._pending = (key, state, [self._pool.submit(apply_crop, *job) for job in jobs], extra)

    def _take(self, key: tuple, plan: Callable[[], tuple[list, Any]]) -> tuple[list[np.ndarray], Any]:
        """The crops and labels of the batch ``key`` names: the prefetched one, else drawn now."""
        if self._pending is not None and self._pending[0] == key:
            crops, extra = [f.result() for f in self._pending[2]], self._pending[3]
            self._pending = None
            return crops, extra
        self._drop_pending()
        jobs, extra = plan()
        return self._crops(jobs), extra

    def _drop_pending(self) -> None:
        """Forget a prefetched batch nobody takes: the generator goes back to where its draws started."""
        if self._pending is not None:
            self.rng.bit_generator.state = self._pending[1]
            self._pending = None

    def _crops(self, jobs: list[tuple[np.ndarray, str, int, Optional[Jitter]]]) -> list[np.ndarray]:
        if self._pool is None:
            return [apply_crop(*job) for job in jobs]
        return list(self._pool.map(lambda job: apply_crop(*job), jobs))

    def _jitter(self, size: int) -> Optional[Jitter]:
        return draw_jitter(self.rng, self.augment, size) if self.augment is not None else None

    def _draw_item(self, pool: Optional[list[int]] = None) -> tuple[np.ndarray, int]:
        for _ in range(1000):
            i = int(self.rng.integers(0, len(pool))) if pool else int(self.rng.integers(0, len(self.index.items)))
            path, label = self.index.items[pool[i] if pool else i]
            image = self.store.get(path)
            if image is not None:
                return image, label
            if pool:
                pool = [j for j in pool if self.index.items[j][0] not in self.store.corrupt] or None
        raise FaceplateError(f"{self.index.root}: no readable face crops left after skipping "
                             f"{len(self.store.corrupt)} corrupt files; rebuild the dataset")

    def identity_batch(self, batch_size: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(N,3,size,size) arcface-aligned crops and (N,) int64 labels."""
        crops, labels = self._take(("identity", batch_size, size), lambda: self._plan_identity(batch_size, size))
        return np.stack(crops), np.asarray(labels, dtype=np.int64)

    def _plan_identity(self, batch_size: int, size: int) -> tuple[list, list[int]]:
        jobs, labels = [], []
        for _ in range(batch_size):
            image, label = self._draw_item()
            jobs.append((image, "arcface112", size, self._jitter(size)))
            labels.append(label)
        return jobs, labels

    def swap_batch(self, batch_size: int, size: int, alignment: str, same_fraction: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Targets (N,3,S,S), sources (N,3,S,S) (same template) and ``same`` (N,) bool.

        ``same`` marks pairs whose source is the target image itself: those get the reconstruction loss.
        """
        crops, same = self._take(("swap", batch_size, size, alignment, same_fraction),
                                 lambda: self._plan_swap(batch_size, size, alignment, same_fraction))
        return np.stack(crops[0::2]), np.stack(crops[1::2]), np.asarray(same)

    def _plan_swap(self, batch_size: int, size: int, alignment: str, same_fraction: float
                   ) -> tuple[list[tuple[np.ndarray, str, int, Optional[Jitter]]], list[bool]]:
        jobs, same = [], []   # target then source of each pair, random numbers in the order they were drawn
        for _ in range(batch_size):
            image, label = self._draw_item()
            is_same = bool(self.rng.random() < same_fraction)
            source = image if is_same else self._draw_item()[0]
            jobs.append((image, alignment, size, self._jitter(size)))
            jobs.append((source, alignment, size, self._jitter(size)))
            same.append(is_same)
        return jobs, same


def verification_pairs(index: DatasetIndex, max_pairs: int, seed: int) -> list[tuple[int, int, bool]]:
    """Balanced (i, j, same) pairs of item indices: half same identity, half different."""
    rng = np.random.Generator(np.random.PCG64(seed + 104729))
    multi = [m for m in index.per_class if len(m) >= 2]
    pairs: list[tuple[int, int, bool]] = []
    half = max_pairs // 2
    if multi:
        for _ in range(half):
            members = multi[int(rng.integers(0, len(multi)))]
            a, b = rng.choice(len(members), size=2, replace=False)
            pairs.append((members[a], members[b], True))
    n_same = len(pairs)
    labelled = [c for c in range(len(index.classes)) if index.per_class[c]]
    if n_same and len(labelled) >= 2:   # accuracy over one kind of pair alone would mean nothing
        for _ in range(n_same):
            ca, cb = rng.choice(labelled, size=2, replace=False)
            a = index.per_class[ca][int(rng.integers(0, len(index.per_class[ca])))]
            b = index.per_class[cb][int(rng.integers(0, len(index.per_class[cb])))]
            pairs.append((a, b, False))
    return pairs


def verification_accuracy(similarity: np.ndarray, same: np.ndarray, folds: int = 10) -> tuple[float, float]:
    """k-fold verification accuracy (threshold chosen on the other folds) and the mean threshold."""
    similarity = np.asarray(similarity, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    n = len(similarity)
    if n < 2:
        return float("nan"), float("nan")
    folds = max(2, min(folds, n))
    order = np.arange(n)
    accs, thresholds = [], []
    for k in range(folds):
        test = order % folds == k
        train = ~test
        candidates = np.unique(similarity[train])
        best_t, best = 0.0, -1.0
        for t in candidates:
            acc = np.mean((similarity[train] >= t) == same[train])
            if acc > best:
                best, best_t = acc, t
        thresholds.append(best_t)
        accs.append(np.mean((similarity[test] >= best_t) == same[test]))
    return float(np.mean(accs)), float(np.mean(thresholds))

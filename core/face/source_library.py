"""The source library: stills, image sequences (``####``) and video clips of the source actor,
analysed once into a versioned source file (``faceplate.source/1``) that every render reuses.

Per library frame the file holds the media (path, frame, sha256), 68 landmarks, pose, eye and
mouth openness, a gaze proxy and (when a recognizer is given) an identity embedding. The file is
cached by a key made from the media hashes and the models' hashes, so the same footage is
analysed once. Video frames are read by decoding from the start (seeking is not frame-exact on
every codec), so frame k's pixels are the same on every machine.
"""
from __future__ import annotations

import glob
import hashlib
import json
import logging
import math
import os
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import cv2
import numpy as np

from faceplate.core.errors import FaceplateError
from faceplate.core.face import brows
from faceplate.core.face.expression import Expression, measure
from faceplate.core.filesystem import atomic_write_text, sha256_file

FORMAT = "faceplate.source/1"
# what the landmarks of a source file went through after the landmarker; part of the cache key,
# so a cache made before a change is analysed again
LANDMARK_REFINEMENT = "brows-lifted/1"
VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")
log = logging.getLogger("faceplate.source")


@dataclass
class LibraryFrame:
    media: int                       # index into SourceLibrary.media
    frame: Optional[int]             # frame number in a video, None for a still
    landmarks: np.ndarray            # (68, 2) in the image's pixels
    expression: Expression
    embedding: Optional[np.ndarray] = None


@dataclass
class SourceLibrary:
    media: list[dict]                 # {"path", "sha256", "kind": "still" | "video"}
    frames: list[LibraryFrame]
    models: dict = field(default_factory=dict)
    _images: "OrderedDict[int, np.ndarray]" = field(default_factory=OrderedDict, repr=False, compare=False)

    @property
    def sha256(self) -> str:
        """Identity of the library: media hashes, which frames, and the analysis models."""
        h = hashlib.sha256(FORMAT.encode())
        for m in self.media:
            h.update(m["sha256"].encode())
        for f in self.frames:
            h.update(f"{f.media}:{f.frame};".encode())
        h.update(json.dumps(self.models, sort_keys=True).encode())
        return h.hexdigest()

    def mean_embedding(self) -> Optional[np.ndarray]:
        embs = [f.embedding for f in self.frames if f.embedding is not None]
        if not embs:
            return None
        e = np.mean(np.stack(embs).astype(np.float64), axis=0)
        return (e / max(np.linalg.norm(e), 1e-12)).astype(np.float32)

    def image_rgb01(self, k: int) -> np.ndarray:
        """Display-referred RGB float32 0..1 of library frame ``k`` (kept in a small cache)."""
        if k in self._images:
            self._images.move_to_end(k)
            return self._images[k]
        f = self.frames[k]
        m = self.media[f.media]
        rgb = _read_video_frame(m["path"], int(f.frame)) if m["kind"] == "video" else _read_still(m["path"])
        img = rgb.astype(np.float32) / 255.0
        self._images[k] = img
        while len(self._images) > 8:
            self._images.popitem(last=False)
        return img


# ------------------------------------------------------------------------------ media

def _read_still(path: str) -> np.ndarray:
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise FaceplateError(f"{path}: cannot read the source image; pass a JPEG/PNG/TIFF still")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def _video_frames(path: str) -> Any:
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise FaceplateError(f"{path}: cannot open the source clip; pass an .mp4/.mov this OpenCV can decode")
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                return
            yield np.ascontiguousarray(bgr[:, :, ::-1])
    finally:
        cap.release()


def _read_video_frame(path: str, index: int) -> np.ndarray:
    for i, rgb in enumerate(_video_frames(path)):
        if i == index:
            return rgb
    raise FaceplateError(f"{path}: has no frame {index}; the clip changed since the source file was made — "
                         f"delete the cached .source.json and re-run")


def expand_sources(specs: Sequence[str]) -> list[str]:
    """Media files for ``--source`` values: stills and clips as given, ``####``/``%04d`` patterns expanded."""
    out: list[str] = []
    for spec in specs:
        if re.search(r"#+|%0?\d*d|@+", spec):
            pattern = re.sub(r"#+|%0?\d*d|@+", "*", spec)
            files = sorted(glob.glob(pattern))
            if not files:
                raise FaceplateError(f"--source {spec}: no files match the sequence pattern; check the path")
            out.extend(files)
        elif not os.path.isfile(spec):
            raise FaceplateError(f"--source {spec}: file not found; pass stills, an image sequence (####) or a clip")
        else:
            out.append(spec)
    return out


def is_video(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS


# ------------------------------------------------------------------------------ analysis

def _analyse_image(rgb8: np.ndarray, detector: Any, landmarker: Any, recognizer: Any) -> Optional[tuple]:
    from faceplate.core.analyze.pyramid import detect_faces

    dets = detect_faces(detector, rgb8, min_face=32)
    if not dets:
        return None
    det = max(dets, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
    lm = brows.lift_to_image(rgb8, landmarker.landmarks(rgb8, det))
    emb = None
    if recognizer is not None:
        emb = np.asarray(recognizer.embed(rgb8, np.asarray(det.points5, np.float64)), np.float32)
    return lm, measure(lm, rgb8.astype(np.float32) / 255.0), emb


def build_library(media_paths: Sequence[str], detector: Any, landmarker: Any, recognizer: Any = None,
                  video_step: int = 2, max_video_frames: int = 400) -> SourceLibrary:
    """Analyse every still and every ``video_step``-th clip frame (faces only) into a library."""
    media, frames = [], []
    for path in media_paths:
        kind = "video" if is_video(path) else "still"
        media.append({"path": os.path.abspath(path), "sha256": sha256_file(path), "kind": kind})
        index = len(media) - 1
        if kind == "still":
            found = _analyse_image(_read_still(path), detector, landmarker, recognizer)
            if found is None:
                raise FaceplateError(f"{path}: no face found in the source still; pass a photo with one clear face")
            frames.append(LibraryFrame(index, None, *found))
            continue
        n_before = len(frames)
        for i, rgb in enumerate(_video_frames(path)):
            if i % max(video_step, 1) or (i // max(video_step, 1)) >= max_video_frames:
                continue
            found = _analyse_image(rgb, detector, landmarker, recognizer)
            if found is not None:
                frames.append(LibraryFrame(index, i, *found))
        if len(frames) == n_before:
            raise FaceplateError(f"{path}: no face found in the source clip; pass footage of the source actor")
    models = {role: {"name": str(getattr(m, "name", type(m).__name__)), "sha256": str(getattr(m, "sha256", ""))}
              for role, m in (("detector", detector), ("landmarker", landmarker), ("recognizer", recognizer))
              if m is not None}
    return SourceLibrary(media, frames, models)


def from_image(rgb01: np.ndarray, landmarks68: np.ndarray, path: str = "", sha256: str = "") -> SourceLibrary:
    """A one-frame in-memory library (the classic single --source photo)."""
    lm = np.asarray(landmarks68, np.float64).reshape(68, 2)
    lib = SourceLibrary([{"path": path, "sha256": sha256, "kind": "still"}],
                        [LibraryFrame(0, None, lm, measure(lm, rgb01))])
    lib._images[0] = np.asarray(rgb01, np.float32)
    return lib


# ------------------------------------------------------------------------------ file

def to_dict(lib: SourceLibrary) -> dict:
    return {
        "format": FORMAT, "sha256": lib.sha256, "models": lib.models, "media": lib.media,
        "frames": [{"media": f.media, "frame": f.frame, "landmarks": np.round(f.landmarks, 3).tolist(),
                    "expression": f.expression.to_dict(),
                    "embedding": None if f.embedding is None else [float(v) for v in f.embedding]}
                   for f in lib.frames]}


def save(lib: SourceLibrary, path: str) -> None:
    atomic_write_text(path, json.dumps(to_dict(lib), indent=1) + "\n")


def load(path: str, check_media: bool = True) -> SourceLibrary:
    """Read a source file; FaceplateError naming the file and field when it is not one, or when a
    media file has changed since (its sha256 differs)."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise FaceplateError(f"{path}: cannot read the source file ({exc}); delete it and re-run with --source media")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise FaceplateError(f"{path}: format is {data.get('format') if isinstance(data, dict) else None!r}, "
                             f"expected {FORMAT!r}; re-create it from the media")
    try:
        frames = [LibraryFrame(int(f["media"]), None if f["frame"] is None else int(f["frame"]),
                               np.asarray(f["landmarks"], np.float64).reshape(68, 2),
                               Expression.from_dict(f["expression"]),
                               None if f.get("embedding") is None else np.asarray(f["embedding"], np.float32))
                  for f in data["frames"]]
        lib = SourceLibrary(list(data["media"]), frames, dict(data.get("models") or {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise FaceplateError(f"{path}: a frame entry is malformed ({exc}); delete the file and re-run")
    if check_media:
        for m in lib.media:
            if not os.path.isfile(m["path"]) or sha256_file(m["path"]) != m["sha256"]:
                raise FaceplateError(f"{path}: media {m['path']} is missing or changed since the source file was "
                                     f"made; restore it or re-run with --source on the new media")
    return lib


def cache_dir() -> str:
    return os.environ.get("FACEPLATE_SOURCE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "faceplate",
                                                                     "sources")


def load_or_build(specs: Sequence[str], detector_fn: Callable[[], Any], landmarker_fn: Callable[[], Any],
                  recognizer_fn: Optional[Callable[[], Any]] = None, folder: Optional[str] = None,
                  video_step: int = 2) -> tuple[SourceLibrary, str]:
    """The library for ``--source`` values and the path of its source file.

    One ``*.source.json`` value is read as is; otherwise the media are hashed and the cached file
    for them (``folder``/<key>.source.json) is reused or made. Models load only when analysing.
    """
    if len(specs) == 1 and specs[0].endswith(".source.json"):
        return load(specs[0]), specs[0]
    paths = expand_sources(specs)
    key = hashlib.sha256(f"{FORMAT}|step={video_step}|{LANDMARK_REFINEMENT}|".encode())
    for p in paths:
        key.update(sha256_file(p).encode())
    folder = folder or cache_dir()
    path = os.path.join(folder, key.hexdigest()[:32] + ".source.json")
    if os.path.isfile(path):
        try:
            cached = load(path)
            # a cache written before the smile and mouth width were measured would silently switch
            # the mouth rules off
            if all(math.isfinite(f.expression.smile) and math.isfinite(f.expression.mouth_width)
                   for f in cached.frames):
                return cached, path
            log.info("%s: cached before the mouth's smile and width were measured; analysing the source again",
                     path)
        except FaceplateError as exc:
            log.warning("%s; analysing the source again", exc)
    lib = build_library(paths, detector_fn(), landmarker_fn(), recognizer_fn() if recognizer_fn else None,
                        video_step=video_step)
    save(lib, path)
    log.info("source library: %d frame(s) from %d file(s) written to %s", len(lib.frames), len(paths), path)
    # the library as the file holds it (its numbers rounded): the first analyze must choose exactly
    # what every later one, reading the cache, chooses
    return load(path, check_media=False), path

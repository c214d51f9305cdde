"""Render: plate frame f + track entries at f + source identity + engine -> composited EXR and face patch.

Farm-safe by construction: a frame's output depends only on (plate f, track entries at f,
settings, model sha256, source hash, code version). Nothing is carried from one frame to the next
(grain seeds derive from the frame number and track id), so any chunking of the range gives
byte-identical files. Reading (PlateSequence read-ahead thread), compute (this thread) and
writing (a writer thread) overlap through bounded queues, so memory stays flat on long shots.
"""
from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import cv2
import numpy as np

from faceplate.core import __version__
from faceplate.core import composite as comp
from faceplate.core import mask as masks
from faceplate.core.errors import FaceplateError, PlateError, TrackFileError
from faceplate.core.swap import ClassicalSwapper, SourceFace

log = logging.getLogger("faceplate.render")


@dataclass
class RenderSettings:
    model: Optional[str] = None              # None -> classical engine
    mask: str = "hull"                       # hull | aligned | parser
    erode: float = 0.0                       # face-size units (negative grows)
    feather: float = 0.08                    # face-size units
    forehead: float = 0.3                    # brow lift, fraction of brow-to-chin height
    regions: tuple[str, ...] = masks.DEFAULT_REGIONS
    parser: Optional[str] = None             # parser model for --mask parser
    colour_match: bool = True
    regrain: bool = True
    targets: Optional[list[int]] = None      # track ids; None = every track
    resume: bool = False
    colourspace: Optional[str] = None        # plate colourspace (None: the track file's, else scene_linear)
    ocio_config: Optional[str] = None
    queue_depth: int = 2                     # frames buffered between compute and writer

    def digest(self, extra: str = "") -> str:
        """Hash of the settings that change pixels (stored in the header; --resume compares it).

        File paths (model, parser, OCIO config) are left out: they differ between farm machines
        while the files' hashes (provenance, ``extra``) are what matter for the pixels.
        """
        skip = ("resume", "queue_depth", "targets", "model", "parser", "ocio_config")
        keep = {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}
        keep["targets"] = sorted(self.targets) if self.targets else None
        keep["extra"] = extra
        return hashlib.sha256(json.dumps(keep, sort_keys=True, default=list).encode()).hexdigest()


@dataclass
class RenderReport:
    written: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    faces: dict[int, int] = field(default_factory=dict)      # frame -> faces swapped
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # read / compute / write seconds


# ------------------------------------------------------------------------------ per-frame work

def _roi(points: np.ndarray, margin: float, window: Any) -> tuple[int, int, int, int]:
    """Inclusive-exclusive ROI (x0, y0, x1, y1) around points, clipped to the data window."""
    lo = np.floor(points.min(axis=0) - margin).astype(int)
    hi = np.ceil(points.max(axis=0) + margin).astype(int) + 1
    x0, y0 = max(lo[0], window.xmin), max(lo[1], window.ymin)
    x1, y1 = min(hi[0], window.xmax + 1), min(hi[1], window.ymax + 1)
    return int(x0), int(y0), int(x1), int(y1)


class FrameRenderer:
    """Everything needed to turn one plate frame into face layers; holds no per-frame state."""

    def __init__(self, engine: Any, colour: Any, settings: RenderSettings, latent: Optional[np.ndarray] = None,
                 parser: Any = None):
        self.engine, self.colour, self.settings, self.latent, self.parser = engine, colour, settings, latent, parser

    def face_matte(self, crop: np.ndarray, landmarks: np.ndarray, points5: np.ndarray) -> np.ndarray:
        s = self.settings
        shape = crop.shape[:2]
        if s.mask == "hull":
            return masks.hull_mask(landmarks, shape, (0, 0), s.forehead, s.erode, s.feather)
        if s.mask == "aligned":
            return masks.aligned_mask(points5, shape, (0, 0), s.erode, s.feather, size=masks.face_size(landmarks))
        if s.mask == "parser":
            if self.parser is None:
                raise FaceplateError("--mask parser needs a face parser model: pass --parser bisenet.onnx")
            return masks.parser_mask(self.parser, self.colour.to_uint8(crop), landmarks, s.regions, (0, 0),
                                     s.erode, s.feather)
        raise FaceplateError(f"unknown --mask {s.mask!r}; choose hull, aligned or parser")

    def layers(self, frame: Any, faces: Sequence[tuple[int, Any]]) -> list[comp.FaceLayer]:
        """One FaceLayer per (track id, FaceEntry) of this frame."""
        out = []
        for track_id, entry in faces:
            layer = self.face(frame, track_id, entry)
            if layer is not None:
                out.append(layer)
        return out

    def face(self, frame: Any, track_id: int, entry: Any) -> Optional[comp.FaceLayer]:
        s = self.settings
        lm = np.asarray(entry.landmarks, np.float64)
        p5 = np.asarray(entry.points5, np.float64)
        size = masks.face_size(lm)
        outline = masks.face_outline(lm, s.forehead)
        # Room for the neural crop (about 1.6 face sizes wide) and the feather.
        margin = size * (0.6 + max(s.feather, 0.0) + max(-s.erode, 0.0))
        dw = frame.data_window
        x0, y0, x1, y1 = _roi(np.vstack([outline, p5]), margin, dw)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        rows = slice(y0 - dw.ymin, y1 - dw.ymin)
        cols = slice(x0 - dw.xmin, x1 - dw.xmin)
        crop = np.ascontiguousarray(frame.pixels[rows, cols][..., list(frame.rgb)], dtype=np.float32)
        h, w = crop.shape[:2]
        # Desqueeze to square pixels (anamorphic plates), swap there, squeeze back after.
        aspect = float(frame.pixel_aspect or 1.0)
        sx = 1.0
        if abs(aspect - 1.0) > 1e-6:
            wq = max(int(round(w * aspect)), 1)
            sx = wq / w
            work = cv2.resize(crop, (wq, h), interpolation=cv2.INTER_LINEAR)
        else:
            work = crop
        to_work = np.array([sx, 1.0])

        def local(p: np.ndarray) -> np.ndarray:
            q = p - np.array([x0, y0], np.float64)
            return (q + 0.5) * to_work - 0.5

        lm_w, p5_w = local(lm), local(p5)
        face_matte = self.face_matte(work, lm_w, p5_w)
        result = self.engine.swap(work, lm_w, p5_w, colour=self.colour, latent=self.latent,
                                  face_matte=face_matte, colour_match_on=s.colour_match)
        matte = face_matte * result.coverage
        delta = result.delta
        if sx != 1.0:
            delta = cv2.resize(delta, (w, h), interpolation=cv2.INTER_AREA)
            matte = cv2.resize(matte, (w, h), interpolation=cv2.INTER_AREA)
        if s.regrain:
            # measured and drawn in stored pixels: grain drawn desqueezed was halved by the squeeze
            # (area average) on a 2:1 anamorphic plate
            delta = delta + comp.regrain_delta(crop, crop + delta, matte, int(frame.frame or 0), track_id)
        matte = np.clip(matte, 0.0, 1.0).astype(np.float32)
        matte[matte < masks.MATTE_FLOOR] = 0.0
        if not (matte > 0).any():
            return None
        return comp.FaceLayer(x0, y0, delta.astype(np.float32), matte, track_id)


# ------------------------------------------------------------------------------ validation

def check_track_matches_plate(track_file: Any, plate: Any, frames: Sequence[int], track_name: str) -> None:
    """TrackFileError when the track file was made from another plate (geometry, range, fingerprint)."""
    from faceplate.core.plate_io import frame_fingerprint

    info = track_file.plate
    first_frame = plate.read(frames[0])
    dw, disp = first_frame.data_window, first_frame.display_window
    problems = []
    if (disp.width, disp.height) != (info.width, info.height):
        problems.append(f"resolution {disp.width}x{disp.height} vs {info.width}x{info.height}")
    # Data windows may vary per frame (CG auto-bbox): compare the one the track file recorded.
    if frames[0] == info.first and tuple(dw.as_list()) != tuple(info.data_window):
        problems.append(f"data window {dw.as_list()} vs {list(info.data_window)}")
    if abs(float(first_frame.pixel_aspect) - float(info.pixel_aspect)) > 1e-6:
        problems.append(f"pixel aspect {first_frame.pixel_aspect} vs {info.pixel_aspect}")
    outside = [f for f in frames if f < info.first or f > info.last]
    if outside:
        problems.append(f"frame {outside[0]} outside the analysed range {info.first}-{info.last}")
    if not problems and info.fingerprint:
        ref = plate.path(info.first)
        if os.path.exists(ref):
            from faceplate.core.plate_io import read_image
            if frame_fingerprint(read_image(ref, layer=plate.layer)) != info.fingerprint:
                problems.append(f"frame {info.first} fingerprint differs (different file structure or size)")
    if problems:
        raise TrackFileError(f"{track_name} was made from another plate ({problems[0]}); "
                             f"re-run `faceplate analyze` on this plate")


# ------------------------------------------------------------------------------ resume

def _header(path: str) -> Optional[dict]:
    """Header attributes of an existing output, or None if it is not a readable EXR."""
    import OpenImageIO as oiio

    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        return None
    inp = oiio.ImageInput.open(path)
    if inp is None:
        oiio.geterror()
        return None
    try:
        spec = inp.spec()
        attrs = {a.name: a.value for a in spec.extra_attribs}
        attrs["__size__"] = (spec.width, spec.height, spec.nchannels)
        return attrs
    finally:
        inp.close()


def output_complete(path: Optional[str], expected: dict) -> bool:
    """True when ``path`` is a readable EXR carrying exactly the ``expected`` provenance attributes."""
    if path is None:
        return True
    attrs = _header(path)
    if attrs is None:
        return False
    return all(str(attrs.get(k)) == str(v) for k, v in expected.items())


def _remove_stale_temps(final: str) -> None:
    """Delete temp files a killed writer of this exact frame left behind (atomic_path's naming)."""
    folder, name = os.path.split(os.path.abspath(final))
    stem, suffix = os.path.splitext(name)
    for tmp in glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(stem)}.*.tmp{suffix}")):
        try:
            os.remove(tmp)
        except FileNotFoundError:
            pass


# ------------------------------------------------------------------------------ main loop

class _Writer:
    """Writes frames in a background thread; a bounded queue keeps memory flat."""

    def __init__(self, depth: int):
        self.queue: "queue.Queue[Any]" = queue.Queue(maxsize=max(1, depth))
        self.error: Optional[BaseException] = None
        self.seconds = 0.0
        self.thread = threading.Thread(target=self._run, name="faceplate-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        from faceplate.core.plate_io import write_exr

        while True:
            job = self.queue.get()
            if job is None:
                return
            if self.error is not None:
                continue
            try:
                t0 = time.perf_counter()
                for path, frame, extra in job:
                    write_exr(path, frame, extra)
                self.seconds += time.perf_counter() - t0
            except BaseException as exc:  # surfaced in the main thread
                self.error = exc

    def put(self, job: list) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(job)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error


def faces_at(track_file: Any, frame: int, targets: Optional[Sequence[int]]) -> list[tuple[int, Any]]:
    """(track id, smoothed FaceEntry) of the chosen tracks present at ``frame``, in id order."""
    out = []
    for t in sorted(track_file.tracks, key=lambda t: t.id):
        if targets is not None and t.id not in targets:
            continue
        entry = t.entries.get(int(frame))
        if entry is not None:
            out.append((t.id, entry))
    return out


def render(plate: Any, track_file: Any, source_identity: SourceFace, settings: RenderSettings,
           frames: Sequence[int], out_pattern: Optional[str], patch_pattern: Optional[str] = None,
           engine: Any = None, colour: Any = None, track_sha256: str = "", parser: Any = None,
           on_frame: Optional[Callable[[int, Any, Any, list], None]] = None, progress: bool = True) -> RenderReport:
    """Render ``frames`` of ``plate`` to ``out_pattern`` and/or ``patch_pattern`` (``####`` patterns).

    ``engine`` defaults to the classical engine on ``source_identity``; ``colour`` to the plate's
    colourspace in $OCIO / the builtin config. ``on_frame(frame, plate_frame, out_frame, layers)``
    is called after each rendered frame (contact sheets, benchmarks).
    """
    from faceplate.core.plate_io import sequence_path

    if not out_pattern and not patch_pattern:
        raise FaceplateError("nothing to write: pass --out out.####.exr and/or --patch patch.####.exr")
    for pattern in (out_pattern, patch_pattern):
        # A name without #### would give every frame the same file, each overwriting the last.
        if pattern and len(set(frames)) > 1 and sequence_path(pattern, frames[0]) == sequence_path(pattern, frames[-1]):
            raise FaceplateError(f"{pattern}: has no frame number placeholder but {len(set(frames))} frames are "
                                 f"rendered; use a pattern such as out.####.exr")
    t_start = time.perf_counter()
    if colour is None:
        from faceplate.core.colour import ColourPipeline
        colour = ColourPipeline(settings.colourspace or getattr(track_file.plate, "colourspace", None),
                                settings.ocio_config)
    if engine is None:
        engine = ClassicalSwapper(source_identity)
    latent = engine.latent(source_identity.embedding) if getattr(engine, "needs_embedding", False) else None
    known = {t.id for t in track_file.tracks}
    if settings.targets is not None:
        missing = [t for t in settings.targets if t not in known]
        if missing:
            raise FaceplateError(f"--targets: track {missing[0]} is not in the track file (tracks: "
                                 f"{', '.join(str(k) for k in sorted(known)) or 'none'})")
    renderer = FrameRenderer(engine, colour, settings, latent, parser)
    extra = comp.provenance(__version__, engine.name, engine.sha256, source_identity.sha256, track_sha256)
    # the plate layer decides which RGB is swapped: part of the pixels' settings (unset: as before)
    layer = getattr(plate, "layer", None)
    extra["faceplate/settings_sha256"] = settings.digest((getattr(parser, "sha256", "") if parser else "")
                                                         + (f"|layer={layer}" if layer else ""))
    report = RenderReport()

    todo = []
    for f in frames:
        out_path = sequence_path(out_pattern, f) if out_pattern else None
        patch_path = sequence_path(patch_pattern, f) if patch_pattern else None
        if settings.resume and output_complete(out_path, extra) and output_complete(patch_path, extra):
            report.skipped.append(f)
            continue
        for p in (out_path, patch_path):
            if p:
                _remove_stale_temps(p)
        todo.append((f, out_path, patch_path))
    if report.skipped:
        log.info("resume: %d frame(s) already complete, %d to render", len(report.skipped), len(todo))

    for f, out_path, patch_path in todo:  # writing over the plate being read would destroy it
        for p in (out_path, patch_path):
            if p and os.path.exists(p) and os.path.samefile(p, plate.path(f)):
                raise FaceplateError(f"{p}: is the plate frame itself; write --out/--patch to another path")
    for f, _, _ in todo:  # fail before writing anything, naming the first missing frame
        if not os.path.exists(plate.path(f)):
            raise PlateError(f"plate frame {f} missing: {plate.path(f)}; render/copy it or choose --frames "
                             f"that exclude it")
    writer = _Writer(settings.queue_depth)
    compute = 0.0
    read_wait = 0.0
    frames_iter: Any = iter(())
    try:
        from tqdm import tqdm
        frames_iter = plate.iter_frames([f for f, _, _ in todo]) if todo else iter(())
        bar = tqdm(total=len(todo), disable=None if progress else True, unit="frame", desc="render")
        for (f, out_path, patch_path) in todo:
            t0 = time.perf_counter()
            frame = next(frames_iter)
            t1 = time.perf_counter()
            read_wait += t1 - t0
            layers = renderer.layers(frame, faces_at(track_file, f, settings.targets))
            dw = frame.data_window
            acc = comp.accumulate(frame.pixels.shape[:2], (dw.xmin, dw.ymin), layers)
            job = []
            out_frame = None
            if out_path:
                out_frame = comp.composite(frame, layers, accumulated=acc)
                job.append((out_path, out_frame, extra))
            if patch_path:
                job.append((patch_path, comp.patch(frame, layers, accumulated=acc), extra))
            compute += time.perf_counter() - t1
            if on_frame is not None:
                on_frame(f, frame, out_frame, layers)
            writer.put(job)
            report.written.append(f)
            report.faces[f] = len(layers)
            bar.update(1)
            if bar.disable and len(report.written) % 25 == 0:
                log.info("rendered %d/%d frames", len(report.written), len(todo))
        bar.close()
    finally:
        # Stop the plate read-ahead thread now, not when a held traceback is garbage-collected
        # (a failed render inside Nuke would otherwise leave it spinning).
        getattr(frames_iter, "close", lambda: None)()
        writer.close()
    report.seconds = time.perf_counter() - t_start
    report.timings = {"read_wait": read_wait, "compute": compute, "write": writer.seconds}
    return report


# ------------------------------------------------------------------------------ source identity

def _largest(dets: list, path: str) -> Any:
    if not dets:
        raise FaceplateError(f"{path}: no face found in the source image; pass a photo with one clear, "
                             f"frontal face")
    if len(dets) > 1:
        log.warning("%s: %d faces found; using the largest", path, len(dets))
    return max(dets, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))


def load_source_identity(images: Sequence[str], embedding_path: Optional[str] = None, colour: Any = None,
                         detector: Any = None, landmarker: Any = None, recognizer: Any = None,
                         outlier_cosine: Optional[float] = None) -> SourceFace:
    """The source identity from photos (and/or a saved embedding .npy).

    Each photo: detect (largest face, warning if several), 68 landmarks, embedding. Embeddings
    are averaged after dropping photos far from the others (warning); the photo closest to the
    mean is the one the classical engine warps. A saved embedding replaces the photos' mean.
    """
    from faceplate.core import models
    from faceplate.core.detect import detect_faces
    from faceplate.core.filesystem import sha256_file
    from faceplate.core.plate_io import read_image

    if not images and not embedding_path:
        raise FaceplateError("no source identity: pass --source actor.jpg (repeatable) or --source-embedding e.npy")
    digest = hashlib.sha256()
    faces = []
    if images:
        detector = detector or models.load_detector()
        landmarker = landmarker or models.load_landmarker()
        for path in images:
            if not os.path.isfile(path):
                raise FaceplateError(f"{path}: source image not found; check the path")
            digest.update(sha256_file(path).encode())
            img = read_image(path)
            if os.path.splitext(path)[1].lower() in (".exr", ".hdr"):  # scene-linear: encode for the models
                if colour is None:
                    from faceplate.core.colour import ColourPipeline
                    colour = ColourPipeline()
                rgb01 = colour.to_model(img.rgb_pixels())
            else:  # photos are display-referred sRGB
                rgb01 = np.clip(np.nan_to_num(img.rgb_pixels()), 0.0, 1.0)
            rgb8 = np.rint(rgb01 * 255.0).astype(np.uint8)
            det = _largest(detect_faces(detector, rgb8, min_face=32), path)
            lm = np.asarray(landmarker.landmarks(rgb8, det), np.float64)
            emb = None
            if recognizer is not None:
                emb = np.asarray(recognizer.embed(rgb8, np.asarray(det.points5, np.float64)), np.float32)
            faces.append((path, rgb01, lm, emb))
    embedding = None
    chosen = faces[0] if faces else None
    embs = [f[3] for f in faces if f[3] is not None]
    if len(embs) == len(faces) and embs:
        e = np.stack(embs).astype(np.float64)
        mean = e.mean(axis=0)
        mean /= max(np.linalg.norm(mean), 1e-12)
        from faceplate.core.identity import threshold_for

        limit = threshold_for(recognizer) if outlier_cosine is None else outlier_cosine
        keep = list(range(len(faces)))
        if len(faces) > 2:  # with two photos there is no majority to call one an outlier
            others = [(e.sum(axis=0) - e[i]) for i in range(len(faces))]
            keep = [i for i in range(len(faces))
                    if float(e[i] @ others[i]) / max(np.linalg.norm(others[i]), 1e-12) >= limit]
        dropped = [faces[i][0] for i in range(len(faces)) if i not in keep]
        if dropped:
            log.warning("source photos dropped as a different identity than the rest: %s", ", ".join(dropped))
            keep = keep or list(range(len(faces)))
            mean = e[keep].mean(axis=0)
            mean /= max(np.linalg.norm(mean), 1e-12)
        embedding = mean.astype(np.float32)
        chosen = faces[max(keep, key=lambda i: float(e[i] @ mean))]
    if embedding_path:
        if not os.path.isfile(embedding_path):
            raise FaceplateError(f"{embedding_path}: source embedding not found; check the path")
        try:
            loaded = np.load(embedding_path, allow_pickle=False)
        except Exception:
            raise FaceplateError(f"{embedding_path}: not a numpy .npy embedding; save it with numpy.save") from None
        loaded = np.asarray(loaded, np.float64).reshape(-1)
        if loaded.size < 64 or not np.all(np.isfinite(loaded)) or np.linalg.norm(loaded) == 0:
            raise FaceplateError(f"{embedding_path}: expected a 1-D identity embedding (e.g. 512 floats), got "
                                 f"{loaded.size} values")
        embedding = (loaded / np.linalg.norm(loaded)).astype(np.float32)
        digest.update(sha256_file(embedding_path).encode())
    source = SourceFace(embedding=embedding, sha256=digest.hexdigest(), images=[f[0] for f in faces])
    if chosen is not None:
        if colour is None:
            from faceplate.core.colour import ColourPipeline
            colour = ColourPipeline()
        source.image_linear = colour.to_linear(chosen[1])  # photos are display-referred sRGB
        source.landmarks = chosen[2]
    return source

"""Dataset builder: film footage → aligned, filtered face crops + a manifest (docs/DATASET.md).

Pipeline: a decode thread reads frames (PyAV for video, OpenImageIO + OCIO for EXR sequences,
OpenCV for image folders) and samples them; worker processes detect, landmark, align, measure and
encode each sampled frame; the main process drops near-duplicates, writes PNGs atomically and
appends the manifest in frame order, so an interrupted run resumes exactly where it stopped and
gives the same dataset. No torch here: numpy/OpenCV/dlib/onnxruntime through faceplate.core.

Layout of DATASET/:
    manifest.jsonl                    one row per kept and per rejected face
    dataset.json                      settings, models, per-input state (for resume)
    <group>/unsorted/<id>.png         kept faces (before `cluster`)
"""
from __future__ import annotations

import collections
import concurrent.futures as cf
import dataclasses
import json
import logging
import math
import os
import queue
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import cv2
import numpy as np
from faceplate.core.errors import FaceplateError
from faceplate.core.filesystem import atomic_write_bytes

from .dataset_filters import FilterSettings, Measurements, is_duplicate, judge, measure, to_uint8
from .dataset_manifest import FORMAT, MANIFEST, STATE, _repair_manifest, read_manifest, read_state, write_state
from .dataset_sources import Source, _Sampler, discover, frame_total, iter_frames, video_fps

log = logging.getLogger("faceplate.dataset")

SIZES = (1024, 512, 256, 224)
DEDUPE_WINDOW = 64  # near-duplicates are temporally local: compare with the last N kept faces


@dataclass
class BuildSettings:
    """Everything that decides the dataset's content (stored in dataset.json)."""

    size: int = 1024                     # crop side: 1024 | 512 | 256 | 224
    every: Optional[int] = None          # sample every N frames
    per_second: Optional[float] = None   # or N frames per second of video
    shot_change: bool = False            # (also) sample the first frame of each shot
    min_face: float = 40.0               # minimum original face size (box side, pixels)
    bit_depth: int = 8                   # 8 | 16 bit PNG
    detector: Optional[str] = None       # registry name or file; None = embedded default
    landmarker: Optional[str] = None
    recognizer: Optional[str] = None
    colourspace: Optional[str] = None    # plate colourspace of EXR/DPX inputs (None = scene_linear)
    layer: Optional[str] = None
    filters: FilterSettings = field(default_factory=FilterSettings)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["filters"] = self.filters.to_dict()
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "BuildSettings":
        d = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        d["filters"] = FilterSettings.from_dict(d.get("filters") or {})
        return cls(**d)

    def validate(self) -> None:
        if self.size not in SIZES:
            raise FaceplateError(f"--size {self.size} is not supported; use one of {', '.join(map(str, SIZES))}")
        if self.bit_depth not in (8, 16):
            raise FaceplateError(f"--bit-depth {self.bit_depth} is not supported; use 8 or 16")
        if self.every is not None and self.every < 1:
            raise FaceplateError("--every must be >= 1")
        if self.per_second is not None and self.per_second <= 0:
            raise FaceplateError("--per-second must be > 0")


@dataclass
class BuildResult:
    out_dir: str
    inputs: dict[str, dict]
    faces: int
    kept: int
    rejected: dict[str, int]
    skipped: list[str]
    cancelled: bool = False


# ------------------------------------------------------------------------------------- inputs


# ------------------------------------------------------------------------------------- decoding


# ------------------------------------------------------------------------------------- analysis

_MODELS: dict[str, Any] = {}


def load_models(settings: BuildSettings) -> dict[str, Any]:
    """Detector, landmarker, recognizer from faceplate.core.models (sha256-verified)."""
    from faceplate.core.models.zoo import load_detector, load_landmarker, load_recognizer
    return {
        "detector": load_detector(settings.detector),
        "landmarker": load_landmarker(settings.landmarker),
        "recognizer": load_recognizer(settings.recognizer),
    }


def _watch_parent(parent_pid: int, every: float = 0.5) -> None:
    """Exit this worker once its parent is gone: a SIGKILLed build (no clean shutdown) must not
    leave its workers running, each holding a set of models (~290 MB)."""
    while os.getppid() == parent_pid:
        time.sleep(every)
    os._exit(1)


def _init_worker(settings_dict: dict, parent_pid: Optional[int] = None) -> None:
    if parent_pid is not None:
        threading.Thread(target=_watch_parent, args=(parent_pid,), name="faceplate-parent-watch",
                         daemon=True).start()
    # One set of models per worker process, loaded once; ONNX Runtime and OpenCV get one thread
    # each so N workers use N cores without oversubscription.
    cv2.setNumThreads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _MODELS.clear()
    _MODELS.update(load_models(BuildSettings.from_dict(settings_dict)))


def align_crop(image: np.ndarray, transform: np.ndarray, size: int) -> np.ndarray:
    """Warp ``image`` into the size² crop: area-average first when shrinking, then Lanczos.

    A plain warp with Lanczos aliases when a 4K face shrinks to 1024, so the region is first
    reduced with INTER_AREA to the crop's scale and the remaining warp is ~1:1.
    """
    from faceplate.core.geometry import align
    m = np.asarray(transform, dtype=np.float64)
    s = align.scale_of(m)
    if s < 0.9:
        h, w = image.shape[:2]
        corners = np.array([[-0.5, -0.5], [size - 0.5, -0.5], [-0.5, size - 0.5], [size - 0.5, size - 0.5]])
        src = align.transform_points(corners, align.invert(m))
        pad = 4.0 / s
        x0 = int(max(0, math.floor(src[:, 0].min() - pad)))
        y0 = int(max(0, math.floor(src[:, 1].min() - pad)))
        x1 = int(min(w, math.ceil(src[:, 0].max() + pad)))
        y1 = int(min(h, math.ceil(src[:, 1].max() + pad)))
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            sub = image[y0:y1, x0:x1]
            rw, rh = max(1, int(round((x1 - x0) * s))), max(1, int(round((y1 - y0) * s)))
            reduced = cv2.resize(sub, (rw, rh), interpolation=cv2.INTER_AREA)
            sx, sy = (x1 - x0) / rw, (y1 - y0) / rh
            # reduced pixel r ↔ source p = (r + 0.5)·(sub/reduced) − 0.5 + offset (pixel centres)
            back = np.array([[sx, 0.0, 0.5 * sx - 0.5 + x0], [0.0, sy, 0.5 * sy - 0.5 + y0]])
            m = align.compose(m, back)
            image = reduced
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REPLICATE)


def encode_png(crop: np.ndarray, bit_depth: int) -> bytes:
    if bit_depth == 16:
        data = crop.astype(np.float32) / 255.0 if crop.dtype == np.uint8 else crop
        out = np.rint(np.clip(data, 0.0, 1.0) * 65535.0).astype(np.uint16)
    else:
        out = to_uint8(crop)
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(out[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise FaceplateError("PNG encoding failed")
    return buf.tobytes()


def analyse_frame(image: np.ndarray, settings: BuildSettings, models: Optional[dict] = None) -> list[dict]:
    """Detect, landmark, align, measure, embed and encode every face of one frame.

    Returns one dict per face, in a deterministic order (left to right, top to bottom): manifest
    fields plus ``png`` (bytes, kept faces only) and ``embedding`` (kept candidates only).
    """
    from faceplate.core.analyze.pyramid import detect_faces
    from faceplate.core.geometry import align
    if not models:
        if not _MODELS:  # called directly (not from a worker): load once per process
            _MODELS.update(load_models(settings))
        models = _MODELS
    img8 = to_uint8(image)
    h, w = img8.shape[:2]
    detections = detect_faces(models["detector"], img8, min_face=max(8.0, settings.min_face * 0.75))
    detections = sorted(detections, key=lambda d: (round(float(d.box[0]), 1), round(float(d.box[1]), 1)))
    faces = []
    for det in detections:
        lm = np.asarray(models["landmarker"].landmarks(img8, det), dtype=np.float64)
        m = align.ffhq_transform(lm, settings.size)
        crop = align_crop(image if settings.bit_depth == 16 else img8, m, settings.size)
        meas: Measurements = measure(crop, lm, det.points5, det.box, m, (w, h), settings.size)
        reason = judge(meas, settings.filters, settings.min_face)
        emb = None
        png = None
        if reason is None:
            emb = np.asarray(models["recognizer"].embed(img8, det.points5), dtype=np.float32)
            png = encode_png(crop, settings.bit_depth)
        faces.append({
            "box": [round(float(v), 2) for v in det.box],
            "landmarks": np.round(lm, 2).tolist(),
            "points5": np.round(det.points5, 2).tolist(),
            "score": round(float(det.score), 4),
            "face_size": round(meas.face_size, 2),
            "face_fraction": round(meas.face_fraction, 4),
            "sharpness": round(meas.sharpness, 3),
            "yaw": round(meas.yaw, 2), "pitch": round(meas.pitch, 2), "roll": round(meas.roll, 2),
            "eye_tilt": round(meas.eye_tilt, 2),
            "occlusion": round(meas.occlusion, 4),
            "incomplete": round(meas.incomplete, 4),
            "phash": f"{meas.phash:016x}",
            "transform": np.round(m, 6).tolist(),
            "reason": reason,
            "embedding": None if emb is None else [round(float(v), 6) for v in emb],
            "png": png,
        })
    return faces


def _worker_task(image: np.ndarray, settings_dict: dict) -> list[dict]:
    return analyse_frame(image, BuildSettings.from_dict(settings_dict))


# ------------------------------------------------------------------------------------- state


def _prepare_output(out_dir: Path, settings: BuildSettings, resume: bool, force: bool) -> tuple[dict, list[dict]]:
    """New, continued or refused: see docs/DATASET.md "Re-running"."""
    state = read_state(out_dir) if out_dir.exists() else None
    fresh = {"format": FORMAT, "settings": settings.to_dict(), "size": settings.size, "inputs": {}, "models": {}}
    if state is None:
        if out_dir.exists() and any(out_dir.iterdir()) and not force:
            raise FaceplateError(f"{out_dir} is not empty and holds no faceplate dataset; choose an empty folder or pass --force")
        out_dir.mkdir(parents=True, exist_ok=True)
        return fresh, []
    if force:
        for group in state.get("inputs", {}):
            shutil.rmtree(out_dir / group, ignore_errors=True)
        for name in (MANIFEST, STATE):
            (out_dir / name).unlink(missing_ok=True)
        shutil.rmtree(out_dir / "packs", ignore_errors=True)
        shutil.rmtree(out_dir / "report", ignore_errors=True)
        return fresh, []
    same = state.get("settings") == settings.to_dict()
    if not same and not resume:
        raise FaceplateError(f"{out_dir} already holds a dataset built with other settings; pass --resume to continue it "
                             f"or --force to replace it")
    if state.get("size") != settings.size or state["settings"].get("bit_depth") != settings.bit_depth:
        raise FaceplateError(f"{out_dir} holds {state.get('size')}² crops at {state['settings'].get('bit_depth')} bit; "
                             f"resume with the same --size/--bit-depth or use --force")
    state["settings"] = settings.to_dict()
    return state, _repair_manifest(out_dir, state)


# ------------------------------------------------------------------------------------- build

def build(inputs: Sequence[str], out_dir: str | os.PathLike, settings: Optional[BuildSettings] = None, *,
          workers: Optional[int] = None, resume: bool = False, force: bool = False,
          progress: Optional[Callable[[dict], None]] = None, cancel: Optional[threading.Event] = None,
          show_progress: bool = True) -> BuildResult:
    """Build (or continue) a dataset from ``inputs`` into ``out_dir``.

    workers: worker processes for detection (None = all cores, 0 = in this process).
    progress: called with dicts {"group", "frame", "sampled", "faces", "kept", "message"}.
    cancel: set it to stop after the frames in flight; the state is saved and --resume continues.
    """
    settings = settings or BuildSettings()
    settings.validate()
    from faceplate.core.io.outputs import check_outputs
    check_outputs({"-o": os.fspath(out_dir)}, {"INPUT": [os.fspath(i) for i in inputs]}, folders=("-o",))
    out = Path(out_dir).resolve()
    sources = discover(inputs)
    state, rows = _prepare_output(out, settings, resume, force)
    write_state(out, state)  # first: a run killed at once still leaves a dataset it can resume
    workers = (os.cpu_count() or 1) if workers is None else int(workers)
    emit = progress or (lambda _info: None)
    cancel = cancel or threading.Event()

    kept_by_group: dict[str, collections.deque] = collections.defaultdict(lambda: collections.deque(maxlen=DEDUPE_WINDOW))
    last_frame: dict[str, int] = {}
    for r in rows:
        last_frame[r["group"]] = max(last_frame.get(r["group"], -1), int(r["frame"]))
        if r["kept"]:
            emb = np.asarray(r["embedding"], dtype=np.float32) if r.get("embedding") else None
            kept_by_group[r["group"]].append((int(r["phash"], 16), emb))

    models_info: dict = {}
    local_models: Optional[dict] = None
    pool: Optional[cf.ProcessPoolExecutor] = None
    settings_dict = settings.to_dict()
    skipped: list[str] = []
    try:
        if workers > 0:
            import multiprocessing
            ctx = multiprocessing.get_context("spawn")  # no forked ONNX Runtime / dlib state
            pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                          initargs=(settings_dict, os.getpid()))
        local_models = load_models(settings)  # also verifies the models before any work starts
        models_info = {k: {"name": getattr(v, "name", ""), "sha256": getattr(v, "sha256", "")}
                       for k, v in local_models.items()}
        if pool is not None:
            local_models = None  # the workers hold their own
        state["models"] = models_info
        manifest_handle = open(out / MANIFEST, "a", encoding="utf-8")
        try:
            for source in sources:
                if cancel.is_set():
                    break
                entry = state["inputs"].get(source.group)
                if entry and entry.get("source") == source.path and entry.get("status") == "done":
                    log.info("%s: already finished, skipped", source.group)
                    continue
                # failed / truncated / partial inputs are tried again from where they stopped: a
                # re-copied file then completes, a still-broken one is reported again.
                entry = entry if entry and entry.get("source") == source.path else {
                    "source": source.path, "kind": source.kind, "status": "partial", "next_frame": None,
                    "frames": 0, "sampled": 0, "faces": 0, "kept": 0, "error": None}
                state["inputs"][source.group] = entry
                # The state is checkpointed every few seconds; the manifest is the truth for counts.
                group_rows = [r for r in rows if r["group"] == source.group]
                entry["faces"] = len(group_rows)
                entry["kept"] = sum(1 for r in group_rows if r["kept"])
                resume_after = max(last_frame.get(source.group, -1),
                                   (entry["next_frame"] - 1) if entry.get("next_frame") is not None else -1)
                _run_source(source, settings, settings_dict, out, entry, resume_after, pool, local_models,
                            kept_by_group[source.group], manifest_handle, state, emit, cancel, workers,
                            show_progress)
                if entry["status"] in ("failed", "truncated"):
                    skipped.append(source.path)
                write_state(out, state)
        finally:
            manifest_handle.close()
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        write_state(out, state)
    all_rows = read_manifest(out)
    rejected: dict[str, int] = collections.Counter(r["reason"] for r in all_rows if not r["kept"])
    return BuildResult(str(out), state["inputs"], len(all_rows), sum(1 for r in all_rows if r["kept"]),
                       dict(rejected), skipped, cancel.is_set())


def _run_source(source: Source, settings: BuildSettings, settings_dict: dict, out: Path, entry: dict,
                resume_after: int, pool, local_models, kept: collections.deque, manifest_handle, state: dict,
                emit, cancel: threading.Event, workers: int, show_progress: bool) -> None:
    from faceplate.core.errors import PlateError
    from tqdm import tqdm

    fps = video_fps(source.path) if source.kind == "video" else 24.0
    total = frame_total(source)
    sampler = _Sampler(settings, fps)
    frames_q: queue.Queue = queue.Queue(maxsize=max(4, 2 * max(1, workers)))
    DONE = object()
    decode_error: list[str] = []
    stop_decode = threading.Event()
    counts = {"frames": 0}

    def decode() -> None:
        # Runs in its own thread: FFmpeg/OIIO release the GIL, so decoding overlaps the analysis.
        try:
            for frame, path, tc, image in iter_frames(source, settings):
                if stop_decode.is_set():
                    break
                counts["frames"] += 1
                if not sampler.take(frame, image) or frame <= resume_after:
                    continue  # the sampler still sees every frame: shot changes stay identical on resume
                frames_q.put((frame, path, tc, image, counts["frames"]))
        except PlateError as exc:
            decode_error.append(str(exc))
        except Exception as exc:  # decoder crashes are named, counted and skipped, never fatal
            decode_error.append(f"{source.path}: {type(exc).__name__}: {exc}")
        finally:
            frames_q.put(DONE)

    thread = threading.Thread(target=decode, name=f"decode-{source.group}", daemon=True)
    thread.start()
    inflight: collections.deque = collections.deque()
    bar = tqdm(desc=source.group, unit="sample", disable=None if show_progress else True, leave=False)
    last_save = time.monotonic()
    finished = False
    try:
        while not finished or inflight:
            # Keep the workers busy: up to 2 frames per worker in flight, results handled in order.
            while not finished and len(inflight) < max(1, 2 * max(1, workers)) and not cancel.is_set():
                item = frames_q.get()
                if item is DONE:
                    finished = True
                    break
                frame, path, tc, image, position = item
                if pool is not None:
                    fut = pool.submit(_worker_task, image, settings_dict)
                else:
                    fut = cf.Future()
                    try:
                        fut.set_result(analyse_frame(image, settings, local_models))
                    except Exception as exc:  # surfaced below, like a worker's
                        fut.set_exception(exc)
                inflight.append((frame, path, tc, fut, position))
            if cancel.is_set() and not finished:
                stop_decode.set()
                finished = True
                _drain(frames_q, DONE)
            if not inflight:
                continue
            frame, path, tc, fut, position = inflight.popleft()
            try:
                faces = fut.result()
            except FaceplateError:
                raise
            except Exception as exc:  # a worker crash or a bug: name the frame, keep what is committed
                raise FaceplateError(f"analysing {path} frame {frame} failed ({type(exc).__name__}: {exc}); "
                                     f"finished frames are kept, re-run to continue") from exc
            _commit_frame(source, out, frame, path, tc, faces, kept, settings, manifest_handle, entry)
            entry["next_frame"] = frame + 1
            entry["sampled"] += 1
            bar.update(1)
            emit({"group": source.group, "frame": frame, "sampled": entry["sampled"], "faces": entry["faces"],
                  "kept": entry["kept"], "position": position, "total": total,
                  "message": f"{source.group} frame {frame}: {len(faces)} face(s)"})
            if time.monotonic() - last_save > 2.0:
                write_state(out, state)
                last_save = time.monotonic()
    finally:
        bar.close()
        stop_decode.set()
        _drain(frames_q, DONE)
        thread.join(timeout=30)
    entry["frames"] = max(entry.get("frames", 0), counts["frames"])
    if not decode_error and not cancel.is_set() and source.kind == "video" and 0 < counts["frames"] < total:
        # FFmpeg stops quietly at the end of a cut-off file: the container's frame count tells.
        decode_error.append(f"{source.path}: decoded only {counts['frames']} of {total} frames, the file is "
                            f"truncated; re-copy it (faces from the decoded part are kept)")
    if decode_error:
        entry["status"] = "truncated" if entry["sampled"] else "failed"
        entry["error"] = decode_error[0]
        log.warning("skipped %s: %s", source.path, decode_error[0])
        emit({"group": source.group, "message": f"skipped {source.path}: {decode_error[0]}"})
    elif cancel.is_set():
        entry["status"] = "partial"
    else:
        entry["status"] = "done"
    emit({"group": source.group, "message": f"{source.group}: {entry['status']}, {entry['faces']} face(s), "
                                            f"{entry['kept']} kept"})


def _drain(q: queue.Queue, done) -> None:
    try:
        while True:
            q.get_nowait()
    except queue.Empty:
        pass


def _commit_frame(source: Source, out: Path, frame: int, path: str, tc: str, faces: list[dict],
                  kept: collections.deque, settings: BuildSettings, manifest_handle, entry: dict) -> None:
    """Dedupe, write PNGs (atomic), then append the frame's rows in ONE write (resume unit = frame)."""
    lines = []
    for index, face in enumerate(faces):
        face_id = f"{source.group}_{frame:06d}_{index:02d}"
        reason = face["reason"]
        png = face.pop("png")
        emb = np.asarray(face["embedding"], dtype=np.float32) if face.get("embedding") else None
        if reason is None and is_duplicate(int(face["phash"], 16), emb, list(kept), settings.filters):
            reason = "duplicate"
        rel = None
        if reason is None:
            rel = f"{source.group}/unsorted/{face_id}.png"
            try:
                atomic_write_bytes(out / rel, png)
            except OSError as exc:
                raise FaceplateError(f"cannot write {out / rel} ({exc.strerror or exc}); free disk space and re-run "
                                     f"with --resume") from None
            kept.append((int(face["phash"], 16), emb))
            entry["kept"] += 1
        entry["faces"] += 1
        row = {"id": face_id, "source": path, "frame": frame, "timecode": tc, "group": source.group}
        row.update(face)
        row.update({"kept": reason is None, "reason": reason, "cluster": None, "path": rel})
        lines.append(json.dumps(row, separators=(",", ":")) + "\n")
    if lines:
        manifest_handle.write("".join(lines))
        manifest_handle.flush()
        os.fsync(manifest_handle.fileno())

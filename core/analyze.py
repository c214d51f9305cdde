"""Shot analysis: plate frames → faces → tracks → smoothing → the track file.

Per frame: the plate's RGB (layer-aware) → sRGB uint8 through the colour pipeline (NaN/Inf → 0) →
desqueezed to square pixels (pixel aspect) → multi-scale detection → 68 landmarks → (lazily) an
identity embedding → the tracker. After the last frame: gap filling, mapping back to plate pixel
coordinates (re-squeeze, add the data-window origin), zero-phase smoothing, the optional target-face
choice, and one atomic save. Frames stream through PlateSequence's read-ahead thread, so decoding
the next EXR overlaps with detection on this one, and memory does not grow with shot length.
"""
from __future__ import annotations

import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import cv2
import numpy as np

from faceplate.core import __version__
from faceplate.core.errors import FaceplateError, PlateError
from faceplate.core.smooth import smooth_tracks
from faceplate.core.track import (FaceEntry, Observation, PlateInfo, Track, Tracker, TrackerSettings, TrackFile,
                                  match_target)

log = logging.getLogger("faceplate.analyze")

# Cosine at/above which two embeddings are the same person, per recognizer family. Measured on the
# asset photos (same person / different people): dlib-128 on our 5-point chips ≥ 0.954 / ≤ 0.897,
# MobileFaceNet ≥ 0.71 / ≤ 0.14 (MANIFEST: threshold near 0.5); ArcFace-style: the usual 0.35.
IDENTITY_THRESHOLDS = {"dlib128": 0.93, "mobilefacenet": 0.45, "arcface": 0.35}
DEFAULT_IDENTITY_THRESHOLD = 0.5


@dataclass
class AnalyzeSettings:
    smoothing: float = 1.0            # 0 = off; strength of the zero-phase smoother
    max_gap: int = 8                  # frames filled by interpolation; longer gaps end a segment
    min_face: float = 40.0            # smallest face width (square plate pixels) to find
    max_side: int = 1280              # detector tile size
    layer: Optional[str] = None
    colourspace: Optional[str] = None
    ocio_config: Optional[str] = None
    target_face: Optional[str] = None  # reference photo: keep only the track(s) of this person
    identity_threshold: Optional[float] = None  # None: per recognizer family (IDENTITY_THRESHOLDS)
    cut_threshold: float = 0.45       # histogram (Bhattacharyya) distance between frames that is a cut
    embed_every: int = 5
    full_scan_every: int = 8          # frames; in between, detection runs at the scale of the faces tracked
    decimals: int = 3                 # coordinates are stored rounded to 1/1000 px
    log_every: int = 25               # without a TTY progress bar: a log line per N frames

    def to_dict(self) -> dict[str, Any]:
        return {"smoothing": self.smoothing, "max_gap": self.max_gap, "min_face": self.min_face,
                "max_side": self.max_side, "layer": self.layer, "colourspace": self.colourspace,
                "identity_threshold": self.identity_threshold, "cut_threshold": self.cut_threshold,
                "embed_every": self.embed_every, "full_scan_every": self.full_scan_every, "target": None}


# ----------------------------------------------------------------------------------------------
# Shot cuts
# ----------------------------------------------------------------------------------------------

def frame_signature(image_rgb: np.ndarray) -> np.ndarray:
    """A normalised hue/saturation + value histogram of a 96×54 thumbnail: cheap, motion-tolerant."""
    small = cv2.resize(image_rgb, (96, 54), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hs = cv2.calcHist([hsv], [0, 1], None, [18, 4], [0, 180, 0, 256]).ravel()
    v = cv2.calcHist([hsv], [2], None, [16], [0, 256]).ravel()
    sig = np.concatenate([hs / max(hs.sum(), 1), v / max(v.sum(), 1)]).astype(np.float32)
    return sig


def signature_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Bhattacharyya distance (0 = same histogram, 1 = disjoint), averaged over the two histograms."""
    n = a.size - 16
    d1 = cv2.compareHist(a[:n], b[:n], cv2.HISTCMP_BHATTACHARYYA)
    d2 = cv2.compareHist(a[n:], b[n:], cv2.HISTCMP_BHATTACHARYYA)
    return float(0.5 * (d1 + d2))


# ----------------------------------------------------------------------------------------------
# Coordinates
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Space:
    """Analysis image (desqueezed, data-window-relative) ↔ plate pixel coordinates."""
    aspect: float
    x0: int
    y0: int

    def to_plate(self, pts: np.ndarray) -> np.ndarray:
        p = np.asarray(pts, dtype=np.float64).reshape(-1, 2).copy()
        p[:, 0] = (p[:, 0] + 0.5) / self.aspect - 0.5 + self.x0
        p[:, 1] = p[:, 1] + self.y0
        return p

    def box_to_plate(self, box: np.ndarray) -> np.ndarray:
        return self.to_plate(np.asarray(box, dtype=np.float64).reshape(2, 2)).reshape(4)


def _desqueeze(image: np.ndarray, aspect: float) -> np.ndarray:
    if abs(aspect - 1.0) < 1e-6:
        return image
    h, w = image.shape[:2]
    new_w = max(1, int(round(w * aspect)))
    interp = cv2.INTER_LINEAR if aspect > 1 else cv2.INTER_AREA
    return cv2.resize(image, (new_w, h), interpolation=interp)


def _detection_image(lin: np.ndarray, aspect: float, face_range: tuple[float, float], min_face: float,
                     colour: Any, fit_side: Optional[int] = None
                     ) -> tuple[tuple[float, float], np.ndarray, np.ndarray]:
    """((fx, fy), sRGB uint8 image, the linear image it came from) for detection, desqueezed.

    detect_faces never looks at a finer scale than its pyramid's first level, so the plate is
    reduced to that level here, in linear light (area average), before the colour conversion:
    the costly full-frame OCIO pass shrinks with it. Small plates stay at native resolution.
    Image pixel (xd, yd) is analysis point ((xd + 0.5) fx - 0.5, (yd + 0.5) fy - 0.5).
    """
    from faceplate.core.detect import pyramid_scales

    h, w = lin.shape[:2]
    scale = min(1.0, pyramid_scales(int(round(w * aspect)), h, min_face, face_range)[0])
    if fit_side:
        # searching near known face sizes: one detector tile is enough if min_face stays in range
        scale = max(face_range[0] / max(float(min_face), 1.0), min(scale, fit_side / max(w * aspect, h)))
        scale = min(scale, 1.0)
    size = (max(1, int(round(w * aspect * scale))), max(1, int(round(h * scale))))
    if size != (w, h):
        interp = cv2.INTER_AREA if size[0] <= w and size[1] <= h else cv2.INTER_LINEAR
        lin = cv2.resize(lin, size, interpolation=interp)
    return (w * aspect / size[0], h / size[1]), colour.to_uint8(lin), lin


def _plate_sum(lin: np.ndarray) -> float:
    """Sum of an RGB image: non-finite when some pixel is NaN/Inf (area resizing carries them)."""
    with np.errstate(all="ignore"):
        return float(np.sum(lin, dtype=np.float64))


def _scale_detection(det: Any, f: tuple[float, float]) -> Any:
    """A detection in the downscaled detection image → analysis coordinates (pixel centres kept)."""
    from faceplate.core.detect import Detection
    fx, fy = f
    box = det.box.reshape(2, 2)
    pts = det.points5
    m = lambda p: np.stack([(p[:, 0] + 0.5) * fx - 0.5, (p[:, 1] + 0.5) * fy - 0.5], axis=1)  # noqa: E731
    return Detection(m(box).reshape(4), m(pts), det.score)


_CROP_MARGIN = 0.4     # crops reach this many box sizes beyond the box: room for dlib's box and ArcFace's template
_CROP_MAX_FACE = 192   # px: bigger faces are landmarked/embedded on an area-reduced crop (ample for 68 points)


def _face_crop(lin: np.ndarray, det: Any, aspect: float, colour: Any) -> tuple[np.ndarray, np.ndarray, float]:
    """sRGB uint8 crop (desqueezed, maybe reduced) around a detection; returns (crop, origin, scale):
    crop pixel c is analysis point (c + 0.5) / scale - 0.5 + origin (scale 1: c + origin)."""
    h, w = lin.shape[:2]
    bw, bh = det.box[2] - det.box[0], det.box[3] - det.box[1]
    m = _CROP_MARGIN * max(bw, bh)
    # analysis (desqueezed) x -> stored column: (x + 0.5) / aspect - 0.5
    x0 = int(np.floor(max(0.0, (det.box[0] - m + 0.5) / aspect - 0.5)))
    x1 = int(np.ceil(min(w - 1.0, (det.box[2] + m + 0.5) / aspect - 0.5))) + 1
    y0 = int(np.floor(max(0.0, det.box[1] - m)))
    y1 = int(np.ceil(min(h - 1.0, det.box[3] + m))) + 1
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
    part = np.ascontiguousarray(lin[y0:y1, x0:x1])
    scale = min(1.0, _CROP_MAX_FACE / max(bw, bh, 1.0))
    ch, cw = part.shape[:2]
    size = (max(1, int(round(cw * aspect * scale))), max(1, int(round(ch * scale))))
    if size != (cw, ch):
        part = cv2.resize(part, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    # stored column x0 has desqueezed centre (x0 + 0.5) * aspect - 0.5; a crop column c (at crop scale
    # sx = size[0] / cw per stored pixel) is stored x0 + (c + 0.5) / sx - 0.5
    sx = size[0] / cw
    sy = size[1] / ch
    crop = colour.to_uint8(part)
    # analysis x = (x0 + (c + 0.5) / sx) * aspect - 0.5 = (c + 0.5) * aspect / sx - 0.5 + x0 * aspect;
    # with aspect / sx == 1 / sy == 1 / scale (up to rounding) both axes share one scale
    eff = 0.5 * (sx / aspect + sy)
    return np.ascontiguousarray(crop), np.array([x0 * aspect, y0], dtype=np.float64), float(eff)


def _to_crop(det: Any, origin: np.ndarray, scale: float) -> Any:
    from faceplate.core.detect import Detection
    f = lambda p: (p - origin + 0.5) * scale - 0.5  # noqa: E731
    return Detection(f(det.box.reshape(2, 2)).reshape(4), f(det.points5), det.score)


def _from_crop(pts: np.ndarray, origin: np.ndarray, scale: float) -> np.ndarray:
    return (np.asarray(pts, dtype=np.float64) + 0.5) / scale - 0.5 + origin


def _map_entry(e: FaceEntry, space: _Space, decimals: int) -> FaceEntry:
    r = lambda a: np.round(a, decimals)  # noqa: E731
    box = r(space.box_to_plate(e.box_raw))
    p5 = r(space.to_plate(e.points5_raw))
    lm = r(space.to_plate(e.landmarks_raw))
    return FaceEntry(e.frame, e.source, round(float(e.score), 6), box, box.copy(), p5, p5.copy(), lm, lm.copy())


def _round_track(t: Track, decimals: int) -> Track:
    entries = {}
    for f, e in t.entries.items():
        entries[f] = FaceEntry(e.frame, e.source, e.score, np.round(e.box, decimals), e.box_raw,
                               np.round(e.points5, decimals), e.points5_raw, np.round(e.landmarks, decimals),
                               e.landmarks_raw)
    return Track(t.id, t.embedding, entries)


# ----------------------------------------------------------------------------------------------
# Reference face
# ----------------------------------------------------------------------------------------------

def reference_embedding(path: str, detector: Any, recognizer: Any, colour: Any = None,
                        min_face: float = 20.0) -> np.ndarray:
    """Embedding of the largest face in a reference photo (JPEG/PNG as sRGB; EXR through ``colour``)."""
    from faceplate.core.detect import detect_faces

    if not os.path.isfile(path):
        raise FaceplateError(f"{path}: target face image not found; check the --target-face path")
    ext = os.path.splitext(path)[1].lower()
    image: Optional[np.ndarray] = None
    if ext in (".exr", ".hdr", ".dpx") and colour is not None:
        from faceplate.core.plate_io import read_image
        frame = read_image(path)
        image = colour.to_uint8(frame.rgb_pixels())
    else:
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        if bgr is not None:
            image = np.ascontiguousarray(bgr[:, :, ::-1])
    if image is None:
        raise FaceplateError(f"{path}: cannot read the target face image; pass a JPEG/PNG/EXR photo of the person")
    dets = detect_faces(detector, image, min_face=min(min_face, 0.1 * min(image.shape[:2])))
    if not dets:
        raise FaceplateError(f"{path}: no face found in the target face image; use a clear, frontal photo")
    best = max(dets, key=lambda d: d.width * d.height)
    return np.asarray(recognizer.embed(image, best.points5), dtype=np.float32)


# ----------------------------------------------------------------------------------------------
# Analysis
# ----------------------------------------------------------------------------------------------

def _model_info(model: Any) -> dict[str, str]:
    return {"name": str(getattr(model, "name", type(model).__name__)), "sha256": str(getattr(model, "sha256", ""))}


def identity_threshold_for(recognizer: Any, override: Optional[float] = None) -> float:
    if override is not None:
        return float(override)
    family = getattr(getattr(recognizer, "contract", None), "family", None)
    return IDENTITY_THRESHOLDS.get(family, DEFAULT_IDENTITY_THRESHOLD)


class _Progress:
    """tqdm on a TTY; a log line every N frames on the farm."""

    def __init__(self, total: int, enabled: bool, every: int):
        self.total, self.every, self.count, self.t0 = total, max(1, every), 0, time.time()
        self.bar = None
        if enabled:
            from tqdm import tqdm
            self.bar = tqdm(total=total, unit="frame", desc="analyze", disable=None, file=sys.stderr)
            if self.bar.disable:
                self.bar = None
        self.log = enabled and self.bar is None

    def step(self) -> None:
        self.count += 1
        if self.bar is not None:
            self.bar.update(1)
        elif self.log and (self.count % self.every == 0 or self.count == self.total):
            rate = self.count / max(time.time() - self.t0, 1e-9)
            log.info("analyze: %d/%d frames (%.1f frames/s)", self.count, self.total, rate)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def analyze(plate: Any, settings: AnalyzeSettings, detector: Any, landmarker: Any, recognizer: Any,
            progress: bool = True, colour: Any = None,
            on_frame: Optional[Callable[[int, np.ndarray, list[Observation]], None]] = None) -> TrackFile:
    """Analyse every frame of ``plate`` (a PlateSequence) into a smoothed TrackFile (not saved).

    A plate with no face gives a valid TrackFile with no tracks (and a warning).
    """
    from faceplate.core.colour import ColourPipeline
    from faceplate.core.detect import detect_faces

    plate.check_complete()
    info = plate.info()
    if colour is None:
        colour = ColourPipeline(settings.colourspace, settings.ocio_config)
    threshold = identity_threshold_for(recognizer, settings.identity_threshold)
    tracker = Tracker(TrackerSettings(max_gap=settings.max_gap, identity_threshold=threshold,
                                      embed_every=settings.embed_every))
    frames = list(plate.frames)
    space: Optional[_Space] = None
    prev_sig: Optional[np.ndarray] = None
    bad_pixels_warned = False
    bar = _Progress(len(frames), progress, settings.log_every)
    from faceplate.core.detect import DEFAULT_FACE_RANGE
    face_range = tuple(getattr(detector, "face_range", DEFAULT_FACE_RANGE))
    fit_side = int(min(getattr(detector, "tile_size", None) or 640, settings.max_side))
    pos, last_full = -1, -1
    prev_widths: list[float] = []
    sig: Optional[np.ndarray] = None
    cut = False
    try:
        # analysis needs only the face RGB: other channels (alpha, depth, AOVs) are not decoded
        for pf in (plate.iter_rgb() if hasattr(plate, "iter_rgb") else plate):
            # read-only view when the file is plain RGB (no copy); NaN/Inf stay: the colour pipeline
            # maps them to 0 in every image derived from it
            lin = pf.pixels if pf.pixels.shape[2] == 3 and tuple(pf.rgb) == (0, 1, 2) else pf.rgb_pixels()
            frame_space = _Space(pf.pixel_aspect, pf.data_window.xmin, pf.data_window.ymin)
            if space is None:
                space = frame_space
            elif frame_space != space:
                raise PlateError(f"{pf.path}: data window origin or pixel aspect differs from the first frame "
                                 f"({frame_space} vs {space}); analyse the parts separately")
            # Detection at the right scale: once faces are tracked, only sizes near theirs are
            # searched (a much coarser pyramid); every full_scan_every frames, after a cut, or when
            # a tracked face is not found, the whole range down to min_face is searched again.
            pos += 1
            full = (not prev_widths or pos - last_full >= max(1, settings.full_scan_every))
            first_try = True
            while True:
                min_face = settings.min_face if full else max(settings.min_face, 0.5 * min(prev_widths))
                det_f, det_image, det_lin = _detection_image(lin, pf.pixel_aspect, face_range, min_face, colour,
                                                             fit_side=None if full else fit_side)
                if first_try:  # the cut signature is a thumbnail histogram: any detection image will do
                    if not bad_pixels_warned and not np.isfinite(_plate_sum(det_lin)):
                        log.warning("%s: NaN/Inf pixel values ignored for detection (kept in the plate)", pf.path)
                        bad_pixels_warned = True
                    sig = frame_signature(det_image)
                    cut = prev_sig is not None and signature_distance(prev_sig, sig) > settings.cut_threshold
                    first_try = False
                if cut and not full:
                    full = True
                    continue
                dets = detect_faces(detector, det_image, min_face=min_face / det_f[1], max_side=settings.max_side)
                if not full and len(dets) < len(prev_widths):
                    full = True
                    continue
                break
            if full:
                last_full = pos
            prev_sig = sig
            observations = []
            for det in dets:
                det = _scale_detection(det, det_f)
                crop, origin, cs = _face_crop(lin, det, pf.pixel_aspect, colour)
                local = _to_crop(det, origin, cs)
                lm = _from_crop(np.asarray(landmarker.landmarks(crop, local), dtype=np.float64).reshape(68, 2),
                                origin, cs)
                observations.append(Observation(
                    box=det.box.copy(), points5=det.points5.copy(), landmarks=lm, score=float(det.score),
                    embed=(lambda img=crop, p5=local.points5.copy(): recognizer.embed(img, p5))))
            prev_widths = [float(o.box[2] - o.box[0]) for o in observations]
            del lin
            if on_frame is not None:
                on_frame(int(pf.frame), det_image, observations)
            tracker.update(int(pf.frame), observations, cut=cut)
            bar.step()
    finally:
        bar.close()

    assert space is not None
    raw_tracks = tracker.finish()
    tracks = []
    for t in raw_tracks:
        entries = {f: _map_entry(e, space, settings.decimals) for f, e in t.entries.items()}
        tracks.append(Track(t.id, t.embedding, entries))
    tracks = smooth_tracks(tracks, frames, tracker.cuts, settings.max_gap, settings.smoothing)
    tracks = [_round_track(t, settings.decimals) for t in tracks]

    settings_dict = settings.to_dict()
    settings_dict["identity_threshold"] = threshold
    if settings.target_face:
        ref = reference_embedding(settings.target_face, detector, recognizer, colour)
        sims = match_target(tracks, ref, threshold)
        keep = [t for t in tracks if sims[t.id] >= threshold]
        from faceplate.core.filesystem import sha256_file
        settings_dict["target"] = {"path": os.path.abspath(settings.target_face),
                                   "sha256": sha256_file(settings.target_face),
                                   "similarity": {str(k): round(v, 4) for k, v in sims.items()},
                                   "tracks": [t.id for t in keep]}
        if tracks and not keep:
            best = max(sims, key=sims.get)
            raise FaceplateError(
                f"{settings.target_face}: no track matches the target face (best: track {best}, similarity "
                f"{sims[best]:.2f} < {threshold:.2f}); use a clearer photo of the person or omit --target-face")
        tracks = keep
    if not tracks:
        log.warning("%s: no face found in frames %d-%d; writing an empty track file", info["pattern"],
                    frames[0], frames[-1])

    plate_info = PlateInfo(
        pattern=info["pattern"], first=int(info["first"]), last=int(info["last"]), step=int(info["step"]),
        width=int(info["width"]), height=int(info["height"]), pixel_aspect=float(info["pixel_aspect"]),
        data_window=tuple(info["data_window"]), display_window=tuple(info["display_window"]),
        layer=info.get("layer"), colourspace=getattr(colour, "plate_colourspace", settings.colourspace),
        fingerprint=str(info["fingerprint"]))
    models = {"detector": _model_info(detector), "landmarker": _model_info(landmarker),
              "recognizer": _model_info(recognizer)}
    return TrackFile(plate=plate_info, models=models, settings=settings_dict, cuts=list(tracker.cuts),
                     tracks=tracks, faceplate_version=__version__)

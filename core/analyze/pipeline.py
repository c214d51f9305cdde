"""Shot analysis: plate frames → faces → tracks → smoothing → the track file.

Per frame: the plate's RGB (layer-aware) → sRGB uint8 through the colour pipeline (NaN/Inf → 0) →
desqueezed to square pixels (pixel aspect) → multi-scale detection → 68 landmarks → (lazily) an
identity embedding → the tracker. After the last frame: gap filling, mapping back to plate pixel
coordinates (re-squeeze, add the data-window origin), zero-phase smoothing, the optional target-face
choice, and one atomic save. Frames stream through PlateSequence's read-ahead thread, so decoding
the next EXR overlaps with detection on this one, and memory does not grow with shot length.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np
from faceplate.core import __version__
from faceplate.core.analyze.cuts import frame_signature, signature_distance
from faceplate.core.analyze.pyramid import DEFAULT_FACE_RANGE, detect_faces
from faceplate.core.analyze.smoothing import smooth_tracks
from faceplate.core.analyze.spaces import (
    _detection_image,
    _face_crop,
    _from_crop,
    _map_entry,
    _scale_detection,
    _Space,
    _to_crop,
)
from faceplate.core.analyze.targets import match_target, reference_embedding, weak_tracks
from faceplate.core.analyze.tracker import Observation, Tracker, TrackerSettings
from faceplate.core.colour import ColourPipeline
from faceplate.core.errors import FaceplateError, PlateError
from faceplate.core.face import brows
from faceplate.core.identity import threshold_for
from faceplate.core.io.sequence import check_windows
from faceplate.core.types import PlateInfo, Track, TrackFile

log = logging.getLogger("faceplate.analyze")


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
    identity_threshold: Optional[float] = None  # None: per recognizer family (identity.SAME_PERSON_THRESHOLD)
    cut_threshold: float = 0.45       # histogram (Bhattacharyya) distance between frames that is a cut
    embed_every: int = 5
    full_scan_every: int = 8          # frames; in between, detection runs at the scale of the faces tracked
    decimals: int = 3                 # coordinates are stored rounded to 1/1000 px
    log_every: int = 25               # without a TTY progress bar: a log line per N frames
    source_library: Any = None        # engine v2: a core.face SourceLibrary -> per-entry source_frame
    keep_weak_tracks: bool = False    # keep tracks seen once or twice with a low score (targets.weak_tracks)
    occlusion: bool = True            # second pass: what covers each face, per entry (analyze/appearance)
    grain: bool = True                # second pass: the plate's grain around each face, smoothed
    parser: Any = None                # a FaceParser: its glasses and hair stored as occlusion (analyze/parsed)
    parser_regions: tuple[str, ...] = ("glasses", "hair")

    def to_dict(self) -> dict[str, Any]:
        return {"smoothing": self.smoothing, "max_gap": self.max_gap, "min_face": self.min_face,
                "max_side": self.max_side, "layer": self.layer, "colourspace": self.colourspace,
                "identity_threshold": self.identity_threshold, "cut_threshold": self.cut_threshold,
                "embed_every": self.embed_every, "full_scan_every": self.full_scan_every, "target": None,
                "occlusion": self.occlusion, "grain": self.grain, "keep_weak_tracks": self.keep_weak_tracks,
                **({"parser_regions": list(self.parser_regions)} if self.parser is not None else {})}


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


def _model_info(model: Any) -> dict[str, str]:
    return {"name": str(getattr(model, "name", type(model).__name__)), "sha256": str(getattr(model, "sha256", ""))}


def _round_track(t: Track, decimals: int) -> Track:
    entries = {}
    for f, e in t.entries.items():
        entries[f] = dataclasses.replace(e, box=np.round(e.box, decimals), points5=np.round(e.points5, decimals),
                                         landmarks=np.round(e.landmarks, decimals))
    return Track(t.id, t.embedding, entries)


def _plate_sum(lin: np.ndarray) -> float:
    """Sum of an RGB image: non-finite when some pixel is NaN/Inf (area resizing carries them)."""
    with np.errstate(all="ignore"):
        return float(np.sum(lin, dtype=np.float64))


def analyze(plate: Any, settings: AnalyzeSettings, detector: Any, landmarker: Any, recognizer: Any,
            progress: bool = True, colour: Any = None,
            on_frame: Optional[Callable[[int, np.ndarray, list[Observation]], None]] = None) -> TrackFile:
    """Analyse every frame of ``plate`` (a PlateSequence) into a smoothed TrackFile (not saved).

    A plate with no face gives a valid TrackFile with no tracks (and a warning).
    """
    plate.check_complete()
    info = plate.info()
    if colour is None:
        colour = ColourPipeline(settings.colourspace, settings.ocio_config)
    threshold = threshold_for(recognizer, settings.identity_threshold)
    tracker = Tracker(TrackerSettings(max_gap=settings.max_gap, identity_threshold=threshold,
                                      embed_every=settings.embed_every))
    frames = list(plate.frames)
    space: Optional[_Space] = None
    first_display: list[int] = []
    prev_sig: Optional[np.ndarray] = None
    bad_pixels_warned = False
    bar = _Progress(len(frames), progress, settings.log_every)
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
                space, first_display = frame_space, pf.display_window.as_list()
            elif pf.display_window.as_list() != first_display:  # a frame at another resolution
                check_windows(pf, first_display, (space.x0, space.y0), space.aspect, "the first frame's")
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
                # the landmarker lags raised brows: lifted onto the brows the crop shows, as every
                # source frame is, so the source's brows are sent where the actor's are
                lm = _from_crop(brows.lift_to_image(crop, landmarker.landmarks(crop, local)), origin, cs)
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
    if not settings.keep_weak_tracks:
        weak = weak_tracks(tracks, len(frames))
        for track_id, why in weak.items():
            log.warning("track %d dropped: detected in %d frame(s), best score %.2f: likely not a face (a hand, "
                        "the back of a head); analyze with --keep-weak-tracks to keep it", track_id,
                        why["detections"], why["best_score"])
        tracks = [t for t in tracks if t.id not in weak]
        settings_dict["dropped_tracks"] = {str(k): v for k, v in weak.items()}
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
    if settings.occlusion or settings.grain or settings.parser is not None:  # a second streaming pass
        from faceplate.core.analyze.appearance import appearance_pass
        from faceplate.core.analyze.parsed import Parsing
        parsing = None if settings.parser is None else Parsing(settings.parser, colour, tuple(settings.parser_regions))
        tracks = appearance_pass(plate, tracks, tracker.cuts, settings.occlusion, settings.grain,
                                 decimals=settings.decimals, parsing=parsing)
    if settings.source_library is not None:  # engine v2: library frame per entry, whole-shot path
        from faceplate.core.face.selection import assign_source_frames
        settings_dict["source"] = assign_source_frames(tracks, settings.source_library,
                                                       positions={int(f): i for i, f in enumerate(frames)},
                                                       cuts=tracker.cuts)
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
    if settings.parser is not None:
        models["parser"] = _model_info(settings.parser)
    return TrackFile(plate=plate_info, models=models, settings=settings_dict, cuts=list(tracker.cuts),
                     tracks=tracks, faceplate_version=__version__)

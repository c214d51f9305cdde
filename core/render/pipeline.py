"""Render: plate frame f + track entries at f + source identity + engine -> composited EXR and face patch.

Farm-safe by construction: a frame's output depends only on (plate f, track entries at f,
settings, model sha256, source hash, code version). Nothing is carried from one frame to the next
(grain seeds derive from the frame number and track id), so any chunking of the range gives
byte-identical files. Reading (PlateSequence read-ahead thread), compute (this thread) and
writing (a writer thread) overlap through bounded queues, so memory stays flat on long shots.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

from faceplate.core import __version__
from faceplate.core.errors import FaceplateError, PlateError, TrackFileError
from faceplate.core.io.outputs import check_outputs
from faceplate.core.io.sequence import check_headers, check_windows
from faceplate.core.render.composite import accumulate, composite, patch, provenance
from faceplate.core.render.engines.classical import ClassicalSwapper
from faceplate.core.render.frame import FrameRenderer
from faceplate.core.render.resume import _remove_stale_temps, output_complete
from faceplate.core.render.settings import RenderSettings
from faceplate.core.render.writer import _Writer
from faceplate.core.types import SourceFace

log = logging.getLogger("faceplate.render")



@dataclass
class RenderReport:
    written: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    faces: dict[int, int] = field(default_factory=dict)      # frame -> faces swapped
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # read / compute / write seconds


def check_track_matches_plate(track_file: Any, plate: Any, frames: Sequence[int], track_name: str) -> None:
    """TrackFileError when the track file was made from another plate (geometry, range, fingerprint)."""
    from faceplate.core.io.exr import frame_fingerprint

    info = track_file.plate
    outside = [f for f in frames if f < info.first or f > info.last]
    if outside:  # before reading anything: a typo'd range fails at once
        raise TrackFileError(f"{track_name}: frame {outside[0]} outside the analysed range "
                             f"{info.first}-{info.last}; choose --frames inside it or re-run `faceplate analyze`")
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
    if not problems and info.fingerprint:
        # Through the plate's own reader: a video plate's frames live inside one movie file, which
        # OpenImageIO cannot open; an image sequence's first analysed frame may be off this disk.
        ref = None
        if plate.is_video:
            ref = plate.read(info.first)
        elif os.path.exists(plate.path(info.first)):
            from faceplate.core.io.exr import read_image
            ref = read_image(plate.path(info.first), layer=plate.layer)
        if ref is not None and frame_fingerprint(ref) != info.fingerprint:
            problems.append(f"frame {info.first} fingerprint differs (different file structure or size)")
    if problems:
        raise TrackFileError(f"{track_name} was made from another plate ({problems[0]}); "
                             f"re-run `faceplate analyze` on this plate")


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
    from faceplate.core.io.frames import sequence_path

    if not out_pattern and not patch_pattern:
        raise FaceplateError("nothing to write: pass --out out.####.exr and/or --patch patch.####.exr")
    settings.validate()
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
    if engine is None and settings.engine == "v2":
        from faceplate.core.face.engine import engine_for
        engine = engine_for(source_identity, settings.likeness, settings.source_features, settings.forehead)
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
    extra = provenance(__version__, engine.name, engine.sha256, source_identity.sha256, track_sha256)
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

    # the output rule (core/io/outputs.py), here too for callers other than the CLI (the Nuke node)
    check_outputs({"--out": out_pattern, "--patch": patch_pattern},
                  {"PLATE": getattr(plate, "pattern", None)}, [f for f, _, _ in todo])
    for f, _, _ in todo:  # fail before writing anything, naming the first missing frame
        if not os.path.exists(plate.path(f)):
            raise PlateError(f"plate frame {f} missing: {plate.path(f)}; render/copy it or choose --frames "
                             f"that exclude it")
    info = track_file.plate  # every frame where the track file put the faces, or none written
    if hasattr(plate, "is_video"):
        check_headers(plate, [f for f, _, _ in todo], info.display_window, info.data_window[:2], info.pixel_aspect,
                      "the track file's")
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
            check_windows(frame, info.display_window, info.data_window[:2], info.pixel_aspect, "the track file's")
            t1 = time.perf_counter()
            read_wait += t1 - t0
            layers = renderer.layers(frame, faces_at(track_file, f, settings.targets))
            dw = frame.data_window
            acc = accumulate(frame.pixels.shape[:2], (dw.xmin, dw.ymin), layers)
            job = []
            out_frame = None
            if out_path:
                out_frame = composite(frame, layers, accumulated=acc)
                job.append((out_path, out_frame, extra))
            if patch_path:
                job.append((patch_path, patch(frame, layers, accumulated=acc), extra))
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

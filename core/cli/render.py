"""`faceplate render` and `faceplate swap` (analyze + render). Registration imports nothing heavy.
"""
from __future__ import annotations

import argparse
import logging
import math
import os
from typing import Any, Optional

from faceplate.core.analyze.targets import is_track_ids, match_target, reference_embedding
from faceplate.core.errors import FaceplateError, ModelError
from faceplate.core.models.zoo import ModelCache
from faceplate.core.types import SourceFace

log = logging.getLogger("faceplate.render")


def _add_render_options(p: argparse.ArgumentParser, frames_default: str) -> None:
    p.add_argument("--source", action="append", default=[], metavar="MEDIA",
                   help="photo of the source actor (repeatable: embeddings are averaged, outliers dropped); with "
                        "--engine v2 also image sequences (src.####.png), clips (.mp4/.mov) or a .source.json")
    p.add_argument("--source-embedding", metavar="E.npy", help="saved source identity embedding (.npy)")
    p.add_argument("--model", metavar="NAME|FILE.onnx",
                   help="neural swapper (inswapper_128, SimSwap, or a faceplate export); default: classical engine")
    p.add_argument("--engine", choices=("classical", "v2"), default="classical",
                   help="engine without --model: classical (one warped photo; default) or v2 (source library, the "
                        "actor's eyes/mouth kept, two-sided matte, likeness, 3-D-aware warp; opt-in while its "
                        "likeness is below the classical engine's, see docs/BENCH_QUALITY.md)")
    p.add_argument("--likeness", type=float, default=0.5,
                   help="v2: how far the actor's inner-face proportions move to the source's, 0..1 (default 0.5)")
    p.add_argument("--source-features", type=float, default=1.0,
                   help="v2: share of an eye/mouth taken from the source frame where its openness and gaze match "
                        "the actor's, 0..1 (default 1; 0: always the actor's)")
    p.add_argument("--recognizer", metavar="NAME|FILE.onnx",
                   help="recognizer for the source embedding (default: the track file's; a neural swapper "
                        "needs one with its embedding size, e.g. a 512-d ArcFace)")
    p.add_argument("--frames", metavar="A-B", help=f"frame range, e.g. 1001-1100 (default: {frames_default})")
    p.add_argument("--out", metavar="out.####.exr", help="composited frames (plate + swap, faceplate.matte channel)")
    p.add_argument("--patch", metavar="patch.####.exr", help="premultiplied RGBA face patches (data window = face bbox)")
    p.add_argument("--mask", choices=("hull", "aligned", "parser"), default="hull", help="matte kind (default hull)")
    p.add_argument("--parser", metavar="FILE.onnx",
                   help="BiSeNet-style face parser for --mask parser; with `swap`, its glasses and hair are also "
                        "kept in front of the face (as `analyze --parser`)")
    p.add_argument("--erode", type=float, default=0.0, help="matte erosion in face sizes (negative grows; default 0)")
    p.add_argument("--feather", type=float, default=0.08, help="matte feather in face sizes (default 0.08)")
    p.add_argument("--regions", default=None, help="parser regions, e.g. skin,nose,eyes,brows,mouth,lips")
    p.add_argument("--colour-match", dest="colour_match", action=argparse.BooleanOptionalAction, default=True,
                   help="match the swap's colour to the plate in linear light (default on)")
    p.add_argument("--regrain", action=argparse.BooleanOptionalAction, default=True,
                   help="add grain matching the plate's (default on)")
    p.add_argument("--resume", action="store_true", help="skip frames whose outputs are already complete")
    p.add_argument("--contact-sheet", metavar="OUT.png", help="before/after/matte sheet for a few frames")
    p.add_argument("--colourspace", help="plate colourspace (default: the track file's, else scene_linear)")
    p.add_argument("--layer", help="plate layer holding the RGB, e.g. beauty (default: the track file's, else R,G,B)")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "render", help="render swapped faces for any frame range (farm-safe, byte-identical)",
        description="Pass 2 of 2: render plate frames with the source face swapped in, from the track file "
                    "`faceplate analyze` wrote. Frame f depends only on frame f's inputs, so any chunking on any "
                    "machine gives byte-identical files, and --resume skips finished frames. Outside the matte "
                    "every byte is the plate's; every layer and header attribute is kept and a faceplate.matte "
                    "channel added. A video plate (frames 1..N) renders to an EXR sequence.",
        epilog="examples:\n"
               "  faceplate render shot/plate.####.exr --track shot.track.json --source actor.jpg --frames 1001-1100 "
               "--out out/swap.####.exr\n"
               "  faceplate render shot/plate.####.exr --track shot.track.json --source actor.jpg --frames 1001-1010 "
               "--patch patch/face.####.exr --resume\n"
               "  faceplate render clip.mp4 --track clip.track.json --source actor.jpg --out out/swap.####.exr "
               "--contact-sheet out/contact.png")
    p.add_argument("plate", metavar="PLATE", help="plate pattern (plate.####.exr, plate.%%04d.exr) or a video file")
    p.add_argument("--track", metavar="shot.track.json", required=True, help="track file from `faceplate analyze`")
    p.add_argument("--targets", metavar="IDS|REF.jpg", help="track ids (1,2) or a photo of the person to replace")
    _add_render_options(p, "the track file's analysed range")
    p.set_defaults(func=run_render)

    s = subparsers.add_parser(
        "swap", help="analyze + render in one go on the embedded default models",
        description="The one-command job: check the inputs (plate frames, source photo with a face), analyze the "
                    "plate on the embedded default models (every face found, tracked and smoothed; the track file "
                    "is written beside --out), then render the swap like `faceplate render`. A video plate "
                    "(frames 1..N) renders to an EXR sequence.",
        epilog="examples:\n"
               "  faceplate swap sample/plate.####.exr --source sample/source.png --frames 1001-1024 "
               "--out out/swap.####.exr --contact-sheet out/contact.png\n"
               "  faceplate swap clip.mp4 --source actor.jpg --targets 1 --out out/swap.####.exr")
    s.add_argument("plate", metavar="PLATE", help="plate pattern (plate.####.exr, plate.%%04d.exr) or a video file")
    s.add_argument("--track", metavar="shot.track.json", help="where to write the track file "
                   "(default: beside --out)")
    s.add_argument("--targets", metavar="IDS|REF.jpg", help="track ids or a photo of the person to replace")
    _add_render_options(s, "every frame of the plate on disk, or of the video")
    s.set_defaults(func=run_swap)


def _settings(args: argparse.Namespace, track_file: Any) -> Any:
    from faceplate.core.models.parser import DEFAULT_REGIONS, regions_from_text
    from faceplate.core.render.settings import RenderSettings

    if not all(math.isfinite(v) for v in (args.erode, args.feather)):
        raise FaceplateError(f"--erode {args.erode} / --feather {args.feather}: must be finite numbers "
                             f"in face sizes, e.g. --erode 0.0 --feather 0.08")
    regions = regions_from_text(args.regions, "--regions", DEFAULT_REGIONS)
    for flag, value in (("--likeness", args.likeness), ("--source-features", args.source_features)):
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise FaceplateError(f"{flag} {value}: must be a number from 0 to 1")
    settings = RenderSettings(model=args.model, mask=args.mask, erode=args.erode, feather=args.feather,
                              regions=regions, parser=args.parser, colour_match=args.colour_match,
                              regrain=args.regrain, resume=args.resume,
                              colourspace=args.colourspace or getattr(track_file.plate, "colourspace", None),
                              engine="classical" if args.model else args.engine, likeness=args.likeness,
                              source_features=args.source_features)
    settings.validate()  # bounded before any frame is read
    return settings


def _check_paths(args: argparse.Namespace, plate_pattern: str, frames: Any, track_is_output: bool) -> None:
    """The output rule (core/io/outputs.py) for render and swap, before anything is written."""
    from faceplate.core.io.outputs import check_outputs

    files = {"--model": args.model, "--parser": args.parser, "--recognizer": args.recognizer,
             "--targets": args.targets}
    inputs: dict[str, Any] = {"PLATE": plate_pattern, "--source": args.source,
                              "--source-embedding": args.source_embedding}
    inputs.update({flag: path for flag, path in files.items() if path and os.path.isfile(path)})
    outputs: dict[str, Any] = {"--out": args.out, "--patch": args.patch, "--contact-sheet": args.contact_sheet}
    (outputs if track_is_output else inputs)["--track"] = args.track
    check_outputs(outputs, inputs, frames)


def _v2_library(args: argparse.Namespace, track_file: Any, models: ModelCache) -> Any:
    """Engine v2: the source library for --source (a cached source file; models load only when the media
    must be analysed), checked to be the one the track file's library choices were made for."""
    from faceplate.core.face.source_library import load_or_build

    names = {role: _model_name(track_file, role) for role in ("detector", "landmarker", "recognizer")}
    library, path = load_or_build(args.source, lambda: models.get("detector", names["detector"]),
                                  lambda: models.get("landmarker", names["landmarker"]),
                                  lambda: models.get("recognizer", names["recognizer"]))
    chosen = (track_file.settings or {}).get("source") or {}
    if chosen.get("sha256") and chosen["sha256"] != library.sha256:
        raise FaceplateError(f"{args.track}: its library frames were chosen for another source "
                             f"({chosen['sha256'][:12]}… vs {library.sha256[:12]}… from {path}); re-run analyze "
                             f"with the same --source")
    return library


def _model_name(track_file: Any, role: str) -> Optional[str]:
    info = (track_file.models or {}).get(role) or {}
    return info.get("name")


def _check_sha(model: Any, track_file: Any, role: str, track_path: str) -> None:
    """The track file records each analysis model's sha256: the installed one must match."""
    info = (track_file.models or {}).get(role) or {}
    want = info.get("sha256")
    have = getattr(model, "sha256", None)
    if want and have and want != have:
        raise ModelError(f"{track_path}: {role} {info.get('name')} sha256 {have[:12]}… differs from the one the "
                         f"track was made with ({want[:12]}…); install the same model or re-run analyze")


def _swapper_recognizer(engine: Any) -> Optional[str]:
    """Registry name of the recognizer a faceplate export was trained with, if registered here."""
    info = getattr(engine, "recognizer", None) or {}
    if not info.get("sha256"):
        return None
    from faceplate.core.models.manifest import registry
    for entry in registry().values():
        if entry.sha256 == info["sha256"]:
            return entry.name
    raise ModelError(f"{engine.name}: trained with recognizer {info.get('name')} (sha256 {info['sha256'][:12]}…), "
                     f"which is not installed here; pass it with --recognizer FILE.onnx or use --source-embedding")


def _check_swapper_recognizer(engine: Any, recognizer: Any) -> None:
    """The source embedding must come from the recognizer the swapper was trained with."""
    info = getattr(engine, "recognizer", None) or {}
    want, have = info.get("sha256"), getattr(recognizer, "sha256", None)
    if want and have and want != have:
        raise ModelError(f"{engine.name}: trained with recognizer {info.get('name')} (sha256 {want[:12]}…) but "
                         f"--recognizer is {getattr(recognizer, 'name', '?')} ({have[:12]}…); pass the same recognizer")


def _targets(spec: Optional[str], track_file: Any, recognizer: Any, detector: Any, colour: Any) -> Optional[list[int]]:
    """Track ids from "1,2", or the track whose identity is closest to a reference photo."""
    if not spec:
        return None
    if is_track_ids(spec):
        return [int(part) for part in spec.split(",")]
    if not os.path.isfile(spec):
        raise FaceplateError(f"--targets {spec}: neither track ids (1,2) nor an existing reference photo")
    if recognizer is None:
        raise FaceplateError(f"--targets {spec}: the track file names no recognizer; pass track ids instead")
    scores = match_target(track_file.tracks, reference_embedding(spec, detector, recognizer, colour), 0.0)
    if not scores:
        raise FaceplateError(f"--targets {spec}: the track file has no tracks")
    best = max(scores, key=scores.get)
    log.info("--targets %s: track %d (cosine %.2f)", spec, best, scores[best])
    return [best]


def run_render(args: argparse.Namespace, track_file: Any = None, track_sha: Optional[str] = None,
               plate: Any = None, models: Optional[ModelCache] = None) -> int:
    """Render from parsed args. ``swap`` hands over its track file, open plate and loaded models, so
    each frame is decoded once per pass and each model loaded once per process."""
    from faceplate.core.colour import ColourPipeline
    from faceplate.core.io.frames import parse_frames
    from faceplate.core.io.sequence import PlateSequence
    from faceplate.core.io.track_file import load_track_file, track_file_sha256
    from faceplate.core.render.pipeline import check_track_matches_plate, render
    from faceplate.core.render.source import load_source_identity

    models = models or ModelCache()
    if track_file is None:
        track_file = load_track_file(args.track)
        track_sha = track_file_sha256(args.track)
    info = track_file.plate
    frames = parse_frames(args.frames) if args.frames else list(range(info.first, info.last + 1, info.step or 1))
    if plate is None or list(plate.frames) != list(frames):
        plate = PlateSequence(args.plate, frames=frames, layer=getattr(args, "layer", None) or info.layer)
        check_track_matches_plate(track_file, plate, frames, os.path.basename(args.track))
        _check_paths(args, plate.pattern, frames, track_is_output=False)
        plate.check_complete()
    # else: swap's own plate, analysed a moment ago into this track file: already checked
    settings = _settings(args, track_file)
    colour = ColourPipeline(settings.colourspace)

    engine = None
    if args.model:
        from faceplate.core.render.engines.neural import load_swapper
        engine = load_swapper(args.model)
    # Load only what this job needs: detector + landmarker for source photos (and a reference
    # photo for --targets), a recognizer to average several photos or to feed a neural swapper.
    targets_photo = bool(args.targets) and not is_track_ids(args.targets)
    detector = landmarker = recognizer = None
    if args.source or targets_photo:
        detector = models.get("detector", _model_name(track_file, "detector"))
        _check_sha(detector, track_file, "detector", args.track)
    if args.source:
        landmarker = models.get("landmarker", _model_name(track_file, "landmarker"))
        _check_sha(landmarker, track_file, "landmarker", args.track)
    needs_embedding = engine is not None and not args.source_embedding
    rec_name = args.recognizer or (args.source and needs_embedding and _swapper_recognizer(engine)) \
        or _model_name(track_file, "recognizer")
    if args.source and (needs_embedding or len(args.source) > 1 or args.recognizer):
        recognizer = models.get("recognizer", rec_name)
        if not args.recognizer and rec_name == _model_name(track_file, "recognizer"):
            _check_sha(recognizer, track_file, "recognizer", args.track)
        if needs_embedding:
            _check_swapper_recognizer(engine, recognizer)
    targets_recognizer = None
    if targets_photo:
        track_rec = _model_name(track_file, "recognizer")
        targets_recognizer = recognizer if (recognizer is not None and not args.recognizer) else \
            models.get("recognizer", track_rec)
        if track_rec:
            _check_sha(targets_recognizer, track_file, "recognizer", args.track)
    settings.targets = _targets(args.targets, track_file, targets_recognizer, detector, colour)
    if settings.engine == "v2" and args.source:  # stills, sequences and clips through the source library
        library = _v2_library(args, track_file, models)
        source = SourceFace(sha256=library.sha256, images=[m["path"] for m in library.media], library=library)
    else:
        source = load_source_identity(args.source, args.source_embedding, colour, detector, landmarker, recognizer)
    parser = None
    if args.parser and settings.mask != "parser" and "parser" not in (track_file.models or {}):
        log.warning("--parser %s is used by --mask parser only; to keep the actor's glasses and hair in front, "
                    "give it to `faceplate analyze --parser`", args.parser)
    if settings.mask == "parser":
        if not args.parser:
            raise FaceplateError("--mask parser needs --parser bisenet.onnx (a BiSeNet-style face parser)")
        from faceplate.core.models.zoo import load_parser
        parser = load_parser(args.parser)

    sheet = None
    if args.contact_sheet:
        from faceplate.core.render.contact_sheet import ContactSheet
        sheet = ContactSheet(colour, frames)
    report = render(plate, track_file, source, settings, frames, args.out, args.patch, engine=engine,
                    colour=colour, track_sha256=track_sha or "", parser=parser,
                    on_frame=sheet.add if sheet else None)
    sheet_written = sheet.save(args.contact_sheet, args.out) if sheet else False
    log.info("rendered %d frame(s), skipped %d complete, %d face(s), %.1fs", len(report.written),
             len(report.skipped), sum(report.faces.values()), report.seconds)
    _print_written(args, frames, sheet_written)
    return 0


def _print_written(args: argparse.Namespace, frames: list, sheet_written: bool) -> None:
    """Where the results are, on stdout (logs go to stderr): what a first-time user looks for."""
    span = f"{frames[0]}-{frames[-1]}" if len(frames) > 1 else f"{frames[0]}"
    for label, path in (("frames", args.out), ("patches", args.patch)):
        if path:
            print(f"{label:13} {os.path.abspath(path)} ({span})")
    print(f"{'track file':13} {os.path.abspath(args.track)}")
    if sheet_written:
        print(f"{'contact sheet':13} {os.path.abspath(args.contact_sheet)}")


def _check_swap_source(args: argparse.Namespace, models: ModelCache, colour: Any) -> None:
    """Every source input before the analysis (minutes on a long shot): given, readable, with a face."""
    if not args.source and not (args.source_embedding and args.model):
        raise FaceplateError("swap needs the face to put in: pass --source actor.jpg (a photo of the source "
                             "actor; repeatable); --source-embedding alone only drives a neural --model")
    if args.source and (args.model or args.engine != "v2"):  # v2 reads its source media before analysis anyway
        from faceplate.core.analyze.photo import face_in_photo
        for path in args.source:
            face_in_photo(path, models.get("detector"), "source image", colour, min_face=32)


def run_swap(args: argparse.Namespace) -> int:
    """analyze (embedded defaults) then render, writing the track file beside the output."""
    from faceplate.core.analyze.pipeline import AnalyzeSettings, analyze
    from faceplate.core.io.frames import parse_frames
    from faceplate.core.io.sequence import PlateSequence
    from faceplate.core.io.track_file import save_track_file

    if not args.out and not args.patch:
        raise FaceplateError("nothing to write: pass --out out.####.exr and/or --patch patch.####.exr")
    frames = parse_frames(args.frames) if args.frames else None
    plate = PlateSequence(args.plate, frames=frames, layer=args.layer)
    plate.check_complete()
    track_path = args.track or os.path.join(os.path.dirname(os.path.abspath(args.out or args.patch)),
                                            "shot.track.json")
    args.track = track_path
    _check_paths(args, plate.pattern, plate.frames, track_is_output=True)
    from faceplate.core.colour import ColourPipeline

    settings = AnalyzeSettings(layer=args.layer, colourspace=args.colourspace)
    if args.targets and not is_track_ids(args.targets):
        if not os.path.isfile(args.targets):  # before the whole analysis, naming swap's own flag
            raise FaceplateError(f"--targets {args.targets}: neither track ids (1,2) nor an existing reference photo")
        settings.target_face = args.targets  # a reference photo: analyze keeps that person's track
        args.targets = None
    colour = ColourPipeline(args.colourspace)
    models = ModelCache()
    _check_swap_source(args, models, colour)
    if args.parser:  # its glasses and hair are kept in front of the face (analyze/parsed)
        from faceplate.core.models.zoo import load_parser
        settings.parser = load_parser(args.parser)
    if args.source and not args.model and args.engine == "v2":  # library selection happens in analyze
        from faceplate.core.face.source_library import load_or_build
        settings.source_library, _ = load_or_build(args.source, lambda: models.get("detector"),
                                                   lambda: models.get("landmarker"), lambda: models.get("recognizer"))
    track_file = analyze(plate, settings, models.get("detector"), models.get("landmarker"), models.get("recognizer"),
                         progress=True, colour=colour)
    sha = save_track_file(track_file, track_path)
    log.info("analysis written to %s", track_path)
    if args.frames is None:
        args.frames = f"{plate.frames[0]}-{plate.frames[-1]}"
    return run_render(args, track_file=track_file, track_sha=sha, plate=plate, models=models)

"""`faceplate analyze PLATE --frames A-B -o shot.track.json`: the whole shot, once, into a track file.
"""
from __future__ import annotations

import argparse
import logging
import math
import os

log = logging.getLogger("faceplate.analyze")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "analyze", help="detect, track and smooth every face of a shot into a track file",
        description="Pass 1 of 2 (like a tracker): reads the plate frames, finds every face (multi-scale, "
                    "40 px to full frame), 68 landmarks and identity, tracks faces across frames (ids survive "
                    "crossings and cuts), fills short gaps, smooths without lag, and writes the track file "
                    "that `faceplate render` and the Nuke node read.",
        epilog="Example: faceplate analyze shot/plate.####.exr --frames 1001-1100 -o shot.track.json "
               "--preview shot/preview")
    p.add_argument("plate", metavar="PLATE",
                   help="plate sequence: plate.####.exr, plate.%%04d.exr, plate.@@@@.exr or one frame plate.1001.exr")
    p.add_argument("--frames", help="frame range, e.g. 1001-1100, 1001-1100x2 or 1001,1005,1010-1012 "
                                    "(default: every frame on disk)")
    p.add_argument("-o", "--output", required=True, metavar="TRACK.json", help="track file to write")
    p.add_argument("--target-face", metavar="REF.jpg",
                   help="photo of the person to keep: only the matching track(s) are written")
    p.add_argument("--source", action="append", default=[], metavar="MEDIA",
                   help="engine v2: source actor media (stills, seq.####.png, clips; repeatable, or one .source.json): "
                        "analysed once into a cached source file; each face entry gets its best library frame")
    p.add_argument("--preview", metavar="DIR", help="also write preview.####.png with boxes, ids and landmarks")
    p.add_argument("--detector", metavar="NAME|FILE", help="detector model (default: embedded)")
    p.add_argument("--landmarker", metavar="NAME|FILE", help="68-point landmarker (default: embedded)")
    p.add_argument("--recognizer", metavar="NAME|FILE", help="identity recognizer (default: embedded)")
    p.add_argument("--smoothing", type=float, default=1.0, help="zero-phase smoothing strength, 0 = off (default 1.0)")
    p.add_argument("--max-gap", type=int, default=8,
                   help="fill gaps of up to N frames by interpolation; longer gaps end a track segment (default 8)")
    p.add_argument("--min-face", type=float, default=40.0, help="smallest face width in pixels to find (default 40)")
    p.add_argument("--layer", help="EXR layer holding the RGB to analyse (e.g. beauty); default: R,G,B")
    p.add_argument("--colourspace", help="plate colourspace in the OCIO config (default: scene_linear role)")
    p.add_argument("--no-occlusion", action="store_true",
                   help="do not look for objects in front of the faces (default: a second pass over the plate "
                        "flags them per frame, and render keeps them in front)")
    p.add_argument("--parser", metavar="FILE.onnx",
                   help="a BiSeNet-style face parser (CelebAMask-HQ classes, e.g. the bisenet_parser slot): its "
                        "--parser-regions are stored with each frame's occlusion, so render keeps the actor's "
                        "glasses and the hair in front of the face (default: none; glasses worn the whole shot "
                        "are not found without it)")
    p.add_argument("--parser-regions", metavar="LIST",
                   help="parser regions kept in front of the face, from: glasses, hair, ears, neck, ... "
                        "(default glasses,hair)")
    p.add_argument("--keep-weak-tracks", action="store_true",
                   help="keep tracks detected in only one or two frames with a low score (default: dropped, "
                        "with a warning naming them: in a long shot they are hands or the backs of heads)")
    p.add_argument("--no-grain", action="store_true",
                   help="do not measure the plate's grain and skin texture around each face (engine v2 then "
                        "measures them per frame)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from faceplate.core.analyze.pipeline import AnalyzeSettings, analyze
    from faceplate.core.colour import ColourPipeline
    from faceplate.core.errors import FaceplateError
    from faceplate.core.io.frames import parse_frames
    from faceplate.core.io.sequence import PlateSequence
    from faceplate.core.io.track_file import save_track_file
    from faceplate.core.models.zoo import load_detector, load_landmarker, load_recognizer

    if not all(math.isfinite(v) for v in (args.smoothing, args.min_face)):
        raise FaceplateError("--smoothing and --min-face must be finite numbers (NaN/inf cannot be stored "
                             "in the track file)")
    if args.smoothing < 0:
        raise FaceplateError(f"--smoothing {args.smoothing}: must be 0 (off) or positive")
    if args.max_gap < 0:
        raise FaceplateError(f"--max-gap {args.max_gap}: must be 0 or positive")
    if args.min_face <= 0:
        raise FaceplateError(f"--min-face {args.min_face}: must be a positive width in pixels")
    if os.path.isdir(args.output):
        raise FaceplateError(f"{args.output}: is a folder; pass a file name for -o, e.g. shot.track.json")
    frames = parse_frames(args.frames) if args.frames else None
    plate = PlateSequence(args.plate, frames, layer=args.layer)
    _check_paths(args, plate)
    settings = AnalyzeSettings(smoothing=args.smoothing, max_gap=args.max_gap, min_face=args.min_face,
                               layer=args.layer, colourspace=args.colourspace, target_face=args.target_face,
                               occlusion=not args.no_occlusion, grain=not args.no_grain,
                               keep_weak_tracks=args.keep_weak_tracks)
    if args.parser:
        from faceplate.core.analyze.parsed import PARSED_REGIONS
        from faceplate.core.models.parser import regions_from_text
        from faceplate.core.models.zoo import load_parser
        regions = regions_from_text(args.parser_regions, "--parser-regions", PARSED_REGIONS)
        settings.parser, settings.parser_regions = load_parser(args.parser), regions
    if args.target_face and not os.path.isfile(args.target_face):
        raise FaceplateError(f"{args.target_face}: target face image not found; check the --target-face path")
    plate.check_complete()  # before loading models: a missing frame fails in a second
    colour = ColourPipeline(args.colourspace)
    detector = load_detector(args.detector)
    landmarker = load_landmarker(args.landmarker)
    recognizer = load_recognizer(args.recognizer)
    if args.source:  # engine v2: the source library, and selection over the whole shot
        from faceplate.core.face.source_library import load_or_build
        settings.source_library, source_path = load_or_build(args.source, lambda: detector, lambda: landmarker,
                                                             lambda: recognizer)
        log.info("source library %s: %d frame(s)", source_path, len(settings.source_library.frames))
    track_file = analyze(plate, settings, detector, landmarker, recognizer, progress=True, colour=colour)
    sha = save_track_file(track_file, args.output)
    n_entries = sum(len(t.entries) for t in track_file.tracks)
    log.info("wrote %s: %d track(s), %d face entries, %d cut(s), sha256 %s", args.output, len(track_file.tracks),
             n_entries, len(track_file.cuts), sha[:12])
    if args.preview:
        from faceplate.core.analyze.preview import write_previews
        written = write_previews(plate, track_file, args.preview, colour)
        log.info("wrote %d preview PNGs to %s", len(written), args.preview)
    return 0


def _check_paths(args: argparse.Namespace, plate) -> None:
    """The output rule (core/io/outputs.py): -o and the previews overwrite no input and not each other."""
    from faceplate.core.io.outputs import check_outputs

    models = {flag: path for flag, path in (("--detector", args.detector), ("--landmarker", args.landmarker),
                                            ("--recognizer", args.recognizer), ("--target-face", args.target_face),
                                            ("--parser", args.parser))
              if path and os.path.isfile(path)}
    outputs = {"-o": args.output}
    if args.preview:
        outputs["--preview"] = os.path.join(args.preview, "preview.####.png")
    check_outputs(outputs, {"PLATE": plate.pattern, "--source": args.source, **models}, plate.frames)

"""`faceplate dataset build|cluster|pack|report|gui` — registration only imports argparse."""
from __future__ import annotations

import argparse
import logging

log = logging.getLogger("faceplate.dataset")


def _none_or_float(text: str):
    return None if text.lower() in ("none", "off") else float(text)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "dataset", help="build an aligned, filtered, identity-sorted face dataset from footage",
        description="Film footage → FFHQ-aligned face crops, filtered by the course's rules, sorted by "
                    "identity (docs/DATASET.md). The steps run in order: build (extract + filter), cluster (one "
                    "folder per identity), report (contact sheets), pack (zips); gui does build and cluster in Qt.",
        epilog="example:\n  faceplate dataset build footage/*.mov -o faces --size 512\n"
               "  faceplate dataset cluster faces --auto\n  faceplate dataset report faces && faceplate dataset pack faces")
    sub = parser.add_subparsers(dest="dataset_command", metavar="STEP")
    parser.set_defaults(func=lambda args: (parser.print_help(), 1)[1])

    b = sub.add_parser("build", help="extract faces from videos, image sequences (EXR too) or folders",
                       description="Decode every input (videos through PyAV, EXR/DPX sequences through the colour "
                                   "pipeline, photo folders), detect faces, align each to the FFHQ template at --size, "
                                   "judge it against the filters (tilt, size, blur, occlusion, profile, near-duplicate) "
                                   "and write kept crops as PNG plus one manifest.jsonl row per face with its reason.",
                       epilog="examples:\n  faceplate dataset build footage/*.mov -o faces --size 512 --every 2\n"
                              "  faceplate dataset build plate.####.exr -o faces --layer beauty --max-tilt off")
    b.add_argument("inputs", nargs="+", metavar="INPUT", help="video file, plate.####.exr pattern, or folder")
    b.add_argument("-o", "--out", required=True, metavar="DATASET", help="output folder")
    b.add_argument("--size", type=int, default=1024, choices=(1024, 512, 256, 224), help="crop side (default 1024)")
    b.add_argument("--every", type=int, default=None, metavar="N",
                   help="analyse every N-th frame of a video or sequence (default: every frame)")
    b.add_argument("--per-second", type=float, default=None, metavar="N",
                   help="analyse N frames per second of video instead of --every (default: every frame)")
    b.add_argument("--shot-change", action="store_true", help="(also) analyse the first frame of each shot")
    b.add_argument("--min-face", type=float, default=40.0, metavar="PX",
                   help="minimum original face size (detector box side, pixels; default 40)")
    b.add_argument("--bit-depth", type=int, default=8, choices=(8, 16), help="PNG bit depth (default 8)")
    b.add_argument("--max-tilt", type=_none_or_float, default=30.0, metavar="DEG", help="eye-line tilt limit in degrees, or 'off'")
    b.add_argument("--min-face-fraction", type=_none_or_float, default=0.40, metavar="F",
                   help="least share of the crop backed by plate pixels, or 'off'")
    b.add_argument("--min-sharpness", type=_none_or_float, default=25.0, metavar="S",
                   help="least normalised Laplacian variance at 256², or 'off'")
    b.add_argument("--max-yaw", type=_none_or_float, default=70.0, metavar="DEG", help="profile (yaw) limit in degrees, or 'off'")
    b.add_argument("--max-occlusion", type=_none_or_float, default=0.85, metavar="F", help="occlusion limit, 0..1, or 'off'")
    b.add_argument("--no-dedupe", action="store_true", help="keep near-duplicate faces")
    b.add_argument("--detector", default=None, help="detector name or file (default: embedded RetinaFace)")
    b.add_argument("--landmarker", default=None, help="landmarker name or file (default: dlib 68)")
    b.add_argument("--recognizer", default=None, help="recognizer name or file (default: dlib 128-d)")
    b.add_argument("--colourspace", default=None, help="plate colourspace of EXR/DPX inputs (default scene_linear)")
    b.add_argument("--layer", default=None, help="EXR layer holding the RGB to use")
    b.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores; 0 = in-process)")
    b.add_argument("--resume", action="store_true", help="continue a dataset in DATASET even if settings differ")
    b.add_argument("--force", action="store_true", help="replace the dataset in DATASET")
    b.set_defaults(func=_build)

    c = sub.add_parser("cluster", help="sort each group's faces into identity folders 0/ 1/ …",
                       description="Sort the kept faces of each group (one group per input video or folder) into "
                                   "numbered identity folders by their embeddings: --classes K clusters into K, "
                                   "--auto cuts at the recognizer's same-person threshold. Re-running re-sorts.",
                       epilog="examples:\n  faceplate dataset cluster faces --auto\n"
                              "  faceplate dataset cluster faces --classes 3 --merge-groups")
    c.add_argument("dataset", metavar="DATASET", help="a folder written by `faceplate dataset build`")
    g = c.add_mutually_exclusive_group(required=True)
    g.add_argument("--classes", type=int, metavar="K", help="initial number of identities (clusters)")
    g.add_argument("--auto", action="store_true", help="as many clusters as the recognizer's same-person threshold gives")
    c.add_argument("--threshold", type=float, default=None,
                   help="cosine distance cut for --auto (default: the recognizer's same-person threshold)")
    c.add_argument("--merge-groups", action="store_true", help="same folder number = same person across inputs")
    c.set_defaults(func=_cluster)

    p = sub.add_parser("pack", help="one zip per group in DATASET/packs/",
                       description="Zip each group's identity folders and its manifest rows into DATASET/packs/"
                                   "<group>.zip for hand-in or transfer; prints each zip's path.",
                       epilog="examples:\n  faceplate dataset pack faces\n  faceplate dataset pack faces --group take_01")
    p.add_argument("dataset", metavar="DATASET", help="a folder written by `faceplate dataset build`")
    p.add_argument("--group", action="append", default=None, help="only this group (repeatable; default: every group)")
    p.set_defaults(func=_pack)

    r = sub.add_parser("report", help="HTML + PNG contact sheets per cluster, rejections by reason",
                       description="Write DATASET/report/index.html: a PNG contact sheet per identity folder and one "
                                   "per rejection reason, with counts, so a person can check the filters and the "
                                   "clustering at a glance. Prints the index path.",
                       epilog="example:\n  faceplate dataset report faces")
    r.add_argument("dataset", metavar="DATASET", help="a folder written by `faceplate dataset build`")
    r.set_defaults(func=_report)

    q = sub.add_parser("gui", help="Qt tool: extraction and classification tabs",
                       description="The dataset tool in Qt (PySide6, else PySide2; the gui extra): an Extraction tab "
                                   "(video, output folder, face size, crop size, progress and log) and a "
                                   "Classification tab (face folder, class count or auto). Needs a display.",
                       epilog="example:\n  pip install \"faceplate[gui]\" && faceplate dataset gui")
    q.set_defaults(func=_gui)


def settings_from_args(args: argparse.Namespace):
    from .dataset import BuildSettings
    from .dataset_filters import FilterSettings
    filters = FilterSettings(max_tilt=args.max_tilt, min_face_fraction=args.min_face_fraction,
                             min_sharpness=args.min_sharpness, max_yaw=args.max_yaw,
                             max_occlusion=args.max_occlusion)
    if args.no_dedupe:
        filters.dedupe_hash = None
    return BuildSettings(size=args.size, every=args.every, per_second=args.per_second, shot_change=args.shot_change,
                         min_face=args.min_face, bit_depth=args.bit_depth, detector=args.detector,
                         landmarker=args.landmarker, recognizer=args.recognizer, colourspace=args.colourspace,
                         layer=args.layer, filters=filters)


def _build(args: argparse.Namespace) -> int:
    from .dataset import build
    from .dataset_report import report
    result = build(args.inputs, args.out, settings_from_args(args), workers=args.workers, resume=args.resume,
                   force=args.force)
    index = report(result.out_dir)
    reasons = ", ".join(f"{k}: {v}" for k, v in sorted(result.rejected.items())) or "none"
    print(f"{result.faces} faces, {result.kept} kept; rejected: {reasons}")
    for path in result.skipped:
        print(f"skipped (unreadable or truncated): {path}")
    print(f"report: {index}")
    if result.skipped and all(e.get("status") in ("failed", "truncated") for e in result.inputs.values()):
        from faceplate.core.errors import FaceplateError
        raise FaceplateError(f"no input could be read ({len(result.skipped)} skipped, e.g. {result.skipped[0]}); "
                             f"check the files")
    return 0


def _cluster(args: argparse.Namespace) -> int:
    from .dataset_cluster import cluster_dataset
    summary = cluster_dataset(args.dataset, classes=args.classes, auto=args.auto, threshold=args.threshold,
                              merge_groups=args.merge_groups, log_fn=print)
    if not summary:
        print("no kept faces to cluster")
    return 0


def _pack(args: argparse.Namespace) -> int:
    from .dataset_report import pack
    for path in pack(args.dataset, args.group):
        print(path)
    return 0


def _report(args: argparse.Namespace) -> int:
    from .dataset_report import report
    print(report(args.dataset))
    return 0


def _gui(args: argparse.Namespace) -> int:
    import os
    import sys

    from faceplate.core.cli import require_extra
    from faceplate.core.errors import FaceplateError

    require_extra("gui", ("PySide6", "PySide2"), what="`faceplate dataset gui`")
    # Without a display Qt's xcb plugin aborts the process (core dump, no message): say it first.
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                                                 or os.environ.get("QT_QPA_PLATFORM")):
        raise FaceplateError("`faceplate dataset gui` needs a display: run it in a desktop session (or over ssh -X); "
                             "the same work runs headless with `faceplate dataset build|cluster`")
    from .dataset_gui import main
    return main()

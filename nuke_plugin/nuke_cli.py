"""``faceplate nuke setup|key-edits|thumbnails``: the faceplate side of the Nuke plugin.

* ``faceplate nuke setup DEST`` writes the NUKE_PATH folder for this install and prints the
  environment lines (NUKE_PATH, FACEPLATE_EXE) for Nuke 14, 15 and 16.
* ``faceplate nuke key-edits TRACK EDITS.json`` writes a node's edited keys (saved by the Render
  button) into the track file as manual entries.
* ``faceplate nuke thumbnails TRACK --plate P --frame F --out DIR`` writes the face picker's PNGs.
"""
from __future__ import annotations

import argparse
from typing import Any

from faceplate.nuke.farm_cli import as_faceplate_errors


def register(subparsers: Any) -> None:
    nuke = subparsers.add_parser(
        "nuke", help="set up Nuke for this install; helpers the FaceSwap node runs",
        description="The faceplate side of the Nuke plugin: `setup` writes a NUKE_PATH folder for Nuke 14, 15 "
                    "and 16 and prints the environment to set; `key-edits` and `thumbnails` are what the FaceSwap "
                    "node's buttons run (edited keys into the track file, the face picker's PNGs).",
        epilog="example:\n  faceplate nuke setup ~/nuke/faceplate   # then set the printed NUKE_PATH and FACEPLATE_EXE")
    sub = nuke.add_subparsers(dest="nuke_command", metavar="ACTION")
    setup = sub.add_parser(
        "setup", help="write the NUKE_PATH folder and print the environment to set",
        description="Write DEST as a NUKE_PATH folder (init.py, menu.py, the FaceSwap gizmo) wired to this "
                    "install, and print the NUKE_PATH and FACEPLATE_EXE lines to add to the environment Nuke "
                    "starts in (Nuke 14, 15, 16).",
        epilog="example:\n  faceplate nuke setup /sw/nuke/faceplate --exe /sw/faceplate/bin/faceplate")
    setup.add_argument("dest", metavar="DEST", help="folder to write (e.g. /sw/nuke/faceplate)")
    setup.add_argument("--exe", help="faceplate executable Nuke should run (default: this install's)")
    setup.set_defaults(func=as_faceplate_errors(run_setup))
    edits = sub.add_parser(
        "key-edits", help="write edited keys into the track file as manual entries",
        description="Write a FaceSwap node's edited keys (saved by its Render button as EDITS.json) into the "
                    "track file as `manual` entries, which render then uses instead of the tracked ones.",
        epilog="example:\n  faceplate nuke key-edits shot.track.json FaceSwap1.edits.json")
    edits.add_argument("track", metavar="TRACK.json", help="track file to update (written atomically)")
    edits.add_argument("edits", metavar="EDITS.json", help="{knob: [[[frame, value], ...] per index]}")
    edits.set_defaults(func=as_faceplate_errors(run_key_edits))
    thumbs = sub.add_parser(
        "thumbnails", help="face_<id>.png per track for the face picker",
        description="Write one square PNG per track of the track file (face_<id>.png), cut from the plate at "
                    "--frame, for the FaceSwap node's face picker.",
        epilog="example:\n  faceplate nuke thumbnails shot.track.json --plate plate.####.exr --frame 1001 --out thumbs")
    thumbs.add_argument("track", metavar="TRACK.json", help="track file from `faceplate analyze`")
    thumbs.add_argument("--plate", required=True, help="plate pattern, e.g. plate.####.exr")
    thumbs.add_argument("--frame", type=int, required=True, help="frame to cut the faces from")
    thumbs.add_argument("--out", required=True, help="folder for the PNGs")
    thumbs.add_argument("--size", type=int, default=96, help="side of each PNG in pixels")
    thumbs.set_defaults(func=as_faceplate_errors(run_thumbnails))
    nuke.set_defaults(func=lambda args: (nuke.print_help(), 1)[1])


def run_setup(args: argparse.Namespace) -> int:
    from faceplate.nuke.nuke_setup import default_exe, environment_lines, write_nuke_folder

    exe = args.exe or default_exe()
    written = write_nuke_folder(args.dest, exe)
    print(environment_lines(str(written["folder"]), exe))
    return 0


def run_key_edits(args: argparse.Namespace) -> int:
    from faceplate.nuke.key_edits import read_curves_json, write_key_edits

    changed, sha = write_key_edits(args.track, read_curves_json(args.edits))
    print(f"{args.track}: {changed} frames edited in Nuke written as manual entries" + (f" (sha256 {sha})" if sha else ""))
    return 0


def run_thumbnails(args: argparse.Namespace) -> int:
    from faceplate.nuke.thumbnails import write_thumbnails

    for path in write_thumbnails(args.track, args.plate, args.frame, args.out, args.size):
        print(path)
    return 0

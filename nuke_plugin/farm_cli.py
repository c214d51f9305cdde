"""``faceplate farm submit --engine opencue|deadline --nk shot.nk --node FaceSwap1``.

Reads the FaceSwap node from the saved script (no Nuke licence), writes a compositor's key edits
back into the track file, checks the inputs, then builds one analyze task and chunked render
tasks (``faceplate render --nk ... --frames START-END``) for the chosen farm.
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import shlex
from pathlib import Path


log = logging.getLogger(__name__)


def register(subparsers) -> None:
    farm = subparsers.add_parser("farm", help="submit a FaceSwap node's analyze + render to OpenCue or Deadline",
                                 description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = farm.add_subparsers(dest="farm_command", metavar="ACTION")
    submit = sub.add_parser("submit", help="one analyze task, then chunked render tasks depending on it")
    submit.add_argument("--engine", choices=("opencue", "deadline"), required=True)
    submit.add_argument("--nk", required=True, help="the saved Nuke script")
    submit.add_argument("--node", required=True, help="the FaceSwap node's name, e.g. FaceSwap1")
    submit.add_argument("--frames", help="A-B (default: the node's frame range)")
    submit.add_argument("--chunk", type=int, default=10, help="frames per render task (default 10)")
    submit.add_argument("--no-analyze", action="store_true",
                        help="reuse the node's existing analysis (must be newer than the plate)")
    submit.add_argument("--exe", default="faceplate", help="faceplate command on the render nodes")
    submit.add_argument("--show", help="OpenCue show")
    submit.add_argument("--shot", help="OpenCue shot (default: the script name)")
    submit.add_argument("--dry-run", metavar="DIR",
                        help="write the job (OpenCue spec XML / Deadline info files) into DIR, submit nothing")
    submit.set_defaults(func=run_submit)
    farm.set_defaults(func=lambda args: (farm.print_help(), 1)[1])


def run_submit(args: argparse.Namespace) -> int:
    from faceplate.nuke import farm, preflight
    from faceplate.nuke.nk_script import analyze_args_from_nk, render_args_from_nk

    nk = os.path.abspath(args.nk)
    r_args = render_args_from_nk(nk, args.node, check=False)
    where = f"{args.node} in {nk}"
    preflight.check_sources(r_args["source"], where)
    preflight.check_cache_writable(str(Path(r_args["track"]).parent), where)
    first, last = _frame_range(args.frames or r_args["frames"])
    if args.no_analyze:
        preflight.check_analysis(r_args["track"], r_args["plate"], first, where)
        sync_key_edits(nk, args.node, r_args["track"])
    preflight.check_model_hash(r_args["model"], r_args["expect"]["model_sha256"], where)
    job = farm.job_from_nk(nk, args.node, frames=(first, last), chunk=args.chunk, exe=shlex.split(args.exe),
                           analyze=not args.no_analyze, show=args.show, shot=args.shot,
                           analyze_args=analyze_args_from_nk(nk, args.node))
    if args.engine == "opencue":
        if args.dry_run:
            out = Path(args.dry_run) / f"{job.name}.opencue.xml"
            from faceplate.core.filesystem import atomic_write_text
            atomic_write_text(out, farm.opencue_spec(job))
            print(out)
            return 0
        jobs = farm.submit_opencue(job)
        print(f"submitted {job.name} to OpenCue: {len(job.chunks())} render tasks")
        return 0 if jobs is not None else 1
    folder = args.dry_run or str(Path(r_args["track"]).parent / "farm")
    if args.dry_run:
        files = farm.deadline_files(job, folder)
        print(" ".join(shlex.quote(a) for a in farm.deadline_command(files)))
        return 0
    print(farm.submit_deadline(job, folder))
    return 0


def _frame_range(spec: str) -> tuple[int, int]:
    """``A-B`` or a single frame ``A`` (negative frames allowed); bad text is a one-line error."""
    from faceplate.core.errors import FaceplateError

    m = re.match(r"^\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*)?$", str(spec))
    if not m or (m.group(2) is not None and int(m.group(2)) < int(m.group(1))):
        raise FaceplateError(f"--frames {spec!r}: not a frame range; use A-B, e.g. 1001-1100")
    first = int(m.group(1))
    return first, int(m.group(2)) if m.group(2) is not None else first


def sync_key_edits(nk_path: str, node_name: str, track_path: str) -> int:
    """Write the script's edited keys back into the track file as manual entries; return how many."""
    from faceplate.core.io.track_file import load_track_file, save_track_file
    from faceplate.nuke.bake import apply_key_edits
    from faceplate.nuke.nk_script import baked_curves_from_nk

    curves = baked_curves_from_nk(nk_path, node_name)
    if not curves:
        return 0
    tf = load_track_file(track_path)
    changed = apply_key_edits(tf, curves)
    if changed:
        save_track_file(tf, track_path)
        log.info("%s: %d frames edited in Nuke written back as manual entries", track_path, len(changed))
    return len(changed)

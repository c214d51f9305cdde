"""``faceplate farm submit|render``: a FaceSwap node's farm job, read from the saved script.

* ``faceplate farm submit --engine opencue|deadline --nk shot.nk --node FaceSwap1`` builds one
  analyze task and chunked render tasks (what the node's Submit button runs).
* ``faceplate farm render --nk shot.nk --node FaceSwap1 [--frames A-B]`` is one render task: it
  reads the node's settings from the script (no Nuke licence), checks them, and runs the core's
  ``faceplate render`` with them.
"""
from __future__ import annotations

import argparse
import functools
import logging
import os
import re
import shlex
from pathlib import Path
from typing import Any, Callable

from faceplate.core.errors import FaceplateError
from faceplate.nuke.errors import NodeError

log = logging.getLogger(__name__)


def as_faceplate_errors(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """The nuke room's NodeError → the core CLI's one-line error and exit 2."""
    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except NodeError as exc:
            raise FaceplateError(str(exc)) from None
    return run


def register(subparsers: Any) -> None:
    farm = subparsers.add_parser(
        "farm", help="a FaceSwap node's analyze + render on OpenCue or Deadline",
        description="Run a FaceSwap node of a saved Nuke script on a render farm, without a Nuke licence on the "
                    "render nodes: `submit` builds one analyze task and chunked render tasks that depend on it "
                    "(what the node's Submit button runs); `render` is one render task, reading the node's "
                    "settings from the script and running `faceplate render` with them.",
        epilog="examples:\n  faceplate farm submit --engine deadline --nk shot.nk --node FaceSwap1 --chunk 10\n"
               "  faceplate farm render --nk shot.nk --node FaceSwap1 --frames 1001-1010")
    sub = farm.add_subparsers(dest="farm_command", metavar="ACTION")
    submit = sub.add_parser(
        "submit", help="one analyze task, then chunked render tasks depending on it",
        description="Check the node's inputs (sources, cache folder, model hash), then submit its job: one analyze "
                    "task and render tasks of --chunk frames that wait for it. OpenCue goes through pyoutline (the "
                    "farm extra); Deadline through job-info / plugin-info files for the CommandLine plugin. "
                    "--dry-run writes the job instead of submitting it.",
        epilog="examples:\n  faceplate farm submit --engine opencue --nk shot.nk --node FaceSwap1 --show demo\n"
               "  faceplate farm submit --engine deadline --nk shot.nk --node FaceSwap1 --dry-run /tmp/job")
    submit.add_argument("--engine", choices=("opencue", "deadline"), required=True,
                        help="farm scheduler: opencue (needs pyoutline: pip install \"faceplate[farm]\") or deadline")
    _node_options(submit)
    submit.add_argument("--chunk", type=int, default=10, help="frames per render task (default 10)")
    submit.add_argument("--no-analyze", action="store_true",
                        help="reuse the node's existing analysis (must be newer than the plate)")
    submit.add_argument("--exe", default="faceplate",
                        help="faceplate command line on the render nodes, e.g. '/sw/faceplate/bin/faceplate'")
    submit.add_argument("--show", help="OpenCue show (default: OpenCue's configured show)")
    submit.add_argument("--shot", help="OpenCue shot (default: the script name)")
    submit.add_argument("--dry-run", metavar="DIR",
                        help="write the job (OpenCue spec XML / Deadline info files) into DIR, submit nothing")
    submit.set_defaults(func=as_faceplate_errors(run_submit))
    render = sub.add_parser(
        "render", help="one render task: the node's settings from the saved script",
        description="One render task of a FaceSwap node: read the node's knobs from the saved script (Root "
                    "range, clones, group-local names, [getenv] and project-relative paths resolved as Nuke "
                    "does), check its analysis and model, and run `faceplate render` on the frames. No Nuke "
                    "licence needed.",
        epilog="example:\n  faceplate farm render --nk /shows/demo/shot.nk --node FaceSwap1 --frames 1001-1010")
    _node_options(render)
    render.set_defaults(func=as_faceplate_errors(run_render))
    farm.set_defaults(func=lambda args: (farm.print_help(), 1)[1])


def _node_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--nk", required=True, help="the saved Nuke script")
    p.add_argument("--node", required=True, help="the FaceSwap node's name, e.g. FaceSwap1 (Group1.FaceSwap1)")
    p.add_argument("--frames", help="A-B (default: the node's frame range)")


def registry_sha256() -> dict[str, str]:
    """name → sha256 of the models this install knows (for the node's recorded model hash)."""
    from faceplate.core.models.manifest import registry
    return {name: entry.sha256 for name, entry in registry().items()}


def run_render(args: argparse.Namespace) -> int:
    from faceplate.core.cli.__init__ import main
    from faceplate.nuke import preflight
    from faceplate.nuke.settings import FaceSwapSettings

    s = FaceSwapSettings.from_nk(args.nk, args.node)
    where = f"{args.node} in {os.path.abspath(args.nk)}"
    first, last = frame_range(args.frames or s.frames)
    preflight.check_sources(s.sources, where)
    preflight.check_analysis(s.track, s.plate, first, where)
    preflight.check_model_hash(s.model, s.model_sha256, where, registry_sha256())
    preflight.check_cache_writable(s.cache_dir, where)
    log.info("settings from %s node %s", args.nk, args.node)
    return main(s.render_argv([], frames=f"{first}-{last}"))


def run_submit(args: argparse.Namespace) -> int:
    from faceplate.core.cli import require_extra
    from faceplate.nuke import farm, preflight
    from faceplate.nuke.settings import FaceSwapSettings

    if args.engine == "opencue":  # before reading the script: the job could not be built anyway
        require_extra("farm", "outline", what="`faceplate farm submit --engine opencue` (pyoutline)")

    nk = os.path.abspath(args.nk)
    if args.dry_run:  # the output rule (core/io/outputs.py): the job folder is not the script
        from faceplate.core.io.outputs import check_outputs
        check_outputs({"--dry-run": args.dry_run}, {"--nk": nk}, folders=("--dry-run",))
    s = FaceSwapSettings.from_nk(nk, args.node)
    where = f"{args.node} in {nk}"
    preflight.check_sources(s.sources, where)
    preflight.check_cache_writable(s.cache_dir, where)
    first, last = frame_range(args.frames or s.frames)
    if args.no_analyze:
        preflight.check_analysis(s.track, s.plate, first, where)
        sync_key_edits(nk, args.node, s.track)
    preflight.check_model_hash(s.model, s.model_sha256, where, registry_sha256())
    job = farm.job_from_nk(nk, args.node, frames=(first, last), chunk=args.chunk, exe=shlex.split(args.exe),
                           analyze=not args.no_analyze, show=args.show, shot=args.shot, settings=s)
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
    folder = args.dry_run or str(Path(s.track).parent / "farm")
    if args.dry_run:
        files = farm.deadline_files(job, folder)
        print(" ".join(shlex.quote(a) for a in farm.deadline_command(files)))
        return 0
    print(farm.submit_deadline(job, folder))
    print(f"submitted {job.name} to Deadline: {len(job.chunks())} render tasks")
    return 0


def frame_range(spec: str) -> tuple[int, int]:
    """``A-B`` or a single frame ``A`` (negative frames allowed); bad text is a one-line error."""
    m = re.match(r"^\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*)?$", str(spec))
    if not m or (m.group(2) is not None and int(m.group(2)) < int(m.group(1))):
        raise NodeError(f"--frames {spec!r}: not a frame range; use A-B, e.g. 1001-1100")
    first = int(m.group(1))
    return first, int(m.group(2)) if m.group(2) is not None else first


def sync_key_edits(nk_path: str, node_name: str, track_path: str) -> int:
    """Write the script's edited keys back into the track file as manual entries; return how many."""
    from faceplate.nuke.bake import KNOB_PREFIX
    from faceplate.nuke.key_edits import write_key_edits
    from faceplate.nuke.nk_script import NkScript

    script = NkScript.load(nk_path)
    node = script.node(node_name)
    changed, _sha = write_key_edits(track_path, {k: script.curves(node, k) for k in node.knobs
                                                 if k.startswith(KNOB_PREFIX)})
    if changed:
        log.info("%s: %d frames edited in Nuke written back as manual entries", track_path, changed)
    return changed

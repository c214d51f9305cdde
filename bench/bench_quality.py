"""Face quality bench (issue 10): engine variants side by side, graded by models the engine does not use.

    python bench/bench_quality.py                       # today's engine as variant `old`
    python bench/bench_quality.py --quick               # 8 frames per plate, about 2 minutes
    python bench/bench_quality.py --variant old="" \\
        --variant new="--engine classical2" --variant-analyze new="--source-library {sources}"

Drives the engine only through the `faceplate` CLI (`analyze`, then `render`), so it works across
restructures. A variant is a name and a free-form argument string appended to `faceplate render`
(and, with --variant-analyze, to `faceplate analyze`). Placeholders: {sources} (the source files,
space-separated), {source_dir}, {source_pattern} (a numbered sequence for the clip). A render string
with neither --source nor {sources} gets `--source FILE` for every source file appended.

Plates (quality_plates): `photos` (five real faces on known sub-pixel paths, a mug crossing a mouth,
correlated grain) and `tos` (the Tears of Steel head turn with glasses). Sources: `still` (biden.jpg)
and `clip` (face crops of the short_hamilton_clip.mp4 speaker). Judges (quality_judges): YuNet to place
crops, PFLD-98 for eyes / mouth / brows / forehead band, MobileFaceNet for identity. Metrics:
quality_metrics; grading loop: quality_eval; tables and contact sheets: quality_report.
Writes a markdown table to stdout and --doc, all numbers to OUT/bench_quality.json, sheets to --sheets.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality_eval import PlateTruth, analyse_plate, evaluate_render  # noqa: E402
from quality_judges import Judges  # noqa: E402
from quality_plates import PLATE_VERSION, build_photo_plate, build_sources, build_tos_plate  # noqa: E402
from quality_report import contact_sheet, face_table, summary_table  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ASSETS = Path(os.environ.get("FACEPLATE_ASSETS", REPO.parent / "shared" / "assets"))
JUDGE_MODEL_NAMES = ("mobilefacenet", "pfld")


def parse_named(values: list[str], flag: str) -> dict[str, str]:
    named = {}
    for value in values:
        name, sep, args = value.partition("=")
        if not sep or not name.strip():
            raise SystemExit(f"{flag} {value!r}: write NAME=\"ARGS\" (e.g. {flag} old=\"\")")
        named[name.strip()] = args
    return named


def expand(args: str, sources: list[Path], source_dir: Path, pattern: str, add_sources: bool) -> list[str]:
    """The variant's argument string with its placeholders filled in, as an argv list."""
    text = (args.replace("{sources}", " ".join(shlex.quote(str(p)) for p in sources))
            .replace("{source_dir}", shlex.quote(str(source_dir))).replace("{source_pattern}", shlex.quote(pattern)))
    argv = shlex.split(text)
    if add_sources and "--source" not in argv and "{sources}" not in args:
        for path in sources:
            argv += ["--source", str(path)]
    return argv


def faceplate_command() -> list[str]:
    beside = Path(sys.executable).with_name("faceplate")
    found = str(beside) if beside.exists() else shutil.which("faceplate")
    if not found:
        raise SystemExit("no `faceplate` command found: activate the project's venv (pip install -e .)")
    return [found]


def run_cli(argv: list[str], log: Path) -> float:
    """Run one faceplate command, its output into log; returns wall seconds; exits on failure."""
    start = time.perf_counter()
    with open(log, "a") as handle:
        handle.write("$ " + shlex.join(argv) + "\n")
        handle.flush()
        done = subprocess.run(argv, stdout=handle, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        tail = log.read_text().splitlines()[-5:]
        raise SystemExit(f"failed ({done.returncode}): {shlex.join(argv)}\n  " + "\n  ".join(tail))
    return seconds


def build_inputs(out: Path, plates: list[str], frames: int, judges: Judges) -> tuple[dict, dict]:
    """Plates (rebuilt only when missing or of another length) and the source sets."""
    manifests = {}
    for name in plates:
        folder = out / "plates" / f"{name}_{frames}"
        manifest_path = folder / "manifest.json"
        if manifest_path.exists():
            manifests[name] = json.loads(manifest_path.read_text())
            if manifests[name].get("version") == PLATE_VERSION:
                continue
        print(f"building plate {name} ({frames} frames) in {folder}", file=sys.stderr)
        if name == "photos":
            manifests[name] = build_photo_plate(folder, ASSETS, judges, frames)
        elif name == "tos":
            manifests[name] = build_tos_plate(folder, ASSETS, frames)
        else:
            raise SystemExit(f"unknown plate {name!r}: choose photos and/or tos")
    return manifests, build_sources(out / "sources", ASSETS, judges)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", action="append", default=[], metavar='NAME="ARGS"',
                        help='engine variant: extra `faceplate render` arguments (default: old="")')
    parser.add_argument("--variant-analyze", action="append", default=[], metavar='NAME="ARGS"',
                        help="extra `faceplate analyze` arguments for that variant")
    parser.add_argument("--plates", default="photos,tos", help="plates to build and grade (photos,tos)")
    parser.add_argument("--sources", default="still,clip", help="source sets (still,clip)")
    parser.add_argument("--frames", type=int, default=36, help="frames per plate (default 36)")
    parser.add_argument("--quick", action="store_true", help="8 frames per plate (about 2 minutes per variant)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/faceplate_bench_quality"), help="work folder")
    parser.add_argument("--sheets", type=Path, help="folder for the contact sheets (default OUT/sheets)")
    parser.add_argument("--doc", type=Path, help="also write the tables into this markdown file")
    args = parser.parse_args(argv)

    frames = 8 if args.quick else args.frames
    variants = parse_named(args.variant, "--variant") or {"old": ""}
    analyze_args = parse_named(args.variant_analyze, "--variant-analyze")
    for name in analyze_args:
        if name not in variants:
            raise SystemExit(f"--variant-analyze {name}: no --variant {name}")
    for name, text in {**variants, **{k + " (analyze)": v for k, v in analyze_args.items()}}.items():
        if any(judge in text.lower() for judge in JUDGE_MODEL_NAMES):
            print(f"WARNING: variant {name} uses a judge model ({text}): its scores are not independent",
                  file=sys.stderr)
    out = args.out.resolve()
    sheets = (args.sheets or out / "sheets").resolve()
    sheets.mkdir(parents=True, exist_ok=True)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    log = out / "faceplate.log"
    faceplate = faceplate_command()
    judges = Judges(ASSETS)

    start = time.perf_counter()
    manifests, source_sets = build_inputs(out, args.plates.split(","), frames, judges)
    source_names = args.sources.split(",")
    for name in source_names:
        if name not in source_sets:
            raise SystemExit(f"unknown source set {name!r}: choose still and/or clip")
    source_identity = {name: judges.identity_of_photos([cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
                                                        for p in source_sets[name]]) for name in source_names}
    truths: dict[str, PlateTruth] = {name: analyse_plate(judges, name, m) for name, m in manifests.items()}
    print(f"inputs ready in {time.perf_counter() - start:.0f}s", file=sys.stderr)

    runs, tracks = [], {}
    for plate, manifest in manifests.items():
        frame_range = f"{manifest['first']}-{manifest['last']}"
        for source in source_names:
            files = source_sets[source]
            source_dir = files[0].parent
            pattern = str(source_dir / "source.####.png") if source == "clip" else str(files[0])
            for variant, render_text in variants.items():
                tag = f"{plate}_{source}_{variant}"
                analyze_argv = expand(analyze_args.get(variant, ""), files, source_dir, pattern, add_sources=False)
                key = (plate, tuple(analyze_argv))
                if key not in tracks:
                    track = out / "runs" / f"{plate}_{len(tracks)}.track.json"
                    seconds = run_cli(faceplate + ["analyze", manifest["pattern"], "--frames", frame_range,
                                                   "-o", str(track)] + analyze_argv, log)
                    tracks[key] = (track, seconds)
                track, analyze_seconds = tracks[key]
                render_dir = out / "runs" / tag
                shutil.rmtree(render_dir, ignore_errors=True)
                render_dir.mkdir(parents=True)
                out_pattern = str(render_dir / "out.####.exr")
                render_argv = expand(render_text, files, source_dir, pattern, add_sources=True)
                seconds = run_cli(faceplate + ["render", manifest["pattern"], "--track", str(track), "--frames",
                                               frame_range, "--out", out_pattern] + render_argv, log)
                result = evaluate_render(judges, truths[plate], out_pattern, source_identity[source])
                result["render_fps"] = len(truths[plate].frames) / seconds
                result["render_seconds"] = seconds
                result["analyze_seconds"] = analyze_seconds
                sheet = sheets / f"quality_{tag}.png"
                contact_sheet(truths[plate], out_pattern, sheet, f"{plate} · source {source} · variant {variant}")
                runs.append({"plate": plate, "source": source, "variant": variant, "render_args": render_argv,
                             "analyze_args": analyze_argv, "sheet": str(sheet), "result": result})
                print(f"{tag}: identity {result['identity_mean']:.2f}, render {seconds:.1f}s", file=sys.stderr)

    face_names = {plate: [_face_name(t, k) for k in range(len(t.tracks))] for plate, t in truths.items()}
    command = "python bench/bench_quality.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    report = render_markdown(runs, face_names, command, frames, time.perf_counter() - start)
    print(report)
    (out / "bench_quality.json").write_text(json.dumps(
        {"command": command, "date": _now(), "frames": frames, "variants": variants, "analyze": analyze_args,
         "sources": {k: [str(p) for p in v] for k, v in source_sets.items()}, "faces": face_names, "runs": runs},
        indent=1, default=float))
    if args.doc:
        tmp = args.doc.with_suffix(".tmp")
        tmp.write_text(_doc_text(args.doc, report))
        tmp.replace(args.doc)
    print(f"json: {out / 'bench_quality.json'}; sheets: {sheets}", file=sys.stderr)
    return 0


def _face_name(truth: PlateTruth, k: int) -> str:
    known = truth.known[k] if k < len(truth.known) else None
    if known is not None:
        face = truth.manifest["faces"][known]
        return f"{k + 1}: {Path(face['asset']).stem} ({face['why']})"
    return f"{k + 1}: {Path(truth.manifest.get('clip', 'face')).stem} track"


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def render_markdown(runs: list[dict], faces: dict, command: str, frames: int, seconds: float) -> str:
    return (f"`{command}` — {_now()}, {frames} frames per plate, whole run {seconds:.0f} s\n\n"
            + summary_table(runs) + "\n\nPer face (identity cos(source, swap) · eye / mouth relative error · "
            "forehead band change):\n\n" + face_table(runs, faces) + "\n")


RESULTS_START, RESULTS_END = "<!-- bench_quality results -->", "<!-- /bench_quality results -->"


def _doc_text(doc: Path, report: str) -> str:
    """The doc with its results section replaced (the rest of the doc is written by hand)."""
    block = f"{RESULTS_START}\n{report}{RESULTS_END}"
    text = doc.read_text() if doc.exists() else f"# Face quality bench\n\n{RESULTS_START}\n{RESULTS_END}\n"
    if RESULTS_START not in text:
        return text.rstrip() + "\n\n" + block + "\n"
    head, rest = text.split(RESULTS_START, 1)
    return head + block + rest.split(RESULTS_END, 1)[1]


if __name__ == "__main__":
    np.seterr(invalid="ignore")
    sys.exit(main())

"""The FaceSwap node inside Nuke: onCreate, knobChanged and the Analyze / Render / Submit buttons.

The only faceplate module that imports ``nuke`` (with panels.py for the Qt face picker). All
logic it can hand off is pure and lives elsewhere: bake.py (keys ↔ track file, the y flip),
farm.py (job building), nk_script.py (saved-script reading), preflight.py (input checks).
The core runs as a subprocess (``faceplate analyze`` / ``faceplate render``) so Nuke's Python
never loads onnxruntime or models, and a crash in the core cannot take Nuke down.
"""
from __future__ import annotations

import datetime
import functools
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from typing import Any, Callable, Optional

import nuke

from faceplate.core.errors import FaceplateError
from faceplate.nuke import bake, farm, preflight
from faceplate.nuke.nk_script import cache_paths, hashes_pattern

log = logging.getLogger(__name__)
NODE_CLASS = "FaceSwap"
MENU_REST = "choose..."


# ---------------------------------------------------------------------------------------------
# Errors: a nuke.message in the GUI, an exception (non-zero exit) in terminal/farm sessions
# ---------------------------------------------------------------------------------------------

def _reports_errors(func: Callable) -> Callable:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any):
        try:
            return func(*args, **kwargs)
        except FaceplateError as exc:
            if nuke.GUI:
                nuke.message(f"FaceSwap: {exc}")
                return None
            raise
    return wrapper


def _node(node: Optional[Any]) -> Any:
    return node if node is not None else nuke.thisNode()


# ---------------------------------------------------------------------------------------------
# Callbacks
# ---------------------------------------------------------------------------------------------

def on_create() -> None:
    """Fill the model menu from the registry, default the cache folder, point the patch Read at it."""
    node = nuke.thisNode()
    if nuke.GUI:  # the chooser only matters to a person; farm sessions skip the registry
        node["model_menu"].setValues([MENU_REST] + available_models())
    if not node["cache_dir"].value():
        node["cache_dir"].setValue(default_cache_dir(node.name()))
    _update_paths(node)
    _update_status(node)


def knob_changed() -> None:
    node, knob = nuke.thisNode(), nuke.thisKnob()
    name = knob.name()
    if name in ("cache_dir", "name"):
        _update_paths(node)
    elif name == "model_menu":
        # a chooser, not a setting: copy the choice into the 'model' string and rest again, so the
        # script only ever saves the string (valid whatever this machine's registry holds)
        choice = knob.value()
        if choice != MENU_REST:
            node["model"].setValue(choice)
            knob.setValue(0)
        _update_status(node)
    elif name in ("model", "model_file"):
        _update_status(node)  # the status line names the model; Render/Submit check its sha256
    elif name == "inputChange":
        read = _upstream_read(node)
        node["plate_file"].setValue(hashes_pattern(read["file"].value()) if read is not None else "")


def available_models() -> list[str]:
    """'default' first, then the registry's swappers (empty registry or missing module: just default)."""
    names = ["default"]
    try:
        from faceplate.core.models.manifest import registry
        names += sorted(n for n, e in registry().items() if e.role == "swapper")
    except Exception as exc:  # the registry is optional for the menu
        log.debug("model registry unavailable: %s", exc)
    return names


def default_cache_dir(node_name: str) -> str:
    """Beside the saved script (``<script dir>/faceplate/``), else the temp folder."""
    try:
        script = nuke.root()["name"].value()
    except NameError:
        script = ""
    base = os.path.dirname(script) if script else tempfile.gettempdir()
    return os.path.join(base, "faceplate").replace("\\", "/")


def _update_paths(node: Any) -> None:
    paths = cache_paths(node["cache_dir"].value(), node.name())
    node["patch_file"].setValue(paths["patch"])
    node["track_file"].setValue(paths["track"])
    node["prerender_file"].setValue(paths["plate"])


def _update_status(node: Any) -> None:
    lines = []
    if node["analysed_at"].value():
        lines.append(f"analysed {node['analysed_at'].value()}  track {node['track_sha256'].value()[:12]}")
    else:
        lines.append("not analysed")
    lines.append(f"frames rendered: {node['frames_rendered'].value()}")
    sha = node["model_sha256"].value()
    lines.append(f"model: {_model(node) or 'default'}" + (f"  sha256 {sha[:12]}" if sha else ""))
    node["status"].setValue("\n".join(lines))


# ---------------------------------------------------------------------------------------------
# Reading the node
# ---------------------------------------------------------------------------------------------

def _model(node: Any) -> Optional[str]:
    model = node["model_file"].value().strip() or node["model"].value().strip()
    return None if model in ("", "default", "classical") else model


def _frames(node: Any) -> tuple[int, int]:
    """The node's frame range, clipped to a plain upstream Read's frames (no missing-file errors)."""
    first, last = int(node["frame_first"].value()), int(node["frame_last"].value())
    read = _upstream_read(node)
    if read is not None:
        first, last = max(first, int(read["first"].value())), min(last, int(read["last"].value()))
    if last < first:
        raise FaceplateError(f"{node.name()}: frame range {first}-{last} is empty; fix 'frame range'")
    return first, last


def _upstream_read(node: Any) -> Optional[Any]:
    src = node.input(0)
    while src is not None and src.Class() == "Dot":
        src = src.input(0)
    if src is None or src.Class() != "Read" or src["disable"].value():
        return None
    return src


def _without_proxy(func: Callable) -> Any:
    """Run with proxy mode off: analysis and patches are full resolution; Nuke scales for proxy."""
    r = nuke.root()
    was = bool(r["proxy"].value())
    if was:
        r["proxy"].setValue(False)
    try:
        return func()
    finally:
        if was:
            r["proxy"].setValue(True)


def plate_files(node: Any, prerender: str = "always") -> str:
    """The plate as a file pattern: a plain Read's own files, else the input pre-rendered into the
    cache by the internal Write. ``prerender``: "always" (Analyze: the input may have changed) or
    "missing" (Render/Submit: reuse the frames the analysis saw, so its timestamps stay valid)."""
    if node.input(0) is None:
        raise FaceplateError(f"{node.name()}: the plate input is not connected; connect the plate")
    read = _upstream_read(node)
    if read is not None:
        pattern = hashes_pattern(read["file"].value())
    else:
        first, last = _frames(node)
        pattern = cache_paths(node["cache_dir"].value(), node.name())["plate"]
        if prerender == "always" or not all(os.path.isfile(preflight.frame_path(pattern, f))
                                            for f in (first, last)):
            write = node.node("PrerenderPlate")
            write["disable"].setValue(False)
            try:
                _without_proxy(lambda: nuke.execute(write, first, last, 1))
            finally:
                write["disable"].setValue(True)
    node["plate_file"].setValue(pattern)
    return pattern


def source_files(node: Any) -> list[str]:
    sources = [s for s in [node["source_file"].value().strip()] if s]
    sources += [line.strip() for line in node["extra_sources"].value().splitlines() if line.strip()]
    if not sources and node.input(1) is not None:
        # the source input: one frame (the current one) written to the cache as the source image
        write = node.node("WriteSource")
        write["disable"].setValue(False)
        try:
            frame = nuke.frame()
            _without_proxy(lambda: nuke.execute(write, frame, frame, 1))
        finally:
            write["disable"].setValue(True)
        sources = [cache_paths(node["cache_dir"].value(), node.name())["source"]]
    return sources


def render_settings(node: Any, plate: str, sources: list[str]) -> dict[str, Any]:
    """The node's render settings, keyed exactly like nk_script.render_args_from_nk."""
    paths = cache_paths(node["cache_dir"].value(), node.name())
    first, last = _frames(node)
    return {
        "plate": plate, "track": paths["track"], "source": sources, "source_embedding": None,
        "model": _model(node), "frames": f"{first}-{last}", "out": node["out_file"].value() or None,
        "patch": paths["patch"],
        "targets": node["target_ref"].value().strip() or node["target"].value().strip() or None,
        "mask": node["mask_mode"].value(), "erode": float(node["erode"].value()),
        "feather": float(node["feather"].value()), "regions": node["regions"].value().strip() or None,
        "colour_match": bool(node["colour_match"].value()), "regrain": bool(node["regrain"].value()),
        "layer": node["layer"].value() or None, "colourspace": node["colourspace"].value() or None,
        "output": node["output"].value(),
    }


def analyze_settings(node: Any, plate: str) -> dict[str, Any]:
    first, last = _frames(node)
    return {"plate": plate, "frames": f"{first}-{last}", "output": cache_paths(node["cache_dir"].value(),
                                                                                node.name())["track"],
            "target_face": node["target_ref"].value().strip() or None,
            "smoothing": float(node["smoothing"].value()),
            "layer": node["layer"].value() or None, "colourspace": node["colourspace"].value() or None}


def faceplate_exe() -> list[str]:
    """How to run the core: $FACEPLATE_CMD, else ``faceplate`` on PATH, else Python -m (not Nuke's binary)."""
    env = os.environ.get("FACEPLATE_CMD")
    if env:
        return shlex.split(env)
    found = shutil.which("faceplate")
    if found:
        return [found]
    python = os.environ.get("FACEPLATE_PYTHON") or (sys.executable if "python" in os.path.basename(
        sys.executable).lower() else "python3")
    return [python, "-m", "faceplate.core.cli"]


_PROGRESS = re.compile(r"(\d+)/(\d+) frames")


def run_core(argv: list[str]) -> int:
    """Run a faceplate command, its progress lines driving a nuke.ProgressTask in the GUI (Cancel
    stops it); a failure becomes a FaceplateError carrying the core's own error line."""
    log.info("running: %s", " ".join(shlex.quote(a) for a in argv))
    verb = next((a for a in argv if a in ("analyze", "render")), argv[-1])
    task = nuke.ProgressTask(f"faceplate {verb}") if nuke.GUI else None
    lines: list[str] = []
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError as exc:
        raise FaceplateError(f"{argv[0]}: cannot run faceplate ({exc.strerror}); install it or set "
                             f"$FACEPLATE_CMD") from None
    try:
        for line in proc.stdout:
            line = line.rstrip()
            if not line:
                continue
            lines.append(line)
            m = _PROGRESS.search(line)
            if task is not None:
                task.setMessage(line[-120:])
                if m:
                    task.setProgress(int(100 * int(m.group(1)) / max(int(m.group(2)), 1)))
                if task.isCancelled():
                    proc.terminate()
                    proc.wait()
                    raise FaceplateError(f"faceplate {verb} cancelled; finished frames are kept, Render resumes")
        code = proc.wait()
    finally:
        del task  # closes Nuke's progress bar
    if code != 0:
        detail = next((ln for ln in reversed(lines) if "error" in ln.lower()), lines[-1] if lines else "")
        raise FaceplateError(f"`faceplate {verb}` failed (exit {code}): {detail.strip()[:300]}")
    return code


# ---------------------------------------------------------------------------------------------
# Baking
# ---------------------------------------------------------------------------------------------

def bake_track_file(node: Any, track_path: str) -> int:
    """Replace the node's fp_t* knobs with the track file's keys; return the number of knobs."""
    from faceplate.core.io.track_file import load_track_file

    tf = load_track_file(track_path)
    for name in [k for k in node.knobs() if k.startswith(bake.KNOB_PREFIX)]:
        node.removeKnob(node[name])
    plans = bake.bake_plan(tf)
    for plan in plans:
        knob = nuke.XY_Knob(plan.name, plan.label) if plan.kind == "XY_Knob" else nuke.BBox_Knob(plan.name,
                                                                                                  plan.label)
        node.addKnob(knob)
        knob.setAnimated()
        for index, keys in enumerate(plan.keys):
            for frame, value in keys:
                knob.setValueAt(value, frame, index)
    return len(plans)


def knob_curves(node: Any) -> dict[str, list[list[tuple[float, float]]]]:
    """The node's baked keys as bake.apply_key_edits wants them (what the compositor sees)."""
    curves: dict[str, list[list[tuple[float, float]]]] = {}
    for name, knob in node.knobs().items():
        if not name.startswith(bake.KNOB_PREFIX):
            continue
        width = {"XY_Knob": 2, "BBox_Knob": 4}.get(knob.Class(), 0)
        per_index: list[list[tuple[float, float]]] = [[] for _ in range(width)]
        for curve in knob.animations():
            i = curve.knobIndex()
            if i < width:
                per_index[i] = [(k.x, k.y) for k in curve.keys()]
        curves[name] = per_index
    return curves


def write_back_edits(node: Any, track_path: str) -> int:
    """Edited keys → manual entries in the track file (before any render); return frames changed."""
    from faceplate.core.io.track_file import load_track_file, save_track_file

    curves = knob_curves(node)
    if not curves or not os.path.isfile(track_path):
        return 0
    tf = load_track_file(track_path)
    changed = bake.apply_key_edits(tf, curves)
    if changed:
        sha = save_track_file(tf, track_path)
        node["track_sha256"].setValue(sha)
    return len(changed)


# ---------------------------------------------------------------------------------------------
# Buttons
# ---------------------------------------------------------------------------------------------

@_reports_errors
def analyze_button(node: Optional[Any] = None) -> None:
    """Run ``faceplate analyze`` over the frame range, then bake the tracks into keys."""
    node = _node(node)
    where = node.name()
    preflight.check_cache_writable(node["cache_dir"].value(), where)
    _update_paths(node)
    plate = plate_files(node)
    first, last = _frames(node)
    a = analyze_settings(node, plate)
    run_core(farm.analyze_command(a, (first, last), faceplate_exe()))
    n = bake_track_file(node, a["output"])
    from faceplate.core.filesystem import sha256_file
    node["track_sha256"].setValue(sha256_file(a["output"]))
    node["model_sha256"].setValue(preflight.model_sha256(_model(node)) or "")
    node["analysed_at"].setValue(datetime.datetime.now().strftime("%Y-%m-%d %H:%M"))
    node["frames_rendered"].setValue(0)
    _update_status(node)
    log.info("%s: analysed %d-%d, %d knobs baked", where, first, last, n)


def _render_checks(node: Any) -> tuple[str, list[str]]:
    where = node.name()
    preflight.check_cache_writable(node["cache_dir"].value(), where)
    sources = source_files(node)
    preflight.check_sources(sources, where)
    plate = plate_files(node, prerender="missing")
    first, _last = _frames(node)
    preflight.check_analysis(cache_paths(node["cache_dir"].value(), node.name())["track"], plate, first, where)
    preflight.check_model_hash(_model(node), node["model_sha256"].value() or None, where)
    return plate, sources


@_reports_errors
def render_button(node: Optional[Any] = None) -> None:
    """Write key edits back, then ``faceplate render`` the frame range into the patch cache."""
    node = _node(node)
    plate, sources = _render_checks(node)
    r = render_settings(node, plate, sources)
    write_back_edits(node, r["track"])
    run_core(farm.render_command(r, faceplate_exe()))
    first, last = _frames(node)
    node["frames_rendered"].setValue(last - first + 1)
    node.node("PatchRead")["reload"].execute()  # show the fresh patches, not Nuke's cached frames
    _update_status(node)


@_reports_errors
def submit_button(node: Optional[Any] = None) -> Optional[str]:
    """Save the script, then submit one analyze task + chunked renders to the node's farm engine."""
    node = _node(node)
    where = node.name()
    preflight.check_cache_writable(node["cache_dir"].value(), where)
    sources = source_files(node)
    preflight.check_sources(sources, where)
    preflight.check_model_hash(_model(node), node["model_sha256"].value() or None, where)
    try:
        script = nuke.scriptName()
    except RuntimeError:
        raise FaceplateError(f"{where}: the script is not saved; save it (File > Save) so the farm can read "
                             f"it, then Submit again") from None
    plate = plate_files(node, prerender="missing")
    track = cache_paths(node["cache_dir"].value(), node.name())["track"]
    mode = node["farm_analyze"].value()
    try:
        preflight.check_analysis(track, plate, _frames(node)[0], where)
        current = True
    except FaceplateError:
        current = False
    if mode == "never" and not current:
        raise FaceplateError(f"{track}: analysis missing or older than the plate and 'analyze on the farm' is "
                             f"never; press Analyze or choose auto")
    analyze_on_farm = mode == "always" or (mode == "auto" and not current)
    if not analyze_on_farm:
        write_back_edits(node, track)
    if not node["model_sha256"].value():
        node["model_sha256"].setValue(preflight.model_sha256(_model(node)) or "")
    nuke.scriptSave()
    job = farm.job_from_nk(script, node.fullName(), frames=_frames(node), chunk=int(node["farm_chunk"].value()),
                           exe=shlex.split(node["farm_exe"].value() or "faceplate"), analyze=analyze_on_farm,
                           analyze_args=analyze_settings(node, plate))
    engine = node["farm_engine"].value()
    if engine == "opencue":
        farm.submit_opencue(job)
    else:
        farm.submit_deadline(job, os.path.join(node["cache_dir"].value(), "farm"))
    text = (f"{job.name}: submitted to {engine}: {'analyze + ' if analyze_on_farm else ''}"
            f"{len(job.chunks())} render tasks of {job.chunk} frames")
    if nuke.GUI:
        nuke.message(text)
    return text


@_reports_errors
def pick_face(node: Optional[Any] = None) -> None:
    """Show the analysed faces as thumbnails; the chosen track ids go into 'target face'."""
    node = _node(node)
    track = cache_paths(node["cache_dir"].value(), node.name())["track"]
    if not os.path.isfile(track):
        raise FaceplateError(f"{track}: no analysis yet; press Analyze, then pick a face")
    from faceplate.nuke import panels
    chosen = panels.pick_faces(track, node["plate_file"].value(), nuke.frame())
    if chosen is not None:
        node["target"].setValue(",".join(str(i) for i in chosen))

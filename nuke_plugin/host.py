"""The FaceSwap node inside Nuke: onCreate, knobChanged and the Analyze / Render / Submit buttons.

Standard library + ``nuke`` only: everything heavy runs in the ``faceplate`` executable (runner.py),
in the GUI on a worker thread with a ProgressTask whose Cancel stops the child at once; knob
updates come back through ``nuke.executeInMainThread``. In terminal sessions (``nuke -t``) the
buttons run synchronously and raise on failure (non-zero exit).
"""
from __future__ import annotations

import datetime
import functools
import json
import os
import tempfile
import threading
from typing import Any, Callable, Optional, Sequence

import nuke

from faceplate.nuke import bake, live_node, preflight, runner
from faceplate.nuke.errors import NodeError

NODE_CLASS = "FaceSwap"
MENU_REST = "choose..."


def _reports_errors(func: Callable) -> Callable:
    """A NodeError becomes a nuke.message in the GUI, an exception in terminal/farm sessions."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any):
        try:
            return func(*args, **kwargs)
        except NodeError as exc:
            if nuke.GUI:
                nuke.message(f"FaceSwap: {exc}")
                return None
            raise
    return wrapper


def _node(node: Optional[Any]) -> Any:
    return node if node is not None else nuke.thisNode()


def _exe(node: Any) -> list[str]:
    return runner.faceplate_exe(node["faceplate_exe"].value())


# ---------------------------------------------------------------------------------------------
# Running faceplate
# ---------------------------------------------------------------------------------------------

def run_core(commands: Sequence[Sequence[str]], cwd: str, title: str,
             on_done: Callable[[list[str]], None]) -> Optional[threading.Thread]:
    """GUI: a worker thread runs ``commands`` under a ProgressTask, then ``on_done(output)`` runs on
    the main thread (errors become a message there); returns the thread. Terminal: runs here."""
    if not nuke.GUI:
        on_done(runner.run_commands(commands, cwd))
        return None

    def work() -> None:
        task = nuke.ProgressTask(title)

        def show(line: str) -> None:
            task.setMessage(line[-120:])
            percent = runner.progress_percent(line)
            if percent is not None:
                task.setProgress(percent)
        try:
            output = runner.run_commands(commands, cwd, on_line=show, cancelled=task.isCancelled)
        except NodeError as exc:
            nuke.executeInMainThread(nuke.message, (f"FaceSwap: {exc}",))
            return
        finally:
            del task  # closes Nuke's progress bar
        nuke.executeInMainThread(_reports_errors(on_done), (output,))

    thread = threading.Thread(target=work, name=f"faceplate {title}", daemon=True)
    thread.start()
    return thread


def model_registry(exe: list[str]) -> list[dict]:
    """``faceplate models list --json``: the rows (name, role, sha256, ...) of this install."""
    text = "\n".join(runner.run_commands([[*exe, "models", "list", "--json"]], tempfile.gettempdir()))
    try:
        return json.loads(text[text.index("["):])
    except ValueError:
        raise NodeError(f"`{' '.join(exe)} models list --json` printed no model list; check $FACEPLATE_EXE") from None


# ---------------------------------------------------------------------------------------------
# Callbacks
# ---------------------------------------------------------------------------------------------

def on_create() -> None:
    """Default the cache folder; in the GUI fill the model menu from the executable (off-thread)."""
    node = nuke.thisNode()
    if not node["cache_dir"].value():
        node["cache_dir"].setValue(default_cache_dir())
    update_status(node)
    if nuke.GUI:
        threading.Thread(target=_fill_model_menu, args=(node,), daemon=True).start()


def _fill_model_menu(node: Any) -> None:
    try:
        names = ["default"] + sorted(r["name"] for r in model_registry(_exe(node)) if r.get("role") == "swapper")
    except NodeError as exc:  # the menu is a convenience: the 'swap model' string still works
        nuke.executeInMainThread(nuke.tprint, (f"FaceSwap: model menu: {exc}",))
        return
    nuke.executeInMainThread(node["model_menu"].setValues, ([MENU_REST] + names,))


def knob_changed() -> None:
    """A person changed a knob in the panel (Nuke calls this only for those, with the panel open)."""
    node, knob = nuke.thisNode(), nuke.thisKnob()
    name = knob.name()
    if name == "model_menu":
        # a chooser, not a setting: copy the choice into the 'model' string and rest again, so the
        # script only ever saves the string (valid whatever this machine's registry holds)
        choice = knob.value()
        if choice != MENU_REST:
            node["model"].setValue(choice)
            knob.setValue(0)
        update_status(node)
    elif name in ("model", "model_file", "cache_dir"):
        update_status(node)
    elif name == "inputChange":
        read = live_node.upstream_read(node)
        node["plate_file"].setValue(live_node.read_pattern(read) if read is not None else "")
        live_node.match_patch_colour(node)


def default_cache_dir() -> str:
    """Beside the saved script (``<script dir>/faceplate/``), else the temp folder (Submit refuses it)."""
    script = nuke.root()["name"].value()
    base = os.path.dirname(script) if script else tempfile.gettempdir()
    return os.path.join(base, "faceplate").replace("\\", "/")


def update_status(node: Any) -> None:
    lines = []
    if node["analysed_at"].value():
        lines.append(f"analysed {node['analysed_at'].value()}  track {node['track_sha256'].value()[:12]}")
    else:
        lines.append("not analysed")
    lines.append(f"frames rendered: {node['frames_rendered'].value()}")
    sha = node["model_sha256"].value()
    model = node["model_file"].value().strip() or node["model"].value().strip() or "default"
    lines.append(f"model: {model}" + (f"  sha256 {sha[:12]}" if sha else ""))
    node["status"].setValue("\n".join(lines))


# ---------------------------------------------------------------------------------------------
# Baking and key edits
# ---------------------------------------------------------------------------------------------

def bake_track_file(node: Any, track_path: str) -> int:
    """Replace the node's fp_t* knobs with the track file's keys, one fromScript per knob."""
    plans = bake.bake_plan(bake.read_track_json(track_path))
    for name in [k for k in node.knobs() if k.startswith(bake.KNOB_PREFIX)]:
        node.removeKnob(node[name])
    for plan in plans:
        knob_class = nuke.XY_Knob if plan.kind == "XY_Knob" else nuke.BBox_Knob
        knob = knob_class(plan.name, plan.label)
        node.addKnob(knob)
        knob.fromScript(plan.script())
    return len(plans)


def knob_curves(node: Any) -> dict[str, list[list[tuple[float, float]]]]:
    """The node's baked keys, what the compositor sees: name → per-index [(frame, value)]."""
    curves: dict[str, list[list[tuple[float, float]]]] = {}
    for name, knob in node.knobs().items():
        if not name.startswith(bake.KNOB_PREFIX):
            continue
        width = {"XY_Knob": 2, "BBox_Knob": 4}.get(knob.Class(), 0)
        per_index: list[list[tuple[float, float]]] = [[] for _ in range(width)]
        for curve in knob.animations():
            if curve.knobIndex() < width:
                per_index[curve.knobIndex()] = [(k.x, k.y) for k in curve.keys()]
        curves[name] = per_index
    return curves


def key_edit_commands(node: Any, exe: list[str], track: str, edits_path: str) -> list[list[str]]:
    """``faceplate nuke key-edits`` over the node's keys (written to ``edits_path``), if any."""
    curves = knob_curves(node)
    if not curves or not os.path.isfile(track):
        return []
    tmp = edits_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(curves, handle)
    os.replace(tmp, edits_path)
    return [[*exe, "nuke", "key-edits", track, edits_path]]


# ---------------------------------------------------------------------------------------------
# Buttons
# ---------------------------------------------------------------------------------------------

@_reports_errors
def analyze_button(node: Optional[Any] = None) -> Optional[threading.Thread]:
    """Run ``faceplate analyze`` over the frame range, then bake the tracks into keys."""
    node = _node(node)
    cache = live_node.cache_dir(node)
    preflight.check_cache_writable(cache, node.name())
    s = live_node.settings(node, live_node.plate_files(node), [])
    model_sha = preflight.model_sha256(s.model, _registry_for(node, s.model))

    def done(_output: list[str]) -> None:
        bake_track_file(node, s.track)
        node["track_sha256"].setValue(preflight.sha256_file(s.track))
        node["model_sha256"].setValue(model_sha or "")
        node["analysed_at"].setValue(datetime.datetime.now().strftime("%Y-%m-%d %H:%M"))
        node["frames_rendered"].setValue(0)
        update_status(node)
    return run_core([s.analyze_argv(_exe(node))], cache, f"faceplate analyze {node.name()}", done)


def _checked_settings(node: Any) -> Any:
    where = node.name()
    preflight.check_cache_writable(live_node.cache_dir(node), where)
    sources = live_node.source_files(node)
    preflight.check_sources(sources, where)
    return live_node.settings(node, live_node.plate_files(node, prerender="missing"), sources)


def _registry_for(node: Any, model: Optional[str]) -> dict[str, str]:
    """name → sha256 from the executable, only when ``model`` is a registry name (not a file)."""
    if not model or model.endswith(".onnx") or "/" in model or "\\" in model:
        return {}
    return {r["name"]: r["sha256"] for r in model_registry(_exe(node))}


@_reports_errors
def render_button(node: Optional[Any] = None) -> Optional[threading.Thread]:
    """Write key edits back, then ``faceplate render`` the frame range into the patch cache."""
    node = _node(node)
    s = _checked_settings(node)
    preflight.check_analysis(s.track, s.plate, s.first, node.name())
    if s.model_sha256:
        preflight.check_model_hash(s.model, s.model_sha256, node.name(), _registry_for(node, s.model))
    exe = _exe(node)
    commands = key_edit_commands(node, exe, s.track, s.paths["edits"]) + [s.render_argv(exe)]

    def done(_output: list[str]) -> None:
        node["track_sha256"].setValue(preflight.sha256_file(s.track))
        node["frames_rendered"].setValue(s.last - s.first + 1)
        node.node("PatchRead")["reload"].execute()  # show the fresh patches, not Nuke's cached frames
        update_status(node)
    return run_core(commands, s.cache_dir, f"faceplate render {node.name()}", done)


@_reports_errors
def submit_button(node: Optional[Any] = None) -> Optional[threading.Thread]:
    """Save the script, then ``faceplate farm submit`` one analyze task + chunked renders."""
    node = _node(node)
    where = node.name()
    script = nuke.root()["name"].value()
    if not script:
        raise NodeError(f"{where}: the script is not saved; save it (File > Save) so the farm can read it, "
                        f"then Submit again")
    s = _checked_settings(node)
    preflight.check_farm_visible_cache(s.cache_dir, where)
    if s.model_sha256:
        preflight.check_model_hash(s.model, s.model_sha256, where, _registry_for(node, s.model))
    try:
        preflight.check_analysis(s.track, s.plate, s.first, where)
        current = True
    except NodeError:
        current = False
    mode = node["farm_analyze"].value()
    if mode == "never" and not current:
        raise NodeError(f"{s.track}: analysis missing or older than the plate and 'analyze on the farm' is "
                        f"never; press Analyze or choose auto")
    analyze_on_farm = mode == "always" or (mode == "auto" and not current)
    nuke.scriptSave()
    engine = node["farm_engine"].value()
    argv = [*_exe(node), "farm", "submit", "--engine", engine, "--nk", script, "--node", node.fullName(),
            "--frames", s.frames, "--chunk", str(int(node["farm_chunk"].value())),
            "--exe", node["farm_exe"].value() or "faceplate"]
    if not analyze_on_farm:
        argv.append("--no-analyze")   # the farm writes the saved key edits into the track file first

    def done(output: list[str]) -> None:
        text = f"{where}: submitted to {engine}: " + (output[-1] if output else "done")
        if nuke.GUI:
            nuke.message(text)
        else:
            nuke.tprint(text)
    return run_core([argv], s.cache_dir, f"faceplate farm submit {where}", done)


@_reports_errors
def pick_face(node: Optional[Any] = None) -> None:
    """Show the analysed faces as thumbnails; the chosen track ids go into 'target face'."""
    node = _node(node)
    paths = live_node.paths(node)
    if not os.path.isfile(paths["track"]):
        raise NodeError(f"{paths['track']}: no analysis yet; press Analyze, then pick a face")
    plate = node["plate_file"].value() or live_node.plate_files(node, prerender="missing")
    runner.run_commands([[*_exe(node), "nuke", "thumbnails", paths["track"], "--plate", plate,
                          "--frame", str(nuke.frame()), "--out", paths["thumbs"]]], live_node.cache_dir(node))
    from faceplate.nuke import panels
    chosen = panels.pick_faces(paths["thumbs"])
    if chosen is not None:
        node["target"].setValue(",".join(str(i) for i in chosen))

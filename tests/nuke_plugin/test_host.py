"""The FaceSwap node in (fake, strict) Nuke: callbacks, buttons → core command lines, baking, errors."""
from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from faceplate.core.errors import FaceplateError
from faceplate.core.io.track_file import load_track_file
from faceplate.nuke import bake
from faceplate.nuke.nk_script import baked_curves_from_nk, render_args_from_nk

from .conftest import GIZMOS, make_track_file


class FakeCore:
    """Stands in for the `faceplate` subprocess (subprocess.Popen): records argv, prints progress
    lines like the core does; analyze writes a real track file."""

    def __init__(self):
        self.calls = []
        self.on_render = None
        self.fail_with = None
        self.terminated = False

    def __call__(self, argv, stdout=None, stderr=None, text=True, **kw):
        self.calls.append(list(argv))
        out = []
        if self.fail_with:
            out = ["faceplate: INFO: starting", f"faceplate: error: {self.fail_with}"]
        elif argv[1] == "analyze":
            make_track_file(Path(argv[argv.index("-o") + 1]), frames=range(1001, 1004), pattern=argv[2])
            out = ["faceplate: INFO: analyze: 1/3 frames (2.0 frames/s)", "faceplate: INFO: analyze: 3/3 frames"]
        elif argv[1] == "render":
            if self.on_render:
                self.on_render(argv)
            out = ["faceplate: INFO: rendered 3/3 frames"]
        core = self

        class Proc:
            def __init__(self):
                self.stdout = iter(line + "\n" for line in out)
                self.returncode = 2 if core.fail_with else 0

            def wait(self):
                return self.returncode

            def terminate(self):
                core.terminated = True
                self.returncode = -15
        return Proc()


@pytest.fixture
def core(monkeypatch):
    fake = FakeCore()
    monkeypatch.setattr(subprocess, "Popen", fake)
    monkeypatch.setenv("FACEPLATE_CMD", "faceplate")
    return fake


@pytest.fixture
def session(fake_nuke, tmp_path):
    """init.py loaded, a saved-script name, frames 1001-1003, a plate Read feeding a FaceSwap node."""
    nuke = fake_nuke
    importlib.import_module("faceplate.nuke.init")
    nuke.root()["name"].setValue(str(tmp_path / "shot.nk"))
    nuke.root()["first_frame"].setValue(1001)
    nuke.root()["last_frame"].setValue(1003)
    read = nuke.createNode("Read")
    read["file"].setValue("/plates/plate.%04d.exr")
    read["first"].setValue(1001)     # Nuke fills these from the files on disk
    read["last"].setValue(1003)
    node = nuke.createNode("FaceSwap")
    node.setInput(0, read)
    source = tmp_path / "actor.jpg"
    source.write_bytes(b"jpg")
    return nuke, node, read, source


def test_init_is_headless_and_menu_only_in_gui(fake_nuke):
    nuke = fake_nuke
    importlib.import_module("faceplate.nuke.init")
    assert os.path.normpath(nuke.pluginPath()[0]) == os.path.normpath(str(GIZMOS))
    assert nuke.fake_menus() == {}                      # no UI on the farm
    assert [c[3] for c in nuke._STATE["callbacks"]["onCreate"]] == ["FaceSwap"]
    assert [c[3] for c in nuke._STATE["callbacks"]["knobChanged"]] == ["FaceSwap"]
    importlib.import_module("faceplate.nuke.menu")
    assert nuke.fake_menus() == {}                      # menu.py is a no-op without a GUI
    nuke.GUI = True
    sys.modules.pop("faceplate.nuke.menu")
    importlib.import_module("faceplate.nuke.menu")
    item = nuke.menu("Nuke").findItem("Faceplate/FaceSwap")
    assert item is not None and item.script() == "nuke.createNode('FaceSwap')"
    assert nuke.toolbar("Nodes").findItem("Faceplate/FaceSwap") is not None
    assert "submit_button" in nuke.menu("Nuke").findItem("Faceplate/Submit selected to farm").script()
    # the menu commands run against the (strict) module
    exec(nuke.menu("Nuke").findItem("Faceplate/FaceSwap").script(), {"nuke": nuke})
    node = nuke.toNode("FaceSwap1")
    assert node is not None and node.Class() == "FaceSwap"
    node["selected"].setValue(True)
    exec(nuke.menu("Nuke").findItem("Faceplate/Render selected").script(), {"nuke": nuke})
    assert "no source image set" in nuke.fake_messages()[-1]


def test_on_create_and_knob_changed(session, tmp_path):
    nuke, node, read, _ = session
    assert node["cache_dir"].value() == f"{tmp_path}/faceplate"
    assert node["patch_file"].value() == f"{tmp_path}/faceplate/patch/FaceSwap1.####.exr"
    assert node["model"].value() == "default"
    assert node["status"].value().startswith("not analysed")
    assert node["frame_first"].value() == 1001 and node["frame_last"].value() == 1003   # root range
    nuke.fake_set_knob(node, "cache_dir", "/elsewhere/cache")
    assert node["patch_file"].value() == "/elsewhere/cache/patch/FaceSwap1.####.exr"
    assert node["track_file"].value() == "/elsewhere/cache/FaceSwap1.track.json"
    nuke.fake_input_changed(node, 0, read)
    assert node["plate_file"].value() == "/plates/plate.####.exr"
    from faceplate.nuke import host
    read["first"].setValue(1002)       # the Read has fewer frames than the script: the node follows it
    read["last"].setValue(1200)
    assert host._frames(node) == (1002, 1003)
    read["first"].setValue(1001)
    # the internal patch Read follows the cache folder through its expression
    assert node.node("PatchRead")["file"].evaluate() == "/elsewhere/cache/patch/FaceSwap1.####.exr"
    with pytest.raises(NameError):
        node["no_such_knob"]


def test_model_chooser_sets_the_model_string(session, monkeypatch):
    nuke, _, read, _ = session
    from faceplate.nuke import host
    monkeypatch.setattr(host, "available_models", lambda: ["default", "inswapper_128"])
    nuke.GUI = True
    node = nuke.createNode("FaceSwap")
    assert node["model_menu"].values() == ["choose...", "default", "inswapper_128"]
    nuke.fake_set_knob(node, "model_menu", "inswapper_128")
    assert node["model"].value() == "inswapper_128"
    assert node["model_menu"].value() == "choose..."       # rests again: the script saves only the string
    assert "model: inswapper_128" in node["status"].value()


def test_analyze_runs_core_and_bakes_the_track_file(session, core, tmp_path):
    nuke, node, _, _ = session
    nuke.fake_press(node, "analyze")
    track = f"{tmp_path}/faceplate/FaceSwap1.track.json"
    assert core.calls == [["faceplate", "analyze", "/plates/plate.####.exr", "--frames", "1001-1003",
                           "-o", track, "--smoothing", "1"]]
    tf = load_track_file(track)
    dw = tf.plate.display_window
    for t in tf.tracks:
        for i, part in enumerate(bake.POINT_NAMES):
            knob = node[f"fp_t{t.id}_{part}"]
            assert knob.isAnimated()
            for f, e in t.entries.items():
                expect = bake.plate_to_nuke(e.points5, dw)[i]
                assert (knob.getValueAt(f, 0), knob.getValueAt(f, 1)) == (expect[0], expect[1])
        box = node[f"fp_t{t.id}_box"]
        for f, e in t.entries.items():
            xyrt = [box.getValueAt(f, j) for j in range(4)]
            np.testing.assert_allclose(bake.box_from_nuke(xyrt, dw), e.box)
    assert len(node["track_sha256"].value()) == 64 and node["analysed_at"].value()
    assert node["status"].value().startswith("analysed")
    # a second analysis replaces the baked knobs instead of failing on duplicates
    nuke.fake_press(node, "analyze")
    assert len([k for k in node.knobs() if k.startswith("fp_t")]) == 12


def test_non_read_input_is_prerendered_full_res(session, core, tmp_path):
    nuke, node, read, _ = session
    blur = nuke.createNode("Blur")
    blur.setInput(0, read)
    node.setInput(0, blur)
    nuke.root()["proxy"].setValue(True)
    nuke.fake_press(node, "analyze")
    assert nuke.fake_executed() == [("FaceSwap1.PrerenderPlate", 1001, 1003, 1, False)]  # proxy off while writing
    assert nuke.root()["proxy"].value() is True                                          # and restored
    assert node.node("PrerenderPlate")["disable"].value() is True
    plate = f"{tmp_path}/faceplate/plate/FaceSwap1.####.exr"
    assert core.calls[0][2] == plate
    assert node.node("PrerenderPlate")["file"].evaluate() == plate
    # the Write makes cache/plate/ itself (real Nuke fails a Write into a missing folder otherwise)
    assert node.node("PrerenderPlate")["create_directories"].value() is True
    assert node.node("WriteSource")["create_directories"].value() is True
    assert (tmp_path / "faceplate" / "plate").is_dir()


def test_render_writes_key_edits_back_then_renders(session, core, tmp_path):
    nuke, node, _, source = session
    nuke.fake_press(node, "analyze")
    node["source_file"].setValue(str(source))
    node["target"].setValue("2")
    node["regrain"].setValue(False)
    # the compositor moves face 2's nose key at 1002 by 5 px in x
    knob = node["fp_t2_nose"]
    knob.setValueAt(knob.getValueAt(1002, 0) + 5.0, 1002, 0)
    track = f"{tmp_path}/faceplate/FaceSwap1.track.json"
    seen = {}
    core.on_render = lambda argv: seen.update(entry=load_track_file(track).track(2).entries[1002])
    nuke.fake_press(node, "render")
    assert core.calls[-1] == ["faceplate", "render", "/plates/plate.####.exr", "--track", track,
                              "--source", str(source), "--frames", "1001-1003",
                              "--patch", f"{tmp_path}/faceplate/patch/FaceSwap1.####.exr", "--targets", "2",
                              "--mask", "hull", "--erode", "0", "--feather", "0.08", "--colour-match",
                              "--no-regrain"]
    assert seen["entry"].source == "manual"          # written back BEFORE the render ran
    assert node["frames_rendered"].value() == 3
    assert "frames rendered: 3" in node["status"].value()


@pytest.mark.parametrize("gui", [True, False])
def test_bad_input_message_in_gui_exception_in_terminal(session, core, tmp_path, gui):
    nuke, node, _, source = session
    nuke.GUI = gui

    def press(expect):
        before = len(nuke.fake_messages())
        if gui:
            nuke.fake_press(node, "render")
            assert expect in nuke.fake_messages()[before], nuke.fake_messages()
        else:
            with pytest.raises(FaceplateError, match=expect):
                nuke.fake_press(node, "render")

    press("no source image set")
    node["source_file"].setValue(str(source))
    press("analysis missing")
    nuke.fake_press(node, "analyze")
    model = tmp_path / "swap.onnx"
    model.write_bytes(b"v1")
    node["model_file"].setValue(str(model))
    nuke.fake_press(node, "analyze")               # records the model's sha256
    model.write_bytes(b"v2 - someone replaced the file")
    press("model sha256 here is")
    model.write_bytes(b"v1")
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    node["cache_dir"].setValue(str(blocker / "cache"))
    press("cache folder cannot be created")
    assert [c[1] for c in core.calls] == ["analyze", "analyze"]   # render never ran


def test_submit_saves_script_and_builds_the_farm_job(session, core, tmp_path, monkeypatch):
    from faceplate.nuke import farm
    nuke, node, _, source = session
    submitted = []
    monkeypatch.setattr(farm, "submit_opencue", lambda job: submitted.append(job) or [])
    nuke.GUI = True
    nuke.fake_press(node, "submit")                  # no source yet: refused, nothing saved
    assert "no source image set" in nuke.fake_messages()[-1]
    assert not submitted and not (tmp_path / "shot.nk").exists()
    node["source_file"].setValue(str(source))
    nuke.fake_press(node, "submit")                  # not analysed: analyze on the farm (auto)
    job = submitted[-1]
    assert job.analyze[:3] == ["faceplate", "analyze", "/plates/plate.####.exr"]
    assert job.render[-2:] == ["--frames", "{start}-{end}"] and job.chunk == 10
    assert "submitted to opencue: analyze + 1 render tasks" in nuke.fake_messages()[-1]
    nuke.fake_press(node, "analyze")
    knob = node["fp_t1_eye_l"]
    knob.setValueAt(knob.getValueAt(1001, 1) + 2.0, 1001, 1)
    node["farm_chunk"].setValue(2)
    nuke.fake_press(node, "submit")                  # analysis current: reuse it and its key edits
    job = submitted[-1]
    assert job.analyze is None and job.chunks() == [(1001, 1002), (1003, 1003)]
    assert load_track_file(f"{tmp_path}/faceplate/FaceSwap1.track.json").track(1).entries[1001].source == "manual"
    ol = farm.opencue_outline(job)
    assert [l.get_name() for l in ol.get_layers()] == ["render"]
    # the saved script is what the render nodes read: same settings, same baked keys
    saved = tmp_path / "shot.nk"
    args = render_args_from_nk(saved, "FaceSwap1")
    assert args["source"] == [str(source)] and args["plate"] == "/plates/plate.####.exr"
    assert args["track"] == f"{tmp_path}/faceplate/FaceSwap1.track.json"
    curves = baked_curves_from_nk(saved, "FaceSwap1")
    assert curves["fp_t1_eye_l"][1] == [(k.x, k.y) for k in knob.animations()[1].keys()]


def test_submit_needs_a_saved_script_and_deadline_runs_deadlinecommand(session, tmp_path, monkeypatch):
    nuke, node, _, source = session
    nuke.GUI = True
    node["source_file"].setValue(str(source))
    nuke.root()["name"].setValue("")
    nuke.fake_press(node, "submit")
    assert "the script is not saved" in nuke.fake_messages()[-1]
    nuke.root()["name"].setValue(str(tmp_path / "shot.nk"))
    node["farm_engine"].setValue("deadline")
    fake_dl = tmp_path / "deadlinecommand"
    fake_dl.write_text("#!/bin/sh\necho \"$@\" > \"$(dirname \"$0\")/dl_args\"\necho Result=Success\necho JobID=42\n")
    fake_dl.chmod(0o755)
    monkeypatch.setenv("DEADLINE_COMMAND", str(fake_dl))
    nuke.fake_press(node, "submit")
    assert "submitted to deadline" in nuke.fake_messages()[-1], nuke.fake_messages()
    dl_args = (tmp_path / "dl_args").read_text().split()
    assert dl_args[:2] == ["-SubmitMultipleJobs", "-dependent"] and dl_args.count("-job") == 2
    assert (tmp_path / "faceplate" / "farm").is_dir()



def test_render_reuses_the_prerendered_plate_the_analysis_saw(session, core, tmp_path):
    nuke, node, read, source = session
    blur = nuke.createNode("Blur")
    blur.setInput(0, read)
    node.setInput(0, blur)
    plate = tmp_path / "faceplate" / "plate"

    def write_frames(write, first, last, incr):      # what the internal Write would do
        plate.mkdir(parents=True, exist_ok=True)
        for f in range(first, last + 1, incr):
            (plate / f"FaceSwap1.{f:04d}.exr").write_bytes(b"exr")
    nuke.fake_on_execute(write_frames)
    nuke.fake_press(node, "analyze")
    node["source_file"].setValue(str(source))
    nuke.fake_press(node, "render")                  # no second pre-render: the analysis stays valid
    assert len(nuke.fake_executed()) == 1
    assert core.calls[-1][1:3] == ["render", f"{tmp_path}/faceplate/plate/FaceSwap1.####.exr"]


def test_gui_progress_cancel_and_core_errors(session, core):
    nuke, node, _, _ = session
    nuke.GUI = True
    nuke.fake_press(node, "analyze")
    task = nuke._STATE["progress_tasks"][-1]
    assert task.progress == [33, 100] and "3/3 frames" in task.messages[-1]
    nuke._STATE["cancel_after"] = 1
    nuke.fake_press(node, "analyze")
    assert core.terminated and "cancelled" in nuke.fake_messages()[-1]
    nuke._STATE["cancel_after"] = None
    core.fail_with = "plate.1002.exr: truncated EXR; re-render the plate"
    nuke.fake_press(node, "analyze")
    assert nuke.fake_messages()[-1] == ("FaceSwap: `faceplate analyze` failed (exit 2): faceplate: error: "
                                        "plate.1002.exr: truncated EXR; re-render the plate")


def test_source_input_is_written_to_the_cache(session, core, tmp_path):
    nuke, node, read, _ = session
    photo = nuke.createNode("Read")
    photo["file"].setValue("/photos/actor.jpg")
    node.setInput(1, photo)
    nuke.root()["frame"].setValue(1002)

    def write(w, first, last, incr):
        path = w["file"].evaluate()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "wb").close()
    nuke.fake_on_execute(write)
    nuke.fake_press(node, "analyze")
    nuke.fake_press(node, "render")
    assert nuke.fake_executed()[-1] == ("FaceSwap1.WriteSource", 1002, 1002, 1, False)
    argv = core.calls[-1]
    assert argv[argv.index("--source") + 1] == f"{tmp_path}/faceplate/source/FaceSwap1.exr"


def test_the_fake_is_strict(fake_nuke):
    nuke = fake_nuke
    with pytest.raises(AttributeError):
        nuke.createWriteNodeMagic                     # not Nuke API: no such function
    with pytest.raises(NameError):
        nuke.createNode("Blur", "no_such_knob 3")     # unknown knob names raise, as in Nuke
    with pytest.raises(RuntimeError):
        nuke.createNode("FaceSwapp")                  # unknown class / gizmo
    node = nuke.createNode("FaceSwap")
    with pytest.raises(NameError):
        node["smoothness"]
    with pytest.raises(TypeError):
        node["source_file"].setValueAt(1.0, 1001)     # a file knob cannot be animated
    with pytest.raises(RuntimeError):
        nuke.execute(node.node("PrerenderPlate"), 1, 1)   # disabled Writes do not run

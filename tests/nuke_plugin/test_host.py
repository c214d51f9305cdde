"""The FaceSwap node in (fake, strict) Nuke: callbacks, buttons → faceplate command lines, baking,
colour, frame range, renames, refusals."""
from __future__ import annotations

import importlib
import json
import subprocess
from pathlib import Path

import pytest

from faceplate.core.io.track_file import load_track_file
from faceplate.nuke import bake
from faceplate.nuke.errors import NodeError

from .conftest import GIZMOS, make_track_file


class FakeCore:
    """Stands in for the `faceplate` executable (subprocess.Popen): records argv; analyze writes a
    real track file; prints progress lines like the core."""

    def __init__(self):
        self.calls, self.fail_with, self.on_render = [], None, None

    def __call__(self, argv, stdout=None, stderr=None, text=True, cwd=None, env=None):
        self.calls.append(list(argv))
        assert cwd and Path(cwd).is_absolute() and "PYTHONPATH" not in env
        verb = argv[1]
        out = []
        if self.fail_with:
            out = [f"faceplate: error: {self.fail_with}"]
        elif verb == "analyze":
            make_track_file(Path(argv[argv.index("-o") + 1]), frames=range(1001, 1004), pattern=argv[2])
            out = ["faceplate: INFO: analyze: 3/3 frames"]
        elif verb == "render" and self.on_render:
            self.on_render(argv)
        code = 2 if self.fail_with else 0

        class Proc:
            stdout = iter(line + "\n" for line in out)
            returncode = code

            def wait(self):
                return code

            def poll(self):
                return code

            def terminate(self):
                pass
        return Proc()


@pytest.fixture
def core(monkeypatch):
    fake = FakeCore()
    monkeypatch.setattr(subprocess, "Popen", fake)
    monkeypatch.setenv("FACEPLATE_EXE", "faceplate")
    return fake


@pytest.fixture
def session(fake_nuke, tmp_path):
    """Registered plugin, a saved script in tmp_path, frames 1001-1003, plate Read → FaceSwap."""
    nuke = fake_nuke
    importlib.import_module("faceplate.nuke.init").register(str(GIZMOS))
    nuke.root()["name"].setValue(str(tmp_path / "shot.nk"))
    nuke.root()["project_directory"].setValue("[python {nuke.script_directory()}]")
    nuke.root()["first_frame"].setValue(1001)
    nuke.root()["last_frame"].setValue(1003)
    read = nuke.createNode("Read")
    read["file"].setValue("plates/plate.%04d.exr")     # relative to the project directory
    read["first"].setValue(1001)
    read["last"].setValue(1003)
    node = nuke.createNode("FaceSwap")
    node.setInput(0, read)
    source = tmp_path / "actor.jpg"
    source.write_bytes(b"jpg")
    return nuke, node, read, source


def test_analyze_runs_core_with_absolute_paths_and_bakes(session, core, tmp_path):
    nuke, node, _, _ = session
    nuke.fake_press(node, "analyze")
    track = f"{tmp_path}/faceplate/FaceSwap1.track.json"
    assert core.calls == [["faceplate", "analyze", f"{tmp_path}/plates/plate.####.exr", "--frames", "1001-1003",
                           "-o", track, "--smoothing", "1"]]
    data = json.loads(Path(track).read_text())
    dw = data["plate"]["display_window"]
    for t in data["tracks"]:
        for f, e in t["frames"].items():
            knob = node[f"fp_t{t['id']}_nose"]
            assert (knob.getValueAt(int(f), 0), knob.getValueAt(int(f), 1)) == bake.plate_to_nuke(*e["points5"][2], dw)
    assert len(node["track_sha256"].value()) == 64 and node["status"].value().startswith("analysed")
    nuke.fake_press(node, "analyze")     # a second analysis replaces the knobs
    assert len([k for k in node.knobs() if k.startswith("fp_t")]) == 12


def test_render_writes_key_edits_then_renders(session, core, tmp_path):
    nuke, node, _, source = session
    nuke.fake_press(node, "analyze")
    node["source_file"].setValue(str(source))
    knob = node["fp_t2_nose"]
    knob.setValueAt(knob.getValueAt(1002, 0) + 5.0, 1002, 0)
    nuke.fake_press(node, "render")
    edits, render = core.calls[-2:]
    assert edits[:3] == ["faceplate", "nuke", "key-edits"] and Path(edits[4]).is_file()
    assert render[:3] == ["faceplate", "render", f"{tmp_path}/plates/plate.####.exr"]
    assert json.loads(Path(edits[4]).read_text())["fp_t2_nose"][0][1][1] == pytest.approx(knob.getValueAt(1002, 0))
    assert node["frames_rendered"].value() == 3


def test_patch_read_follows_plate_colour_frame_range_and_renames(session, core, tmp_path):
    nuke, node, read, _ = session
    patch = node.node("PatchRead")
    # before/after black: no held patch over handles; missing frames show as checkerboard, not the plate
    assert patch["before"].value() == "black" and patch["after"].value() == "black"
    assert patch["on_error"].value() == "checkerboard"
    assert node.node("PrerenderPlate")["datatype"].value() == "32 bit float"
    read["raw"].setValue(False)
    read["colorspace"].setValue("ACES - ACES2065-1")
    nuke.fake_input_changed(node, 0, read)
    assert patch["raw"].value() is False and patch["colorspace"].value() == "ACES - ACES2065-1"
    # a rename in the DAG runs no knobChanged: the expression still names the right files
    node.setName("HeroSwap")
    nuke.root()["frame"].setValue(1002)
    assert patch["file"].evaluate() == "faceplate_cache/patch/HeroSwap.1002.exr".replace(
        "faceplate_cache", node["cache_dir"].value())


def test_knob_changed_only_for_user_edits(session, core, monkeypatch):
    nuke, node, _, _ = session
    from faceplate.nuke import host
    calls = []
    monkeypatch.setattr(host, "update_status", lambda n: calls.append(n))
    node["model"].setValue("inswapper_128")            # a script setting a knob: no callback
    assert calls == []
    nuke.fake_set_knob(node, "model", "simswap")        # a person in the panel: callback
    assert calls == [node]


def test_submit_refuses_unsaved_and_temp_cache_then_runs_farm_submit(session, core, tmp_path):
    nuke, node, _, source = session
    nuke.GUI = False
    node["source_file"].setValue(str(source))
    nuke.root()["name"].setValue("")
    with pytest.raises(NodeError, match="the script is not saved"):
        nuke.fake_press(node, "submit")
    nuke.root()["name"].setValue(str(tmp_path / "shot.nk"))
    import tempfile
    node["cache_dir"].setValue(f"{tempfile.gettempdir()}/faceplate")
    with pytest.raises(NodeError, match="temp folder"):
        nuke.fake_press(node, "submit")
    node["cache_dir"].setValue(str(tmp_path / "faceplate"))
    nuke.fake_press(node, "submit")
    argv = core.calls[-1]
    assert argv[:5] == ["faceplate", "farm", "submit", "--engine", "opencue"]
    assert argv[argv.index("--nk") + 1] == str(tmp_path / "shot.nk") and "--no-analyze" not in argv
    assert (tmp_path / "shot.nk").is_file()
    from faceplate.nuke.settings import FaceSwapSettings
    saved = FaceSwapSettings.from_nk(tmp_path / "shot.nk", "FaceSwap1")   # what the farm reads
    assert saved.plate == f"{tmp_path}/plates/plate.####.exr" and saved.sources == [str(source)]


def test_gui_runs_off_the_main_thread(session, core):
    nuke, node, _, _ = session
    nuke.GUI = True
    from faceplate.nuke import host
    thread = host.analyze_button(node)
    assert thread is not None
    nuke.fake_run_main_thread([thread])
    assert node["status"].value().startswith("analysed")
    core.fail_with = "plate.1002.exr: truncated EXR; re-render the plate"
    nuke.fake_run_main_thread([host.analyze_button(node)])
    assert nuke.fake_messages()[-1] == ("FaceSwap: `faceplate analyze` failed (exit 2): faceplate: error: "
                                        "plate.1002.exr: truncated EXR; re-render the plate")


def test_the_fake_is_strict(fake_nuke):
    nuke = fake_nuke
    nuke.pluginAddPath(str(GIZMOS))
    with pytest.raises(AttributeError):
        nuke.createWriteNodeMagic
    with pytest.raises(NameError):
        nuke.createNode("Blur", "no_such_knob 3")
    node = nuke.createNode("FaceSwap")
    with pytest.raises(NameError):
        node["smoothness"]
    with pytest.raises(TypeError):
        node["source_file"].setValueAt(1.0, 1001)
    with pytest.raises(AttributeError):
        node["model"].evaluate()                         # a plain String_Knob has no evaluate() in Nuke
    node["source_file"].setValue("[getenv NOPE_NOT_SET]/a.####.exr")
    assert node["source_file"].value() == "[getenv NOPE_NOT_SET]/a.####.exr"   # value(): raw text

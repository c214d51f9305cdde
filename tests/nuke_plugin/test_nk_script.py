"""Reading saved Nuke scripts without Nuke: syntax, curves, gizmo defaults, render/analyze settings."""
from __future__ import annotations

import os
import time

import pytest

from faceplate.nuke import nk_parse, nk_script, settings
from faceplate.nuke.curves import curve_value, parse_curve
from faceplate.nuke.errors import NodeError
from faceplate.nuke.farm_cli import as_faceplate_errors, run_render
from faceplate.nuke.nk_parse import parse_nk
from faceplate.nuke.nk_script import NkScript
from faceplate.nuke.settings import FaceSwapSettings

SCRIPT = """version 14.0 v5
define_window_layout_xml {<?xml version="1.0" encoding="UTF-8"?>
<layout version="1.0"><window x="0" y="0" w="100" h="100" screen="0"/></layout>
}
Root {
 inputs 0
 name {ROOT}/shot.nk
 frame 1002
 first_frame 1001
 last_frame 1010
 format "640 360 0 0 640 360 1 HD_ish"
 project_directory {ROOT}
}
Read {
 inputs 0
 file {PLATE}
 first 1001
 last 1010
 name Read1
}
set N1 [stack 0]
Dot {
 name Dot1
}
FaceSwap {
 inputs 1
 source_file "{ROOT}/actor one.jpg"
 extra_sources "{ROOT}/actor2.jpg\\n{ROOT}/actor3.jpg"
 model default
 target 2
 smoothing {{curve x1001 0.5 1.5 x1010 3}}
 mask_mode aligned
 erode -0.05
 regions skin,nose
 parser_file "{ROOT}/models/bisenet.onnx"
 regrain false
 output patch
 cache_dir {ROOT}/cache
 frame_last {{root.last_frame}}
 addUserKnob {12 fp_t1_eye_l l "face 1 eye l"}
 fp_t1_eye_l {{curve x1001 10 11 12} {curve x1001 20 21.5 23}}
 name FaceSwap1
}
push $N1
Group {
 inputs 1
 name Group1
}
 Input {
  inputs 0
  name Input1
 }
 Blur {
  size 3
  name Blur1
 }
 Output {
  name Output1
 }
end_group
"""


def write_script(tmp_path, plate="/plates/plate.%04d.exr"):
    """The shot script, with project_directory set to its folder (relative paths resolve there)."""
    text = SCRIPT.replace("{ROOT}", str(tmp_path)).replace("{PLATE}", plate)
    path = tmp_path / "shot.nk"
    path.write_text(text)
    return path


def test_tokenizer_keeps_braces_quotes_and_commands():
    cmds = nk_parse.split_commands('a {b {c d}} "e \\"f\\"" [g h]\nnext 1; last 2')
    assert cmds == [["a", "b {c d}", 'e "f"', "[g h]"], ["next", "1"], ["last", "2"]]
    assert isinstance(cmds[0][1], nk_parse.Braced) and not isinstance(cmds[0][3], nk_parse.Braced)


def test_curve_syntax_and_evaluation():
    keys = parse_curve("curve L x1001 1 2 x1010 10 s0 K x1020 0 t2")
    assert keys == [(1001.0, 1.0), (1002.0, 2.0), (1010.0, 10.0), (1020.0, 0.0)]
    assert curve_value(keys, 1001) == 1.0 and curve_value(keys, 1002) == 2.0
    assert 2.0 < curve_value(keys, 1006) < 10.0                  # smooth (cubic) between keys
    assert curve_value([(1.0, 0.0), (2.0, 1.0), (3.0, 2.0)], 1.5) == pytest.approx(0.5 - 0.125 / 1)  # flat start
    assert curve_value(keys, 900) == 1.0 and curve_value(keys, 2000) == 0.0  # held outside


def test_stack_inputs_and_groups(tmp_path):
    nodes = parse_nk(write_script(tmp_path).read_text())
    by_name = {n.name: n for n in nodes}
    assert [n.cls for n in nodes] == ["Root", "Read", "Dot", "FaceSwap", "Group"]
    assert by_name["FaceSwap1"].inputs[0] is by_name["Dot1"]
    assert by_name["Dot1"].inputs[0] is by_name["Read1"]
    assert by_name["Group1"].inputs[0] is by_name["Read1"]
    assert [c.name for c in by_name["Group1"].children] == ["Input1", "Blur1", "Output1"]
    assert by_name["Group1"].child("Output1").inputs[0].name == "Blur1"


def test_knob_values_defaults_expressions_and_curves(tmp_path):
    script = NkScript.load(write_script(tmp_path))
    node = script.node("FaceSwap1")
    assert script.number(node, "smoothing", frame=1002) == 1.5
    assert script.number(node, "feather") == pytest.approx(0.08)          # gizmo default
    assert script.number(node, "frame_first") == 1001                      # gizmo default {{root.first_frame}}
    assert script.number(node, "frame_last") == 1010
    assert script.boolean(node, "colour_match", False) is True              # gizmo default
    assert script.boolean(node, "regrain", True) is False
    assert script.string(node, "mask_mode") == "aligned"
    assert script.string(node, "farm_engine") == "opencue"                 # first menu item
    curves = script.curves(node, "fp_t1_eye_l")
    assert curves == [[(1001.0, 10.0), (1002.0, 11.0), (1003.0, 12.0)],
                      [(1001.0, 20.0), (1002.0, 21.5), (1003.0, 23.0)]]
    assert script.values(node, "fp_t1_eye_l", frame=1003) == [12.0, 23.0]


def test_settings_from_nk(tmp_path):
    s = FaceSwapSettings.from_nk(write_script(tmp_path), "FaceSwap1")
    assert s.plate == "/plates/plate.####.exr"                     # %04d → ####, from the upstream Read
    assert s.track == f"{tmp_path}/cache/FaceSwap1.track.json"
    assert s.patch == f"{tmp_path}/cache/patch/FaceSwap1.####.exr"
    assert s.sources == [f"{tmp_path}/actor one.jpg", f"{tmp_path}/actor2.jpg", f"{tmp_path}/actor3.jpg"]
    assert s.model is None                                          # "default": render picks
    assert s.frames == "1001-1010"
    assert s.targets == "2" and s.mask == "aligned" and s.regions == "skin,nose"
    assert s.erode == pytest.approx(-0.05) and s.feather == pytest.approx(0.08)
    assert s.colour_match is True and s.regrain is False and s.output == "patch"
    argv = s.analyze_argv(["faceplate"])
    assert argv[argv.index("-o") + 1] == s.track and argv[argv.index("--frames") + 1] == "1001-1010"
    # the parser keeps glasses and hair in analyze; render needs it only for mask parser
    assert argv[argv.index("--parser") + 1] == f"{tmp_path}/models/bisenet.onnx"
    assert "--parser" not in s.render_argv(["faceplate"])
    s.mask = "parser"
    render = s.render_argv(["faceplate"])
    assert render[render.index("--parser") + 1] == f"{tmp_path}/models/bisenet.onnx"


def render_task(path, node="FaceSwap1", frames=None):
    """What one farm render task checks before it renders (no render: bad input fails first)."""
    import argparse
    return as_faceplate_errors(run_render)(argparse.Namespace(nk=str(path), node=node, frames=frames))


def test_missing_node_and_unreadable_script_are_one_line_errors(tmp_path):
    path = write_script(tmp_path)
    with pytest.raises(NodeError, match="no node named 'FaceSwap9'"):
        FaceSwapSettings.from_nk(path, "FaceSwap9")
    with pytest.raises(NodeError, match="cannot read the Nuke script"):
        FaceSwapSettings.from_nk(tmp_path / "nope.nk", "FaceSwap1")
    path.write_text(path.read_text().replace("FaceSwap {", "FaceSwap {{"))
    with pytest.raises(NodeError, match="unbalanced"):
        FaceSwapSettings.from_nk(path, "FaceSwap1")


def test_farm_checks_refuse_bad_input(tmp_path):
    from faceplate.core.errors import FaceplateError
    plate_dir = tmp_path / "plates"
    plate_dir.mkdir()
    plate = plate_dir / "plate.1001.exr"
    plate.write_bytes(b"x")
    path = write_script(tmp_path, plate=str(plate_dir / "plate.####.exr"))
    with pytest.raises(FaceplateError, match="source image not found"):   # the photos do not exist yet
        render_task(path)
    for name in ("actor one.jpg", "actor2.jpg", "actor3.jpg"):
        (tmp_path / name).write_bytes(b"jpg")
    with pytest.raises(FaceplateError, match="analysis missing"):
        render_task(path)
    track = tmp_path / "cache" / "FaceSwap1.track.json"
    track.parent.mkdir()
    track.write_text("{}")
    os.utime(track, (time.time() - 100, time.time() - 100))
    with pytest.raises(FaceplateError, match="older than the plate"):
        render_task(path)
    os.utime(track, None)
    # a model file whose sha256 differs from the one recorded at analysis
    model = tmp_path / "swap.onnx"
    model.write_bytes(b"model v2")
    text = path.read_text().replace(" model default\n", f" model_file {model}\n model_sha256 {'ab' * 32}\n")
    path.write_text(text)
    with pytest.raises(FaceplateError, match="model sha256 here is"):
        render_task(path)


def test_no_source_set_is_refused(tmp_path):
    from faceplate.core.errors import FaceplateError
    path = write_script(tmp_path)
    text = path.read_text()
    text = "\n".join(l for l in text.splitlines() if not l.startswith((" source_file", " extra_sources"))) + "\n"
    path.write_text(text)
    with pytest.raises(FaceplateError, match="no source image set"):
        render_task(path)


def test_defaults_without_the_gizmo_match_the_gizmo(tmp_path, monkeypatch):
    """A farm install without gizmos/ reads the same settings: the code's fallbacks = the gizmo's."""
    example = __import__("pathlib").Path(__file__).resolve().parents[2] / "examples" / "faceswap_example.nk"
    paths = [write_script(tmp_path), example]
    with_gizmo = [FaceSwapSettings.from_nk(p, "FaceSwap1") for p in paths]
    monkeypatch.setattr(nk_script, "default_gizmo_dirs", lambda: [])
    assert [FaceSwapSettings.from_nk(p, "FaceSwap1") for p in paths] == with_gizmo

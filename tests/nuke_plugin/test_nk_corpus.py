"""Realistic saved scripts (tests/nuke_plugin/scripts/): each gives the right plate, frames, source
and settings for `faceplate` on the farm, resolved as Nuke resolves them."""
from __future__ import annotations

from pathlib import Path

import pytest

from faceplate.nuke.errors import NodeError
from faceplate.nuke.nk_parse import parse_nk
from faceplate.nuke.nk_script import NkScript
from faceplate.nuke.settings import FaceSwapSettings

SCRIPTS = Path(__file__).resolve().parent / "scripts"


def test_default_root_range_clones_and_masked_inputs():
    nk = SCRIPTS / "default_root_clone_mask.nk"
    # Root without first_frame/last_frame: Nuke's defaults 1-100 (not 0-0)
    raw = FaceSwapSettings.from_nk(nk, "FaceSwapRaw")
    assert (raw.first, raw.last) == (1, 100)
    assert raw.plate == "/shows/x/plates/shot.####.exr"           # relative to project_directory
    assert raw.cache_dir == "/shows/x/cache"
    # the graded plate goes through a clone of Grade1: not the Read's files, the pre-rendered input
    graded = FaceSwapSettings.from_nk(nk, "FaceSwap1")
    assert graded.plate == "/shows/x/cache/plate/FaceSwap1.####.exr"
    script = NkScript.load(nk)
    faceswap = script.node("FaceSwap1")
    clone = faceswap.inputs[0]
    assert clone.cls == "Grade" and script.number(clone, "white") == pytest.approx(1.2)   # shares the knobs
    merge = script.node("Merge1")
    assert [n.name if n else None for n in merge.inputs] == [None, "Read1", "Mask1"]   # inputs 2+1


def test_nested_groups_livegroup_getenv(monkeypatch):
    monkeypatch.setenv("SHOT_ROOT", "/mnt/shows/y/sh010")
    s = FaceSwapSettings.from_nk(SCRIPTS / "groups_livegroup_getenv.nk", "Outer.FaceSwap1")
    assert s.plate == "/mnt/shows/y/sh010/plates/shot.####.exr"      # [getenv] in the Read, through Input1
    assert (s.first, s.last) == (1011, 1040)                         # node's first, clipped to the Read
    assert s.sources == ["/mnt/shows/y/sh010/photos/actor.jpg"]      # relative to [getenv] project dir
    assert s.smoothing == 2.5             # Settings in the enclosing group, not top level (7) or LiveGroup (9)
    assert s.track == "/mnt/shows/y/sh010/faceplate/FaceSwap1.track.json"
    monkeypatch.delenv("SHOT_ROOT")
    with pytest.raises(NodeError, match=r"\[getenv SHOT_ROOT\] is not set"):
        FaceSwapSettings.from_nk(SCRIPTS / "groups_livegroup_getenv.nk", "Outer.FaceSwap1")


def test_livegroup_is_a_scope():
    nodes = parse_nk((SCRIPTS / "groups_livegroup_getenv.nk").read_text())
    outer = next(n for n in nodes if n.name == "Outer")
    assert [c.name for c in outer.children] == ["Input1", "Settings", "Live1", "Dot1", "FaceSwap1", "Output1"]
    assert [c.name for c in outer.child("Live1").children] == ["Settings"]


def test_wired_source_disabled_nodes_and_settings():
    s = FaceSwapSettings.from_nk(SCRIPTS / "wired_source_disabled.nk", "FaceSwapWired")
    # project_directory [python {nuke.script_directory()}]: the folder the script is read from
    assert s.plate == f"{SCRIPTS}/plates/shot.####.exr"   # a disabled Grade passes its input through
    assert (s.first, s.last) == (1, 24)
    assert s.sources == [f"{SCRIPTS}/faceplate/source/FaceSwapWired.exr"]   # the source input, written by Nuke
    assert (s.layer, s.colourspace) == ("beauty", "ACEScg")
    argv = s.render_argv(["faceplate"])
    assert argv[-4:] == ["--layer", "beauty", "--colourspace", "ACEScg"]
    with pytest.raises(NodeError, match="plate Read upstream is disabled"):
        FaceSwapSettings.from_nk(SCRIPTS / "wired_source_disabled.nk", "FaceSwapOld")

"""The FaceSwap gizmo text: knobs the Python reads exist, internal expressions resolve, the graph
is plate → Merge(over) ← face-patch Read, and the output switch follows the output menu."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from faceplate.nuke.nk_parse import parse_nk, split_list

REPO = Path(__file__).resolve().parents[2]
GIZMO = REPO / "gizmos" / "FaceSwap.gizmo"
# knobs every Group node has in Nuke, usable in expressions
BUILTIN_GROUP_KNOBS = {"name", "label", "disable", "help", "tile_color", "xpos", "ypos", "inputs"}
ROOT_KNOBS = {"first_frame", "last_frame", "frame", "format", "proxy", "fps"}


@pytest.fixture(scope="module")
def gizmo():
    nodes = parse_nk(GIZMO.read_text())
    found = [n for n in nodes if n.cls == "Gizmo"]
    assert len(found) == 1
    return found[0]


def knob_names(gizmo):
    return {k.name for k in gizmo.user_knobs} | BUILTIN_GROUP_KNOBS


def python_knob_reads(path: Path) -> set[str]:
    """Every literal knob name a module reads on the node: node["x"] (not internal nodes')."""
    text = path.read_text()
    return set(re.findall(r'\bnode\["([A-Za-z_]\w*)"\]', text))


def test_every_knob_the_python_reads_exists(gizmo):
    names = knob_names(gizmo)
    read = set()
    for module in ("host.py", "live_node.py"):
        read |= python_knob_reads(REPO / "nuke_plugin" / module)
    assert read, "the scan found no knob reads: the test lost its teeth"
    assert sorted(read - names) == []
    # and the one knob → setting mapping both sides use
    mapping = (REPO / "nuke_plugin" / "settings.py").read_text()
    setting_reads = set(re.findall(r'(?:text|number|path)\("(\w+)"\)', mapping))
    assert setting_reads and sorted(setting_reads - names) == []


def test_every_button_calls_an_existing_host_function(gizmo):
    host = (REPO / "nuke_plugin" / "host.py").read_text()
    buttons = [k for k in gizmo.user_knobs if k.kind == "PyScript_Knob"]
    assert {b.name for b in buttons} >= {"analyze", "render", "submit"}
    for b in buttons:
        called = re.findall(r"fp_host\.(\w+)\(", b.script)
        assert called, b.script
        for func in called:
            assert re.search(rf"^def {func}\(", host, re.M), f"{b.name} calls missing host.{func}"


def test_internal_expressions_name_existing_knobs_and_nodes(gizmo):
    names = knob_names(gizmo)
    children = {c.name: c for c in gizmo.children}
    refs = []
    for child in gizmo.children:
        for knob, words in child.knobs.items():
            text = " ".join(str(w) for w in words)
            refs += [(child.name, knob, r) for r in re.findall(r"\[value ([\w.]+)\\?\]", text)]
            for w in words:
                for item in (split_list(w) if str(w).startswith("{") or w.__class__.__name__ == "Braced" else []):
                    s = str(item)
                    if re.fullmatch(r"[A-Za-z_][\w.]*", s):
                        refs.append((child.name, knob, s))
    assert len(refs) >= 8
    for owner, knob, ref in refs:
        head, _, tail = ref.partition(".")
        if head == "parent":
            assert tail in names, f"{owner}.{knob} uses parent.{tail}, not a FaceSwap knob"
        elif head == "root":
            assert tail in ROOT_KNOBS, f"{owner}.{knob} uses root.{tail}"
        else:
            assert head in children, f"{owner}.{knob} names missing node {head}"
    # the gizmo's own default expressions too
    for knob, words in gizmo.knobs.items():
        for m in re.findall(r"root\.(\w+)", " ".join(map(str, words))):
            assert m in ROOT_KNOBS


def test_internal_graph_plate_over_patch(gizmo):
    nodes = {c.name: c for c in gizmo.children}
    plate, patch, over = nodes["plate"], nodes["PatchRead"], nodes["Over"]
    assert plate.cls == "Input" and "number" not in plate.knobs           # input 0
    assert nodes["source"].cls == "Input" and nodes["source"].knobs["number"] == ["1"]
    assert over.cls == "Merge2" and over.knobs["operation"] == ["over"]
    assert over.inputs[0] is plate and over.inputs[1] is patch               # B = plate, A = patch
    assert over.knobs["bbox"] == ["B"]                                       # plate's bbox, untouched outside
    assert patch.cls == "Read"           # raw or the plate Read's colourspace: host.match_patch_colour
    # an expression, not a copied path: a node renamed in the DAG still reads its own patches
    assert str(patch.knobs["file"][0]) == "[value parent.cache_dir]/patch/[value parent.name].####.exr"
    assert patch.knobs["before"] == ["black"] and patch.knobs["after"] == ["black"]
    assert patch.knobs["on_error"] == ["checkerboard"]          # unrendered frames are visible as such
    assert nodes["PrerenderPlate"].knobs["datatype"] == ["32 bit float"]
    switch = nodes["OutputSwitch"]
    menu = next(k for k in gizmo.user_knobs if k.name == "output").items
    assert menu == ["comp", "patch", "matte"]
    assert [i.name for i in switch.inputs] == ["Over", "PatchRead", "Matte"]  # index = menu order
    assert nodes["Matte"].inputs[0] is patch
    out = next(c for c in gizmo.children if c.cls == "Output")
    assert out.inputs[0] is switch
    assert nodes["PrerenderPlate"].inputs[0] is plate and nodes["PrerenderPlate"].knobs["disable"] == ["true"]
    assert nodes["WriteSource"].inputs[0] is nodes["source"]
    assert gizmo.knobs["inputs"] == ["2"]

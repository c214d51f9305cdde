"""What runs inside Nuke: standard library only (heavy libraries blocked, Nuke 14/15/16 Pythons),
a fast bake through whole curves, and a subprocess run that cancels at once with a clean env."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from faceplate.nuke import runner
from faceplate.nuke.errors import NodeError
from faceplate.nuke.nuke_setup import write_nuke_folder

from .conftest import FAKE_NUKE, make_track_file

BLOCKED = ("numpy", "cv2", "OpenImageIO", "PyOpenColorIO", "onnxruntime", "torch", "faceplate.core", "PySide6")
PYENV = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
# Nuke 14, 15, 16 ship Python 3.9, 3.10, 3.11: the same minor versions, bare (no site-packages).
NUKE_PYTHONS = {v: next(iter(sorted(PYENV.glob(f"{v}.*/bin/python{v}"))), None) for v in ("3.9", "3.10", "3.11")}

NUKE_SESSION = r'''
import importlib.abc, sys, time
BLOCKED = {blocked!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ImportError("blocked in Nuke: " + name)
sys.meta_path.insert(0, Block())
sys.path.insert(0, {fakes!r})
import nuke
nuke.fake_reset(gui=False)
exec(open({init!r}).read(), {{"__name__": "__main__"}})
exec(open({menu!r}).read(), {{"__name__": "__main__"}})
nuke.root()["name"].setValue({script!r})
node = nuke.createNode("FaceSwap")
import faceplate.nuke.host as host, faceplate.nuke.panels, faceplate.nuke.live_node
t0 = time.process_time()  # CPU seconds: other jobs on a shared machine do not count
n = host.bake_track_file(node, {track!r})
elapsed = time.process_time() - t0
knob = node["fp_t3_box"]
print(n, round(elapsed, 3), knob.getValueAt(1500, 0), sorted(m for m in sys.modules if m.split(".")[0] in
      ("numpy", "cv2", "torch", "onnxruntime")), node["cache_dir"].value())
'''


@pytest.fixture(scope="module")
def nuke_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("nuke")
    track = root / "cache" / "FaceSwap1.track.json"
    make_track_file(track, frames=range(1001, 2001), track_ids=(1, 2, 3), width=4096, height=2160)
    written = write_nuke_folder(str(root / "nuke_path"), exe="/sw/faceplate/bin/faceplate")
    return root, written, track


@pytest.mark.parametrize("version", ["3.9", "3.10", "3.11", "venv"])
def test_nuke_side_imports_and_bakes_without_heavy_libraries(nuke_folder, version):
    root, written, track = nuke_folder
    python = sys.executable if version == "venv" else NUKE_PYTHONS[version]
    if python is None:
        pytest.skip(f"no Python {version} here (Nuke {({'3.9': 14, '3.10': 15, '3.11': 16})[version]})")
    code = NUKE_SESSION.format(blocked=BLOCKED, fakes=str(FAKE_NUKE.parent), init=str(written["init"]),
                               menu=str(written["folder"] / "menu.py"), script=str(root / "shot.nk"),
                               track=str(track))
    args = [str(python), "-c", code] if version == "venv" else [str(python), "-I", "-S", "-c", code]
    result = subprocess.run(args, capture_output=True, text=True, cwd=str(root), timeout=120,
                            env={"PATH": os.environ["PATH"], "HOME": str(root)})
    assert result.returncode == 0, result.stderr[-2000:]
    knobs, seconds, value, heavy, cache = result.stdout.split(" ", 4)
    assert int(knobs) == 18 and heavy == "[]"
    assert float(seconds) < 2.0, f"bake of 1000 frames x 3 faces took {seconds}s"   # one fromScript per knob
    assert cache.strip() == f"{root}/faceplate"
    tracked = json.loads(track.read_text())["tracks"][2]["frames"]["1500"]["box"]
    assert float(value) == pytest.approx(tracked[0] + 0.5)                  # x: plate → Nuke (+0.5)


def test_setup_writes_a_nuke_path_folder_and_prints_the_environment(tmp_path, capsys):
    from faceplate.core.cli.__init__ import main

    assert main(["nuke", "setup", str(tmp_path / "np"), "--exe", "/sw/fp/bin/faceplate"]) == 0
    out = capsys.readouterr().out
    assert f'export NUKE_PATH="{tmp_path}/np' in out and 'FACEPLATE_EXE="/sw/fp/bin/faceplate"' in out
    assert (tmp_path / "np" / "gizmos" / "FaceSwap.gizmo").is_file()
    assert not (tmp_path / "np" / "python" / "faceplate" / "nuke" / "key_edits.py").exists()   # numpy side stays out


CHILD = ("import os, sys, time\nprint('PYTHONPATH=' + os.environ.get('PYTHONPATH', '-'), flush=True)\n"
         "print('analyze: 1/3 frames', flush=True)\ntime.sleep(30)\n")


def test_run_is_cancelled_at_once_with_a_clean_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/nuke/lib/python3.10/site-packages")   # what Nuke's Python has
    monkeypatch.setenv("PYTHONHOME", "/nuke")
    lines, cancel = [], threading.Event()
    errors = []

    def work():
        try:
            runner.run_commands([[sys.executable, "-c", CHILD]], str(tmp_path), on_line=lines.append,
                                cancelled=cancel.is_set)
        except NodeError as exc:
            errors.append(str(exc))
    thread = threading.Thread(target=work)
    thread.start()
    deadline = time.monotonic() + 20
    while len(lines) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert lines[:2] == ["PYTHONPATH=-", "analyze: 1/3 frames"]     # child ran without Nuke's Python paths
    t0 = time.monotonic()
    cancel.set()                               # the child prints nothing more: cancel must not wait for a line
    thread.join(10)
    assert not thread.is_alive() and time.monotonic() - t0 < 1.0
    assert "cancelled" in errors[0]
    assert runner.progress_percent(lines[1]) == 33


def test_exe_comes_from_the_knob_then_the_environment(monkeypatch):
    monkeypatch.setenv("FACEPLATE_EXE", "/sw/fp/bin/faceplate --verbose")
    assert runner.faceplate_exe("") == ["/sw/fp/bin/faceplate", "--verbose"]
    assert runner.faceplate_exe("/opt/fp/faceplate") == ["/opt/fp/faceplate"]
    monkeypatch.delenv("FACEPLATE_EXE")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(NodeError, match="FACEPLATE_EXE"):
        runner.faceplate_exe("")


def test_a_wheel_install_finds_the_gizmo_it_carries(tmp_path, monkeypatch):
    """pyproject ships gizmos/FaceSwap.gizmo as data (a wheel puts it in <prefix>/share/faceplate/gizmos);
    without a checkout beside the package, setup and the .nk reader find it there."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")

    from faceplate.nuke import nk_script, nuke_setup

    root = Path(__file__).resolve().parents[2]
    project = tomllib.loads((root / "pyproject.toml").read_text())
    shipped = project["tool"]["setuptools"]["data-files"]["share/faceplate/gizmos"]
    assert shipped == ["gizmos/FaceSwap.gizmo"] and (root / shipped[0]).is_file()
    prefix = tmp_path / "venv"
    installed = prefix / "share" / "faceplate" / "gizmos" / "FaceSwap.gizmo"
    installed.parent.mkdir(parents=True)
    installed.write_text((root / shipped[0]).read_text())
    monkeypatch.setattr(nuke_setup, "PACKAGE_DIR", tmp_path / "site-packages" / "faceplate" / "nuke")
    monkeypatch.setattr(sys, "prefix", str(prefix))
    assert nuke_setup.gizmo_file() == installed
    assert installed.parent in nk_script.default_gizmo_dirs()

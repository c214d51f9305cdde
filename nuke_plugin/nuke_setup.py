"""The NUKE_PATH folder for a faceplate install: what ``faceplate nuke setup DEST`` writes.

Nuke 14/15/16 run their own Python (3.9/3.10/3.11), which must never see faceplate's environment
(numpy, OpenCV, onnxruntime are C extensions built for another Python; opencv-python even brings
its own Qt). So DEST holds only what runs inside Nuke: a copy of the standard-library modules of
``faceplate.nuke`` under ``DEST/python``, the gizmo under ``DEST/gizmos`` and an ``init.py`` /
``menu.py`` that point Nuke at them and at this install's ``faceplate`` executable.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Optional

from faceplate.nuke.errors import NodeError

PACKAGE_DIR = Path(__file__).resolve().parent
# Every module Nuke's Python imports (the buttons, callbacks and what they import): standard library only.
NUKE_SIDE_MODULES = ("__init__.py", "errors.py", "curves.py", "nk_parse.py", "nk_script.py", "settings.py",
                     "bake.py", "preflight.py", "runner.py", "live_node.py", "host.py", "panels.py", "init.py",
                     "menu.py")
NUKE_PYTHONS = {"14": "3.9", "15": "3.10", "16": "3.11"}

_INIT = '''# Written by `faceplate nuke setup` for {exe}. Re-run it after upgrading faceplate.
import os
import sys

sys.path.insert(0, {python!r})
os.environ.setdefault("FACEPLATE_EXE", {exe!r})

from faceplate.nuke import init as _faceplate_init

_faceplate_init.register({gizmos!r})
'''
_MENU = '''# Written by `faceplate nuke setup`.
from faceplate.nuke import menu as _faceplate_menu

_faceplate_menu.build_menus()
'''


def gizmo_file() -> Path:
    """The FaceSwap gizmo, from the first of ``packaged_gizmo_dirs`` that has it."""
    from faceplate.nuke.nk_script import packaged_gizmo_dirs
    for candidate in (d / "FaceSwap.gizmo" for d in packaged_gizmo_dirs(PACKAGE_DIR)):
        if candidate.is_file():
            return candidate
    raise NodeError(f"FaceSwap.gizmo not found beside {PACKAGE_DIR}; install faceplate from a checkout "
                    f"(pip install -e .) or copy gizmos/FaceSwap.gizmo next to the package")


def default_exe() -> str:
    """This install's ``faceplate`` script (beside the running Python), else the one on PATH."""
    here = Path(sys.executable).parent / ("faceplate.exe" if os.name == "nt" else "faceplate")
    if here.is_file():
        return str(here)
    return shutil.which("faceplate") or "faceplate"


def write_nuke_folder(dest: str, exe: Optional[str] = None) -> dict[str, Path]:
    """Write DEST/init.py, menu.py, gizmos/ and python/faceplate/nuke/; return the main paths."""
    root = Path(dest).resolve()
    package = root / "python" / "faceplate" / "nuke"
    gizmos = root / "gizmos"
    try:
        package.mkdir(parents=True, exist_ok=True)
        gizmos.mkdir(parents=True, exist_ok=True)
        for name in NUKE_SIDE_MODULES:
            shutil.copyfile(PACKAGE_DIR / name, package / name)
        shutil.copyfile(gizmo_file(), gizmos / "FaceSwap.gizmo")
        exe = exe or default_exe()
        _write(root / "init.py", _INIT.format(exe=exe, python=str(root / "python"), gizmos=str(gizmos)))
        _write(root / "menu.py", _MENU)
    except OSError as exc:
        raise NodeError(f"{dest}: cannot write the Nuke folder ({exc.strerror}); choose a writable folder") from None
    return {"folder": root, "init": root / "init.py", "python": root / "python", "gizmos": gizmos}


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def environment_lines(folder: str, exe: str) -> str:
    """What a TD adds to the Nuke launch environment (sh and Windows cmd)."""
    versions = ", ".join(f"Nuke {v}: Python {p}" for v, p in NUKE_PYTHONS.items())
    return "\n".join([
        f"# faceplate for Nuke ({versions}); standard library only inside Nuke",
        f'export NUKE_PATH="{folder}${{NUKE_PATH:+:$NUKE_PATH}}"',
        f'export FACEPLATE_EXE="{exe}"',
        "# Windows (cmd):",
        f'#   set "NUKE_PATH={folder};%NUKE_PATH%"',
        f'#   set "FACEPLATE_EXE={exe}"',
    ])

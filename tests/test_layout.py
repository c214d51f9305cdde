"""The rooms' import rules (DESIGN.md): core never imports nuke, Qt or torch; only nuke_plugin imports nuke."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QT = {"PySide2", "PySide6", "PyQt5", "PyQt6", "shiboken2", "shiboken6"}


def _top_level_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_never_imports_nuke_qt_or_torch() -> None:
    offenders = {
        str(path.relative_to(REPO)): sorted(_top_level_imports(path) & ({"nuke", "torch"} | QT))
        for path in sorted((REPO / "core").glob("*.py"))
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_nuke_plugin_imports_nuke() -> None:
    rooms = [REPO / "core", REPO / "training", REPO / "onnx_export"]
    offenders = [str(p.relative_to(REPO)) for room in rooms for p in room.glob("*.py")
                 if "nuke" in _top_level_imports(p)]
    assert offenders == []


def test_importing_every_core_module_loads_no_heavy_host_module() -> None:
    """No model loading or torch/Qt/nuke at import time, checked in a clean interpreter."""
    modules = [f"faceplate.core.{p.stem}" for p in sorted((REPO / "core").glob("*.py")) if p.stem != "__init__"]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in ('torch', 'nuke', 'PySide2', 'PySide6') if m in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_cli_registers_every_room_command() -> None:
    """Every subcommand loads (with all extras installed, as under .ci/run) and has --help text."""
    import argparse

    from faceplate.core.cli.__init__ import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {choice.dest: choice.help for choice in subparsers._choices_actions}
    for command in ("analyze", "render", "swap", "models", "sample", "dataset", "train", "export", "farm"):
        assert command in subparsers.choices, f"`faceplate {command}` is not registered"
        assert not (helps.get(command) or "").startswith("(unavailable"), helps.get(command)

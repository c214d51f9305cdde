"""The rooms' import rules (DESIGN.md): core never imports nuke, Qt or torch; only nuke_plugin imports nuke."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QT = {"PySide2", "PySide6", "PyQt5", "PyQt6", "shiboken2", "shiboken6"}


def _imports(path: Path) -> set[str]:
    """Full dotted names of every module a file imports, function-level (lazy) imports included;
    relative imports are resolved against the file's package."""
    names: set[str] = set()
    package = _module_name(path).rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


ROOMS = {"core": "faceplate.core", "training": "faceplate.training", "onnx_export": "faceplate.onnx_export",
         "nuke_plugin": "faceplate.nuke"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    return ".".join([ROOMS[parts[0]], *parts[1:]])


def _room_files(room: str) -> list[Path]:
    return sorted((REPO / room).rglob("*.py"))


def _offenders(room: str, forbidden: set[str]) -> dict[str, list[str]]:
    out = {}
    for path in _room_files(room):
        bad = sorted(n for n in _imports(path) if any(n == f or n.startswith(f + ".") for f in forbidden))
        if bad:
            out[str(path.relative_to(REPO))] = bad
    return out


def test_imports_are_read_with_full_names_and_lazy_imports(tmp_path) -> None:
    """The checker itself: a lazy `from faceplate.nuke import x` inside a function is seen as such."""
    probe = REPO / "core" / "_layout_probe.py"
    try:
        probe.write_text("def f():\n    from faceplate.nuke.settings import FaceSwapSettings\n    from . import colour\n")
        names = _imports(probe)
    finally:
        probe.unlink()
    assert "faceplate.nuke.settings.FaceSwapSettings" in names and "faceplate.core.colour" in names


def test_core_never_imports_another_room_torch_qt_or_nuke() -> None:
    forbidden = {"nuke", "torch", "faceplate.nuke", "faceplate.training", "faceplate.onnx_export"} | QT
    assert _offenders("core", forbidden) == {}


def test_only_nuke_plugin_imports_nuke() -> None:
    for room in ("core", "training", "onnx_export"):
        assert _offenders(room, {"nuke"}) == {}


def test_no_module_over_500_lines() -> None:
    long = {str(p.relative_to(REPO)): n for room in ROOMS for p in _room_files(room)
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 500}
    assert long == {}


def test_importing_every_core_module_loads_no_heavy_host_module() -> None:
    """No model loading or torch/Qt/nuke at import time, checked in a clean interpreter."""
    modules = [_module_name(p).removesuffix(".__init__") for p in _room_files("core") if p.name != "__main__.py"]
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

    from faceplate.core.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {choice.dest: choice.help for choice in subparsers._choices_actions}
    for command in ("analyze", "render", "swap", "models", "sample", "dataset", "train", "export", "farm"):
        assert command in subparsers.choices, f"`faceplate {command}` is not registered"
        assert not (helps.get(command) or "").startswith("(unavailable"), helps.get(command)

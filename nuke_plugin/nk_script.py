"""Evaluate a saved Nuke script without Nuke: knob values, defaults, expressions, curves and paths.

Render nodes on the farm have no Nuke licence, so ``faceplate farm render --nk shot.nk --node
FaceSwap1`` reads the FaceSwap node from the script text (nk_parse.py builds the graph). Values
follow Nuke: a knob missing from the script has its default (the Root's built-in defaults, a
gizmo's own knob lines, the first item of a menu); expressions name knobs as ``root.x``,
``parent.x``, ``this.x``, ``Node.x`` (looked up in the enclosing group first) or ``x``; file
knobs are TCL (``[getenv SHOT]``, ``[value root.name]``, ``[file dirname …]``,
``[python {nuke.script_directory()}]``) and relative to the evaluated ``root.project_directory``.
Standard library only.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Optional, Union

from faceplate.nuke.curves import curve_value, is_number, parse_curve
from faceplate.nuke.errors import NodeError
from faceplate.nuke.nk_parse import Braced, NkNode, UserKnob, find_node, parse_nk, split_list

PathLike = Union[str, "os.PathLike[str]"]
# What Nuke leaves out of a saved Root because it is the default.
ROOT_DEFAULTS = {"first_frame": 1.0, "last_frame": 100.0, "frame": 1.0, "fps": 24.0, "proxy": 0.0}


def packaged_gizmo_dirs(package_dir: Path = Path(__file__).resolve().parent) -> list[Path]:
    """Where an install keeps its gizmos: beside the checkout (editable install), beside the package
    (``package_dir``, faceplate/nuke), and where a wheel puts them (``<prefix>/share/faceplate/gizmos``)."""
    return [package_dir.parent / "gizmos", package_dir / "gizmos", Path(sys.prefix) / "share" / "faceplate" / "gizmos"]


def default_gizmo_dirs() -> list[Path]:
    """Where gizmo definitions (knob defaults) are looked up: $FACEPLATE_GIZMOS, the checkout's
    gizmos/ (or the one beside an installed package, or where a wheel puts it: <prefix>/share/faceplate),
    and each $NUKE_PATH entry with its gizmos/."""
    dirs = [Path(p) for p in os.environ.get("FACEPLATE_GIZMOS", "").split(os.pathsep) if p]
    dirs += packaged_gizmo_dirs()
    for entry in os.environ.get("NUKE_PATH", "").split(os.pathsep):
        if entry:
            dirs += [Path(entry), Path(entry) / "gizmos", Path(entry).parent / "gizmos"]
    return dirs


def hashes_pattern(path: str) -> str:
    """Nuke's ``%04d`` / ``%d`` file patterns → ``####`` style (``####`` and ``@`` kept)."""
    return re.sub(r"%0?(\d*)d", lambda m: "#" * max(1, int(m.group(1) or 1)), path)


def is_absolute(path: str) -> bool:
    return os.path.isabs(path) or bool(re.match(r"^[A-Za-z]:[/\\]", path))


def _items(words: list[str]) -> list[str]:
    """A knob's value as per-index items: ``{{curve..} {curve..}}`` → two Braced curves."""
    if len(words) == 1 and isinstance(words[0], Braced):
        inner = split_list(words[0])
        if inner and str(inner[0]) == "curve":
            return [words[0]]  # a bare scalar curve ``{curve ...}``
        return inner
    return list(words)


class NkScript:
    """A parsed script with knob evaluation (defaults from the gizmo, expressions, curves, TCL)."""

    def __init__(self, text: str, path: Optional[str] = None, gizmo_dirs: Optional[list[Path]] = None):
        self.path = path
        self.nodes = parse_nk(text)
        self.gizmo_dirs = gizmo_dirs if gizmo_dirs is not None else default_gizmo_dirs()
        self._gizmos: dict[str, Optional[NkNode]] = {}

    @classmethod
    def load(cls, path: PathLike, gizmo_dirs: Optional[list[Path]] = None) -> "NkScript":
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise NodeError(f"{p}: cannot read the Nuke script ({exc.strerror}); check the path") from None
        try:
            return cls(text, str(p.resolve()), gizmo_dirs)
        except NodeError as exc:
            raise NodeError(f"{p}: {exc}") from None

    @property
    def root(self) -> Optional[NkNode]:
        return next((n for n in self.nodes if n.cls == "Root"), None)

    def node(self, name: str) -> NkNode:
        found = find_node(self.nodes, name)
        if found is None:
            names = ", ".join(n.name for n in self.nodes if n.cls != "Root")[:200]
            raise NodeError(f"{self.path or 'script'}: no node named {name!r} (nodes: {names}); "
                            f"pass --node with the FaceSwap node's name (Group1.FaceSwap1 inside a group)")
        return found

    def full_name(self, node: NkNode) -> str:
        parts = [node.name]
        parent = node.parent
        while parent is not None:
            parts.insert(0, parent.name)
            parent = parent.parent
        return ".".join(parts)

    def lookup(self, scope_of: NkNode, name: str) -> Optional[NkNode]:
        """A node named in an expression: the enclosing group's first, then outwards to the top."""
        group = scope_of.parent
        while group is not None:
            found = group.child(name)
            if found is not None:
                return found
            group = group.parent
        return find_node(self.nodes, name)

    # -- definitions ---------------------------------------------------------------------
    def gizmo_definition(self, cls: str) -> Optional[NkNode]:
        """The ``Gizmo {...}`` block of ``<cls>.gizmo`` from the gizmo folders (or None)."""
        if cls not in self._gizmos:
            self._gizmos[cls] = None
            for folder in self.gizmo_dirs:
                path = Path(folder) / f"{cls}.gizmo"
                if path.is_file():
                    nodes = parse_nk(path.read_text(encoding="utf-8"))
                    self._gizmos[cls] = next((n for n in nodes if n.cls == "Gizmo"), None)
                    break
        return self._gizmos[cls]

    def knob_def(self, node: NkNode, knob: str) -> Optional[UserKnob]:
        found = node.user_knob(knob)
        if found is None:
            gizmo = self.gizmo_definition(node.cls)
            if gizmo is not None:
                found = gizmo.user_knob(knob)
        return found

    def raw(self, node: NkNode, knob: str) -> Optional[list[str]]:
        """Raw words of a knob: the node's own value, else the gizmo's default, else None."""
        if knob in node.knobs:
            return node.knobs[knob]
        gizmo = self.gizmo_definition(node.cls)
        if gizmo is not None and knob in gizmo.knobs:
            return gizmo.knobs[knob]
        return None

    # -- evaluation ----------------------------------------------------------------------
    def string(self, node: NkNode, knob: str, default: str = "") -> str:
        words = self.raw(node, knob)
        if words is None:
            kd = self.knob_def(node, knob)
            if kd is not None and kd.kind == "Enumeration_Knob" and kd.items:
                return kd.items[0]
            return default
        return " ".join(str(w) for w in words)

    def number(self, node: NkNode, knob: str, frame: Optional[float] = None, index: int = 0,
               default: Optional[float] = None) -> float:
        words = self.raw(node, knob)
        if words is None:
            if default is not None:
                return default
            return ROOT_DEFAULTS.get(knob, 0.0) if node.cls == "Root" else 0.0
        items = _items(words)
        item = items[min(index, len(items) - 1)] if items else "0"
        return self._eval_item(node, item, frame, knob)

    def values(self, node: NkNode, knob: str, frame: Optional[float] = None) -> list[float]:
        words = self.raw(node, knob)
        return [] if words is None else [self._eval_item(node, it, frame, knob) for it in _items(words)]

    def boolean(self, node: NkNode, knob: str, default: bool = False) -> bool:
        words = self.raw(node, knob)
        if words is None:
            return default
        w = str(words[0]).lower()
        if w in ("true", "false"):
            return w == "true"
        return bool(self.number(node, knob))

    def curves(self, node: NkNode, knob: str) -> list[list[tuple[float, float]]]:
        """Per index: the animation keys of the knob ([] for a constant index)."""
        words = self.raw(node, knob)
        if words is None:
            return []
        return [parse_curve(str(item)) if isinstance(item, Braced) and str(item).lstrip().startswith("curve")
                else [] for item in _items(words)]

    def _eval_item(self, node: NkNode, item: str, frame: Optional[float], knob: str, depth: int = 0) -> float:
        text = str(item).strip()
        if is_number(text):
            return float(text)
        if text.lower() in ("true", "false"):
            return 1.0 if text.lower() == "true" else 0.0
        if isinstance(item, Braced) or text.startswith("{"):
            if text.startswith("curve"):
                keys = parse_curve(text)
                if frame is None:  # as Nuke's knob.value(): at the script's current frame
                    frame = self.current_frame(default=keys[0][0] if keys else 1.0)
                return curve_value(keys, frame)
            inner = split_list(text)
            if len(inner) == 1:
                return self._eval_item(node, inner[0], frame, knob, depth + 1)
        return self._expression(node, text, frame, knob, depth)

    def _expression(self, node: NkNode, text: str, frame: Optional[float], knob: str, depth: int) -> float:
        """Knob references: ``root.first_frame``, ``parent.x``, ``this.x``, ``Node1.x``, ``x``."""
        if depth > 8:
            raise NodeError(f"{self.path}: {node.name}.{knob}: expression loop in {text!r}")
        m = re.fullmatch(r"([A-Za-z_]\w*)(?:\.([A-Za-z_]\w*))?(?:\.([xyrt]|\d+))?", text)
        if not m:
            raise NodeError(f"{self.path}: {node.name}.{knob}: expression {text!r} cannot be evaluated "
                            f"without Nuke; bake it (Edit > Node > Bake expressions) and re-save")
        owner, name = m.group(1), m.group(2)
        target = self._owner(node, owner) if name is not None else node
        if name is None:
            name = owner
        if target is None:
            raise NodeError(f"{self.path}: {node.name}.{knob}: expression {text!r} names a missing node")
        suffix = m.group(3) or "0"
        index = {"x": 0, "y": 1, "r": 2, "t": 3}.get(suffix, int(suffix) if suffix.isdigit() else 0)
        return self.number(target, name, frame, index)

    def _owner(self, node: NkNode, owner: str) -> Optional[NkNode]:
        if owner == "root":
            return self.root
        if owner == "this":
            return node
        if owner == "parent":
            return node.parent or self.root
        return self.lookup(node, owner)

    def current_frame(self, default: float = 1.0) -> float:
        root = self.root
        if root is None or "frame" not in root.knobs:
            return default
        return self.number(root, "frame", default=default)

    def frame_range(self) -> tuple[int, int]:
        root = self.root or NkNode("Root")
        return int(self.number(root, "first_frame")), int(self.number(root, "last_frame"))

    # -- TCL strings and paths -------------------------------------------------------------
    def tcl(self, node: NkNode, text: str, depth: int = 0) -> str:
        """Substitute the TCL commands file knobs use; anything else is a one-line error."""
        out, i = [], 0
        while i < len(text):
            c = text[i]
            if c == "[":
                end = _matching_bracket(text, i)
                out.append(self._command(node, text[i + 1:end].strip(), depth))
                i = end + 1
            else:
                out.append(c)
                i += 1
        return "".join(out)

    def _command(self, node: NkNode, command: str, depth: int) -> str:
        if depth > 8:
            raise NodeError(f"{self.path}: {node.name}: TCL nested too deep in [{command}]")
        words = command.split(None, 1)
        verb, rest = words[0], (words[1] if len(words) > 1 else "")
        rest = self.tcl(node, rest, depth + 1)
        if verb == "getenv":
            name = rest.strip()
            if name not in os.environ:
                raise NodeError(f"{self.path}: {node.name}: [getenv {name}] is not set on this machine; "
                                f"set ${name} in the farm environment")
            return os.environ[name]
        if verb == "value":
            ref = rest.strip()
            owner_name, _, knob = ref.rpartition(".")
            owner = self._owner(node, owner_name) if owner_name else node
            if owner is None:
                raise NodeError(f"{self.path}: {node.name}: [value {ref}] names a missing node")
            if owner.cls == "Root" and knob == "name":
                return self.path or ""
            return self.tcl(owner, self.string(owner, knob), depth + 1)
        if verb == "file" and rest.startswith("dirname "):
            return os.path.dirname(rest[len("dirname "):].strip())
        if verb == "python" and rest.strip("{} ") == "nuke.script_directory()":
            return os.path.dirname(self.path or "")
        raise NodeError(f"{self.path}: {node.name}: [{command}] cannot be evaluated without Nuke; "
                        f"use an absolute path, [getenv VAR] or [value root.name] instead")

    def project_directory(self) -> str:
        root = self.root
        raw = self.string(root, "project_directory") if root is not None else ""
        return self.tcl(root, raw).rstrip("/\\") if raw else ""

    def file_path(self, node: NkNode, knob: str) -> Optional[str]:
        """A file knob as Nuke reads it: TCL substituted, relative to root.project_directory."""
        raw = self.string(node, knob).strip()
        return self.resolve(self.tcl(node, raw), f"{node.name}.{knob}") if raw else None

    def resolve(self, value: str, what: str) -> str:
        return resolve_path(value, self.project_directory() if not is_absolute(value) else "",
                            f"{self.path}: {what}")


def resolve_path(value: str, project_dir: str, what: str) -> str:
    """An evaluated file path as Nuke reads it: absolute as is, else under the project directory
    (never Nuke's or the farm's working directory). The host and the .nk reader both use this."""
    if is_absolute(value):
        return value.replace("\\", "/")
    if not project_dir:
        raise NodeError(f"{what} is the relative path {value!r} but the project directory is empty; set "
                        f"Project Settings > project directory or use an absolute path")
    if not is_absolute(project_dir):
        raise NodeError(f"{what}: the project directory {project_dir!r} is relative; make it absolute")
    return os.path.normpath(os.path.join(project_dir, value)).replace("\\", "/")


def _matching_bracket(text: str, i: int) -> int:
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "[":
            depth += 1
        elif text[j] == "]":
            depth -= 1
            if depth == 0:
                return j
    raise NodeError(f"unbalanced '[' in {text[:80]!r}; fix the file knob")

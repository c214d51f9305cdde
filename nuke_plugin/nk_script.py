"""Read a saved Nuke script (.nk) or gizmo without Nuke: nodes, knob values, animated curves.

Render nodes on the farm have no Nuke licence, so ``faceplate render --nk shot.nk --node FaceSwap1``
reads the FaceSwap node's settings from the script text. The syntax is Nuke's TCL dialect:
commands one per line, ``{...}`` braced words (nested, no substitution), ``"..."`` strings,
``Class { knob value ... }`` node blocks, ``Group {...}`` ... ``end_group`` for groups, and
``{curve x1001 1.0 2.0 x1010 3}`` for animation (``x`` sets the frame of the next key, bare
numbers are keys on consecutive frames; letters such as ``L``/``C``/``K`` and slopes
``s``/``t``/``u``/``v`` change interpolation, which is evaluated linearly between keys here).

No ``nuke`` import: this module is pure text processing, unit-testable anywhere.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from faceplate.core.errors import FaceplateError

PathLike = Union[str, "os.PathLike[str]"]

# addUserKnob type ids (Nuke's numbering) for the knob kinds faceplate uses.
KNOB_TYPES = {
    1: "String_Knob", 2: "File_Knob", 3: "Int_Knob", 4: "Enumeration_Knob", 6: "Boolean_Knob",
    7: "Double_Knob", 12: "XY_Knob", 13: "XYZ_Knob", 14: "WH_Knob", 15: "BBox_Knob",
    18: "Color_Knob", 19: "AColor_Knob", 20: "Tab_Knob", 22: "PyScript_Knob", 26: "Text_Knob",
    41: "Link_Knob",
}
TEXT_TYPES = {"String_Knob", "File_Knob", "Enumeration_Knob", "Text_Knob", "PyScript_Knob", "Tab_Knob",
              "Link_Knob"}
_NUMERIC_WIDTH = {"Int_Knob": 1, "Boolean_Knob": 1, "Double_Knob": 1, "XY_Knob": 2, "XYZ_Knob": 3,
                  "WH_Knob": 2, "BBox_Knob": 4, "Color_Knob": 3, "AColor_Knob": 4}
GIZMO_PATH = Path(__file__).resolve().parents[1] / "gizmos" / "FaceSwap.gizmo"


def default_gizmo_dirs() -> list[Path]:
    """Where gizmo definitions (knob defaults) are looked up: $FACEPLATE_GIZMOS, the checkout's
    gizmos/, and each $NUKE_PATH entry with its ../gizmos. Without any, the readers below still
    fall back to the same defaults as the gizmo (a test keeps them equal)."""
    dirs = [Path(p) for p in os.environ.get("FACEPLATE_GIZMOS", "").split(os.pathsep) if p]
    dirs.append(GIZMO_PATH.parent)
    for entry in os.environ.get("NUKE_PATH", "").split(os.pathsep):
        if entry:
            dirs += [Path(entry), Path(entry).parent / "gizmos"]
    return dirs


class Braced(str):
    """A word that was written in braces: its text, without the braces."""


class Quoted(str):
    """A word that was written in double quotes, escapes resolved."""


# --------------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------------

def _read_braced(text: str, i: int) -> tuple[str, int]:
    """text[i] == '{': return (content, index after the matching '}')."""
    depth, j = 0, i
    n = len(text)
    while j < n:
        c = text[j]
        if c == "\\":
            j += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1:j], j + 1
        j += 1
    raise FaceplateError("unbalanced '{' in Nuke script text: the .nk file is truncated; re-save it from Nuke")


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "{": "{", "}": "}", "[": "[", "]": "]",
            "$": "$"}


def _read_quoted(text: str, i: int) -> tuple[str, int]:
    out = []
    j, n = i + 1, len(text)
    while j < n:
        c = text[j]
        if c == "\\" and j + 1 < n:
            out.append(_ESCAPES.get(text[j + 1], text[j + 1]))
            j += 2
            continue
        if c == '"':
            return "".join(out), j + 1
        out.append(c)
        j += 1
    raise FaceplateError("unterminated '\"' in Nuke script text: re-save the .nk from Nuke")


def split_commands(text: str) -> list[list[str]]:
    """Split TCL-ish text into commands (lists of words). Braced words come back as Braced."""
    commands: list[list[str]] = []
    words: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "\n;":
            if words:
                commands.append(words)
                words = []
            i += 1
        elif c in " \t\r":
            i += 1
        elif c == "\\" and i + 1 < n and text[i + 1] == "\n":  # line continuation
            i += 2
        elif c == "#" and not words:  # comment line
            while i < n and text[i] != "\n":
                i += 1
        elif c == "{":
            content, i = _read_braced(text, i)
            words.append(Braced(content))
        elif c == '"':
            content, i = _read_quoted(text, i)
            words.append(Quoted(content))
        else:
            j = i
            bracket = 0
            while j < n:
                d = text[j]
                if d == "\\" and j + 1 < n:
                    j += 2
                    continue
                if d == "[":
                    bracket += 1
                elif d == "]" and bracket:
                    bracket -= 1
                elif bracket == 0 and d in " \t\r\n;":
                    break
                j += 1
            words.append(text[i:j])
            i = j
    if words:
        commands.append(words)
    return commands


def split_list(text: str) -> list[str]:
    """Split a TCL list (the inside of a braced value) into words; nested braces stay Braced."""
    return [w for cmd in split_commands(text.replace("\n", " ")) for w in cmd]


# --------------------------------------------------------------------------------------------
# Nodes
# --------------------------------------------------------------------------------------------

@dataclass
class UserKnob:
    """An ``addUserKnob {type name l label ...}`` definition."""
    type_id: int
    name: str
    label: str
    kind: str
    items: list[str] = field(default_factory=list)   # Enumeration menu entries
    flags: list[str] = field(default_factory=list)
    script: str = ""                                   # PyScript_Knob command / Text_Knob text


@dataclass
class NkNode:
    """One node block. ``knobs`` holds raw words (one or more per knob) in file order."""
    cls: str
    knobs: dict[str, list[str]] = field(default_factory=dict)
    user_knobs: list[UserKnob] = field(default_factory=list)
    inputs: list[Optional["NkNode"]] = field(default_factory=list)
    children: list["NkNode"] = field(default_factory=list)   # Group / Gizmo internals
    parent: Optional["NkNode"] = None

    @property
    def name(self) -> str:
        return str(self.knobs.get("name", [self.cls])[0])

    def user_knob(self, name: str) -> Optional[UserKnob]:
        for k in self.user_knobs:
            if k.name == name:
                return k
        return None

    def child(self, name: str) -> Optional["NkNode"]:
        for c in self.children:
            if c.name == name:
                return c
        return None


def parse_user_knob(words: list[str]) -> UserKnob:
    type_id = int(words[0])
    name = str(words[1])
    label, items, flags, script = name, [], [], ""
    i = 2
    while i < len(words):
        w = words[i]
        if w == "l" and i + 1 < len(words):
            label = str(words[i + 1]); i += 2
        elif w == "M" and i + 1 < len(words):
            items = [str(x) for x in split_list(words[i + 1])]; i += 2
        elif w == "T" and i + 1 < len(words):
            script = str(words[i + 1]); i += 2
        elif w in ("R", "t", "n") and i + 1 < len(words):
            if w == "R" and i + 2 < len(words):
                i += 3
            else:
                i += 2
        else:
            if isinstance(w, str) and w[:1] in "+-":
                flags.append(str(w))
            i += 1
    kind = KNOB_TYPES.get(type_id, f"Knob{type_id}")
    return UserKnob(type_id, name, label, kind, items, flags, script)


def _parse_body(cls: str, body: str) -> NkNode:
    node = NkNode(cls=cls)
    for words in split_commands(body):
        key = str(words[0])
        if key == "addUserKnob":
            if len(words) >= 2:
                node.user_knobs.append(parse_user_knob(split_list(words[1])))
            continue
        node.knobs[key] = list(words[1:])
    return node


_NOT_NODES = {"version", "define_window_layout_xml", "set", "push", "end_group", "add_layer", "clone"}


def parse_nk(text: str) -> list[NkNode]:
    """Parse .nk/.gizmo text into top-level nodes (Root included); groups hold their children.

    Inputs follow Nuke's stack rules: a node with ``inputs N`` pops N entries, the top of the
    stack being input 0; ``push $var`` / ``push 0`` / ``set var [stack 0]`` manage the stack.
    A ``Group``/``Gizmo`` block is followed by its internal nodes up to ``end_group``; a gizmo
    instance (``FaceSwap {...}``) has no internals in a script.
    """
    top: list[NkNode] = []
    # scope: (group node or None, its nodes, its stack, its variables)
    scopes: list[tuple[Optional[NkNode], list[NkNode], list[Optional[NkNode]], dict]] = [(None, top, [], {})]
    for words in split_commands(text):
        head = str(words[0])
        group, nodes, stack, variables = scopes[-1]
        if head == "set" and len(words) >= 3:
            variables[str(words[1])] = stack[-1] if stack else None
        elif head == "push" and len(words) >= 2:
            ref = str(words[1])
            stack.append(None if ref == "0" else variables.get(ref.lstrip("$")))
        elif head == "end_group":
            if len(scopes) > 1:
                scopes.pop()
                scopes[-1][2].append(group)  # the group is an output in the enclosing graph
        elif len(words) >= 2 and isinstance(words[-1], Braced) and head not in _NOT_NODES:
            node = _parse_body(head, words[-1])
            node.parent = group
            n_inputs = 0 if head == "Root" else _int_or(node.knobs.get("inputs", ["1"])[0], 1)
            node.inputs = [stack.pop() if stack else None for _ in range(n_inputs)]
            nodes.append(node)
            if group is not None:
                group.children.append(node)
            if head in ("Group", "Gizmo"):
                scopes.append((node, [], [], {}))
            elif head != "Root":
                stack.append(node)
    return top


def _int_or(word: Any, default: int) -> int:
    try:
        return int(str(word))
    except ValueError:
        return default


def find_node(nodes: list[NkNode], name: str) -> Optional[NkNode]:
    """Top-level node by name; ``Group1.FaceSwap1`` walks into groups."""
    parts = name.split(".")
    current = nodes
    found = None
    for part in parts:
        found = next((n for n in current if n.name == part), None)
        if found is None:
            return None
        current = found.children
    return found


# --------------------------------------------------------------------------------------------
# Curves and values
# --------------------------------------------------------------------------------------------

_NUM = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def parse_curve(text: str) -> list[tuple[float, float]]:
    """``curve x1001 1 2 x1010 3`` (the inside of the braces) → [(frame, value), ...] sorted."""
    words = [str(w) for w in split_list(text)]
    if not words or words[0] != "curve":
        raise ValueError(f"not a curve: {text[:40]!r}")
    keys: dict[float, float] = {}
    frame = 1.0
    for w in words[1:]:
        if _NUM.match(w):
            keys[frame] = float(w)
            frame += 1.0
        elif w[0] == "x" and _NUM.match(w[1:]):
            frame = float(w[1:])
        # interpolation letters (K L C S R Z...) and slopes s/t/u/v: ignored (linear evaluation)
    return sorted(keys.items())


def curve_value(keys: list[tuple[float, float]], frame: float) -> float:
    """Evaluate keys at ``frame``: exact at keys, linear between, constant outside."""
    if not keys:
        return 0.0
    if frame <= keys[0][0]:
        return keys[0][1]
    if frame >= keys[-1][0]:
        return keys[-1][1]
    lo, hi = 0, len(keys) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if keys[mid][0] <= frame:
            lo = mid
        else:
            hi = mid
    (f0, v0), (f1, v1) = keys[lo], keys[hi]
    if frame == f0:
        return v0
    return v0 + (v1 - v0) * (frame - f0) / (f1 - f0)


class NkScript:
    """A parsed script with knob evaluation (defaults from the gizmo, expressions, curves)."""

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
            raise FaceplateError(f"{p}: cannot read the Nuke script ({exc.strerror}); check the path") from None
        try:
            return cls(text, str(p), gizmo_dirs)
        except FaceplateError as exc:
            raise FaceplateError(f"{p}: {exc}") from None

    @property
    def root(self) -> Optional[NkNode]:
        return next((n for n in self.nodes if n.cls == "Root"), None)

    def node(self, name: str) -> NkNode:
        found = find_node(self.nodes, name)
        if found is None:
            names = ", ".join(n.name for n in self.nodes if n.cls != "Root")[:200]
            raise FaceplateError(f"{self.path or 'script'}: no node named {name!r} (nodes: {names}); "
                                 f"pass --node with the FaceSwap node's name")
        return found

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
               default: float = 0.0) -> float:
        words = self.raw(node, knob)
        if words is None:
            return default
        items = self._items(words)
        if index >= len(items):
            item = items[-1] if items else "0"
        else:
            item = items[index]
        return self._eval_item(node, item, frame, knob)

    def values(self, node: NkNode, knob: str, frame: Optional[float] = None) -> list[float]:
        words = self.raw(node, knob)
        if words is None:
            return []
        return [self._eval_item(node, it, frame, knob) for it in self._items(words)]

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
        out = []
        for item in self._items(words):
            if isinstance(item, Braced) and str(item).lstrip().startswith("curve"):
                out.append(parse_curve(item))
            else:
                out.append([])
        return out

    @staticmethod
    def _items(words: list[str]) -> list[str]:
        """A knob's value as per-index items: ``{{curve..} {curve..}}`` → two Braced curves."""
        if len(words) == 1 and isinstance(words[0], Braced):
            inner = split_list(words[0])
            if len(inner) >= 1 and str(inner[0]) == "curve":
                return [words[0]]  # a bare scalar curve ``{curve ...}``
            return inner
        return list(words)

    def _eval_item(self, node: NkNode, item: str, frame: Optional[float], knob: str, depth: int = 0) -> float:
        text = str(item).strip()
        if _NUM.match(text):
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
        return self._expression(node, text, frame, knob, depth)

    def _expression(self, node: NkNode, text: str, frame: Optional[float], knob: str, depth: int) -> float:
        """Knob references: ``root.first_frame``, ``parent.x``, ``this.x``, ``Node1.x``, ``x``."""
        if depth > 8:
            raise FaceplateError(f"{self.path}: {node.name}.{knob}: expression loop in {text!r}")
        m = re.fullmatch(r"([A-Za-z_][\w]*)(?:\.([A-Za-z_]\w*))?(?:\.([xyrt]|\d+))?", text)
        if not m:
            raise FaceplateError(f"{self.path}: {node.name}.{knob}: expression {text!r} cannot be evaluated "
                                 f"without Nuke; bake it (Edit > Node > Bake expressions) and re-save")
        owner, name = m.group(1), m.group(2)
        if name is None:  # a bare knob name on the same node
            target, name = node, owner
        elif owner == "root":
            target = self.root
        elif owner in ("this",):
            target = node
        elif owner == "parent":
            target = node.parent or node
        else:
            target = find_node(self.nodes, owner)
        if target is None:
            raise FaceplateError(f"{self.path}: {node.name}.{knob}: expression {text!r} names a missing node")
        index = {"x": 0, "y": 1, "r": 2, "t": 3}.get(m.group(3) or "", _int_or(m.group(3) or "0", 0))
        return self.number(target, name, frame, index)

    def current_frame(self, default: float = 1.0) -> float:
        root = self.root
        if root is None or "frame" not in root.knobs:
            return default
        return self.number(root, "frame", default=default)

    def frame_range(self) -> tuple[int, int]:
        root = self.root
        if root is None:
            return 1, 100
        return int(self.number(root, "first_frame", default=1)), int(self.number(root, "last_frame", default=100))

    def upstream_read(self, node: NkNode) -> Optional[NkNode]:
        """Input 0 when it is a plain Read node (the plate files can be used directly)."""
        src = node.inputs[0] if node.inputs else None
        while src is not None and src.cls == "Dot":
            src = src.inputs[0] if src.inputs else None
        return src if src is not None and src.cls == "Read" else None


# --------------------------------------------------------------------------------------------
# Nuke file patterns
# --------------------------------------------------------------------------------------------

def hashes_pattern(path: str) -> str:
    """Nuke's ``%04d`` / ``%d`` / ``####`` / ``@@@`` file patterns → ``####`` style."""
    path = re.sub(r"%0?(\d*)d", lambda m: "#" * max(1, int(m.group(1) or 1)), path)
    return path


# --------------------------------------------------------------------------------------------
# The FaceSwap node → faceplate command settings
# --------------------------------------------------------------------------------------------

def _text(script: NkScript, node: NkNode, knob: str) -> Optional[str]:
    value = script.string(node, knob).strip()
    return value or None


def _path(script: NkScript, node: NkNode, knob: str) -> Optional[str]:
    """A file knob's value; relative paths are relative to the script's folder (as Nuke resolves
    them when root.project_directory is the script's directory, which the example sets)."""
    value = _text(script, node, knob)
    return _resolve(script, value) if value else None


def _resolve(script: NkScript, value: str) -> str:
    if os.path.isabs(value) or script.path is None or re.match(r"^[A-Za-z]:[/\\]", value):
        return value
    return os.path.join(os.path.dirname(os.path.abspath(script.path)), value).replace("\\", "/")


def cache_paths(cache_dir: str, node_name: str) -> dict[str, str]:
    """Where a FaceSwap node keeps its files (one place, used by the host, farm and --nk)."""
    base = cache_dir.rstrip("/\\")
    return {
        "track": f"{base}/{node_name}.track.json",
        "patch": f"{base}/patch/{node_name}.####.exr",
        "plate": f"{base}/plate/{node_name}.####.exr",
        "source": f"{base}/source/{node_name}.exr",
    }


def _node_settings(script: NkScript, node: NkNode) -> dict[str, Any]:
    cache_dir = _path(script, node, "cache_dir")
    if not cache_dir:
        raise FaceplateError(f"{script.path}: {node.name}: the cache folder knob is empty; set it in Nuke "
                             f"(FaceSwap > cache folder) and re-save")
    paths = cache_paths(cache_dir, node.name)
    read = script.upstream_read(node)  # a plain Read upstream: its files, as the node itself uses them
    plate = _resolve(script, hashes_pattern(script.string(read, "file"))) if read is not None else None
    plate = plate or _path(script, node, "plate_file")
    if not plate:
        raise FaceplateError(f"{script.path}: {node.name}: no plate file recorded and the input is not a "
                             f"plain Read; press Analyze (or Submit) in Nuke once and re-save")
    first = int(script.number(node, "frame_first", default=script.frame_range()[0]))
    last = int(script.number(node, "frame_last", default=script.frame_range()[1]))
    if read is not None:  # clipped to the Read's frames, as the Nuke node does
        first = max(first, int(script.number(read, "first", default=first)))
        last = min(last, int(script.number(read, "last", default=last)))
    return {"cache_dir": cache_dir, "paths": paths, "plate": hashes_pattern(plate), "first": first, "last": last}


def render_args_from_nk(nk_path: PathLike, node_name: str, check: bool = True) -> dict[str, Any]:
    """Render settings of a FaceSwap node in a saved script, keyed like ``faceplate render``'s options.

    Returns ``{"plate", "track", "source" (list), "source_embedding", "model", "frames" ("A-B"),
    "out", "patch", "targets", "mask", "erode", "feather", "regions", "colour_match", "regrain",
    "layer", "colourspace", "expect": {"model_sha256", "track_sha256"}}``. Flags given on the
    command line win over these. Raises FaceplateError naming the script and knob when a value
    is missing or cannot be evaluated without Nuke; with ``check`` also when no source is set,
    the analysis is missing or older than the plate, or the model's sha256 on this machine
    differs from the one recorded at analysis.
    """
    script = NkScript.load(nk_path)
    node = script.node(node_name)
    s = _node_settings(script, node)
    sources = [x for x in [_path(script, node, "source_file")] if x]
    sources += [_resolve(script, line.strip()) for line in script.string(node, "extra_sources").splitlines()
                if line.strip()]
    model = _path(script, node, "model_file") or _text(script, node, "model")
    if model in ("default", "classical"):  # the menu's first entry: let render pick the best installed engine
        model = None
    target_ref = _path(script, node, "target_ref")
    targets = target_ref or _text(script, node, "target")
    regions = _text(script, node, "regions")
    output = script.string(node, "output") or "comp"
    args = {
        "plate": s["plate"],
        "track": s["paths"]["track"],
        "source": sources,
        "source_embedding": None,
        "model": model,
        "frames": f"{s['first']}-{s['last']}",
        "out": _path(script, node, "out_file"),
        "patch": s["paths"]["patch"],
        "targets": targets,
        "mask": script.string(node, "mask_mode") or "hull",
        "erode": script.number(node, "erode"),
        "feather": script.number(node, "feather", default=0.08),
        "regions": regions,
        "colour_match": script.boolean(node, "colour_match", True),
        "regrain": script.boolean(node, "regrain", True),
        "layer": _text(script, node, "layer"),
        "colourspace": _text(script, node, "colourspace"),
        "output": output,
        "expect": {"model_sha256": _text(script, node, "model_sha256"),
                   "track_sha256": _text(script, node, "track_sha256")},
    }
    if check:
        from faceplate.nuke import preflight
        where = f"{node.name} in {script.path}"
        preflight.check_sources(args["source"], where)
        preflight.check_analysis(args["track"], args["plate"], s["first"], where)
        preflight.check_model_hash(args["model"], args["expect"]["model_sha256"], where)
        preflight.check_cache_writable(s["cache_dir"], where)
    return args


def apply_nk_to_namespace(args: Any, parser: Any, check: bool = True) -> dict[str, Any]:
    """For ``faceplate render --nk S --node N``: fill ``args`` from the script wherever the flag
    was not given on the command line (an attribute still at its parser default), so explicit
    flags such as a farm task's ``--frames`` win. Returns the script's settings."""
    nk = render_args_from_nk(args.nk, args.node or "FaceSwap1", check=check)
    for key, value in nk.items():
        if not hasattr(args, key):
            continue
        current = getattr(args, key)
        if current is None or current == [] or current == parser.get_default(key):
            setattr(args, key, value)
    return nk


def analyze_args_from_nk(nk_path: PathLike, node_name: str) -> dict[str, Any]:
    """Analyze settings of a FaceSwap node, keyed like ``faceplate analyze``'s options."""
    script = NkScript.load(nk_path)
    node = script.node(node_name)
    s = _node_settings(script, node)
    target_ref = _path(script, node, "target_ref")
    return {
        "plate": s["plate"],
        "frames": f"{s['first']}-{s['last']}",
        "output": s["paths"]["track"],
        "target_face": target_ref,
        "smoothing": script.number(node, "smoothing", default=1.0),
        "layer": _text(script, node, "layer"),
        "colourspace": _text(script, node, "colourspace"),
    }


def baked_curves_from_nk(nk_path: PathLike, node_name: str) -> dict[str, list[list[tuple[float, float]]]]:
    """Every animated ``fp_t*`` knob (baked track data) of the node: name → per-index keys."""
    script = NkScript.load(nk_path)
    node = script.node(node_name)
    return {k: script.curves(node, k) for k in node.knobs if k.startswith("fp_t")}

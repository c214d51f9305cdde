"""A STRICT stand-in for Nuke's ``nuke`` Python module, for tests of nuke_plugin/.

Only the API faceplate uses exists: any other module attribute raises AttributeError, a missing
knob raises NameError (as ``node["x"]`` does in Nuke), setting an unknown knob in ``createNode``
raises, node classes must be known (built-ins below, or a ``<Class>.gizmo`` on a plugin path,
whose user knobs and internal nodes are built from the real gizmo text).

Test helpers (not Nuke API) start with ``fake_``: ``fake_reset``, ``fake_set_knob`` (a person
changing a knob: fires knobChanged), ``fake_press`` (a button's script runs with thisNode set),
``fake_messages``, ``fake_executed``, ``fake_on_execute``.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Callable, Optional

GUI = False
NUKE_VERSION_MAJOR = 14


# ---------------------------------------------------------------------------------------------
# Knobs
# ---------------------------------------------------------------------------------------------

class Format:
    def __init__(self, width: int, height: int, pixel_aspect: float = 1.0, name: str = ""):
        self._w, self._h, self._pa, self._name = width, height, pixel_aspect, name

    def width(self) -> int:
        return self._w

    def height(self) -> int:
        return self._h

    def pixelAspect(self) -> float:
        return self._pa

    def name(self) -> str:
        return self._name


class AnimationKey:
    def __init__(self, x: float, y: float):
        self.x, self.y = x, y


class AnimationCurve:
    def __init__(self, knob: "Knob", index: int):
        self._knob, self._index = knob, index

    def keys(self) -> list[AnimationKey]:
        return [AnimationKey(f, v) for f, v in sorted(self._knob._curves[self._index].items())]

    def knobIndex(self) -> int:
        return self._index

    def knob(self) -> "Knob":
        return self._knob

    def evaluate(self, t: float) -> float:
        return self._knob.getValueAt(t, self._index)


class Knob:
    width = 1
    text = False

    def __init__(self, name: str, label: Optional[str] = None, *args: Any):
        self._name = name
        self._label = label if label is not None else name
        self._node: Optional[Node] = None
        self._flags: set[int] = set()
        self._visible = True
        self._enabled = True
        self._values: list[Any] = [self._default()] * self.width
        self._curves: dict[int, dict[float, float]] = {}
        self._expressions: dict[int, str] = {}

    def _default(self) -> Any:
        return "" if self.text else 0.0

    def name(self) -> str:
        return self._name

    def label(self) -> str:
        return self._label

    def Class(self) -> str:
        return type(self).__name__

    def node(self) -> "Node":
        return self._node

    def setFlag(self, flag: int) -> None:
        self._flags.add(flag)

    def clearFlag(self, flag: int) -> None:
        self._flags.discard(flag)

    def setVisible(self, visible: bool) -> None:
        self._visible = bool(visible)

    def setEnabled(self, enabled: bool) -> None:
        self._enabled = bool(enabled)

    def setTooltip(self, text: str) -> None:
        pass

    # -- values ----------------------------------------------------------------------------------
    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.width:
            raise IndexError(f"{self._name}: index {index} out of range (width {self.width})")

    def value(self, index: int = 0):
        if self.text:
            return self._values[0]
        self._check_index(index)
        return self.getValueAt(frame(), index)

    def getValue(self, index: int = 0):
        return self.value(index)

    def setValue(self, value: Any, index: int = -1) -> bool:
        if self.text:
            if not isinstance(value, str):
                raise TypeError(f"{self._name}: expected a string, got {type(value).__name__}")
            self._values[0] = value
            return True
        if isinstance(value, (list, tuple)):
            if len(value) != self.width:
                raise ValueError(f"{self._name}: expected {self.width} values, got {len(value)}")
            for i, v in enumerate(value):
                self.setValue(v, i)
            return True
        if not isinstance(value, (int, float, bool)):
            raise TypeError(f"{self._name}: expected a number, got {type(value).__name__}")
        indices = range(self.width) if index < 0 else [index]
        for i in indices:
            self._check_index(i)
            self._curves.pop(i, None)
            self._expressions.pop(i, None)
            self._values[i] = float(value)
        return True

    # -- animation -------------------------------------------------------------------------------
    def _not_text(self, what: str) -> None:
        if self.text:
            raise TypeError(f"{self._name} ({self.Class()}) cannot be {what}")

    def setAnimated(self, index: int = -1) -> bool:
        self._not_text("animated")
        for i in (range(self.width) if index < 0 else [index]):
            self._check_index(i)
            self._curves.setdefault(i, {})
        return True

    def clearAnimated(self, index: int = -1) -> bool:
        for i in (range(self.width) if index < 0 else [index]):
            self._curves.pop(i, None)
        return True

    def isAnimated(self, index: int = -1) -> bool:
        if self.text:
            return False
        if index < 0:
            return bool(self._curves) or bool(self._expressions)
        return index in self._curves or index in self._expressions

    def hasExpression(self, index: int = -1) -> bool:
        return bool(self._expressions) if index < 0 else index in self._expressions

    def setExpression(self, expression: str, index: int = -1) -> bool:
        self._not_text("given an expression")
        for i in (range(self.width) if index < 0 else [index]):
            self._expressions[i] = expression
        return True

    def setValueAt(self, value: float, time: float, index: int = -1) -> bool:
        self._not_text("keyed")
        if not isinstance(value, (int, float)):
            raise TypeError(f"{self._name}: expected a number, got {type(value).__name__}")
        for i in (range(self.width) if index < 0 else [index]):
            self._check_index(i)
            self._curves.setdefault(i, {})[float(time)] = float(value)
        return True

    def getValueAt(self, time: float, index: int = 0) -> float:
        self._not_text("evaluated at a time")
        self._check_index(index)
        if index in self._expressions:
            return _evaluate(self._node, self._expressions[index])
        curve = self._curves.get(index)
        if curve:
            return _smooth(sorted(curve.items()), float(time))
        return self._values[index]

    def fromScript(self, text: str) -> bool:
        """Set from .nk text: ``{curve x1001 1 2} {curve ...}`` per index, ``{expr}``, or numbers."""
        self._not_text("set from curve script")
        flat = re.fullmatch(r"\s*(\{curve [^{}]*\}\s*)+", text)   # whole curves: the common, large case
        items = re.findall(r"\{(curve [^{}]*)\}", text) if flat else [
            w for cmd in _words(text.replace("\n", " ")) for w in cmd]
        if len(items) == 1 and isinstance(items[0], _Braced) and not items[0].lstrip().startswith("curve"):
            items = [w for cmd in _words(items[0]) for w in cmd]
        if len(items) > self.width:
            raise ValueError(f"{self._name}: {len(items)} values for width {self.width}")
        for i, item in enumerate(items):
            word = str(item).strip()
            if word.startswith("curve"):
                self._curves[i] = dict(_fake_parse_curve(word))
                self._expressions.pop(i, None)
            elif re.match(r"^[-+]?[\d.]+(e[-+]?\d+)?$", word, re.I):
                self.setValue(float(word), i)
            elif word.lower() in ("true", "false"):
                self.setValue(float(word.lower() == "true"), i)
            else:
                self.setExpression(word, i)
        return True

    def animations(self) -> list[AnimationCurve]:
        return [AnimationCurve(self, i) for i in sorted(self._curves)]

    def animation(self, index: int) -> Optional[AnimationCurve]:
        return AnimationCurve(self, index) if index in self._curves else None

    def removeKeyAt(self, time: float, index: int = -1) -> None:
        for i in (range(self.width) if index < 0 else [index]):
            self._curves.get(i, {}).pop(float(time), None)

    def toScript(self) -> str:
        return _knob_to_script(self)


def _fake_parse_curve(text: str) -> list[tuple[float, float]]:
    keys, frame = {}, 1.0
    for word in text.split()[1:]:
        if word[0] == "x":
            frame = float(word[1:])
        elif word[0] in "0123456789-+.":
            keys[frame] = float(word)
            frame += 1.0
    return sorted(keys.items())


def _smooth(keys: list[tuple[float, float]], t: float) -> float:
    """Nuke's default 'smooth' keys: cubic Hermite, slopes from the neighbours, flat at the ends."""
    if t <= keys[0][0]:
        return keys[0][1]
    if t >= keys[-1][0]:
        return keys[-1][1]
    i = max(j for j in range(len(keys)) if keys[j][0] <= t)
    if keys[i][0] == t:
        return keys[i][1]

    def slope(k: int) -> float:
        if k in (0, len(keys) - 1):
            return 0.0
        return (keys[k + 1][1] - keys[k - 1][1]) / (keys[k + 1][0] - keys[k - 1][0])
    (f0, v0), (f1, v1) = keys[i], keys[i + 1]
    h = f1 - f0
    u = (t - f0) / h
    return ((2 * u ** 3 - 3 * u ** 2 + 1) * v0 + (u ** 3 - 2 * u ** 2 + u) * slope(i) * h
            + (-2 * u ** 3 + 3 * u ** 2) * v1 + (u ** 3 - u ** 2) * slope(i + 1) * h)


class Array_Knob(Knob):
    pass


class Int_Knob(Array_Knob):
    def value(self, index: int = 0):
        return int(super().value(index))


class Double_Knob(Array_Knob):
    pass


class Boolean_Knob(Array_Knob):
    def value(self, index: int = 0):
        return bool(super().value(index))

    def setValue(self, value: Any, index: int = -1) -> bool:
        return super().setValue(float(bool(value)), index)


class XY_Knob(Array_Knob):
    width = 2


class XYZ_Knob(Array_Knob):
    width = 3


class WH_Knob(Array_Knob):
    width = 2


class BBox_Knob(Array_Knob):
    width = 4


class Color_Knob(Array_Knob):
    width = 3


class AColor_Knob(Array_Knob):
    width = 4


class String_Knob(Knob):
    text = True


class EvalString_Knob(String_Knob):
    def evaluate(self) -> str:
        """TCL substituted; in a file knob also the frame number of the current frame (as Nuke)."""
        return _tcl_substitute(self._node, self._values[0])


class Multiline_Eval_String_Knob(String_Knob):
    pass


class File_Knob(EvalString_Knob):
    """value(): the raw text (TCL and %04d/#### kept); evaluate(): the file of the current frame."""

    def fromUserText(self, text: str) -> None:
        self.setValue(text)

    def evaluate(self) -> str:
        return _frame_file(super().evaluate(), frame())


class Text_Knob(String_Knob):
    pass


class Tab_Knob(String_Knob):
    pass


class PyScript_Knob(String_Knob):
    def __init__(self, name: str, label: Optional[str] = None, command: str = ""):
        super().__init__(name, label)
        self._values[0] = command

    def execute(self) -> None:
        fake_press(self._node, self._name)


class Enumeration_Knob(Knob):
    """value() → the item's text; getValue() → its index; setValue(text or index)."""
    text = False

    def __init__(self, name: str, label: Optional[str] = None, items: Optional[list[str]] = None):
        super().__init__(name, label)
        self._items = list(items or [])
        self._values = [0.0]

    def values(self) -> list[str]:
        return list(self._items)

    def setValues(self, items: list[str]) -> None:
        self._items = [str(i) for i in items]
        if self._values[0] >= len(self._items):
            self._values[0] = 0.0

    def value(self, index: int = 0) -> str:
        i = int(self.getValue())
        return self._items[i] if 0 <= i < len(self._items) else ""

    def getValue(self, index: int = 0) -> float:
        if 0 in self._expressions:
            return _evaluate(self._node, self._expressions[0])
        return self._values[0]

    def setValue(self, value: Any, index: int = -1) -> bool:
        if isinstance(value, str):
            if value not in self._items:
                raise ValueError(f"{self._name}: {value!r} is not one of {self._items}")
            self._values[0] = float(self._items.index(value))
        else:
            if not 0 <= int(value) < len(self._items):
                raise ValueError(f"{self._name}: index {value} out of range")
            self._values[0] = float(int(value))
        return True


Pulldown_Knob = Enumeration_Knob


class Format_Knob(Knob):
    text = False

    def __init__(self, name: str, label: Optional[str] = None):
        super().__init__(name, label)
        self._format = Format(2048, 1080, 1.0, "2K_DCP")

    def value(self, index: int = 0) -> Format:
        return self._format

    def setValue(self, value: Any, index: int = -1) -> bool:
        if not isinstance(value, Format):
            raise TypeError("format: expected a nuke.Format")
        self._format = value
        return True


_KNOB_CLASSES = {c.__name__: c for c in (
    Int_Knob, Double_Knob, Boolean_Knob, XY_Knob, XYZ_Knob, WH_Knob, BBox_Knob, Color_Knob, AColor_Knob,
    String_Knob, File_Knob, Text_Knob, Tab_Knob, PyScript_Knob, Enumeration_Knob, Format_Knob,
    EvalString_Knob, Multiline_Eval_String_Knob)}

# An OCIO config's colourspaces as Nuke 14+ lists them on Read/Write (first: the file-type default).
COLORSPACES = ("default", "scene_linear", "ACES - ACES2065-1", "ACES - ACEScg", "Output - sRGB", "Input - ARRI - "
               "V3 LogC (EI800) - Wide Gamut", "Cineon")

# knob flag constants used by plugins
INVISIBLE = 0x400
DISABLED = 0x80
STARTLINE = 0x1000
ENDLINE = 0x2000


# ---------------------------------------------------------------------------------------------
# Nodes
# ---------------------------------------------------------------------------------------------

_COMMON = {"name": String_Knob, "label": String_Knob, "disable": Boolean_Knob, "xpos": Int_Knob,
           "ypos": Int_Knob, "tile_color": Int_Knob, "note_font": String_Knob, "selected": Boolean_Knob,
           "help": String_Knob, "icon": String_Knob, "inputs": Int_Knob}
_BUILTIN = {
    "Root": {"first_frame": Int_Knob, "last_frame": Int_Knob, "frame": Int_Knob, "fps": Double_Knob,
             "project_directory": File_Knob,
             "format": Format_Knob, "proxy": Boolean_Knob, "proxy_type": String_Knob,
             "proxy_scale": Double_Knob, "colorManagement": String_Knob, "OCIO_config": String_Knob},
    "Read": {"file": File_Knob, "proxy": File_Knob, "first": Int_Knob, "last": Int_Knob,
             "origfirst": Int_Knob, "origlast": Int_Knob, "format": Format_Knob, "raw": Boolean_Knob,
             "colorspace": "colorspace", "on_error": ("error", "black", "checkerboard", "nearest frame"),
             "before": ("hold", "loop", "bounce", "black"), "after": ("hold", "loop", "bounce", "black"),
             "reload": PyScript_Knob, "file_type": String_Knob},
    "Write": {"file": File_Knob, "file_type": String_Knob, "channels": String_Knob, "raw": Boolean_Knob,
              "colorspace": "colorspace", "datatype": ("16 bit half", "32 bit float"), "use_limit": Boolean_Knob, "first": Int_Knob, "last": Int_Knob,
              "create_directories": Boolean_Knob},
    "Merge2": {"operation": String_Knob, "bbox": String_Knob, "mix": Double_Knob, "also_merge": String_Knob},
    "Shuffle": {"red": String_Knob, "green": String_Knob, "blue": String_Knob, "alpha": String_Knob},
    "Switch": {"which": Int_Knob},
    "Input": {"number": Int_Knob},
    "Output": {},
    "Dot": {},
    "Grade": {"white": Double_Knob, "mix": Double_Knob},
    "Blur": {"size": Double_Knob},
    "Group": {},
}
_INPUT_COUNT = {"Root": 0, "Read": 0, "Input": 0, "Merge2": 2, "Switch": 3}


class Node:
    def __init__(self, cls: str, parent: Optional["Node"] = None):
        self._class = cls
        self._knobs: dict[str, Knob] = {}
        self._inputs: list[Optional[Node]] = []
        self._children: list[Node] = []
        self._parent = parent
        self._max_inputs = _INPUT_COUNT.get(cls, 1)
        for k, kc in {**_COMMON, **_BUILTIN.get(cls, {})}.items():
            if kc == "colorspace":
                self.addKnob(Enumeration_Knob(k, k, list(COLORSPACES)))
            elif isinstance(kc, tuple):
                self.addKnob(Enumeration_Knob(k, k, list(kc)))
            else:
                self.addKnob(kc(k))

    def __repr__(self) -> str:
        return f"<fake nuke {self._class} {self.name()}>"

    def Class(self) -> str:
        return self._class

    def name(self) -> str:
        return self._knobs["name"].value()

    def setName(self, name: str) -> None:
        self._knobs["name"].setValue(name)

    def fullName(self) -> str:
        if self._parent is not None and self._parent is not _ROOT_GROUP:
            return f"{self._parent.fullName()}.{self.name()}"
        return self.name()

    def __getitem__(self, name: str) -> Knob:
        if name not in self._knobs:
            raise NameError(f"knob {name} does not exist")
        return self._knobs[name]

    def knob(self, name: str) -> Optional[Knob]:
        return self._knobs.get(name)

    def knobs(self) -> dict[str, Knob]:
        return dict(self._knobs)

    def allKnobs(self) -> list[Knob]:
        return list(self._knobs.values())

    def addKnob(self, knob: Knob) -> None:
        if not isinstance(knob, Knob):
            raise TypeError("addKnob needs a nuke Knob")
        if knob.name() in self._knobs:
            raise ValueError(f"{self._class}: knob {knob.name()} already exists")
        knob._node = self
        self._knobs[knob.name()] = knob

    def removeKnob(self, knob: Knob) -> None:
        if self._knobs.get(knob.name()) is not knob:
            raise ValueError(f"knob {knob.name()} is not on {self.name()}")
        del self._knobs[knob.name()]

    # -- graph --------------------------------------------------------------------------------
    def input(self, i: int) -> Optional["Node"]:
        return self._inputs[i] if i < len(self._inputs) else None

    def inputs(self) -> int:
        return len(self._inputs)

    def maxInputs(self) -> int:
        return self._max_inputs

    def setInput(self, i: int, node: Optional["Node"]) -> bool:
        if i >= self._max_inputs:
            raise IndexError(f"{self.name()}: input {i} out of range (max {self._max_inputs})")
        while len(self._inputs) <= i:
            self._inputs.append(None)
        self._inputs[i] = node
        return True

    def dependencies(self) -> list["Node"]:
        return [n for n in self._inputs if n is not None]

    # -- groups -------------------------------------------------------------------------------
    def node(self, name: str) -> Optional["Node"]:
        return next((c for c in self._children if c.name() == name), None)

    def nodes(self) -> list["Node"]:
        return list(self._children)

    def begin(self) -> "Node":
        _CONTEXT.append(self)
        return self

    def end(self) -> None:
        if len(_CONTEXT) > 1 and _CONTEXT[-1] is self:
            _CONTEXT.pop()

    def __enter__(self) -> "Node":
        return self.begin()

    def __exit__(self, *exc: Any) -> None:
        self.end()


# ---------------------------------------------------------------------------------------------
# The fake's own .nk reader (independent of faceplate's, so a bug there cannot hide here)
# ---------------------------------------------------------------------------------------------

class _Braced(str):
    pass


def _words(text: str) -> list[list[str]]:
    """TCL-ish commands: braces nest without substitution, quotes unescape, newlines end commands."""
    commands, words, i, n = [], [], 0, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            if words:
                commands.append(words)
            words, i = [], i + 1
        elif c in " \t\r":
            i += 1
        elif c == "#" and not words:
            while i < n and text[i] != "\n":
                i += 1
        elif c == "{":
            depth, j = 0, i
            while True:
                if text[j] == "\\":
                    j += 2
                    continue
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                if depth == 0:
                    break
                j += 1
            words.append(_Braced(text[i + 1:j]))
            i = j + 1
        elif c == '"':
            j, out = i + 1, []
            while text[j] != '"':
                if text[j] == "\\":
                    out.append({"n": "\n"}.get(text[j + 1], text[j + 1]))
                    j += 2
                    continue
                out.append(text[j])
                j += 1
            words.append("".join(out))
            i = j + 1
        else:
            j = i
            while j < n and text[j] not in " \t\r\n":
                j += 1
            words.append(text[i:j])
            i = j
    if words:
        commands.append(words)
    return commands


def _gizmo_definition(path: Path) -> dict:
    """{"knobs": {name: words}, "user_knobs": [(type, name, label, items, script, flags)],
    "children": [(cls, knobs, input_ids)]} from a .gizmo file."""
    gizmo: dict = {"knobs": {}, "user_knobs": [], "children": []}
    stack: list = []
    variables: dict = {}
    for words in _words(path.read_text(encoding="utf-8")):
        head = words[0]
        if head == "Gizmo":
            for kw in _words(words[-1]):
                if kw[0] == "addUserKnob":
                    u = _words(kw[1].replace("\n", " "))[0]
                    opts, flags, j = {}, [], 2
                    while j < len(u):
                        if u[j][:1] in "+-":
                            flags.append(u[j])
                            j += 1
                        else:  # l label, t tooltip, T text/script, M menu, n, R min max
                            opts[u[j]] = u[j + 1]
                            j += 3 if u[j] == "R" else 2
                    items = _words(opts["M"])[0] if "M" in opts and opts["M"].strip() else []
                    gizmo["user_knobs"].append((int(u[0]), u[1], opts.get("l", u[1]), items, opts.get("T", ""), flags))
                else:
                    gizmo["knobs"][kw[0]] = kw[1:]
        elif head == "set":
            variables[words[1]] = stack[-1]
        elif head == "push":
            stack.append(None if words[1] == "0" else variables[words[1].lstrip("$")])
        elif head in ("version", "end_group"):
            continue
        elif isinstance(words[-1], _Braced):
            knobs = {kw[0]: kw[1:] for kw in _words(words[-1])}
            count = sum(int(x) for x in knobs.get("inputs", ["1"])[0].split("+"))
            inputs = [stack.pop() if stack else None for _ in range(count)]
            gizmo["children"].append((head, knobs, inputs))
            stack.append(len(gizmo["children"]) - 1)
    return gizmo


_ROOT_GROUP = Node("Root")
_CONTEXT: list[Node] = [_ROOT_GROUP]
_STATE: dict[str, Any] = {}


def _make_node(cls: str) -> Node:
    if cls in _BUILTIN:
        return Node(cls, parent=_CONTEXT[-1])
    gizmo = _find_gizmo(cls)
    if gizmo is None:
        raise RuntimeError(f"{cls} is not a known node class (no built-in, no {cls}.gizmo on the plugin path)")
    return _gizmo_node(cls, gizmo)


def _find_gizmo(cls: str) -> Optional[Path]:
    for folder in _STATE["plugin_paths"]:
        path = Path(folder) / f"{cls}.gizmo"
        if path.is_file():
            return path
    return None


_USER_KNOB_CLASSES = {1: "String_Knob", 2: "File_Knob", 3: "Int_Knob", 4: "Enumeration_Knob", 6: "Boolean_Knob",
                      7: "Double_Knob", 12: "XY_Knob", 15: "BBox_Knob", 20: "Tab_Knob", 22: "PyScript_Knob",
                      26: "Text_Knob"}


def _gizmo_node(cls: str, path: Path) -> Node:
    gdef = _gizmo_definition(path)
    node = Node("Group", parent=_CONTEXT[-1])
    node._class = cls
    node._max_inputs = int(gdef["knobs"].get("inputs", ["1"])[0])
    for type_id, name, label, items, script, flags in gdef["user_knobs"]:
        if type_id not in _USER_KNOB_CLASSES:
            raise RuntimeError(f"{path.name}: addUserKnob type {type_id} not modelled by the fake")
        kc = _KNOB_CLASSES[_USER_KNOB_CLASSES[type_id]]
        if kc is Enumeration_Knob:
            knob = kc(name, label, items)
        elif kc is PyScript_Knob:
            knob = kc(name, label, script)
        else:
            knob = kc(name, label)
            if kc is Text_Knob:
                knob._values[0] = script
        if "+INVISIBLE" in flags:
            knob.setFlag(INVISIBLE)
        node.addKnob(knob)
    for key, words in gdef["knobs"].items():
        if key in ("inputs", "help", "tile_color"):
            continue
        _set_from_words(node, key, words)
    made = []
    for child_cls, knobs, _inputs in gdef["children"]:
        child = Node(child_cls, parent=node)
        for key, words in knobs.items():
            if key != "inputs":
                _set_from_words(child, key, words)
        node._children.append(child)
        made.append(child)
    for child, (_cls, _knobs, inputs) in zip(made, gdef["children"]):
        for i, src in enumerate(inputs):
            if src is not None:
                child.setInput(i, made[src])
    _STATE["gizmo_defaults"][cls] = {k: list(v) for k, v in gdef["knobs"].items()}
    _STATE["gizmo_user_knobs"][cls] = {u[1] for u in gdef["user_knobs"]}
    return node


def _set_from_words(node: Node, key: str, words: list) -> None:
    knob = node[key]  # strict: unknown knob names raise NameError
    text = str(words[0]) if words else ""
    if knob.text:
        knob.setValue(text)
        return
    if isinstance(knob, Enumeration_Knob):
        if text.startswith("{"):
            knob.setExpression(text.strip("{} "))
        else:
            knob.setValue(text)
        return
    if isinstance(knob, Format_Knob):
        return
    if isinstance(words[0], _Braced):
        knob.fromScript("{" + words[0] + "}")
        return
    if text.lower() in ("true", "false"):
        knob.setValue(text.lower() == "true")
        return
    knob.setValue(float(text))


def _evaluate(node: Optional[Node], expression: str) -> float:
    """Knob references only (what the gizmo uses): root.x, parent.x, this.x, Node.x, x."""
    expr = expression.strip()
    try:
        return float(expr)
    except ValueError:
        pass
    parts = expr.split(".")
    if len(parts) == 1:
        owner, name = node, parts[0]
    else:
        head, name = parts[0], parts[1]
        if head == "root":
            owner = root()
        elif head == "parent":
            owner = node._parent if node is not None and node._parent is not _ROOT_GROUP else node
        elif head == "this":
            owner = node
        else:
            owner = toNode(head)
    if owner is None:
        raise NameError(f"expression {expression!r}: no such node")
    knob = owner[name]
    v = knob.getValue() if isinstance(knob, Enumeration_Knob) else knob.value()
    return float(v)


def _tcl_substitute(node: Optional[Node], text: str) -> str:
    """The TCL file knobs use: [value parent.knob], [value root.name], [getenv X], [file dirname ...],
    [python {nuke.script_directory()}]; anything else raises, as an error in Nuke would show."""
    def command(body: str) -> str:
        verb, _, rest = body.strip().partition(" ")
        rest = _tcl_substitute(node, rest)
        if verb == "value":
            parts = rest.strip().split(".")
            owner = node
            if parts[0] == "parent":
                owner = node._parent if node is not None and node._parent is not _ROOT_GROUP else root()
                parts = parts[1:]
            elif parts[0] == "root":
                owner, parts = root(), parts[1:]
            elif len(parts) > 1:
                owner, parts = toNode(parts[0]), parts[1:]
            return str(owner[parts[0]].value())
        if verb == "getenv":
            return os.environ.get(rest.strip(), "")
        if verb == "file" and rest.startswith("dirname "):
            return os.path.dirname(rest[8:].strip())
        if verb == "python" and rest.strip("{} ") == "nuke.script_directory()":
            return script_directory()
        raise RuntimeError(f"fake TCL: [{body}] not modelled")
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in "[]{}":
            i += 1
            continue
        if text[i] == "[":
            depth, j = 0, i
            while True:
                depth += {"[": 1, "]": -1}.get(text[j], 0)
                if depth == 0:
                    break
                j += 1
            out.append(command(text[i + 1:j].replace("\\", "")))
            i = j + 1
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


def _frame_file(pattern: str, at: int) -> str:
    out = re.sub(r"%0?(\d*)d", lambda m: f"{at:0{int(m.group(1) or 1)}d}", pattern)
    return re.sub(r"#+", lambda m: f"{at:0{len(m.group(0))}d}", out)


# ---------------------------------------------------------------------------------------------
# Module API
# ---------------------------------------------------------------------------------------------

def root() -> Node:
    return _STATE["root"]


def frame() -> int:
    return int(_STATE["root"]["frame"]._values[0]) if "root" in _STATE else 1


REPLACE = 1


def filename(node: Node, mode: Optional[int] = None) -> Optional[str]:
    """The node's file knob with TCL expanded; %04d kept unless ``mode`` is nuke.REPLACE."""
    knob = node.knob("file")
    if knob is None or not knob.value():
        return None
    text = _tcl_substitute(node, knob.value())
    return _frame_file(text, frame()) if mode == REPLACE else text


def script_directory() -> str:
    name = root()["name"].value()
    return os.path.dirname(name) if name else ""


def executeInMainThread(call: Callable, args: tuple = (), kwargs: Optional[dict] = None) -> None:
    """Queued: the test's 'main thread' runs them with fake_run_main_thread()."""
    if not isinstance(args, tuple):
        raise TypeError("executeInMainThread: args must be a tuple")
    _STATE["main_thread_queue"].append((call, args, kwargs or {}))


def fake_run_main_thread(threads: list = (), timeout: float = 30.0) -> None:
    """Run queued main-thread calls until ``threads`` have finished and the queue is empty."""
    import time
    deadline = time.monotonic() + timeout
    while True:
        while _STATE["main_thread_queue"]:
            call, args, kwargs = _STATE["main_thread_queue"].pop(0)
            call(*args, **kwargs)
        if not any(t is not None and t.is_alive() for t in threads):
            if not _STATE["main_thread_queue"]:
                return
        if time.monotonic() > deadline:
            raise TimeoutError("worker threads did not finish")
        time.sleep(0.01)


def createNode(cls: str, knobs: str = "", inpanel: bool = True) -> Node:
    node = _make_node(cls)
    group = _CONTEXT[-1]
    if group is not _ROOT_GROUP:
        group._children.append(node)
    else:
        _STATE["nodes"].append(node)
    existing = {n.name() for n in allNodes()}
    base = cls
    i = 1
    while f"{base}{i}" in existing:
        i += 1
    node.setName(f"{base}{i}")
    if knobs:
        words = knobs.split()
        for key, value in zip(words[::2], words[1::2]):
            _set_from_words(node, key, [value])
    _run_callbacks("onCreate", node, None)
    return node


def toNode(name: str) -> Optional[Node]:
    if name == "root":
        return root()
    parts = name.split(".")
    nodes = allNodes() if _CONTEXT[-1] is _ROOT_GROUP else _CONTEXT[-1].nodes()
    found = next((n for n in nodes if n.name() == parts[0]), None)
    for p in parts[1:]:
        found = found.node(p) if found is not None else None
    return found


def allNodes(filter: Optional[str] = None, group: Optional[Node] = None) -> list[Node]:
    nodes = list(_STATE["nodes"]) if group is None or group is _ROOT_GROUP else group.nodes()
    return [n for n in nodes if filter is None or n.Class() == filter]


def selectedNodes(filter: Optional[str] = None) -> list[Node]:
    return [n for n in allNodes(filter) if n["selected"].value()]


def delete(node: Node) -> None:
    _STATE["nodes"].remove(node)


def thisNode() -> Node:
    if not _STATE["this"]:
        raise RuntimeError("thisNode() called outside a callback")
    return _STATE["this"][-1][0]


def thisKnob() -> Optional[Knob]:
    if not _STATE["this"]:
        raise RuntimeError("thisKnob() called outside a callback")
    return _STATE["this"][-1][1]


def thisGroup() -> Node:
    return _CONTEXT[-1]


def execute(node: Any, start: int, end: int, incr: int = 1) -> None:
    if isinstance(node, str):
        found = toNode(node)
        if found is None:
            raise ValueError(f"execute: no node {node}")
        node = found
    if node.Class() != "Write":
        raise RuntimeError(f"{node.name()} cannot be executed")
    if node["disable"].value():
        raise RuntimeError(f"{node.name()} is disabled")
    # like Nuke: a Write into a missing folder fails unless its 'create directories' box is ticked
    folder = os.path.dirname(node["file"].evaluate())
    if folder and not os.path.isdir(folder):
        if not node["create_directories"].value():
            raise RuntimeError(f"{node.name()}: Can't write {node['file'].evaluate()}: No such file or directory")
        os.makedirs(folder, exist_ok=True)
    _STATE["executed"].append((node.fullName(), int(start), int(end), int(incr), bool(root()["proxy"].value())))
    hook = _STATE.get("on_execute")
    if hook is not None:
        hook(node, int(start), int(end), int(incr))
        return
    for f in range(int(start), int(end) + 1, int(incr)):  # a (placeholder) file per frame, as a render
        Path(_frame_file(_tcl_substitute(node, node["file"].value()), f)).write_bytes(b"fake exr")


class ProgressTask:
    """Records what a long operation reports; ``fake_cancel_after`` lines make it cancel."""

    def __init__(self, title: str):
        self._title = title
        self.progress: list[int] = []
        self.messages: list[str] = []
        _STATE["progress_tasks"].append(self)

    def setMessage(self, text: str) -> None:
        self.messages.append(str(text))

    def setProgress(self, percent: int) -> None:
        if not isinstance(percent, int):
            raise TypeError("setProgress takes an int percentage")
        self.progress.append(percent)

    def isCancelled(self) -> bool:
        limit = _STATE.get("cancel_after")
        if _STATE.get("cancel_at") is not None:
            import time
            return time.monotonic() >= _STATE["cancel_at"]
        return limit is not None and len(self.messages) >= limit


def message(text: str) -> None:
    _STATE["messages"].append(str(text))


def ask(text: str) -> bool:
    _STATE["messages"].append(str(text))
    return bool(_STATE.get("ask_answer", True))


def tprint(*args: Any) -> None:
    _STATE["log"].append(" ".join(str(a) for a in args))


def pluginAddPath(path: str, addToSysPath: bool = True) -> None:
    _STATE["plugin_paths"].insert(0, str(path))


def pluginPath() -> list[str]:
    return list(_STATE["plugin_paths"])


def addOnCreate(call: Callable, args: tuple = (), kwargs: Optional[dict] = None, nodeClass: str = "*") -> None:
    _STATE["callbacks"]["onCreate"].append((call, args, kwargs or {}, nodeClass))


def addKnobChanged(call: Callable, args: tuple = (), kwargs: Optional[dict] = None, nodeClass: str = "*",
                   node: Optional[Node] = None) -> None:
    _STATE["callbacks"]["knobChanged"].append((call, args, kwargs or {}, nodeClass))


def _run_callbacks(kind: str, node: Node, knob: Optional[Knob]) -> None:
    for call, args, kwargs, cls in list(_STATE["callbacks"][kind]):
        if cls in ("*", node.Class()):
            _STATE["this"].append((node, knob))
            try:
                call(*args, **kwargs)
            finally:
                _STATE["this"].pop()


def scriptName() -> str:
    name = root()["name"].value()
    if not name:
        raise RuntimeError("no script name: the script has not been saved")
    return name


def scriptSave(filename: str = "") -> bool:
    path = filename or scriptName()
    Path(path).write_text(fake_script_text(), encoding="utf-8")
    _STATE["saved"].append(path)
    return True


def modified() -> bool:
    return True


class _MenuItem:
    def __init__(self, name: str, command: Any = None):
        self._name, self._command = name, command
        self.items: list[_MenuItem] = []

    def name(self) -> str:
        return self._name

    def addMenu(self, name: str, icon: str = "", index: int = -1) -> "_MenuItem":
        found = self.findItem(name)
        if found is None:
            found = _MenuItem(name)
            self.items.append(found)
        return found

    def addCommand(self, name: str, command: Any = None, shortcut: str = "", icon: str = "",
                   tooltip: str = "", index: int = -1, readonly: bool = False, shortcutContext: int = 0):
        parts = name.split("/")
        menu = self
        for part in parts[:-1]:
            menu = menu.addMenu(part)
        item = _MenuItem(parts[-1], command)
        menu.items.append(item)
        return item

    def addSeparator(self) -> None:
        self.items.append(_MenuItem("-"))

    def findItem(self, name: str) -> Optional["_MenuItem"]:
        parts = name.split("/")
        item: Optional[_MenuItem] = self
        for part in parts:
            item = next((i for i in item.items if i._name == part), None) if item else None
        return item

    def script(self) -> Any:
        return self._command


def menu(name: str) -> _MenuItem:
    if name not in ("Nuke", "Nodes", "Pane", "Viewer", "Node Graph", "Properties", "Animation"):
        raise ValueError(f"no menu {name!r}")
    return _STATE["menus"].setdefault(name, _MenuItem(name))


def toolbar(name: str = "Nodes") -> _MenuItem:
    return menu(name)


# ---------------------------------------------------------------------------------------------
# Saving (.nk text as Nuke writes it, enough for faceplate's parser and a person)
# ---------------------------------------------------------------------------------------------

def _fmt(v: float) -> str:
    return repr(float(v)) if not float(v).is_integer() else str(int(v))


def _knob_to_script(knob: Knob) -> str:
    if knob.text:
        v = knob._values[0]
        return "{" + v + "}" if (not v or re.search(r"\s|[{}\[\]\"]", v)) else v
    if isinstance(knob, Enumeration_Knob):
        if knob._expressions:
            return "{{" + knob._expressions[0] + "}}"
        return knob.value()
    items = []
    for i in range(knob.width):
        if i in knob._expressions:
            items.append("{" + knob._expressions[i] + "}")
        elif i in knob._curves:
            keys = sorted(knob._curves[i].items())
            items.append("{curve " + " ".join(f"x{_fmt(f)} {_fmt(v)}" for f, v in keys) + "}")
        else:
            items.append(_fmt(knob._values[i]))
    if knob.width == 1 and not knob._curves and not knob._expressions:
        if isinstance(knob, Boolean_Knob):
            return "true" if knob._values[0] else "false"
        return items[0]
    return "{" + " ".join(items) + "}"


_USER_KNOB_IDS = {"String_Knob": 1, "File_Knob": 2, "Int_Knob": 3, "Enumeration_Knob": 4, "Boolean_Knob": 6,
                  "Double_Knob": 7, "XY_Knob": 12, "BBox_Knob": 15, "Tab_Knob": 20, "PyScript_Knob": 22,
                  "Text_Knob": 26}


def fake_script_text() -> str:
    """The current graph as .nk text: Root, then top-level nodes with non-default knobs,
    dynamically added knobs as addUserKnob lines, inputs through Nuke's stack (set/push)."""
    r = root()
    fmt = r["format"].value()
    lines = ["version 14.0 v5", "Root {", " inputs 0", f" name {r['name'].value()}",
             f" frame {int(r['frame']._values[0])}", f" first_frame {_knob_to_script(r['first_frame'])}",
             f" last_frame {_knob_to_script(r['last_frame'])}",
             f' format "{fmt.width()} {fmt.height()} 0 0 {fmt.width()} {fmt.height()} {fmt.pixelAspect()} {fmt.name()}"',
             f" proxy {_knob_to_script(r['proxy'])}"]
    if r["project_directory"].value():  # Nuke writes it quoted with its TCL escaped
        lines.append(' project_directory "' + r["project_directory"].value().replace("[", "\\[").replace("]", "\\]") + '"')
    lines.append("}")
    var = {}
    for i, node in enumerate(_STATE["nodes"]):
        n_inputs = node._max_inputs if node._inputs else 0
        inputs = [node.input(j) for j in range(n_inputs)]
        while inputs and inputs[-1] is None:
            inputs.pop()
        for src in reversed(inputs):  # the top of the stack is input 0
            lines.append(f"push {'$' + var[id(src)] if src is not None else '0'}")
        lines.append(f"{node.Class()} {{")
        if node.Class() not in _BUILTIN:
            lines.append(f" inputs {len(inputs)}")
        elif node._max_inputs and len(inputs) != 1:
            lines.append(f" inputs {len(inputs)}")
        defaults = _STATE["gizmo_defaults"].get(node.Class(), {})
        base_knobs = set(_COMMON) | set(_BUILTIN.get(node.Class(), {}))
        gizmo_knobs = set(defaults)
        for name, knob in node._knobs.items():
            if name in ("inputs",) or isinstance(knob, (Tab_Knob, PyScript_Knob, Text_Knob)):
                continue
            dynamic = node.Class() not in _BUILTIN and name not in base_knobs and not _is_gizmo_user_knob(node, name)
            if dynamic:
                lines.append(f" addUserKnob {{{_USER_KNOB_IDS[knob.Class()]} {name} l \"{knob.label()}\"}}")
            script = _knob_to_script(knob)
            default = " ".join(str(w) if not hasattr(w, "startswith") or not isinstance(w, str) else
                               _rebrace(w) for w in defaults.get(name, []))
            if name in gizmo_knobs and script == default:
                continue
            if name not in gizmo_knobs and not dynamic and _is_default(knob):
                continue
            lines.append(f" {name} {script}")
        lines.append("}")
        var[id(node)] = f"N{i:04d}"
        lines.append(f"set {var[id(node)]} [stack 0]")
    return "\n".join(lines) + "\n"


def _rebrace(word: str) -> str:
    return "{" + word + "}" if isinstance(word, _Braced) else word


def _is_gizmo_user_knob(node: Node, name: str) -> bool:
    return name in _STATE["gizmo_user_knobs"].get(node.Class(), set())


def _is_default(knob: Knob) -> bool:
    if knob._curves or knob._expressions:
        return False
    if knob.text:
        return knob._values[0] == ""
    if isinstance(knob, Enumeration_Knob):
        return knob._values[0] == 0
    return all(v == 0 for v in knob._values)


# ---------------------------------------------------------------------------------------------
# Test helpers
# ---------------------------------------------------------------------------------------------

def fake_reset(gui: bool = False, plugin_paths: Optional[list[str]] = None) -> None:
    """Fresh session: no nodes, no callbacks, an unsaved 2K script at frames 1-100."""
    global GUI
    GUI = gui
    _CONTEXT[:] = [_ROOT_GROUP]
    _STATE.clear()
    _STATE.update(nodes=[], callbacks={"onCreate": [], "knobChanged": []}, this=[], messages=[], executed=[],
                  log=[], plugin_paths=list(plugin_paths or []), menus={}, saved=[], gizmo_defaults={},
                  gizmo_user_knobs={}, on_execute=None, progress_tasks=[], cancel_after=None,
                  main_thread_queue=[])
    r = Node("Root")
    r["first_frame"].setValue(1)
    r["last_frame"].setValue(100)
    r["frame"].setValue(1)
    r["fps"].setValue(24)
    r.setName("")
    _STATE["root"] = r


def fake_set_knob(node: Node, name: str, value: Any) -> None:
    """A person sets a knob in the panel: the value changes, then knobChanged runs."""
    node[name].setValue(value)
    _run_callbacks("knobChanged", node, node[name])


def fake_input_changed(node: Node, index: int, source: Optional[Node]) -> None:
    node.setInput(index, source)
    knob = Knob("inputChange")
    knob._node = node
    _run_callbacks("knobChanged", node, knob)


def fake_press(node: Node, name: str) -> None:
    """Press a PyScript button: its script runs with thisNode/thisKnob set, as in Nuke."""
    knob = node[name]
    if not isinstance(knob, PyScript_Knob):
        raise TypeError(f"{name} is not a button")
    _STATE["this"].append((node, knob))
    try:
        exec(compile(knob._values[0], f"<{node.name()}.{name}>", "exec"), {"__name__": "__nuke_button__"})
    finally:
        _STATE["this"].pop()


def fake_messages() -> list[str]:
    return _STATE["messages"]


def fake_executed() -> list[tuple]:
    return _STATE["executed"]


def fake_on_execute(hook: Optional[Callable]) -> None:
    _STATE["on_execute"] = hook


def fake_menus() -> dict[str, _MenuItem]:
    return _STATE["menus"]


fake_reset()

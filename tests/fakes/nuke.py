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
            keys = sorted(curve.items())
            if time <= keys[0][0]:
                return keys[0][1]
            if time >= keys[-1][0]:
                return keys[-1][1]
            for (f0, v0), (f1, v1) in zip(keys, keys[1:]):
                if f0 <= time <= f1:
                    return v0 + (v1 - v0) * (time - f0) / (f1 - f0)
        return self._values[index]

    def animations(self) -> list[AnimationCurve]:
        return [AnimationCurve(self, i) for i in sorted(self._curves)]

    def animation(self, index: int) -> Optional[AnimationCurve]:
        return AnimationCurve(self, index) if index in self._curves else None

    def removeKeyAt(self, time: float, index: int = -1) -> None:
        for i in (range(self.width) if index < 0 else [index]):
            self._curves.get(i, {}).pop(float(time), None)

    def toScript(self) -> str:
        return _knob_to_script(self)


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

    def evaluate(self) -> str:
        return _tcl_substitute(self._node, self._values[0])


class EvalString_Knob(String_Knob):
    pass


class Multiline_Eval_String_Knob(String_Knob):
    pass


class File_Knob(String_Knob):
    def fromUserText(self, text: str) -> None:
        self.setValue(text)


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
             "format": Format_Knob, "proxy": Boolean_Knob, "proxy_type": String_Knob,
             "proxy_scale": Double_Knob, "colorManagement": String_Knob, "OCIO_config": String_Knob},
    "Read": {"file": File_Knob, "proxy": File_Knob, "first": Int_Knob, "last": Int_Knob,
             "origfirst": Int_Knob, "origlast": Int_Knob, "format": Format_Knob, "raw": Boolean_Knob,
             "colorspace": String_Knob, "on_error": String_Knob, "reload": PyScript_Knob},
    "Write": {"file": File_Knob, "file_type": String_Knob, "channels": String_Knob, "raw": Boolean_Knob,
              "colorspace": String_Knob, "use_limit": Boolean_Knob, "first": Int_Knob, "last": Int_Knob,
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


def _gizmo_node(cls: str, path: Path) -> Node:
    from faceplate.nuke.nk_script import parse_nk

    nodes = parse_nk(path.read_text(encoding="utf-8"))
    gdef = next(n for n in nodes if n.cls == "Gizmo")
    node = Node("Group", parent=_CONTEXT[-1])
    node._class = cls
    node._max_inputs = int(str(gdef.knobs.get("inputs", ["1"])[0]))
    for uk in gdef.user_knobs:
        kc = _KNOB_CLASSES.get(uk.kind)
        if kc is None:
            raise RuntimeError(f"{path.name}: addUserKnob type {uk.type_id} not modelled by the fake")
        if kc is Enumeration_Knob:
            knob = kc(uk.name, uk.label, uk.items)
        elif kc is PyScript_Knob:
            knob = kc(uk.name, uk.label, uk.script)
        else:
            knob = kc(uk.name, uk.label)
            if kc is Text_Knob:
                knob._values[0] = uk.script
        if "+INVISIBLE" in uk.flags:
            knob.setFlag(INVISIBLE)
        node.addKnob(knob)
    for key, words in gdef.knobs.items():
        if key in ("inputs", "help", "tile_color"):
            continue
        _set_from_words(node, key, words)
    # internal graph
    made: dict[int, Node] = {}
    for child_def in gdef.children:
        child = Node(child_def.cls, parent=node)
        for key, words in child_def.knobs.items():
            if key in ("inputs",):
                continue
            _set_from_words(child, key, words)
        node._children.append(child)
        made[id(child_def)] = child
    for child_def in gdef.children:
        child = made[id(child_def)]
        for i, src in enumerate(child_def.inputs):
            if src is not None:
                child.setInput(i, made[id(src)])
    _STATE["gizmo_defaults"][cls] = {k: list(v) for k, v in gdef.knobs.items()}
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
    from faceplate.nuke.nk_script import Braced, split_list
    if isinstance(words[0], Braced):
        items = split_list(words[0])
        for i, item in enumerate(items[:knob.width]):
            s = str(item)
            if s.startswith("curve"):
                from faceplate.nuke.nk_script import parse_curve
                for f, v in parse_curve(s):
                    knob.setValueAt(v, f, i)
            elif re.match(r"^[-+\d.eE]+$", s):
                knob.setValue(float(s), i)
            else:
                knob.setExpression(s, i)
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
    """[value parent.knob] / [value knob] substitutions (what the gizmo's file knobs use)."""
    def repl(m: "re.Match[str]") -> str:
        ref = m.group(1)
        parts = ref.split(".")
        owner = node
        if parts[0] == "parent" and node is not None:
            owner = node._parent
            parts = parts[1:]
        elif parts[0] == "root":
            owner = root()
            parts = parts[1:]
        knob = owner[parts[0]]
        v = knob.value()
        return str(v)
    return re.sub(r"\\?\[value ([\w.]+)\\?\]", repl, text)


# ---------------------------------------------------------------------------------------------
# Module API
# ---------------------------------------------------------------------------------------------

def root() -> Node:
    return _STATE["root"]


def frame() -> int:
    return int(_STATE["root"]["frame"]._values[0]) if "root" in _STATE else 1


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
             f" proxy {_knob_to_script(r['proxy'])}", "}"]
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
    from faceplate.nuke.nk_script import Braced
    return "{" + word + "}" if isinstance(word, Braced) else word


def _is_gizmo_user_knob(node: Node, name: str) -> bool:
    return name in _STATE["gizmo_user_knobs"].setdefault(node.Class(), _gizmo_user_knob_names(node.Class()))


def _gizmo_user_knob_names(cls: str) -> set[str]:
    path = _find_gizmo(cls)
    if path is None:
        return set()
    from faceplate.nuke.nk_script import parse_nk
    gdef = next(n for n in parse_nk(path.read_text(encoding="utf-8")) if n.cls == "Gizmo")
    return {u.name for u in gdef.user_knobs}


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
                  gizmo_user_knobs={}, on_execute=None, progress_tasks=[], cancel_after=None)
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

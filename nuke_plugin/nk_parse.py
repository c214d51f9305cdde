"""Nuke's saved-script syntax (.nk / .gizmo) → a node graph, without Nuke. Standard library only.

The syntax is Nuke's TCL dialect: commands one per line, ``{...}`` braced words (nested, no
substitution), ``"..."`` strings, ``Class { knob value ... }`` node blocks, ``Group {...}`` ...
``end_group`` for groups (``LiveGroup`` too), inputs through a stack (``set``/``push``), clones
(``clone node…|Blur|pid Blur {...}`` for the first instance, ``clone $Cvar {...}`` for the others)
and masked inputs (``inputs 2+1``: two inputs and a mask). Evaluating knobs is nk_script.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from faceplate.nuke.errors import NodeError

# addUserKnob type ids (Nuke's numbering) for the knob kinds faceplate uses.
KNOB_TYPES = {
    1: "String_Knob", 2: "File_Knob", 3: "Int_Knob", 4: "Enumeration_Knob", 6: "Boolean_Knob",
    7: "Double_Knob", 12: "XY_Knob", 13: "XYZ_Knob", 14: "WH_Knob", 15: "BBox_Knob",
    18: "Color_Knob", 19: "AColor_Knob", 20: "Tab_Knob", 22: "PyScript_Knob", 26: "Text_Knob",
    41: "Link_Knob",
}
# Node classes whose block is followed by their internal nodes up to ``end_group``.
GROUP_CLASSES = ("Group", "Gizmo", "LiveGroup")


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
    raise NodeError("unbalanced '{' in Nuke script text: the .nk file is truncated; re-save it from Nuke")


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
    raise NodeError("unterminated '\"' in Nuke script text: re-save the .nk from Nuke")


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



_NOT_NODES = {"version", "define_window_layout_xml", "set", "push", "end_group", "add_layer"}


def input_count(word: str) -> int:
    """``inputs 2`` → 2; ``inputs 2+1`` (two inputs and a mask) → 3 stack entries."""
    total = 0
    for part in str(word).split("+"):
        try:
            total += int(part)
        except ValueError:
            return 1
    return total


class _Scope:
    """One graph level: the group node (None at top level), its nodes, stack and variables."""

    def __init__(self, group: Optional[NkNode], nodes: list[NkNode]):
        self.group, self.nodes = group, nodes
        self.stack: list[Optional[NkNode]] = []
        self.variables: dict[str, Optional[NkNode]] = {}


def _clone_node(words: list[str], scope: _Scope) -> Optional[NkNode]:
    """``clone node…|Blur|pid Blur {...}`` (first instance) or ``clone $C… {...}`` (a copy of it)."""
    ref = str(words[1])
    if ref.startswith("$"):
        original = scope.variables.get(ref[1:])
        if original is None:
            raise NodeError(f"clone {ref}: the node it copies is not defined before it; re-save the script")
        own = _parse_body(original.cls, words[-1])
        # a clone shares every knob of the original; its own block holds position, selection, inputs
        own.knobs = {**original.knobs, **own.knobs}
        own.user_knobs = list(original.user_knobs)
        return own
    if len(words) >= 4:
        return _parse_body(str(words[2]), words[-1])
    return None


def parse_nk(text: str) -> list[NkNode]:
    """Parse .nk/.gizmo text into top-level nodes (Root included); groups hold their children.

    Inputs follow Nuke's stack rules: a node with ``inputs N`` (or ``N+M`` with masks) pops that
    many entries, the top of the stack being input 0; ``push $var`` / ``push 0`` / ``set var
    [stack 0]`` manage the stack. A ``Group``/``LiveGroup``/``Gizmo`` block is followed by its
    internal nodes up to ``end_group``; a gizmo instance (``FaceSwap {...}``) has no internals.
    """
    top: list[NkNode] = []
    scopes = [_Scope(None, top)]
    for words in split_commands(text):
        head = str(words[0])
        scope = scopes[-1]
        if head == "set" and len(words) >= 3:
            scope.variables[str(words[1])] = scope.stack[-1] if scope.stack else None
        elif head == "push" and len(words) >= 2:
            ref = str(words[1])
            scope.stack.append(None if ref == "0" else scope.variables.get(ref.lstrip("$")))
        elif head == "end_group":
            if len(scopes) > 1:
                scopes.pop()
                scopes[-1].stack.append(scope.group)  # the group is an output in the enclosing graph
        elif len(words) >= 2 and isinstance(words[-1], Braced) and head not in _NOT_NODES:
            node = _clone_node(words, scope) if head == "clone" else _parse_body(head, words[-1])
            if node is None:
                continue
            _add_node(node, scopes)
    return top


def _add_node(node: NkNode, scopes: list[_Scope]) -> None:
    scope = scopes[-1]
    node.parent = scope.group
    n_inputs = 0 if node.cls == "Root" else input_count(node.knobs.get("inputs", ["1"])[0])
    node.inputs = [scope.stack.pop() if scope.stack else None for _ in range(n_inputs)]
    scope.nodes.append(node)
    if scope.group is not None:
        scope.group.children.append(node)
    if node.cls in GROUP_CLASSES:
        scopes.append(_Scope(node, []))
    elif node.cls != "Root":
        scope.stack.append(node)


def find_node(nodes: list[NkNode], name: str) -> Optional[NkNode]:
    """Top-level node by name; ``Group1.FaceSwap1`` walks into groups."""
    current = nodes
    found = None
    for part in name.split("."):
        found = next((n for n in current if n.name == part), None)
        if found is None:
            return None
        current = found.children
    return found

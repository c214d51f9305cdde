"""Reading a live FaceSwap node in Nuke: evaluated paths, frame range, plate, sources, settings.

Standard library + ``nuke`` only. File knobs are evaluated (TCL such as ``[getenv SHOT]``) and
made absolute against the evaluated ``root.project_directory``, as Nuke's own Read does; the
plate Read is found with the same walk the saved-script reader uses (settings.find_plate_read).
"""
from __future__ import annotations

import os
from typing import Any, Callable, Optional

import nuke

from faceplate.nuke import preflight
from faceplate.nuke.errors import NodeError
from faceplate.nuke.nk_script import hashes_pattern, resolve_path
from faceplate.nuke.settings import FaceSwapSettings, cache_paths, find_plate_read


def project_directory() -> str:
    knob = nuke.root().knob("project_directory")
    return knob.evaluate().rstrip("/\\") if knob is not None and knob.value() else ""


def knob_path(node: Any, name: str) -> Optional[str]:
    """A file knob as Nuke reads it: TCL evaluated (frame patterns kept), absolute."""
    raw = node[name].value().strip()
    if not raw:
        return None
    text = raw if "#" in raw or "%" in raw or "[" not in raw else node[name].evaluate()
    return resolve_path(text, project_directory(), f"{node.name()}.{name}")


def cache_dir(node: Any) -> str:
    path = knob_path(node, "cache_dir")
    if not path:
        raise NodeError(f"{node.name()}: the cache folder is empty; set 'cache folder' on the FaceSwap node")
    return path


def paths(node: Any) -> dict[str, str]:
    return cache_paths(cache_dir(node), node.name())


def _upstream(n: Any) -> Optional[Any]:
    if n.Class() == "Input":  # inside a group: the group's matching input
        full = n.fullName()
        group = nuke.toNode(full.rsplit(".", 1)[0]) if "." in full else None
        return group.input(int(n["number"].value())) if group is not None else None
    return n.input(0)


def _disabled(n: Any) -> bool:
    knob = n.knob("disable")
    return bool(knob.value()) if knob is not None else False


def upstream_read(node: Any) -> Optional[Any]:
    return find_plate_read(node.input(0), lambda n: n.Class(), _disabled, _upstream, node.name())


def frames(node: Any) -> tuple[int, int]:
    """The node's frame range, clipped to a plain upstream Read's frames (no missing-file errors)."""
    first, last = int(node["frame_first"].value()), int(node["frame_last"].value())
    read = upstream_read(node)
    if read is not None:
        first, last = max(first, int(read["first"].value())), min(last, int(read["last"].value()))
    if last < first:
        raise NodeError(f"{node.name()}: frame range {first}-{last} is empty; fix 'frame range'")
    return first, last


def read_pattern(read: Any) -> str:
    """The Read's files: TCL expanded by Nuke (``nuke.filename`` keeps ``%04d``), absolute."""
    return resolve_path(hashes_pattern(nuke.filename(read) or ""), project_directory(), f"{read.name()}.file")


def match_patch_colour(node: Any) -> None:
    """The patch holds plate *file* values: read it in the plate Read's colourspace (raw when the
    plate is pre-rendered, which writes working-space values)."""
    patch = node.node("PatchRead")
    read = upstream_read(node)
    if read is None:
        patch["raw"].setValue(True)
        return
    patch["raw"].setValue(bool(read["raw"].value()))
    patch["colorspace"].setValue(read["colorspace"].value())


def without_proxy(func: Callable[[], Any]) -> Any:
    """Run with proxy mode off: analysis and patches are full resolution; Nuke scales for proxy."""
    r = nuke.root()
    was = bool(r["proxy"].value())
    if was:
        r["proxy"].setValue(False)
    try:
        return func()
    finally:
        if was:
            r["proxy"].setValue(True)


def _execute(node: Any, write_name: str, first: int, last: int) -> None:
    write = node.node(write_name)
    write["disable"].setValue(False)
    try:
        without_proxy(lambda: nuke.execute(write, first, last, 1))
    finally:
        write["disable"].setValue(True)


def plate_files(node: Any, prerender: str = "always") -> str:
    """The plate as a file pattern: a plain Read's own files, else the input pre-rendered into the
    cache by the internal Write. ``prerender``: "always" (Analyze: the input may have changed) or
    "missing" (Render/Submit: reuse the frames the analysis saw, so its timestamps stay valid)."""
    if node.input(0) is None:
        raise NodeError(f"{node.name()}: the plate input is not connected; connect the plate")
    read = upstream_read(node)
    match_patch_colour(node)
    if read is not None:
        pattern = read_pattern(read)
    else:
        first, last = frames(node)
        pattern = paths(node)["plate"]
        if prerender == "always" or not all(os.path.isfile(preflight.frame_path(pattern, f)) for f in (first, last)):
            _execute(node, "PrerenderPlate", first, last)
    node["plate_file"].setValue(pattern)
    return pattern


def source_files(node: Any) -> list[str]:
    sources = [s for s in [knob_path(node, "source_file")] if s]
    sources += [resolve_path(line.strip(), project_directory(), f"{node.name()}.extra_sources")
                for line in node["extra_sources"].value().splitlines() if line.strip()]
    if not sources and node.input(1) is not None:
        # the source input: one frame (the current one) written to the cache, where the farm reads it too
        _execute(node, "WriteSource", nuke.frame(), nuke.frame())
        sources = [paths(node)["source"]]
    return sources


def settings(node: Any, plate: str, sources: list[str]) -> FaceSwapSettings:
    first, last = frames(node)
    return FaceSwapSettings.from_values(
        node.name(), text=lambda k: str(node[k].value()), number=lambda k: float(node[k].value()),
        path=lambda k: knob_path(node, k), plate=plate, first=first, last=last, sources=sources)

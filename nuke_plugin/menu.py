"""Nuke menu for faceplate: a Faceplate menu and toolbar, in GUI sessions only (standard library)."""
from __future__ import annotations

from typing import Any, Optional

import nuke

_SELECTED = "import faceplate.nuke.host as fp_host\nfor _n in nuke.selectedNodes('FaceSwap'): fp_host.{}(_n)"


def build_menus() -> Optional[Any]:
    """Nuke > Faceplate and the Nodes toolbar entry; a no-op without a GUI (farm, nuke -t)."""
    if not nuke.GUI:
        return None
    menu = nuke.menu("Nuke").addMenu("Faceplate")
    menu.addCommand("FaceSwap", "nuke.createNode('FaceSwap')")
    menu.addCommand("Analyze selected", _SELECTED.format("analyze_button"))
    menu.addCommand("Render selected", _SELECTED.format("render_button"))
    menu.addCommand("Submit selected to farm", _SELECTED.format("submit_button"))
    toolbar = nuke.toolbar("Nodes").addMenu("Faceplate")
    toolbar.addCommand("FaceSwap", "nuke.createNode('FaceSwap')")
    return menu

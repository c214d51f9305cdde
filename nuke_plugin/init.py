"""Nuke start-up for faceplate: ``register`` adds the gizmo folder and the FaceSwap callbacks.

Called by the ``init.py`` that ``faceplate nuke setup`` writes into a NUKE_PATH folder. Runs in
every Nuke session, including render-farm ``nuke -x`` / ``nuke -t``: no UI here (menu.py does
that, in GUI sessions only) and nothing heavy: standard library and ``nuke`` only.
"""
from __future__ import annotations

import nuke


def _faceswap_on_create() -> None:
    from faceplate.nuke import host
    host.on_create()


def _faceswap_knob_changed() -> None:
    from faceplate.nuke import host
    host.knob_changed()


def register(gizmo_dir: str) -> None:
    """Make the FaceSwap gizmo known and hook its callbacks (once per session)."""
    nuke.pluginAddPath(gizmo_dir)
    nuke.addOnCreate(_faceswap_on_create, nodeClass="FaceSwap")
    nuke.addKnobChanged(_faceswap_knob_changed, nodeClass="FaceSwap")

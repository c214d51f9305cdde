"""Nuke init.py for faceplate: put this folder on NUKE_PATH (see docs/NUKE.md).

Runs in every Nuke session, including render-farm ``nuke -x`` / ``nuke -t``: it only adds the
gizmo folder to the plugin path and registers the FaceSwap callbacks. No UI here (menu.py does
that, in GUI sessions only) and nothing heavy: the callbacks import faceplate when they run.
"""
import os

import nuke


def _here():
    try:
        return os.path.dirname(os.path.abspath(__file__))
    except NameError:  # some Nuke versions exec init.py without __file__: find ourselves on the path
        for path in nuke.pluginPath():
            if os.path.isfile(os.path.join(path, "init.py")) and os.path.isfile(os.path.join(path, "host.py")):
                return path
    return os.getcwd()


FACEPLATE_NUKE_DIR = _here()
FACEPLATE_GIZMOS = os.path.normpath(os.path.join(FACEPLATE_NUKE_DIR, "..", "gizmos"))
nuke.pluginAddPath(FACEPLATE_GIZMOS)


def _faceswap_on_create():
    from faceplate.nuke import host
    host.on_create()


def _faceswap_knob_changed():
    from faceplate.nuke import host
    host.knob_changed()


nuke.addOnCreate(_faceswap_on_create, nodeClass="FaceSwap")
nuke.addKnobChanged(_faceswap_knob_changed, nodeClass="FaceSwap")

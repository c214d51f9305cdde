"""The nuke room's one error type, standard library only (Nuke's Python cannot import faceplate.core).

The messages follow the project rule: one line naming the file or node and what to do. Inside
Nuke a button shows it with ``nuke.message``; the ``faceplate farm``/``faceplate nuke`` commands
turn it into the core CLI's one-line error and exit 2 (``as_faceplate_error``).
"""
from __future__ import annotations


class NodeError(Exception):
    """A FaceSwap node, saved script or farm job that cannot run as set up; the text says why."""

    exit_code = 2

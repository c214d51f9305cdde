"""Qt face picker: the analysed faces of the current frame as thumbnails; tick the ones to replace.

Runs inside Nuke with whichever Qt binding Nuke ships (PySide6 in Nuke 16, PySide2 in 14/15) and
the standard library: the thumbnails are PNG files ``face_<track id>.png`` that
``faceplate nuke thumbnails`` (thumbnails.py, in faceplate's own environment) wrote.
"""
from __future__ import annotations

import os
import re
from typing import Any, Optional

_THUMB = re.compile(r"^face_(\d+)\.png$")


def _qt():
    try:
        from PySide6 import QtCore, QtGui, QtWidgets
    except ImportError:
        from PySide2 import QtCore, QtGui, QtWidgets  # Nuke 14-15
    return QtCore, QtGui, QtWidgets


def thumbnail_files(folder: str) -> dict[int, str]:
    """Track id → PNG path in ``folder``."""
    found = {}
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        m = _THUMB.match(name)
        if m:
            found[int(m.group(1))] = os.path.join(folder, name)
    return found


def build_picker(thumbs: dict[int, str], selected: Optional[list[int]] = None, parent: Any = None):
    """The dialog (not shown): a list of checkable thumbnails. Returns (dialog, list widget)."""
    QtCore, QtGui, QtWidgets = _qt()
    dialog = QtWidgets.QDialog(parent)
    dialog.setWindowTitle("FaceSwap: faces to replace")
    layout = QtWidgets.QVBoxLayout(dialog)
    faces = QtWidgets.QListWidget()
    faces.setViewMode(QtWidgets.QListView.IconMode)
    faces.setIconSize(QtCore.QSize(96, 96))
    for track_id, path in sorted(thumbs.items()):
        item = QtWidgets.QListWidgetItem(QtGui.QIcon(QtGui.QPixmap(path)), f"face {track_id}")
        item.setData(QtCore.Qt.UserRole, track_id)
        item.setFlags(item.flags() | QtCore.Qt.ItemIsUserCheckable)
        checked = selected is None or track_id in selected
        item.setCheckState(QtCore.Qt.Checked if checked else QtCore.Qt.Unchecked)
        faces.addItem(item)
    layout.addWidget(faces)
    buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.Ok | QtWidgets.QDialogButtonBox.Cancel)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    layout.addWidget(buttons)
    return dialog, faces


def checked_ids(faces: Any) -> list[int]:
    QtCore, _QtGui, _QtWidgets = _qt()
    return [int(faces.item(i).data(QtCore.Qt.UserRole)) for i in range(faces.count())
            if faces.item(i).checkState() == QtCore.Qt.Checked]


def pick_faces(folder: str) -> Optional[list[int]]:
    """Modal picker over the thumbnails in ``folder``; the ticked track ids, or None when cancelled."""
    dialog, faces = build_picker(thumbnail_files(folder))
    exec_ = getattr(dialog, "exec", None) or getattr(dialog, "exec_")
    if exec_() != 1:
        return None
    return checked_ids(faces)

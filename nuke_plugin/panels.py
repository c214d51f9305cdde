"""Qt face picker: the analysed faces of the current frame as thumbnails; tick the ones to replace.

Uses whichever Qt binding Nuke ships (PySide6 in Nuke 16+, PySide2 before). Thumbnails are cut
from the plate frame with the track boxes (pure numpy, ``face_thumbnails``) so they are testable
without Qt.
"""
from __future__ import annotations

from typing import Optional

import numpy as np


def _qt():
    try:
        from PySide6 import QtCore, QtGui, QtWidgets
    except ImportError:
        from PySide2 import QtCore, QtGui, QtWidgets  # Nuke 13-15
    return QtCore, QtGui, QtWidgets


def face_thumbnails(track_path: str, plate_pattern: str, frame: int, size: int = 96) -> dict[int, np.ndarray]:
    """Track id → (size, size, 3) uint8 RGB crop around its box at ``frame`` (nearest tracked frame)."""
    import cv2

    from faceplate.core.colour import ColourPipeline
    from faceplate.core.io.exr import read_image
    from faceplate.core.io.frames import sequence_path
    from faceplate.core.io.track_file import load_track_file

    tf = load_track_file(track_path)
    thumbs: dict[int, np.ndarray] = {}
    cache: dict[int, tuple] = {}
    colour = ColourPipeline(tf.plate.colourspace)
    for track in tf.tracks:
        if not track.entries:
            continue
        f = min(track.entries, key=lambda k: abs(k - frame))
        if f not in cache:
            image = read_image(sequence_path(plate_pattern or tf.plate.pattern, f), layer=tf.plate.layer)
            cache[f] = (colour.to_uint8(image.rgb_pixels()), image.data_window)
        rgb, dw = cache[f]
        x0, y0, x1, y1 = track.entries[f].box
        cx, cy, half = (x0 + x1) / 2 - dw.xmin, (y0 + y1) / 2 - dw.ymin, max(x1 - x0, y1 - y0) * 0.65
        m = np.array([[size / (2 * half), 0, size / 2 - cx * size / (2 * half)],
                      [0, size / (2 * half), size / 2 - cy * size / (2 * half)]], dtype=np.float64)
        thumbs[track.id] = cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_AREA,
                                          borderMode=cv2.BORDER_CONSTANT)
    return thumbs


def build_picker(thumbs: dict[int, np.ndarray], selected: Optional[list[int]] = None, parent=None):
    """The dialog (not shown): a list of checkable thumbnails. Returns (dialog, list widget)."""
    QtCore, QtGui, QtWidgets = _qt()
    dialog = QtWidgets.QDialog(parent)
    dialog.setWindowTitle("FaceSwap: faces to replace")
    layout = QtWidgets.QVBoxLayout(dialog)
    faces = QtWidgets.QListWidget()
    faces.setViewMode(QtWidgets.QListView.IconMode)
    faces.setIconSize(QtCore.QSize(96, 96))
    for track_id, rgb in sorted(thumbs.items()):
        rgb = np.ascontiguousarray(rgb)
        image = QtGui.QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], QtGui.QImage.Format_RGB888)
        item = QtWidgets.QListWidgetItem(QtGui.QIcon(QtGui.QPixmap.fromImage(image.copy())), f"face {track_id}")
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


def checked_ids(faces) -> list[int]:
    QtCore, _QtGui, _QtWidgets = _qt()
    return [int(faces.item(i).data(QtCore.Qt.UserRole)) for i in range(faces.count())
            if faces.item(i).checkState() == QtCore.Qt.Checked]


def pick_faces(track_path: str, plate_pattern: str, frame: int) -> Optional[list[int]]:
    """Modal picker; the ticked track ids, or None when cancelled."""
    dialog, faces = build_picker(face_thumbnails(track_path, plate_pattern, frame))
    exec_ = getattr(dialog, "exec", None) or getattr(dialog, "exec_")
    if exec_() != 1:
        return None
    return checked_ids(faces)

"""The Qt face picker: thumbnails cut at the track boxes, checkable, ids read back (offscreen Qt)."""
from __future__ import annotations

import os

import numpy as np
import pytest

from .conftest import make_track_file


@pytest.fixture(scope="module")
def qapp():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    QtWidgets = pytest.importorskip("PySide6.QtWidgets")
    return QtWidgets.QApplication.instance() or QtWidgets.QApplication([])


def test_thumbnails_and_picker(tmp_path, qapp):
    from faceplate.core.cli.sample import make_sample
    from faceplate.core.cli.__init__ import main
    from faceplate.nuke import panels, thumbnails

    info = make_sample(str(tmp_path / "sample"), frames=1)
    track = tmp_path / "t.track.json"
    make_track_file(track, frames=[1001], width=1024, height=576, pattern=info["pattern"])
    thumbs = thumbnails.face_thumbnails(str(track), info["pattern"], 1001, size=64)
    assert sorted(thumbs) == [1, 2]
    assert all(t.shape == (64, 64, 3) and t.dtype == np.uint8 for t in thumbs.values())
    assert not np.array_equal(thumbs[1], thumbs[2])          # different places of the plate
    assert thumbs[1].std() > 1                               # real image content, not border
    # what the Pick face button runs, then the Qt picker over the PNGs it wrote
    assert main(["nuke", "thumbnails", str(track), "--plate", info["pattern"], "--frame", "1001",
                 "--out", str(tmp_path / "thumbs"), "--size", "64"]) == 0
    files = panels.thumbnail_files(str(tmp_path / "thumbs"))
    assert sorted(files) == [1, 2]
    dialog, faces = panels.build_picker(files, selected=[2])
    assert faces.count() == 2 and dialog.windowTitle().startswith("FaceSwap")
    assert panels.checked_ids(faces) == [2]
    from PySide6 import QtCore
    faces.item(0).setCheckState(QtCore.Qt.Checked)
    assert panels.checked_ids(faces) == [1, 2]


def test_pick_face_button_sets_target(fake_nuke, tmp_path, monkeypatch):
    import importlib
    nuke = fake_nuke
    from .conftest import GIZMOS
    importlib.import_module("faceplate.nuke.init").register(str(GIZMOS))
    node = nuke.createNode("FaceSwap")
    node["cache_dir"].setValue(str(tmp_path))
    nuke.GUI = True
    nuke.fake_press(node, "pick_face")
    assert "no analysis yet" in nuke.fake_messages()[-1]
    make_track_file(tmp_path / "FaceSwap1.track.json")
    from faceplate.nuke import panels
    monkeypatch.setattr(panels, "pick_faces", lambda folder: [2, 5])
    from faceplate.nuke import runner
    monkeypatch.setattr(runner, "run_commands", lambda commands, cwd: [])   # `faceplate nuke thumbnails`
    node["plate_file"].setValue("/plates/plate.####.exr")
    nuke.fake_press(node, "pick_face")
    assert node["target"].value() == "2,5"

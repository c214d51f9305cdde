"""The dataset GUI, offscreen: both tabs end to end, cancel, errors in the log; saves a screenshot."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
QtWidgets = pytest.importorskip("PySide6.QtWidgets")

from faceplate.training import dataset as ds  # noqa: E402
from faceplate.training import dataset_manifest as dsm  # noqa: E402
from faceplate.training.dataset_gui import DatasetWindow  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def app():
    return QtWidgets.QApplication.instance() or QtWidgets.QApplication([])


def wait_idle(app, tab, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while tab.worker is not None and not tab.worker.isFinished():
        app.processEvents()
        time.sleep(0.02)
        assert time.monotonic() < deadline, "worker did not finish"
    for _ in range(20):  # deliver the queued finished/log signals
        app.processEvents()
        time.sleep(0.01)


@pytest.mark.assets
def test_both_tabs_end_to_end_and_screenshot(app, asset, tmp_path):
    window = DatasetWindow()
    window.show()
    ext = window.extraction
    out = tmp_path / "faces"
    ext.video_edit.setText(str(asset("media/face_recognition/short_hamilton_clip.mp4")))
    ext.output_edit.setText(str(out))
    ext.min_face_spin.setValue(50)
    ext.size_combo.setCurrentText("256")
    ext.every_spin.setValue(40)
    ext.overrides = {"workers": 0, "filters": {"min_face_fraction": None}}
    ext.start_button.click()
    assert not ext.start_button.isEnabled() and ext.cancel_button.isEnabled()  # busy while working
    app.processEvents()  # the UI thread stays responsive while the worker runs
    wait_idle(app, ext)
    log = ext.log_view.toPlainText()
    assert "done:" in log and "report:" in log, log
    rows = dsm.read_manifest(out)
    assert rows and all(r["reason"] == "undersize" for r in rows if r["face_size"] < 50)  # the threshold is used
    assert ext.start_button.isEnabled()
    assert ext.progress_bar.value() == ext.progress_bar.maximum()

    cls = window.classification
    window.tabs.setCurrentWidget(cls)
    kept = [r for r in rows if r["kept"]]
    assert kept, "the clip's speaker should give kept faces"
    cls.faces_edit.setText(str(out / kept[0]["group"] / "unsorted"))
    cls.output_edit.setText(str(tmp_path / "classes"))
    cls.classes_spin.setValue(1)
    cls.start_button.click()
    wait_idle(app, cls)
    assert "done: class 0:" in cls.log_view.toPlainText(), cls.log_view.toPlainText()
    assert len(list((tmp_path / "classes" / "0").glob("*.png"))) == len(kept)

    window.tabs.setCurrentWidget(ext)
    app.processEvents()
    shot = window.grab()
    # The screenshot goes to tmp_path (the test must not dirty the work tree); set
    # FACEPLATE_SCREENSHOT_DIR=docs to refresh docs/dataset_gui.png.
    out_dir = Path(os.environ.get("FACEPLATE_SCREENSHOT_DIR", tmp_path))
    out_dir.mkdir(parents=True, exist_ok=True)
    assert shot.save(str(out_dir / "dataset_gui.png"))
    assert (out_dir / "dataset_gui.png").stat().st_size > 1000
    window.close()


def test_cancel_and_errors_land_in_the_log(app, package_faces, tmp_path):
    from tests.package_faces import write_video
    clip = write_video(tmp_path / "take.mp4", package_faces.person(2), frames=240, drift=1)
    window = DatasetWindow()
    ext = window.extraction
    ext.start_button.click()  # nothing chosen yet
    assert "error: choose a video" in ext.log_view.toPlainText()

    ext.video_edit.setText(str(tmp_path / "missing.mp4"))
    ext.output_edit.setText(str(tmp_path / "out_missing"))
    ext.start_button.click()
    wait_idle(app, ext)
    assert "error: " in ext.log_view.toPlainText() and "missing.mp4" in ext.log_view.toPlainText()

    out = tmp_path / "cancelled"
    ext.log_view.clear()
    ext.video_edit.setText(str(clip))
    ext.output_edit.setText(str(out))
    ext.size_combo.setCurrentText("256")
    ext.overrides = {"workers": 0}
    ext.start_button.click()
    deadline = time.monotonic() + 60
    while "frame 5:" not in ext.log_view.toPlainText():  # cancel mid-run
        app.processEvents()
        time.sleep(0.01)
        assert time.monotonic() < deadline
    assert 0 < ext.progress_bar.value() < ext.progress_bar.maximum() == 240  # frames of the clip
    ext.cancel_button.click()
    wait_idle(app, ext)
    assert "cancelled" in ext.log_view.toPlainText(), ext.log_view.toPlainText()
    state = dsm.read_state(out)
    entry = state["inputs"]["take"]
    assert entry["status"] == "partial" and entry["sampled"] < 240  # stopped early, resumable
    window.close()

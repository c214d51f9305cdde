"""`faceplate dataset gui`: the course tool's two tabs, in Qt (PySide6, else PySide2).

Extraction: video path, output folder, face size threshold, crop size, start/cancel, progress,
log. Classification: face folder, output folder, initial class count (or auto), start/cancel,
log. The work runs in a QThread; the UI only receives signals. Cancel sets an event the builder
checks between frames (a cancelled build resumes with the same output folder). Errors are
written to the log, never raised into Qt's event loop.
"""
from __future__ import annotations

import threading
import traceback
from typing import Any, Callable, Optional

try:  # PySide6 first, PySide2 where that is what the host (e.g. an older Nuke) ships
    from PySide6 import QtCore, QtWidgets
except ImportError:  # pragma: no cover - depends on the host
    from PySide2 import QtCore, QtWidgets  # type: ignore[no-redef]

from faceplate.core.errors import FaceplateError


class Worker(QtCore.QThread):
    """Runs ``job(log, progress, cancel)`` off the UI thread; reports through signals."""

    log = QtCore.Signal(str)
    progress = QtCore.Signal(int, int)      # value, maximum (0 = unknown)
    finished_ok = QtCore.Signal(object)
    failed = QtCore.Signal(str)

    def __init__(self, job: Callable[..., Any], parent: Optional[QtCore.QObject] = None):
        super().__init__(parent)
        self.job = job
        self.cancel_event = threading.Event()

    def run(self) -> None:  # noqa: D401 - Qt override
        try:
            result = self.job(self.log.emit, self.progress.emit, self.cancel_event)
            self.finished_ok.emit(result)
        except FaceplateError as exc:
            self.failed.emit(f"error: {exc}")
        except Exception as exc:  # a bug must land in the log, not crash the tool
            self.failed.emit(f"error: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}")

    def cancel(self) -> None:
        self.cancel_event.set()


def _path_row(parent: QtWidgets.QWidget, label: str, folder: bool) -> tuple[QtWidgets.QHBoxLayout, QtWidgets.QLineEdit]:
    row = QtWidgets.QHBoxLayout()
    edit = QtWidgets.QLineEdit(parent)
    edit.setPlaceholderText(label)
    button = QtWidgets.QPushButton("Browse…", parent)

    def browse() -> None:
        if folder:
            path = QtWidgets.QFileDialog.getExistingDirectory(parent, label, edit.text())
        else:
            path, _ = QtWidgets.QFileDialog.getOpenFileName(parent, label, edit.text(),
                                                            "Video / images (*.mp4 *.mov *.mkv *.avi *.mxf *.exr *.png *.jpg);;All (*)")
        if path:
            edit.setText(path)

    button.clicked.connect(browse)
    row.addWidget(edit, 1)
    row.addWidget(button)
    return row, edit


class _Tab(QtWidgets.QWidget):
    def __init__(self, parent: Optional[QtWidgets.QWidget] = None):
        super().__init__(parent)
        self.worker: Optional[Worker] = None
        self.form = QtWidgets.QFormLayout()
        self.start_button = QtWidgets.QPushButton("Start", self)
        self.cancel_button = QtWidgets.QPushButton("Cancel", self)
        self.cancel_button.setEnabled(False)
        self.progress_bar = QtWidgets.QProgressBar(self)
        self.log_view = QtWidgets.QPlainTextEdit(self)
        self.log_view.setReadOnly(True)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress_bar)
        layout.addWidget(QtWidgets.QLabel("Log", self))
        layout.addWidget(self.log_view, 1)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)

    def append_log(self, text: str) -> None:
        self.log_view.appendPlainText(text)

    def job(self) -> Callable[..., Any]:
        raise NotImplementedError

    def start(self) -> None:
        if self.worker is not None and self.worker.isRunning():
            return
        try:
            job = self.job()
        except FaceplateError as exc:
            self.append_log(f"error: {exc}")
            return
        self.worker = Worker(job, self)
        self.worker.log.connect(self.append_log)
        self.worker.progress.connect(self._progress)
        self.worker.failed.connect(self.append_log)
        self.worker.finished_ok.connect(self._done)
        self.worker.finished.connect(self._idle)
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress_bar.setRange(0, 0)
        self.worker.start()

    def cancel(self) -> None:
        if self.worker is not None:
            self.append_log("cancelling after the frames in flight…")
            self.worker.cancel()

    def _progress(self, value: int, maximum: int) -> None:
        self.progress_bar.setRange(0, maximum)
        if maximum:
            self.progress_bar.setValue(value)

    def _done(self, result: Any) -> None:
        self.append_log(self.describe(result))

    def describe(self, result: Any) -> str:
        return "done"

    def _idle(self) -> None:
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(1)


class ExtractionTab(_Tab):
    """Video path, output folder, face size threshold → `faceplate dataset build`."""

    def __init__(self, parent: Optional[QtWidgets.QWidget] = None):
        super().__init__(parent)
        row, self.video_edit = _path_row(self, "video file, EXR sequence or image folder", folder=False)
        self.form.addRow("Video", row)
        row, self.output_edit = _path_row(self, "output dataset folder", folder=True)
        self.form.addRow("Output folder", row)
        self.min_face_spin = QtWidgets.QSpinBox(self)
        self.min_face_spin.setRange(8, 4096)
        self.min_face_spin.setValue(40)
        self.min_face_spin.setSuffix(" px")
        self.form.addRow("Face size threshold", self.min_face_spin)
        self.size_combo = QtWidgets.QComboBox(self)
        self.size_combo.addItems(["1024", "512", "256", "224"])
        self.form.addRow("Crop size", self.size_combo)
        self.every_spin = QtWidgets.QSpinBox(self)
        self.every_spin.setRange(1, 10000)
        self.every_spin.setValue(1)
        self.form.addRow("Every N frames", self.every_spin)
        self.resume_check = QtWidgets.QCheckBox("continue a dataset already in the output folder", self)
        self.form.addRow("Resume", self.resume_check)
        # Not in the UI: programmatic overrides (tests, studio wrappers), e.g. {"workers": 0}.
        self.overrides: dict[str, Any] = {}

    def job(self) -> Callable[..., Any]:
        from .dataset import BuildSettings, build
        from .dataset_filters import FilterSettings
        video = self.video_edit.text().strip()
        out = self.output_edit.text().strip()
        if not video or not out:
            raise FaceplateError("choose a video and an output folder first")
        overrides = dict(self.overrides)
        workers = overrides.pop("workers", None)
        filters = FilterSettings(**overrides.pop("filters", {}))
        settings = BuildSettings(size=int(self.size_combo.currentText()), every=self.every_spin.value(),
                                 min_face=float(self.min_face_spin.value()), filters=filters, **overrides)
        resume = self.resume_check.isChecked()

        def run(log, progress, cancel):
            log(f"extracting faces from {video} into {out}")

            def on_progress(info: dict) -> None:
                if info.get("total"):
                    progress(min(int(info["position"]), int(info["total"])), int(info["total"]))
                if info.get("message"):
                    log(info["message"])

            result = build([video], out, settings, workers=workers, resume=resume, progress=on_progress,
                           cancel=cancel, show_progress=False)
            from .dataset_report import report
            log(f"report: {report(result.out_dir)}")
            return result
        return run

    def describe(self, result: Any) -> str:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(result.rejected.items())) or "none"
        state = "cancelled (Start with Resume continues)" if result.cancelled else "done"
        return f"{state}: {result.faces} faces, {result.kept} kept; rejected {reasons}"


class ClassificationTab(_Tab):
    """Face folder, output folder, initial class count → identity folders 0/ 1/ …"""

    def __init__(self, parent: Optional[QtWidgets.QWidget] = None):
        super().__init__(parent)
        row, self.faces_edit = _path_row(self, "folder of face images (or a dataset folder)", folder=True)
        self.form.addRow("Face folder", row)
        row, self.output_edit = _path_row(self, "output folder (ignored for a dataset folder)", folder=True)
        self.form.addRow("Output folder", row)
        self.classes_spin = QtWidgets.QSpinBox(self)
        self.classes_spin.setRange(1, 1000)
        self.classes_spin.setValue(2)
        self.form.addRow("Initial class count", self.classes_spin)
        self.auto_check = QtWidgets.QCheckBox("automatic (same-person threshold)", self)
        self.form.addRow("Auto", self.auto_check)

    def job(self) -> Callable[..., Any]:
        from pathlib import Path
        faces = self.faces_edit.text().strip()
        out = self.output_edit.text().strip()
        if not faces:
            raise FaceplateError("choose the face folder first")
        classes = None if self.auto_check.isChecked() else self.classes_spin.value()
        auto = self.auto_check.isChecked()
        is_dataset = (Path(faces) / "dataset.json").exists()
        if not is_dataset and not out:
            raise FaceplateError("choose an output folder first")

        def run(log, progress, cancel):
            if is_dataset:
                from .dataset_cluster import cluster_dataset
                log(f"clustering dataset {faces}")
                return cluster_dataset(faces, classes=classes, auto=auto, log_fn=log)
            from .dataset_cluster import cluster_folder
            log(f"classifying {faces} into {out}")
            return cluster_folder(faces, out, classes=classes, auto=auto, log_fn=log, cancel=cancel)
        return run

    def describe(self, result: Any) -> str:
        if not result:
            return "done: nothing classified"
        if all(isinstance(v, dict) for v in result.values()):
            return "done: " + "; ".join(f"{g}: " + ", ".join(f"{k}: {n}" for k, n in sorted(c.items()))
                                       for g, c in sorted(result.items()))
        return "done: " + ", ".join(f"class {k}: {len(v)}" for k, v in sorted(result.items()))


class DatasetWindow(QtWidgets.QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("faceplate — face dataset")
        self.tabs = QtWidgets.QTabWidget(self)
        self.extraction = ExtractionTab(self.tabs)
        self.classification = ClassificationTab(self.tabs)
        self.tabs.addTab(self.extraction, "Extraction")
        self.tabs.addTab(self.classification, "Classification")
        self.setCentralWidget(self.tabs)
        self.resize(760, 560)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        for tab in (self.extraction, self.classification):
            if tab.worker is not None and tab.worker.isRunning():
                tab.worker.cancel()
                tab.worker.wait(30000)
        super().closeEvent(event)


def main() -> int:
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    window = DatasetWindow()
    window.show()
    return int(app.exec() if hasattr(app, "exec") else app.exec_())

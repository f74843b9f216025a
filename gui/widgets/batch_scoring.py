"""Review's "Score folder to CSV..." controls: pick a folder, score it on a worker, write the CSV (core.cases)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QProgressBar, QPushButton, QToolButton, QWidget

from core.cases import list_case_files, write_scores
from gui.state import AppState
from gui.workers.runner import Worker, WorkerRunner, user_message


def progress_fraction(p: Any) -> float | None:
    if hasattr(p, "fraction"):
        return float(p.fraction)
    if isinstance(p, tuple) and len(p) == 2 and p[1]:
        return p[0] / p[1]
    if isinstance(p, (int, float)):
        return float(p)
    return None


class BatchScoring(QWidget):
    """Button, progress bar and Cancel; says what happened through ``info``/``error`` (banner text)."""

    written = Signal(object)  # write_scores' result: n, unreadable, path
    info = Signal(str)
    error = Signal(str)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.runner = WorkerRunner(1, self)
        self._worker: Worker | None = None
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.csv_btn = QPushButton("Score folder to CSV...")
        self.csv_btn.clicked.connect(self.score_folder_dialog)
        row.addWidget(self.csv_btn)
        self.csv_progress = QProgressBar()
        self.csv_progress.setMaximumWidth(160)
        self.csv_progress.hide()
        row.addWidget(self.csv_progress)
        self.csv_cancel = QToolButton()
        self.csv_cancel.setText("Cancel")
        self.csv_cancel.hide()
        self.csv_cancel.clicked.connect(lambda: self._worker and self._worker.cancel())
        row.addWidget(self.csv_cancel)

    def score_folder_dialog(self) -> None:
        if self.state.bundle is None:
            self.info.emit("Load a model first (File > Open model...).")
            return
        folder = QFileDialog.getExistingDirectory(self, "Folder of images to score")
        if not folder:
            return
        out, _ = QFileDialog.getSaveFileName(self, "Save scores as", str(Path(folder) / "scores.csv"), "CSV (*.csv)")
        if out:
            self.score_folder(folder, out)

    def score_folder(self, folder: str, out_csv: str) -> Worker | None:
        bundle = self.state.bundle
        if bundle is None or self.runner.busy():
            return None
        paths = list_case_files(folder)
        if not paths:
            self.error.emit(f"No images found in {folder}.")
            return None
        worker = Worker(write_scores, bundle, paths, out_csv, float(self.state.threshold), self.state.threshold_source)
        self._worker = worker
        self.csv_progress.setRange(0, 1000)
        self.csv_progress.setValue(0)
        self.csv_progress.show()
        self.csv_cancel.show()
        self.csv_btn.setEnabled(False)
        worker.signals.progress.connect(self._on_progress)
        worker.signals.finished.connect(self._on_done)
        worker.signals.failed.connect(self._on_failed)
        self.runner.start(worker)
        return worker

    def _on_progress(self, p: Any) -> None:
        frac = progress_fraction(p)
        if frac is not None:
            self.csv_progress.setValue(int(frac * 1000))

    def _finish(self) -> None:
        self.csv_progress.hide()
        self.csv_cancel.hide()
        self.csv_btn.setEnabled(True)
        self._worker = None

    def _on_done(self, result: dict[str, Any]) -> None:
        self._finish()
        extra = f", {result['unreadable']} unreadable" if result["unreadable"] else ""
        self.info.emit(f"Scored {result['n']} images{extra}: {result['path']}")
        self.written.emit(result)

    def _on_failed(self, exc: BaseException) -> None:
        self._finish()
        self.error.emit(f"Scoring the folder stopped: {user_message(exc)}")

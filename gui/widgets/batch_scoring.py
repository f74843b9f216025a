"""Review's "Score folder to CSV..." controls: pick a folder, score it on a worker, write the CSV (core.cases)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QProgressBar, QPushButton, QToolButton, QWidget

from core.cases import list_case_files, write_scores
from gui.state import AppState
from gui.widgets.task import BackgroundTask, task_widget_row
from gui.workers.runner import Worker, user_message


class BatchScoring(QWidget):
    """Button, progress bar and Cancel; says what happened through ``info``/``error`` (banner text)."""

    written = Signal(object)  # write_scores' result: n, unreadable, path
    info = Signal(str)
    error = Signal(str)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.csv_btn = QPushButton("Score folder to CSV...")
        self.csv_btn.clicked.connect(self.score_folder_dialog)
        self.csv_progress = QProgressBar()
        self.csv_progress.setMaximumWidth(160)
        self.csv_progress.setRange(0, 1000)
        self.csv_cancel = QToolButton()
        self.csv_cancel.setText("Cancel")
        task_widget_row(self, self.csv_btn, self.csv_progress, self.csv_cancel)
        self.task = BackgroundTask(self, button=self.csv_btn, progress=self.csv_progress, cancel=self.csv_cancel)
        self.task.finished.connect(self._on_done)
        self.task.failed.connect(self._on_failed)
        self.runner = self.task.runner

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
        if bundle is None or self.task.busy():
            return None
        paths = list_case_files(folder)
        if not paths:
            self.error.emit(f"No images found in {folder}.")
            return None
        return self.task.start(write_scores, bundle, paths, out_csv, float(self.state.threshold),
                               self.state.threshold_source)

    def _on_done(self, result: dict[str, Any]) -> None:
        extra = f", {result['unreadable']} unreadable" if result["unreadable"] else ""
        self.info.emit(f"Scored {result['n']} images{extra}: {result['path']}")
        self.written.emit(result)

    def _on_failed(self, exc: BaseException) -> None:
        self.error.emit(f"Scoring the folder stopped: {user_message(exc)}")

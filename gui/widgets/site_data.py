"""Threshold screen's "Add site data..." controls: score a site's labelled folder once, on a worker (core.site)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QProgressBar, QPushButton, QToolButton, QWidget

from gui.state import AppState
from gui.workers.runner import Worker, WorkerRunner, user_message


class SiteDataControls(QWidget):
    """Button, progress bar and Cancel. ``scored`` carries core.site.scoring's ScoredSite, and only
    when the model that scored it is still the one in use; ``failed`` a plain-language message."""

    scored = Signal(object)
    failed = Signal(str)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.runner = WorkerRunner(1, self)
        self.worker: Worker | None = None
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.site_btn = QPushButton("Add site data...")
        self.site_btn.setObjectName("addSiteButton")
        self.site_btn.setToolTip("Score a folder of your own labelled cases (NORMAL/ and PNEUMONIA/ subfolders, "
                                 "or a CSV file,label[,patient]) and explore thresholds on them")
        self.site_btn.clicked.connect(self.add_site_dialog)
        row.addWidget(self.site_btn)
        self.site_progress = QProgressBar()
        self.site_progress.setMaximumWidth(140)
        self.site_progress.setRange(0, 1000)
        self.site_progress.hide()
        row.addWidget(self.site_progress)
        self.site_cancel = QToolButton()
        self.site_cancel.setText("Cancel")
        self.site_cancel.hide()
        self.site_cancel.clicked.connect(lambda: self.worker is not None and self.worker.cancel())
        row.addWidget(self.site_cancel)

    def add_site_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of your site's labelled cases (NORMAL/, PNEUMONIA/)")
        if folder:
            self.add_site(folder)

    def add_site(self, path: str) -> Worker | None:
        """Score a site's labelled folder (or CSV) on a worker; ``scored`` follows when done."""
        from core.site.scoring import score_site_folder

        bundle = self.state.bundle
        if bundle is None or self.runner.busy():
            return None
        worker = Worker(score_site_folder, bundle, path)
        self.worker = worker
        self.site_progress.setValue(0)
        self.site_progress.show()
        self.site_cancel.show()
        self.site_btn.setEnabled(False)
        worker.signals.progress.connect(self._on_progress)
        worker.signals.finished.connect(lambda scored, b=bundle: self._on_scored(b, scored))
        worker.signals.failed.connect(self._on_failed)
        self.runner.start(worker)
        return worker

    def _on_progress(self, p: Any) -> None:
        fraction = getattr(p, "fraction", None)
        if fraction is not None:
            self.site_progress.setValue(int(float(fraction) * 1000))

    def _finish(self) -> None:
        self.site_progress.hide()
        self.site_cancel.hide()
        self.site_btn.setEnabled(self.state.bundle is not None)
        self.worker = None

    def _on_scored(self, bundle: Any, scored: Any) -> None:
        self._finish()
        if bundle is self.state.bundle:  # else the model changed while scoring: these scores are stale
            self.scored.emit(scored)

    def _on_failed(self, exc: BaseException) -> None:
        self._finish()
        self.failed.emit(f"The site data could not be used: {user_message(exc)}")

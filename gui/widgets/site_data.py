"""Threshold screen's "Add site data..." controls: score a site's labelled folder once, on a worker (core.site)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QProgressBar, QPushButton, QToolButton, QWidget

from gui.state import AppState
from gui.widgets.task import BackgroundTask, task_widget_row
from gui.workers.runner import Worker, user_message


class SiteDataControls(QWidget):
    """Button, progress bar and Cancel. ``scored`` carries core.site.scoring's ScoredSite, and only
    when the model that scored it is still the one in use; ``failed`` a plain-language message."""

    scored = Signal(object)
    failed = Signal(str)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.site_btn = QPushButton("Add site data...")
        self.site_btn.setObjectName("addSiteButton")
        self.site_btn.setToolTip("Score a folder of your own labelled cases (NORMAL/ and PNEUMONIA/ subfolders, "
                                 "or a CSV file,label[,patient]) and explore thresholds on them")
        self.site_btn.clicked.connect(self.add_site_dialog)
        self.site_progress = QProgressBar()
        self.site_progress.setMaximumWidth(140)
        self.site_progress.setRange(0, 1000)
        self.site_cancel = QToolButton()
        self.site_cancel.setText("Cancel")
        task_widget_row(self, self.site_btn, self.site_progress, self.site_cancel)
        self.task = BackgroundTask(self, button=self.site_btn, progress=self.site_progress, cancel=self.site_cancel,
                                   idle_enabled=lambda: self.state.bundle is not None)
        self.task.failed.connect(self._on_failed)
        self.runner = self.task.runner
        self._bundle: Any = None
        self.task.finished.connect(self._on_scored)

    @property
    def worker(self) -> Worker | None:
        """The running job, or None once it has ended."""
        return self.task.worker

    def add_site_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of your site's labelled cases (NORMAL/, PNEUMONIA/)")
        if folder:
            self.add_site(folder)

    def add_site(self, path: str) -> Worker | None:
        """Score a site's labelled folder (or CSV) on a worker; ``scored`` follows when done."""
        from core.site.scoring import score_site_folder

        bundle = self.state.bundle
        if bundle is None or self.task.busy():
            return None
        self._bundle = bundle
        return self.task.start(score_site_folder, bundle, path)

    def _on_scored(self, scored: Any) -> None:
        if self._bundle is self.state.bundle:  # else the model changed while scoring: these scores are stale
            self.scored.emit(scored)

    def _on_failed(self, exc: BaseException) -> None:
        self.failed.emit(f"The site data could not be used: {user_message(exc)}")

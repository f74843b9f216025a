"""One scaffold for a screen's background job (issue 20, item 6): the button that starts it, a worker,
its progress bar, its Cancel button and the banner that says why it stopped.

Each screen used to wire these by hand (scoring a folder to CSV, scoring site data, training,
scanning a dataset, evaluating, exporting a report). A :class:`BackgroundTask` runs one job at a
time: while it runs the start button is disabled, the progress bar shows the job's fraction (or a
busy bar when its range is 0..0) and Cancel is offered; when it ends they return to rest, and a
failure that was not a cancel becomes ``"<failure>: <plain-language reason>"`` in the banner.
The screen keeps its own layout (the widgets are its own) and reacts to ``finished``/``failed``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QAbstractButton, QProgressBar, QWidget

from gui.widgets.common import MessageBanner
from gui.workers.runner import Worker, WorkerRunner, user_message

STEPS = 1000  # a determinate progress bar runs 0..STEPS


def progress_fraction(p: Any) -> float | None:
    """The fraction done in a progress report: a ``Progress``, ``(done, total)`` or a number."""
    if getattr(p, "fraction", None) is not None:
        return float(p.fraction)
    if isinstance(p, tuple) and len(p) == 2 and p[1]:
        return p[0] / p[1]
    if isinstance(p, (int, float)):
        return float(p)
    return None


class BackgroundTask(QObject):
    finished = Signal(object)  # the job's result
    failed = Signal(object)  # the exception (also after a cancel: see ``cancelled``)
    progressed = Signal(object)  # each progress report, as sent
    cancelRequested = Signal()

    def __init__(
        self,
        parent: QObject,
        *,
        button: QAbstractButton | None = None,
        progress: QProgressBar | None = None,
        cancel: QAbstractButton | None = None,
        banner: MessageBanner | None = None,
        failure: str = "The task stopped",
        hide_when_idle: bool = True,
        idle_enabled: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__(parent)
        self.runner = WorkerRunner(1, self)
        self.worker: Worker | None = None
        self.button, self.progress, self.cancel_button, self.banner = button, progress, cancel, banner
        self.failure = failure
        self.hide_when_idle = hide_when_idle
        self.idle_enabled = idle_enabled
        self.cancelled = False
        if cancel is not None:
            cancel.clicked.connect(self.cancel)
        self._rest()

    def busy(self) -> bool:
        return self.worker is not None and not self.worker.is_done()

    def start(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Worker | None:
        """Run ``fn(*args, **kwargs)`` on the worker; None (nothing started) while a job runs."""
        if self.busy():
            return None
        worker = Worker(fn, *args, **kwargs)
        self.worker, self.cancelled = worker, False
        if self.banner is not None:
            self.banner.hide()
        if self.button is not None:
            self.button.setEnabled(False)
        if self.progress is not None:
            if self.progress.maximum() > 0:
                self.progress.setValue(0)
            self.progress.show()
        if self.cancel_button is not None:
            self.cancel_button.setEnabled(True)
            self.cancel_button.show()
        worker.signals.progress.connect(self._on_progress)
        worker.signals.finished.connect(self._on_finished)
        worker.signals.failed.connect(self._on_failed)
        self.runner.start(worker)
        return worker

    def cancel(self) -> None:
        if self.busy():
            self.cancelled = True
            self.worker.cancel()
            if self.cancel_button is not None:
                self.cancel_button.setEnabled(False)
            self.cancelRequested.emit()

    def shutdown(self, timeout_ms: int = 60000) -> None:
        self.cancel()
        self.runner.wait(timeout_ms)

    def _rest(self) -> None:
        self.worker = None  # the job has ended (its worker stays with the runner until it returns)
        if self.button is not None:
            self.button.setEnabled(self.idle_enabled() if self.idle_enabled is not None else True)
        if self.hide_when_idle and self.progress is not None:
            self.progress.hide()
        if self.cancel_button is not None:
            self.cancel_button.setEnabled(False)
            if self.hide_when_idle:
                self.cancel_button.hide()

    def _on_progress(self, p: Any) -> None:
        fraction = progress_fraction(p)
        if fraction is not None and self.progress is not None and self.progress.maximum() > 0:
            self.progress.setValue(int(max(0.0, min(1.0, fraction)) * self.progress.maximum()))
        self.progressed.emit(p)

    def _on_finished(self, result: Any) -> None:
        self._rest()
        self.finished.emit(result)

    def _on_failed(self, exc: BaseException) -> None:
        self._rest()
        if self.banner is not None and not self.cancelled:
            self.banner.show_message(f"{self.failure}: {user_message(exc)}")
        self.failed.emit(exc)


def task_widget_row(parent: QWidget, *widgets: QWidget) -> None:
    """Lay ``widgets`` out in a row without margins on ``parent`` (button, bar, Cancel)."""
    from PySide6.QtWidgets import QHBoxLayout

    row = QHBoxLayout(parent)
    row.setContentsMargins(0, 0, 0, 0)
    for w in widgets:
        row.addWidget(w)

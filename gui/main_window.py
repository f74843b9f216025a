"""The main window: disclaimer banner, the screens of gui.screens.registry, menus and a status bar."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gui.resources import read_text
from gui.screens import registry
from gui.state import AppState
from gui.workers.runner import Worker, WorkerRunner, user_message

DISCLAIMER = "RESEARCH USE ONLY - not for diagnostic use."


class MainWindow(QMainWindow):
    bundleLoaded = Signal(object)
    startupFinished = Signal()

    def __init__(self, load_default: bool = True) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle("Pneumoscope - research use only")
        self.resize(1360, 860)
        self.state = AppState(self)
        self.loader = WorkerRunner(1, self)
        self.startup_done = False
        self.t_shown = time.perf_counter()
        self._build()
        self.state.bundleChanged.connect(self._on_bundle)
        self.state.thresholdChanged.connect(lambda _t: self._on_bundle(self.state.bundle))
        self.state.statusMessage.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.setAcceptDrops(True)
        if load_default:
            QTimer.singleShot(0, self.start_background_load)
        else:
            self.model_status.setText("No model loaded")

    # --- layout ----------------------------------------------------------------------
    def _build(self) -> None:
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.disclaimer = QLabel(
            f"<b>{DISCLAIMER}</b> Scores and heatmaps are model outputs, not findings. "
            "A qualified clinician reads every image."
        )
        self.disclaimer.setObjectName("disclaimerBanner")
        self.disclaimer.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.disclaimer.setWordWrap(True)
        self.disclaimer.setToolTip(read_text("disclaimer.txt"))
        layout.addWidget(self.disclaimer)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("screens")
        # Review is built with the window; the other screens pull in matplotlib (seconds on a busy
        # machine), so they are built after the window is up: when first shown, when plotting has
        # been imported on a worker, or when code asks for them, whichever comes first.
        self._lazy: dict[str, QWidget | None] = {}
        for screen in registry.SCREENS:
            holder = QLabel("Loading...")
            holder.setAlignment(Qt.AlignmentFlag.AlignCenter)
            holder.setProperty("lazyName", screen.name)
            self.tabs.addTab(holder, screen.title)
            self._lazy[screen.name] = None
        for screen in registry.SCREENS:
            if screen.eager or (screen.build_now is not None and screen.build_now()):
                self._screen(screen.name)
        self.tabs.setCurrentIndex(0)
        self.tabs.currentChanged.connect(self._on_tab_changed)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)

        self.model_status = QLabel("Starting...")
        self.model_status.setObjectName("modelStatus")
        self.statusBar().addPermanentWidget(self.model_status)
        self._menus()

    def _screen(self, name: str) -> QWidget:
        widget = self._lazy[name]
        if widget is not None:
            return widget
        screen = registry.spec(name)
        widget = screen.build(self.state)
        for signal, slot in screen.connect.items():
            getattr(widget, signal).connect(getattr(self, slot))
        self._lazy[name] = widget
        for i in range(self.tabs.count()):
            if self.tabs.widget(i).property("lazyName") == name:
                current = self.tabs.currentIndex()
                old = self.tabs.widget(i)
                self.tabs.blockSignals(True)
                self.tabs.removeTab(i)
                self.tabs.insertTab(i, widget, screen.title)
                self.tabs.setCurrentIndex(current)
                self.tabs.blockSignals(False)
                old.deleteLater()
                break
        return widget

    def built_screen(self, name: str) -> QWidget | None:
        """The screen if it has been built, else None (builds nothing)."""
        return self._lazy[name]

    def build_all_screens(self, *_args: Any) -> None:
        for name in self._lazy:
            self._screen(name)

    def show_screen(self, name: str) -> QWidget:
        widget = self._screen(name)
        self.tabs.setCurrentWidget(widget)
        return widget

    def _on_tab_changed(self, index: int) -> None:
        name = self.tabs.widget(index).property("lazyName")
        if name:
            self._screen(name)

    def __getattr__(self, name: str) -> Any:
        # window.review, window.threshold, ...: the screen, built on first use
        if name != "_lazy" and name in self.__dict__.get("_lazy", {}):
            return self._screen(name)
        raise AttributeError(name)

    def open_in_review(self, path: str) -> None:
        self.tabs.setCurrentWidget(self.review)
        self.review.open_paths([path])

    def _menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        for text, shortcut, slot in (
            ("Open image...", QKeySequence.StandardKey.Open, self.review.open_file_dialog),
            ("Open folder...", "Ctrl+Shift+O", self.review.open_folder_dialog),
            ("Open model...", "Ctrl+M", self.open_bundle_dialog),
            ("Score folder to CSV...", None, self.review.score_folder_dialog),
        ):
            action = QAction(text, self)
            if shortcut is not None:
                action.setShortcut(QKeySequence(shortcut))
            action.triggered.connect(slot)
            file_menu.addAction(action)
        file_menu.addSeparator()
        shipped = QAction("Use the shipped model", self)
        shipped.triggered.connect(self.use_shipped_model)
        file_menu.addAction(shipped)
        revert = QAction("Revert to the model's own threshold", self)
        revert.triggered.connect(self.revert_threshold)
        file_menu.addAction(revert)
        file_menu.addSeparator()
        quit_action = QAction("Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        view_menu = self.menuBar().addMenu("&View")
        for screen in registry.SCREENS:
            action = QAction(screen.title, self)
            if screen.shortcut:
                action.setShortcut(QKeySequence(screen.shortcut))
            action.triggered.connect(lambda _checked=False, n=screen.name: self.show_screen(n))
            view_menu.addAction(action)
        help_menu = self.menuBar().addMenu("&Help")
        guide = QAction("User guide", self)
        guide.setShortcut(QKeySequence(QKeySequence.StandardKey.HelpContents))
        guide.triggered.connect(self.show_user_guide)
        help_menu.addAction(guide)
        keys = QAction("Keyboard shortcuts", self)
        keys.setShortcut(QKeySequence("Ctrl+/"))
        keys.triggered.connect(self.show_shortcuts)
        help_menu.addAction(keys)
        help_menu.addSeparator()
        about = QAction("About Pneumoscope", self)
        about.triggered.connect(self.show_about)
        help_menu.addAction(about)
        disclaimer = QAction("Research use only...", self)
        disclaimer.triggered.connect(
            lambda: QMessageBox.information(self, "Research use only", read_text("disclaimer.html", DISCLAIMER))
        )
        help_menu.addAction(disclaimer)

    # --- start-up and bundles --------------------------------------------------------
    def start_background_load(self) -> Worker:
        from gui.loading import import_plotting, startup_load

        self.t_start_load = time.perf_counter()
        plotting = Worker(import_plotting)
        plotting.signals.done.connect(self.build_all_screens)
        self.review.io.start(plotting)
        self.model_status.setText("Loading TensorFlow...")
        self.state.set_loading("Loading TensorFlow and the model...")
        worker = Worker(startup_load)
        worker.signals.progress.connect(self.model_status.setText)
        worker.signals.progress.connect(self.state.set_loading)
        worker.signals.finished.connect(self._on_startup_loaded)
        worker.signals.failed.connect(self._on_startup_failed)
        self.loader.start(worker)
        return worker

    @property
    def startup_timings(self) -> dict[str, float]:
        from gui.loading import STARTUP_TIMINGS

        return dict(STARTUP_TIMINGS)

    def _on_startup_loaded(self, bundle: Any) -> None:
        if bundle is not None:
            self.state.set_bundle(bundle)
            self.statusBar().showMessage(f"Using model {self._model_name(bundle)}: {self.state.threshold_source}",
                                         15000)
        else:
            self.model_status.setText("No model loaded")
        self.state.set_loading("")
        self.startup_done = True
        self.startupFinished.emit()

    def _on_startup_failed(self, exc: BaseException) -> None:
        self.state.set_loading("")
        self.model_status.setText("No model loaded")
        self.statusBar().showMessage(f"The default model could not be loaded: {user_message(exc)}", 15000)
        self.startup_done = True
        self.startupFinished.emit()

    def open_bundle_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a model bundle folder")
        if folder:
            self.open_bundle(folder)

    def open_bundle(self, path: str | Path) -> Worker:
        from core.learning.registry import load_and_warm

        self.model_status.setText(f"Loading model {Path(path).name}...")
        self.state.set_loading(f"Loading model {Path(path).name}...")
        worker = Worker(load_and_warm, str(path), remember=True)
        worker.signals.progress.connect(self.model_status.setText)
        worker.signals.finished.connect(self._on_bundle_loaded)
        worker.signals.failed.connect(lambda exc, p=path: self._on_bundle_failed(p, exc))
        self.loader.start(worker)
        return worker

    def _on_bundle_loaded(self, bundle: Any) -> None:
        self.state.set_bundle(bundle)
        self.state.set_loading("")
        self.bundleLoaded.emit(bundle)

    def _on_bundle_failed(self, path: Any, exc: BaseException) -> None:
        self.state.set_loading("")
        self._on_bundle(self.state.bundle)
        QMessageBox.warning(self, "Open model", f"The model in {path} could not be opened:\n{user_message(exc)}")

    def _on_bundle(self, bundle: Any) -> None:
        if bundle is None:
            self.model_status.setText("No model loaded")
            return
        self.model_status.setText(f"Model: {self._model_name(bundle)} · {self.state.threshold_source} "
                                  f"· sha {bundle.sha256[:10]}")

    @staticmethod
    def _model_name(bundle: Any) -> str:
        from core.learning.bundle import default_bundle_path

        name = getattr(bundle, "name", None) or Path(bundle.path).name
        shipped = default_bundle_path()
        if shipped is not None and Path(bundle.path).resolve() == shipped.resolve():
            return f"{name} (shipped)"
        return name

    def use_shipped_model(self) -> Worker | None:
        """One action back to the shipped model."""
        from core.learning.bundle import default_bundle_path

        shipped = default_bundle_path()
        if shipped is None:
            QMessageBox.information(self, "Shipped model", "No shipped model is installed.")
            return None
        return self.open_bundle(shipped)

    def revert_threshold(self) -> None:
        """One action back to the model's own validation threshold (removes the site/adopted profile)."""
        from core.trust.profile import revert

        bundle = self.state.bundle
        if bundle is None:
            return
        try:
            revert(bundle)
        except Exception as exc:
            QMessageBox.warning(self, "Revert threshold", f"The threshold was not reverted: {user_message(exc)}")
            return
        self.state.refresh_threshold()
        self.state.status(f"Back to the model's own threshold: {self.state.threshold_source}")

    def show_shortcuts(self) -> QDialog:
        from gui.dialogs.help import ShortcutsDialog

        self.build_all_screens()  # screens built on first view add their own keys
        dialog = ShortcutsDialog(self)
        dialog.show()
        return dialog

    def show_user_guide(self) -> QDialog:
        from gui.dialogs.help import UserGuideDialog

        dialog = getattr(self, "_guide", None) or UserGuideDialog(self)
        self._guide = dialog
        dialog.show()
        dialog.raise_()
        return dialog

    def show_about(self) -> None:
        from gui.dialogs.about import AboutDialog

        AboutDialog(self.state.bundle, self).exec()

    # --- drag and drop anywhere ------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.tabs.setCurrentWidget(self.review)
            self.review.open_paths(paths)
            event.acceptProposedAction()

    # --- closing -------------------------------------------------------------------
    def closeEvent(self, event) -> None:
        for screen in registry.SCREENS:
            widget = self._lazy[screen.name]
            if screen.busy_question is None or widget is None or not widget.is_running():
                continue
            answer = QMessageBox.question(self, *screen.busy_question,
                                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                          QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        for screen in reversed(registry.SCREENS):  # Review, whose workers the others may use, last
            if self._lazy[screen.name] is not None:
                self._lazy[screen.name].shutdown()
        self.loader.cancel_all()
        self.loader.wait(60000)

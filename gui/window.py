"""The QApplication and the main window, built without entering the event loop.

Used by the entry point (gui.app), the self-test (gui.selftest), tests and benchmarks.
"""

from __future__ import annotations

import os
import sys

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication


def application() -> QApplication:
    """The running QApplication, created with the app's name, style sheet and icon if needed."""
    app = QApplication.instance()
    if app is None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        app = QApplication(sys.argv[:1])
        app.setApplicationName("Pneumoscope")
        app.setOrganizationName("Pneumoscope")
    from gui.pyside_guard import install
    from gui.resources import read_text, resource_path

    install()  # PySide6 6.12 on Python 3.11 would abort the app after ~40,000 signals
    app.setStyleSheet(read_text("style.qss"))
    icon = resource_path("icon.png")
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    return app


def create_window(load_default: bool = True):
    """Build the main window (and the QApplication if needed) without entering the event loop."""
    application()
    from gui.main_window import MainWindow

    return MainWindow(load_default=load_default)

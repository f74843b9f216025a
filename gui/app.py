"""Entry point: ``pneumoscope`` (gui.app:main).

TensorFlow is never imported here: the window appears first and a worker loads
TensorFlow and the default model behind it.
"""

from __future__ import annotations

import os
import sys
import time

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

T0 = time.perf_counter()


def _application() -> QApplication:
    app = QApplication.instance()
    if app is None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        app = QApplication(sys.argv[:1])
        app.setApplicationName("Pneumoscope")
        app.setOrganizationName("Pneumoscope")
    from gui.resources import read_text, resource_path

    app.setStyleSheet(read_text("style.qss"))
    icon = resource_path("icon.png")
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    return app


def create_window(load_default: bool = True):
    """Build the main window (and the QApplication if needed) without entering the event loop."""
    _application()
    from gui.main_window import MainWindow

    return MainWindow(load_default=load_default)


def main() -> int:
    if "--self-test" in sys.argv[1:]:
        # Before any QApplication exists, so the self-test can pick the offscreen platform.
        from gui.selftest import main as self_test

        return self_test(sys.argv[1:])
    app = _application()
    window = create_window()
    window.show()
    window.statusBar().showMessage(f"Window ready in {time.perf_counter() - T0:.2f} s", 5000)
    try:
        from core.audit import AuditLog

        AuditLog().app_start()
    except Exception:
        pass
    code = app.exec()
    try:
        from core.audit import AuditLog

        AuditLog().app_stop()
    except Exception:
        pass
    return code


if __name__ == "__main__":
    sys.exit(main())

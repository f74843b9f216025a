"""The Qt half of ``--self-test``: build the real main window offscreen, then every screen with the
model loaded, so a build missing a Qt platform plugin or matplotlib's Qt canvas fails here
rather than on a user's desk. The GUI-free steps are in core.selftest."""

from __future__ import annotations

import os
from typing import Any


class WindowCheck:
    """Implements core.selftest.SelfTestUI with the application's own window."""

    def __init__(self) -> None:
        self.window: Any = None

    def open_window(self) -> dict[str, Any]:
        from PySide6.QtGui import QGuiApplication, QImageReader
        from PySide6.QtWidgets import QApplication

        from gui.window import create_window

        self.window = create_window(load_default=False)
        self.window.show()
        QApplication.processEvents()
        shot = self.window.grab()
        if shot.isNull() or shot.width() == 0:
            raise RuntimeError("the main window could not be drawn")
        formats = sorted(bytes(f.data()).decode() for f in QImageReader.supportedImageFormats())
        return {
            "qt_platform": QGuiApplication.platformName(),
            "window_title": self.window.windowTitle(),
            "window_size": [shot.width(), shot.height()],
            "image_formats": formats,
        }

    def show_bundle(self, bundle: Any) -> dict[str, Any]:
        import matplotlib
        from PySide6.QtWidgets import QApplication

        win = self.window
        win.state.set_bundle(bundle)
        win.build_all_screens()
        for i in range(win.tabs.count()):
            win.tabs.setCurrentIndex(i)
            QApplication.processEvents()
            shot = win.tabs.widget(i).grab()
            if shot.isNull():
                raise RuntimeError(f"the {win.tabs.tabText(i)} screen could not be drawn")
            shots = os.environ.get("PNEUMOSCOPE_SELFTEST_SHOTS")  # a folder: keep what each screen drew
            if shots:
                os.makedirs(shots, exist_ok=True)
                win.grab().save(os.path.join(shots, f"{i}_{win.tabs.tabText(i).lower()}.png"))
        win.tabs.setCurrentIndex(0)
        return {
            "screens": [win.tabs.tabText(i) for i in range(win.tabs.count())],
            "matplotlib_backend": matplotlib.get_backend(),
            "model_status": win.model_status.text(),
        }

    def close(self) -> None:
        if self.window is not None:
            self.window.shutdown()
            self.window.close()
            self.window.deleteLater()
            self.window = None


def main(argv: list[str] | None = None) -> int:
    """``pneumoscope --self-test [--bundle PATH] [--json FILE] [--no-gui]``: exit 0 when all passed."""
    # Headless by default (CI, ssh, a double-clicked app run from a script); an explicit
    # QT_QPA_PLATFORM is respected so the test can also be run on a real display.
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from core.selftest import main as run

    return run(argv, ui_factory=WindowCheck)

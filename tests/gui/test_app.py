from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_window_builds_without_tensorflow_or_plots_in_fresh_interpreter():
    code = (
        "import sys\n"
        "from gui.window import create_window\n"
        "w = create_window(load_default=False); w.show()\n"
        "bad = [m for m in ('tensorflow', 'keras', 'matplotlib') if m in sys.modules]\n"
        "print('LOADED', bad)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "LOADED []" in res.stdout


def test_background_start_loads_default_bundle(qtbot, tiny_bundle_path, monkeypatch):
    import core.learning.bundle
    from gui.window import create_window

    monkeypatch.setattr(core.learning.bundle, "default_bundle_path", lambda: tiny_bundle_path)
    win = create_window(load_default=True)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.startupFinished, timeout=120000):
        win.show()
    assert win.state.bundle is not None and win.state.bundle.path == tiny_bundle_path
    assert win.model_status.text().startswith("Model: ")
    assert win.state.threshold == win.state.bundle.threshold
    win.shutdown()


def test_background_start_without_default_bundle(qtbot, monkeypatch):
    import core.learning.bundle
    from gui.window import create_window

    monkeypatch.setattr(core.learning.bundle, "default_bundle_path", lambda: None)
    win = create_window(load_default=True)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.startupFinished, timeout=120000):
        win.show()
    assert win.state.bundle is None
    assert win.model_status.text() == "No model loaded"
    assert "No model loaded" in win.threshold.note.label.text()
    win.shutdown()


def test_open_model_rejects_a_non_bundle(qtbot, window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: shown.append(a[2]))
    worker = window.open_bundle(tmp_path)
    qtbot.waitUntil(lambda: bool(shown), timeout=30000)
    assert worker.is_done()
    assert "could not be opened" in shown[0] and window.state.bundle is None

"""A real relaunch (start-up worker, not a simulated one) comes back on the model and threshold the
user chose, and names them at start-up (issue 14, item 1)."""

from __future__ import annotations

import shutil

import pytest


def _launch(qtbot):
    from gui.app import create_window

    win = create_window(load_default=True)
    qtbot.addWidget(win)
    win.resize(1356, 800)
    win.show()
    qtbot.waitUntil(lambda: win.startup_done, timeout=120000)
    return win


def test_adopted_threshold_is_in_force_after_a_relaunch_and_named_at_start_up(qtbot, tmp_path, monkeypatch):
    import gui.screens.threshold

    first = _launch(qtbot)
    shipped_threshold = float(first.state.bundle.threshold)
    first.build_all_screens()
    monkeypatch.setattr(gui.screens.threshold, "ask_adoption", lambda parent, t: ("Dr Lee", "fewer missed cases"))
    first.threshold.spin.setValue(0.297)
    assert first.threshold.adopt() is not None
    first.shutdown()
    first.close()

    second = _launch(qtbot)
    assert second.state.threshold == pytest.approx(0.297)
    assert "adopted threshold 0.297" in second.review.model_label.text() and "Dr Lee" in second.review.model_label.text()
    assert "Using model default (shipped): adopted threshold 0.297" in second.statusBar().currentMessage()
    qtbot.wait(50)
    second.grab().save(str(tmp_path / "relaunch_adopted.png"))
    second.revert_threshold()  # one action back to the shipped threshold
    assert second.state.threshold == pytest.approx(shipped_threshold)
    assert f"{shipped_threshold:.3f}" in second.review.model_label.text()
    second.shutdown()


def test_model_opened_in_the_app_is_opened_again_after_a_relaunch(qtbot, window, tiny_bundle_path):
    from core import paths

    mine = paths.user_models_dir() / "tiny-mine"
    shutil.copytree(tiny_bundle_path, mine)
    with qtbot.waitSignal(window.bundleLoaded, timeout=120000):
        window.open_bundle(mine)
    again = _launch(qtbot)
    assert again.state.bundle.path.resolve() == mine.resolve()
    assert "Using model tiny" in again.statusBar().currentMessage()
    again.shutdown()

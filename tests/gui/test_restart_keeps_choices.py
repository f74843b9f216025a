"""After quit and relaunch the app is on the model and threshold the user chose, and says so (issue 14, item 1)."""

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


def test_adopted_threshold_is_in_force_after_a_restart_and_named_at_start_up(qtbot, tmp_path, monkeypatch):
    import gui.threshold
    from core.learning.bundle import default_bundle_path

    first = _launch(qtbot)
    shipped_threshold = float(first.state.bundle.threshold)
    first.build_all_screens()
    monkeypatch.setattr(gui.threshold, "ask_adoption", lambda parent, t: ("Dr Lee", "fewer missed cases"))
    first.threshold.spin.setValue(0.297)
    assert first.threshold.adopt() is not None
    first.shutdown()
    first.close()

    second = _launch(qtbot)  # a relaunch
    assert second.state.bundle.path.resolve() == default_bundle_path().resolve()
    assert second.state.threshold == pytest.approx(0.297)
    review_line = second.review.model_label.text()
    assert "threshold 0.297" in review_line and "adopted threshold" in review_line and "Dr Lee" in review_line
    assert "Using model default with threshold 0.297" in second.statusBar().currentMessage()
    assert "0.297" in second.model_status.text()
    qtbot.wait(50)
    second.grab().save(str(tmp_path / "restart_adopted.png"))
    second.build_all_screens()
    second.threshold.revert_btn.click()  # one action back to the shipped threshold
    assert second.state.threshold == pytest.approx(shipped_threshold)
    assert f"threshold {shipped_threshold:.3f}" in second.review.model_label.text()
    second.shutdown()


def test_model_made_active_is_opened_again_after_a_restart(qtbot, window, tiny_bundle_path, tmp_path):
    from core import paths, settings

    mine = paths.user_models_dir() / "tiny-mine"
    shutil.copytree(tiny_bundle_path, mine)
    with qtbot.waitSignal(window.bundleLoaded, timeout=120000):
        window.open_bundle(mine)
    assert settings.active_bundle_setting() == mine.resolve()
    again = _launch(qtbot)
    assert again.state.bundle.path.resolve() == mine.resolve()
    assert "Using model tiny" in again.statusBar().currentMessage()
    again.shutdown()
    shutil.rmtree(mine)  # gone: the next start falls back to the shipped model and says why
    third = _launch(qtbot)
    assert third.state.bundle.path.name == "default"
    assert "no longer there, so the shipped model was opened" in third.statusBar().currentMessage()
    third.shutdown()

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSlider

from core.evaluation.operating import OperatingCurve


def test_slider_moves_confusion_matrix_like_core(qtbot, loaded_window):
    explorer = loaded_window.threshold
    bundle = loaded_window.state.bundle
    y_true, y_score, _ = bundle.scores("val")
    curve = OperatingCurve(y_true, y_score)
    slider = loaded_window.findChild(QSlider, "thresholdSlider")
    matrix = explorer.matrix
    assert explorer.split == "val"
    # Thresholds at the scores themselves (ties decide the call there) and between them.
    probes = sorted({round(float(s) * 1000) for s in y_score} | {0, 137, 500, 1000})
    for pos in probes:
        slider.setValue(pos)
        t = pos / 1000
        tp, fp, tn, fn = curve.counts_at(t)
        assert matrix.counts() == {"tp": tp, "fp": fp, "tn": tn, "fn": fn}, t
        assert explorer.spin.value() == pytest.approx(t)
        sens = explorer.table.item(0, 0).text()
        want = curve.at(t).sensitivity[0]
        assert sens == ("-" if not np.isfinite(want) else f"{want:.3f}")
    slider.setValue(500)
    slider.setFocus()
    before = slider.value()
    qtbot.keyClick(slider, Qt.Key.Key_PageUp)
    assert slider.value() != before
    tp, fp, tn, fn = curve.counts_at(slider.value() / 1000)
    assert matrix.counts() == {"tp": tp, "fp": fp, "tn": tn, "fn": fn}


def test_spinbox_and_split_switch(loaded_window):
    explorer = loaded_window.threshold
    loaded_window.tabs.setCurrentWidget(explorer)
    explorer.spin.setValue(0.25)
    assert explorer.slider.value() == 250
    i = explorer.split_combo.findData("test")
    assert i >= 0 and "report only" in explorer.split_combo.itemText(i)
    explorer.split_combo.setCurrentIndex(i)
    assert explorer.split == "test"
    assert explorer.note.isVisible() and "reporting only" in explorer.note.label.text()
    y_true, y_score, _ = loaded_window.state.bundle.scores("test")
    tp, fp, tn, fn = OperatingCurve(y_true, y_score).counts_at(0.25)
    assert explorer.matrix.counts() == {"tp": tp, "fp": fp, "tn": tn, "fn": fn}
    # default prevalence is the split's own
    assert explorer.prevalence.value() == pytest.approx(np.mean(y_true), abs=1e-3)


def test_choosers_use_validation_scores(loaded_window):
    from core.evaluation.choosers import choose_threshold

    explorer = loaded_window.threshold
    explorer.split_combo.setCurrentIndex(explorer.split_combo.findData("test"))
    y_val, s_val, _ = loaded_window.state.bundle.scores("val")
    explorer.youden_btn.click()
    want = choose_threshold(y_val, s_val, "youden")
    assert explorer.threshold == pytest.approx(round(want.threshold, 6), abs=1e-9) or explorer.threshold == pytest.approx(want.threshold)
    assert "validation" in explorer.reason_label.text()
    explorer.sens_target.setValue(0.9)
    explorer.sens_btn.click()
    want = choose_threshold(y_val, s_val, "sens", target=0.9)
    assert explorer.threshold == pytest.approx(want.threshold)
    explorer.cost_btn.click()
    assert "cost" in explorer.reason_label.text().lower()


def _audit_records():
    from core.trust.audit import AuditLog

    return AuditLog().read(event="threshold_adopted")


def test_adopt_threshold_writes_profile_and_audit_and_review_follows(qtbot, loaded_window, monkeypatch):
    import gui.screens.threshold
    from core.trust.profile import load_profile, profile_path

    monkeypatch.setattr(gui.screens.threshold, "ask_adoption", lambda parent, t: ("Dr Test", "agreed at M&M"))
    explorer = loaded_window.threshold
    bundle = loaded_window.state.bundle
    card_before = (bundle.path / "card.json").read_text()
    explorer.spin.setValue(0.314)
    seen = []
    loaded_window.state.thresholdChanged.connect(seen.append)
    profile = explorer.adopt()
    assert profile is not None and profile.kind == "adopted" and profile.user == "Dr Test"
    assert (bundle.path / "card.json").read_text() == card_before  # the model itself is never rewritten
    assert profile_path(bundle).parent != bundle.path
    saved = load_profile(bundle)
    assert saved.threshold == pytest.approx(0.314) and "agreed at M&M" in saved.reason
    assert loaded_window.state.threshold == pytest.approx(0.314)
    assert "adopted threshold 0.314" in loaded_window.state.threshold_source
    assert seen and seen[-1] == pytest.approx(0.314)
    records = _audit_records()
    assert len(records) == 1 and records[0]["value"] == pytest.approx(0.314)
    assert records[0]["reason"] == "agreed at M&M"
    # review renders its score against the adopted threshold and says where it comes from
    review = loaded_window.review
    from core.cases import Case

    review.score = 0.3
    review.case = Case(path="x", score=0.3)  # a chest film: neither the gate nor the view check fired
    review._render_score()
    assert review.score_label.text().endswith("(threshold 0.31)") and "NORMAL" in review.score_label.text()
    assert "adopted threshold 0.314" in review.model_label.text()


def test_adopted_threshold_survives_a_restart_and_reverts_in_one_action(qtbot, window, tiny_bundle_path,
                                                                        tmp_path, monkeypatch):
    """Issue 14.1: adopting on the shipped (read-only) model, then quitting and relaunching."""
    import core.paths
    import gui.screens.threshold
    from core.learning.bundle import load_bundle, open_bundle
    from gui.window import create_window

    fake_install = tmp_path / "install"
    shipped = fake_install / "models" / "default"
    shutil.copytree(tiny_bundle_path, shipped)
    monkeypatch.setattr(core.paths, "install_root", lambda: fake_install)
    before = (shipped / "card.json").read_text()
    window.state.set_bundle(load_bundle(shipped))
    own = window.state.threshold
    monkeypatch.setattr(gui.screens.threshold, "ask_adoption", lambda parent, t: ("Dr Test", "site setting"))
    window.threshold.spin.setValue(0.6)
    assert window.threshold.adopt() is not None
    assert (shipped / "card.json").read_text() == before  # shipped bundle untouched
    assert list(core.paths.user_models_dir().iterdir()) == []  # and not copied
    assert _audit_records()[-1]["value"] == pytest.approx(0.6)
    # "Relaunch": a new window loads the model in use and gets the adopted threshold back.
    again = create_window(load_default=False)
    qtbot.addWidget(again)
    again.state.set_bundle(open_bundle("default"))
    assert again.state.threshold == pytest.approx(0.6) and "adopted threshold 0.600" in again.state.threshold_source
    assert "adopted threshold 0.600" in again.model_status.text()
    # The CLI's "default" means the same model with the same threshold.
    from core.cases import active_threshold

    assert active_threshold(open_bundle("default"))[0] == pytest.approx(0.6)
    again.revert_threshold()
    assert again.state.threshold == pytest.approx(own) and "validation threshold" in again.state.threshold_source
    assert _audit_records()[-1]["method"] == "revert"
    again.shutdown()


def test_test_split_cannot_be_adopted(loaded_window):
    explorer = loaded_window.threshold
    explorer.split_combo.setCurrentIndex(explorer.split_combo.findData("test"))
    assert explorer.split == "test" and not explorer.adopt_btn.isEnabled()
    assert explorer.adopt() is None
    explorer.split_combo.setCurrentIndex(explorer.split_combo.findData("val"))
    assert explorer.adopt_btn.isEnabled()


def test_cancelled_adoption_changes_nothing(loaded_window, monkeypatch):
    import gui.screens.threshold

    monkeypatch.setattr(gui.screens.threshold, "ask_adoption", lambda parent, t: None)
    before = loaded_window.state.threshold
    loaded_window.threshold.spin.setValue(0.9)
    assert loaded_window.threshold.adopt() is None
    assert loaded_window.state.threshold == before
    assert _audit_records() == []

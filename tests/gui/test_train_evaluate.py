from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QMessageBox, QPushButton


def _setup_form(train, root, epochs):
    train.data_edit.setText(str(root))
    train.size.setValue(32)
    train.epochs.setValue(epochs)
    train.batch.setValue(16)
    train.augment.setChecked(False)
    train.seed.setValue(3)


def test_scan_shows_counts(qtbot, window, tiny_dataset):
    from core.learning.data import scan_dataset

    train = window.train
    with qtbot.waitSignal(train.scanned, timeout=60000):
        train.scan(str(tiny_dataset))
    counts = scan_dataset(tiny_dataset).counts()
    table = train.counts_table
    headers = [table.horizontalHeaderItem(j).text() for j in range(table.columnCount())]
    for i in range(table.rowCount()):
        split = table.verticalHeaderItem(i).text()
        for j, cls in enumerate(headers[:-1]):
            assert int(table.item(i, j).text()) == counts[split][cls]
    assert train.samples_grid.count() > 2  # titles and thumbnails


def test_train_through_screen_then_activate(qtbot, window, tiny_dataset):
    from core import paths

    train = window.train
    _setup_form(train, tiny_dataset, epochs=1)
    button = window.findChild(QPushButton, "trainButton")
    with qtbot.waitSignal(train.trainingFinished, timeout=240000) as blocker:
        button.click()
        assert train.is_running()
        assert not button.isEnabled() and window.findChild(QPushButton, "cancelButton").isEnabled()
    path = blocker.args[0]
    assert paths.user_models_dir() in path.parents and (path / "model.keras").is_file()
    assert train.progress.value() == 1000
    listed = [train.models.item(i).data(0x0100) for i in range(train.models.count())]
    assert str(path) in listed
    with qtbot.waitSignal(window.bundleLoaded, timeout=60000):
        train._activate()
    assert window.state.bundle.path == path
    assert "ACTIVE" in train.models.currentItem().text()


def test_cancel_training_and_close_while_training(qtbot, window, tiny_dataset, monkeypatch):
    from core import paths

    train = window.train
    _setup_form(train, tiny_dataset, epochs=200)
    with qtbot.waitSignal(train.progress.valueChanged, timeout=240000):
        train.start_training()
    with qtbot.waitSignal(train.trainingCancelled, timeout=120000):
        window.findChild(QPushButton, "cancelButton").click()
    assert not train.is_running()
    assert [p for p in paths.user_models_dir().iterdir() if not p.name.startswith(".")] == []
    # Closing during training asks, cancels and waits for the thread.
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(train.progress.valueChanged, timeout=240000):
        train.start_training()
    assert train.is_running()
    window.close()
    assert asked and not train.is_running()
    assert [p for p in paths.user_models_dir().iterdir() if not p.name.startswith(".")] == []


def test_evaluate_stored_scores_and_export(qtbot, loaded_window, tmp_path):
    from core.evaluation.operating import OperatingCurve
    from core.trust.audit import AuditLog

    ev = loaded_window.evaluate
    ev.split_combo.setCurrentIndex(ev.split_combo.findData("val"))
    with qtbot.waitSignal(ev.evaluated, timeout=60000):
        ev.run_evaluation()
    y_true, y_score, _ = loaded_window.state.bundle.scores("val")
    t = loaded_window.state.threshold
    tp, fp, tn, fn = OperatingCurve(y_true, y_score).counts_at(t)
    assert ev.matrix.counts() == {"tp": tp, "fp": fp, "tn": tn, "fn": fn}
    assert int(ev.report_table.item(1, 3).text()) == int(np.sum(y_true == 1))
    assert int(ev.report_table.item(0, 3).text()) == int(np.sum(y_true == 0))
    assert len(ev.canvases) == 2
    pdf = tmp_path / "report.pdf"
    with qtbot.waitSignal(ev.exported, timeout=120000):
        ev.export(str(pdf))
    assert pdf.read_bytes()[:4] == b"%PDF"
    assert len(AuditLog().read(event="report_exported")) == 1


def test_about_dialog_shows_model_and_copies(qtbot, loaded_window):
    from PySide6.QtGui import QGuiApplication

    from gui.dialogs.about import AboutDialog

    dialog = AboutDialog(loaded_window.state.bundle, loaded_window)
    qtbot.addWidget(dialog)
    text = dialog.text.toPlainText()
    bundle = loaded_window.state.bundle
    assert bundle.sha256[:12] in text
    assert "intended" in text.lower()
    dialog.copy()
    assert QGuiApplication.clipboard().text() == text
    assert f"{bundle.threshold:.3f}"[:4] in text


def test_evaluate_another_saved_model_without_changing_the_active_one(qtbot, loaded_window, tiny_bundle_path):
    import shutil

    from core import paths
    from core.evaluation.operating import OperatingCurve
    from core.learning.bundle import load_bundle, update_card

    other = paths.user_models_dir() / "other-model"
    shutil.copytree(tiny_bundle_path, other)
    y_true, y_score, _ = load_bundle(other).scores("val")
    # A threshold of its own that differs from the active model's, so a mix-up shows in the counts.
    curve = OperatingCurve(y_true, y_score)
    active = loaded_window.state.bundle
    own = next(float(t) for t in np.quantile(y_score, [0.5, 0.3, 0.7, 0.1, 0.9])
               if curve.counts_at(float(t)) != curve.counts_at(active.threshold))
    card = load_bundle(other).card
    update_card(other, {"name": "other-model", "threshold": {**card["threshold"], "value": own}})
    ev = loaded_window.evaluate
    ev.refresh_models()
    combo = ev.model_combo
    entries = [combo.itemData(i) for i in range(combo.count())]
    assert entries[0] is None and "Active model" in combo.itemText(0)
    assert str(other) in entries
    shipped = paths.default_bundle_dir()
    assert ((shipped / "model.keras").is_file() and (shipped / "card.json").is_file()) == (str(shipped) in entries)
    combo.setCurrentIndex(entries.index(str(other)))
    ev.split_combo.setCurrentIndex(ev.split_combo.findData("val"))
    with qtbot.waitSignal(ev.evaluated, timeout=60000) as blocker:
        ev.run_evaluation()
    tp, fp, tn, fn = curve.counts_at(own)
    assert ev.matrix.counts() == {"tp": tp, "fp": fp, "tn": tn, "fn": fn}
    assert blocker.args[0]["threshold"] == pytest.approx(own)
    assert "other-model" in ev.summary.text()
    assert loaded_window.state.bundle is active and loaded_window.state.threshold == pytest.approx(active.threshold)


def test_tune_box_follows_tuning_support(qtbot, monkeypatch):
    import core.sysinfo
    from gui.screens.train import TrainWidget
    from gui.state import AppState

    for available in (False, True):
        monkeypatch.setattr(core.sysinfo, "tuning_available", lambda a=available: a)
        widget = TrainWidget(AppState())
        qtbot.addWidget(widget)
        assert widget.tune_box.isEnabled() is available
        assert ("pneumoscope[tuning]" in widget.tune_box.toolTip()) is not available


@pytest.mark.slow
def test_tuning_through_screen_lists_the_best_bundle(qtbot, window, tiny_dataset):
    from core.learning.bundle import load_bundle
    from core.sysinfo import tuning_available

    if not tuning_available():
        pytest.skip("tuning extra (scikit-learn, scipy) not installed")
    train = window.train
    _setup_form(train, tiny_dataset, epochs=1)
    train.tune_box.setChecked(True)
    train.max_trials.setValue(2)
    train.objective.setCurrentText("val_auc")
    messages: list[str] = []
    with qtbot.waitSignal(train.trainingFinished, timeout=900000) as blocker:
        worker = train.start_training()
        worker.signals.progress.connect(lambda p: messages.append(getattr(p, "message", "")))
    path = blocker.args[0]
    assert {"trial 1/2", "trial 2/2"} <= set(messages)
    card = load_bundle(path).card
    assert card["tuning"]["trials_run"] == 2 and card["tuning"]["chosen_on"] == "val"
    listed = {train.models.item(i).data(0x0100): train.models.item(i).text() for i in range(train.models.count())}
    assert str(path) in listed
    assert train.models.currentItem().data(0x0100) == str(path)  # the new bundle is selected, ready to activate
    shown = train.history.history
    assert shown and shown == {k: pytest.approx(v) for k, v in card["training"]["history"].items()}


@pytest.mark.slow
def test_fine_tune_through_screen_names_the_parent(qtbot, loaded_window, tmp_path):
    """Issue 11.4: the Train screen fine-tunes the model in use on a site folder."""
    import json

    from tests.gui.conftest import make_dataset

    site = make_dataset(tmp_path / "site", n_per_class=20, seed=11) / "train"
    parent = loaded_window.state.bundle
    train = loaded_window.train
    _setup_form(train, site, epochs=1)
    train.finetune_box.setChecked(True)
    assert not train.tune_box.isChecked()
    train.ft_freeze.setValue(1)
    with qtbot.waitSignal(train.trainingFinished, timeout=240000) as blocker:
        train.start_training()
    card = json.loads((blocker.args[0] / "card.json").read_text())
    text = json.dumps(card)
    assert parent.sha256 in text  # the child's card names its parent


def test_model_lists_show_a_relatively_opened_model_once(qtbot, window, monkeypatch):
    """The shipped model opened as models/default (relative) is one entry, marked ACTIVE."""
    import os
    from pathlib import Path

    from core.learning.bundle import load_bundle

    repo = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(repo)
    window.state.set_bundle(load_bundle(os.path.join("models", "default")))
    train = window.train
    train.refresh_models()
    texts = [train.models.item(i).text() for i in range(train.models.count())]
    shipped = [t for t in texts if "[shipped]" in t]
    assert len(shipped) == 1 and "[ACTIVE]" in shipped[0], texts
    evaluate = window.evaluate
    evaluate.refresh_models()
    labels = [evaluate.model_combo.itemText(i) for i in range(evaluate.model_combo.count())]
    assert sum("[shipped]" in t for t in labels) == 0, labels  # the active model is listed once, as "Active model"

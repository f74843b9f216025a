"""No screen shows the previous result as if it were current (issue 14, item 8)."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import QPoint

from core.progress import Progress

from .conftest import make_dataset


def test_failed_evaluation_clears_the_old_results_and_export(qtbot, loaded_window, tmp_path):
    ev = loaded_window.evaluate
    ev.split_combo.setCurrentIndex(ev.split_combo.findData("val"))
    with qtbot.waitSignal(ev.evaluated, timeout=60000):
        ev.run_evaluation()
    assert ev.export_btn.isEnabled() and ev.canvases and ev.summary.text()
    ev.data_edit.setText(str(tmp_path / "no such folder"))
    assert ev.run_evaluation() is not None
    qtbot.waitUntil(lambda: not ev.banner.isHidden(), timeout=60000)
    assert "Evaluation stopped" in ev.banner.label.text()
    assert not ev.export_btn.isEnabled() and ev.result is None
    assert ev.summary.text() == "" and not ev.canvases
    assert all(ev.report_table.item(i, j) is None or ev.report_table.item(i, j).text() == ""
               for i in range(ev.report_table.rowCount()) for j in range(ev.report_table.columnCount()))
    assert not ev.fig_placeholder.isHidden()
    ev.grab().save(str(tmp_path / "evaluate_after_failure.png"))


def test_review_says_the_model_is_loading_not_missing(qtbot, window, tiny_bundle, tmp_path):
    review, state = window.review, window.state
    png = tmp_path / "case.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (96, 96), dtype=np.uint8)).save(png)
    state.set_loading("Loading TensorFlow and the model...")
    with qtbot.waitSignal(review.caseShown, timeout=30000):
        review.open_paths([str(png)])
    assert "No model" not in review.score_label.text() and "loading" in review.score_label.text().lower()
    assert "Loading TensorFlow" in review.model_label.text() and "No model" not in review.model_label.text()
    review.grab().save(str(tmp_path / "review_loading.png"))
    with qtbot.waitSignal(review.scored, timeout=60000):
        state.set_bundle(tiny_bundle)
        state.set_loading("")
    assert review.score_label.text().startswith("Score ")


def test_review_says_no_model_once_loading_failed(qtbot, window, tmp_path):
    review, state = window.review, window.state
    png = tmp_path / "case.png"
    Image.fromarray(np.full((64, 64), 90, dtype=np.uint8)).save(png)
    state.set_loading("Loading TensorFlow and the model...")
    with qtbot.waitSignal(review.caseShown, timeout=30000):
        review.open_paths([str(png)])
    state.set_loading("")  # what the main window does when start-up loading fails
    assert "No model loaded" in review.score_label.text() and "No model loaded" in review.model_label.text()


def test_new_dataset_clears_the_last_runs_curves_banners_and_a_refused_folder_its_counts(
        qtbot, window, tiny_dataset, tiny_bundle_path, tmp_path):
    train = window.train
    with qtbot.waitSignal(train.scanned, timeout=60000):
        train.scan(str(tiny_dataset))
    # What a finished run leaves behind: live curves, then the saved model's, a message, "done".
    train._on_progress(Progress(stage="epoch", epoch=1, epochs=2, logs={"loss": 0.6, "val_loss": 0.7}))
    assert train.history.history
    train._on_finished(tiny_bundle_path)
    assert not train.info.isHidden() and train.progress.format() == "done"
    other = make_dataset(tmp_path / "other", n_per_class=10, seed=5)
    with qtbot.waitSignal(train.scanned, timeout=60000):
        train.scan(str(other))
    assert train.history.history == {}
    assert train.info.isHidden() and train.progress.format() == "idle" and train.progress_label.text() == ""
    train.scan(str(tmp_path / "missing"))
    qtbot.waitUntil(lambda: not train.banner.isHidden(), timeout=30000)
    assert train.counts_table.rowCount() == 0 and train.samples_box.thumbs == [] and train.dataset is None


def test_sample_strip_shows_every_thumbnail_whole(qtbot, window, tiny_dataset, tmp_path):
    window.resize(1320, 860)
    window.tabs.setCurrentWidget(window.train)
    train = window.train
    with qtbot.waitSignal(train.scanned, timeout=60000):
        train.scan(str(tiny_dataset))
    qtbot.wait(50)
    viewport = train.samples_scroll.viewport()
    assert len(train.samples_box.thumbs) == 12
    for label, _pix in train.samples_box.thumbs:
        top_left = label.mapTo(viewport, QPoint(0, 0))
        assert top_left.x() >= 0 and top_left.x() + label.width() <= viewport.width()
        assert top_left.y() >= 0 and top_left.y() + label.height() <= viewport.height()
        assert label.pixmap().width() == label.width() or label.pixmap().height() == label.height()
    assert not train.samples_scroll.horizontalScrollBar().isVisible()
    window.grab().save(str(tmp_path / "train_samples.png"))

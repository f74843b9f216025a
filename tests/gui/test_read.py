"""Issue 17 in the GUI: the Read screen (keys, resume), readers on the Threshold ROC, case feedback.

Readings here are SIMULATED test input (seeded noise around the true label), not real readers.
"""

from __future__ import annotations

import os

import numpy as np
from PySide6.QtCore import Qt

from core.site.readings import Reading, read_readings, write_readings
from core.site.sets import read_site_set
from core.trust.feedback import read_feedback
from tests.gui.conftest import make_dataset

SHOTS = os.environ.get("PNEUMOSCOPE_SHOTS")  # folder for screenshots to look at, when set


def _wait_ready(qtbot, read) -> None:
    qtbot.waitUntil(lambda: read.cannot_btn.isEnabled(), timeout=10000)


def test_read_screen_keys_save_each_answer_and_resume(qtbot, window, tmp_path):
    site = make_dataset(tmp_path / "d", n_per_class=3, seed=2) / "test"
    window.build_all_screens()
    read = window.read
    window.tabs.setCurrentWidget(read)
    read.reader_edit.setText("dr_test")
    read.set_edit.setText(str(site))
    window.activateWindow()
    assert read.start()
    _wait_ready(qtbot, read)
    assert "Case 1 of 12" in read.progress.text()
    assert "score" not in read.progress.text().lower() and read.aid_label.text() == ""  # model output hidden
    qtbot.keyClick(read.view, Qt.Key.Key_P)
    assert read.session.position()[0] == 0  # a call alone is not an answer yet
    qtbot.keyClick(read.view, Qt.Key.Key_4)
    assert read.session.position()[0] == 1
    _wait_ready(qtbot, read)
    qtbot.keyClick(read.view, Qt.Key.Key_X)
    _wait_ready(qtbot, read)
    if SHOTS:
        read.set_rating(2)
        window.resize(1400, 900)
        qtbot.wait(200)
        window.grab().save(os.path.join(SHOTS, "read_screen.png"))
    saved = read_readings(read.session.path)
    assert [(r.call, r.rating) for r in saved] == [("PNEUMONIA", 4), ("CANNOT_READ", None)]
    assert all(r.seconds is not None and r.seconds >= 0 for r in saved)
    again = type(read)(window.state)  # a new screen resumes where the reader stopped
    again.reader_edit.setText("dr_test")
    again.set_edit.setText(str(site))
    assert again.start()
    assert again.session.position()[0] == 2 and "Case 3 of 12" in again.progress.text()
    again.shutdown()


def test_threshold_roc_shows_reader_points_and_table_follows_slider(qtbot, loaded_window, tmp_path):
    site_dir = make_dataset(tmp_path / "made", n_per_class=20, seed=7) / "train"
    explorer = loaded_window.threshold
    with qtbot.waitSignal(explorer.siteAdded, timeout=120000):
        explorer.add_site(str(site_dir))
    site = read_site_set(site_dir)
    rng = np.random.default_rng(4)
    rows = []
    for reader, skill in (("sim_A", 1.6), ("sim_B", 0.9)):  # simulated readers
        for c in site.cases:
            r = int(np.clip(np.round(3 + skill * (c.label - 0.5) * 2 + rng.normal(0, 1)), 1, 5))
            rows.append(Reading(c.name, reader, "PNEUMONIA" if r >= 3 else "NORMAL", r))
    path = write_readings(rows, tmp_path / "readings.csv")
    assert explorer.readers.load(str(path))
    assert len(explorer.readers._artists) > 0
    explorer.set_threshold(0.3)
    low = explorer.readers.rows()
    explorer.set_threshold(0.8)
    high = explorer.readers.rows()
    assert [r[0] for r in high] == ["model at 0.800", "reader sim_A", "reader sim_B"]
    assert low[0] != high[0] and low[1] == high[1]  # the model's row follows the slider, readers' do not
    sens_a = explorer.readers.report.readers["sim_A"]["sensitivity"][0]
    assert f"{sens_a:.1%}" in high[1][1]
    if SHOTS:
        loaded_window.tabs.setCurrentWidget(explorer)
        loaded_window.resize(1500, 950)
        qtbot.wait(300)
        loaded_window.grab().save(os.path.join(SHOTS, "threshold_readers.png"))


def test_review_feedback_keys_record_to_the_log(qtbot, loaded_window, tmp_path):
    from PIL import Image

    from tests.gui.conftest import _synthetic_xray

    review = loaded_window.review
    p = tmp_path / "case.png"
    Image.fromarray(_synthetic_xray(np.random.default_rng(0), True)).save(p)
    with qtbot.waitSignal(review.scored, timeout=60000):
        review.open_paths([str(p)])
    review.feedback.truth.setCurrentText("PNEUMONIA")
    call = review.case.label
    verdict = "agree" if call == "PNEUMONIA" else "disagree"
    loaded_window.activateWindow()
    review.view.setFocus()
    qtbot.keyClick(review.view, Qt.Key.Key_A if verdict == "agree" else Qt.Key.Key_D)
    recs = read_feedback()
    assert len(recs) == 1 and recs[0]["verdict"] == verdict and recs[0]["true_label"] == "PNEUMONIA"
    assert recs[0]["model_sha256"] == str(loaded_window.state.bundle.sha256)
    assert recs[0]["score"] == review.case.score

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


def test_threshold_roc_shows_reader_points_and_table_follows_slider(qtbot, loaded_window, tmp_path, monkeypatch):
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
    # The model's row and the readers' agreement with its calls follow the slider; their points do not.
    assert low[0] != high[0] and low[1][:3] == high[1][:3]
    assert low[1][3] != high[1][3] or low[2][3] != high[2][3]
    from core.evaluation.readers import agreement_at

    idx, calls = explorer.readers.report.reader_cases["sim_A"]
    k = agreement_at(calls, explorer._site.scores[idx], 0.8)["kappa"]
    assert f"kappa {k[0]:.2f}" in high[1][3]
    sens_a = explorer.readers.report.readers["sim_A"]["sensitivity"][0]
    assert f"{sens_a:.1%}" in high[1][1]
    assert any(t.startswith("readers' mean") for t in explorer.readers.legend_labels())
    # The readers belong to the site cases' ROC: gone on the validation split, back on the site split.
    explorer.split_combo.setCurrentIndex(explorer.split_combo.findData("val"))
    assert explorer.readers._artists == [] and explorer.readers.legend_labels() == []
    assert explorer.readers.table.isHidden()
    explorer.split_combo.setCurrentIndex(explorer.split_combo.findData("site"))
    assert len(explorer.readers._artists) > 0 and not explorer.readers.table.isHidden()
    # A second readings file replaces the first in the legend (no stale names).
    only_c = write_readings([Reading(r.file, "sim_C", r.call, r.rating) for r in rows if r.reader == "sim_A"],
                            tmp_path / "c.csv")
    assert explorer.readers.load(str(only_c))
    assert [t.split(":")[0] for t in explorer.readers.legend_labels()] == ["reader sim_C"]
    assert "Kept" in explorer.readers.status.text()  # a file from elsewhere is kept in the user data folder
    # The reader-matched chooser: chosen on part of the cases, adoptable as a site profile.
    explorer.readers.match_kind.setCurrentIndex(explorer.readers.match_kind.findData("reader-spec"))
    cal = explorer.readers.suggest()
    assert cal is not None and "matches reader sim_C's specificity" in explorer.reason_label.text()
    assert abs(explorer.threshold - cal.threshold) < 1e-3
    import gui.screens.threshold

    monkeypatch.setattr(gui.screens.threshold, "ask_adoption", lambda parent, t: ("Dr Read", "matches our reader"))
    explorer.set_threshold(cal.threshold)
    profile = explorer.adopt()
    assert profile is not None and profile.chooser == "reader-spec:sim_C" and profile.figures["reader"]["n"] > 0
    explorer.readers.load(str(path))
    pdf = explorer.readers.export_pdf(str(tmp_path / "readers.pdf"))
    assert pdf is not None and pdf.read_bytes()[:4] == b"%PDF" and "written" in explorer.readers.status.text()
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


def _small_set(root, with_broken: bool):
    from PIL import Image

    from tests.gui.conftest import _synthetic_xray

    rng = np.random.default_rng(3)
    for cls, sick in (("NORMAL", False), ("PNEUMONIA", True)):
        (root / cls).mkdir(parents=True)
        Image.fromarray(_synthetic_xray(rng, sick)).save(root / cls / f"{cls.lower()}_0.png")
    if with_broken:
        (root / "NORMAL" / "broken.png").write_bytes(b"not an image")
    return root


def _read_screen(window, site, reader: str, aided: bool):
    """The window's Read screen on ``site`` for ``reader``, not started yet."""
    window.build_all_screens()
    read = window.read
    window.tabs.setCurrentWidget(read)
    read.reader_edit.setText(reader)
    read.set_edit.setText(str(site))
    read.aided.setChecked(aided)
    return read


def test_read_refuses_calls_on_unshown_images_and_asks_on_conflicts(qtbot, window, tmp_path):
    read = _read_screen(window, _small_set(tmp_path / "s", with_broken=True), "dr_keys", aided=True)
    assert not read.start()  # no model loaded: no aid to show
    assert "load a model first" in read.banner.text()
    read.aided.setChecked(False)
    assert read.start()
    window.activateWindow()
    saved = 0
    while read.session.current() is not None:
        _wait_ready(qtbot, read)
        name = read.session.current().name
        if "broken" in name:
            qtbot.waitUntil(lambda: "could not be shown" in read.view._placeholder.toPlainText(), timeout=10000)
            assert not read.call_btns["NORMAL"].isEnabled()
            read.set_call("NORMAL")
            read.set_rating(2)  # keys or clicks: no call on an image never shown
            assert read.session.position()[0] == saved
            qtbot.keyClick(read.view, Qt.Key.Key_X)
        else:
            qtbot.keyClick(read.view, Qt.Key.Key_N)
            qtbot.keyClick(read.view, Qt.Key.Key_5)  # NORMAL rated "definitely pneumonia": asked, not saved
            assert read.session.position()[0] == saved and "Enter to keep" in read.hint.text()
            qtbot.keyClick(read.view, Qt.Key.Key_Return)
        saved += 1
        assert read.session.position()[0] == saved or read.session.current() is None
    got = {r.file: (r.call, r.rating) for r in read_readings(read.session.path)}
    assert got["NORMAL/broken.png"] == ("CANNOT_READ", None)
    assert got["NORMAL/normal_0.png"] == ("NORMAL", 5)


def test_read_aided_phase_answers_wait_for_the_model(qtbot, loaded_window, tmp_path):
    import json

    read = _read_screen(loaded_window, _small_set(tmp_path / "s", with_broken=False), "dr_aided", aided=True)
    assert read.start()
    loaded_window.activateWindow()
    for _ in range(2):
        _wait_ready(qtbot, read)
        qtbot.waitUntil(lambda: read.call_btns["PNEUMONIA"].isEnabled(), timeout=10000)
        read.set_call("PNEUMONIA")
        read.set_rating(4)
    assert read.session.phase == "aided"
    _wait_ready(qtbot, read)
    qtbot.waitUntil(lambda: "Model:" in read.aid_label.text(), timeout=30000)
    assert read.call_btns["NORMAL"].isEnabled() and "Your unaided call: PNEUMONIA" in read.aid_label.text()
    meta = json.loads(read.session.path.with_suffix(".json").read_text())
    assert meta["aided_with"][0]["model_sha256"] == str(loaded_window.state.bundle.sha256)
    # With no model the aided answer waits: only "cannot read" is open.
    bundle = loaded_window.state.bundle
    loaded_window.state.set_bundle(None)
    read._next()
    _wait_ready(qtbot, read)
    qtbot.wait(100)
    assert not read.call_btns["NORMAL"].isEnabled() and "no model is loaded" in read.aid_label.text()
    loaded_window.state.set_bundle(bundle)  # the model comes back: the waiting case is scored
    qtbot.waitUntil(lambda: read.call_btns["NORMAL"].isEnabled(), timeout=30000)
    assert "Model:" in read.aid_label.text()

"""Issue 11.3: site data in the Threshold screen: scored on a worker, explored, chosen honestly, adopted."""

from __future__ import annotations

import pytest

from core.evaluation.operating import OperatingCurve
from tests.gui.conftest import make_dataset


@pytest.fixture
def site_folder(tmp_path):
    """A labelled site folder: NORMAL/ and PNEUMONIA/ of synthetic films like the tiny model's, plus a broken file."""
    root = make_dataset(tmp_path / "made", n_per_class=20, seed=7) / "train"
    (root / "NORMAL" / "broken.png").write_bytes(b"not an image")
    return root


def _add_site(qtbot, window, folder):
    explorer = window.threshold
    with qtbot.waitSignal(explorer.siteAdded, timeout=120000) as blocker:
        assert explorer.add_site(str(folder)) is not None
    return explorer, blocker.args[0]


def test_site_entry_drives_slider_matrix_and_curves(qtbot, loaded_window, site_folder):
    explorer, scored = _add_site(qtbot, loaded_window, site_folder)
    assert explorer.split == "site" and len(scored.site) == 40
    assert "Site: train (40 cases)" in explorer.split_combo.currentText()
    assert "broken.png" in explorer.banner.label.text()  # unreadable files are listed, not fatal
    curve = OperatingCurve(scored.y_true, scored.scores)
    for t in (0.2, 0.5, 0.8):
        explorer.set_threshold(t)
        tp, fp, tn, fn = curve.counts_at(t)
        assert explorer.matrix.counts() == {"tp": tp, "fp": fp, "tn": tn, "fn": fn}
    assert explorer.prevalence.value() == pytest.approx(0.5, abs=1e-3)
    assert "SITE" in explorer.chooser_box.title() and not explorer.holdout.isHidden()


def test_site_chooser_reports_held_out_cases_and_adopt_writes_site_profile(qtbot, loaded_window, site_folder,
                                                                            monkeypatch):
    import gui.screens.threshold
    from core.trust.audit import AuditLog
    from core.trust.profile import load_profile

    explorer, scored = _add_site(qtbot, loaded_window, site_folder)
    explorer.holdout.setValue(0.5)
    cal = explorer.choose("youden")
    assert cal is not None and 0 < cal.n_holdout < 40 and cal.n_choose + cal.n_holdout == 40
    text = explorer.reason_label.text()
    assert "held-out" in text and "never used to choose" in text
    assert explorer.threshold == pytest.approx(cal.threshold)
    monkeypatch.setattr(gui.screens.threshold, "ask_adoption", lambda parent, t: ("Dr Site", "local audit"))
    profile = explorer.adopt()
    assert profile.kind == "site" and profile.site_set_sha256 == scored.site.sha256
    assert profile.figures["estimate"] == "held-out" and profile.counts["holdout"] == cal.n_holdout
    saved = load_profile(loaded_window.state.bundle)
    assert saved.threshold == pytest.approx(cal.threshold) and saved.user == "Dr Site"
    state = loaded_window.state
    assert state.threshold == pytest.approx(cal.threshold)
    assert state.threshold_source.startswith(f"site threshold {cal.threshold:.3f}, set ")
    assert f"on {cal.n_choose} cases" in state.threshold_source
    assert AuditLog().read(event="threshold_adopted")[-1]["adopted_by"] == "Dr Site"


def test_manual_site_threshold_says_no_honest_estimate(qtbot, loaded_window, site_folder, monkeypatch):
    import gui.screens.threshold

    explorer, _ = _add_site(qtbot, loaded_window, site_folder)
    explorer.set_threshold(0.42)
    monkeypatch.setattr(gui.screens.threshold, "ask_adoption", lambda parent, t: ("Dr Hand", "by eye"))
    profile = explorer.adopt()
    assert profile.chooser == "manual" and profile.figures["estimate"] is None
    assert "no honest estimate" in profile.figures["note"]


def test_site_scoring_can_be_cancelled_and_model_change_drops_site(qtbot, loaded_window, site_folder, tiny_bundle):
    explorer = loaded_window.threshold
    worker = explorer.add_site(str(site_folder))
    worker.cancel()
    qtbot.waitUntil(lambda: explorer._site_worker is None, timeout=120000)
    assert explorer.split_combo.findData("site") < 0 and explorer.site_progress.isHidden()
    _add_site(qtbot, loaded_window, site_folder)
    loaded_window.state.set_bundle(tiny_bundle)  # another model: its scores would differ
    assert explorer.split_combo.findData("site") < 0

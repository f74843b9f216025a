"""Review makes no call on a non-chest image, whatever the threshold (issue 14, item 2)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel


def test_non_chest_image_has_no_call_even_when_the_threshold_moves(qtbot, loaded_window, dicom_dir, tmp_path):
    loaded_window.resize(1356, 800)
    review = loaded_window.review
    with qtbot.waitSignal(review.scored, timeout=60000):
        review.open_paths([str(dicom_dir / "edge" / "pdd_RG3_J2KR.dcm")])  # an extremity film
    label = loaded_window.findChild(QLabel, "scoreLabel")
    for threshold in (loaded_window.state.threshold, 0.01, 0.99):
        loaded_window.state.set_threshold(threshold)
        text = label.text()
        assert text.startswith("Score not applicable") and "not a chest X-ray like the training data" in text
        assert "PNEUMONIA" not in text and "NORMAL" not in text and label.property("call") == "doubt"
    assert review.case.label is None and review.case.no_call_reason
    assert not review.view.has_overlay()  # no heat map either
    qtbot.wait(100)  # let the layout settle as the event loop would
    loaded_window.grab().save(str(tmp_path / "review_not_applicable.png"))

"""Review shows age and view and warns outside the card's intended population (issue 14, item 3)."""

from __future__ import annotations

import pydicom


def _tags(review) -> dict[str, str]:
    t = review.tags
    return {t.verticalHeaderItem(i).text(): t.item(i, 0).text() for i in range(t.rowCount())}


def test_trained_cards_state_the_population(tiny_bundle):
    population = tiny_bundle.card["intended_population"]  # from the data folder's dataset.json
    assert population["age_years"] == [1, 5] and "PA" in population["views"]
    assert tiny_bundle.card["intended_origin"].endswith("dataset.json")
    assert tiny_bundle.card["intended_use"].startswith("synthetic test images")


def test_adult_dicom_shows_age_and_view_and_the_population_warning(qtbot, loaded_window, dicom_dir, tmp_path):
    review = loaded_window.review
    loaded_window.resize(1356, 800)
    path = sorted((dicom_dir / "chest").glob("rsna_*.dcm"))[0]
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    with qtbot.waitSignal(review.scored, timeout=60000):
        review.open_paths([str(path)])
    tags = _tags(review)
    assert tags["Patient age"] == f"{int(ds.PatientAge)} years (PatientAge {ds.PatientAge})"
    assert tags["View"] == ds.ViewPosition
    banner = review.warning_banner.label.text()
    assert not review.warning_banner.isHidden()
    assert f"the patient is {int(ds.PatientAge)} years old, outside the ages 1 to 5" in banner
    assert review.score_label.property("call") == "doubt"
    loaded_window.grab().save(str(tmp_path / "review_adult.png"))


def test_child_png_has_no_population_warning(qtbot, loaded_window, tiny_dataset):
    review = loaded_window.review
    png = sorted((tiny_dataset / "test" / "NORMAL").glob("*.png"))[0]
    with qtbot.waitSignal(review.scored, timeout=60000):
        review.open_paths([str(png)])
    assert "intended population" not in review.warning_banner.label.text() or review.warning_banner.isHidden()
    assert _tags(review)["Patient age"] == "—"

"""Age and view against the model card's intended population (issue 14, item 3)."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pydicom
import pytest

from core.imaging import load_image
from core.imaging.dicom_tags import age_in_years
from core.trust.integrity import file_sha256
from core.trust.population import (
    KERMANY_POPULATION,
    describe_age,
    format_age,
    intended_population,
    population_warning,
)

REPO = Path(__file__).resolve().parents[2]
DEFAULT = REPO / "models" / "default"


@pytest.mark.parametrize(("text", "years"), [("004Y", 4.0), ("4Y", 4.0), ("51", 51.0), ("018M", 1.5),
                                             ("003W", 21 / 365.25), ("010D", 10 / 365.25), (" 045Y ", 45.0),
                                             ("", None), (None, None), ("old", None), ("Y", None), ("999Y", None)])
def test_dicom_age_strings(text, years):
    got = age_in_years(text)
    assert got == (pytest.approx(years) if years is not None else None)


@pytest.mark.parametrize(("years", "outside"), [(0.5, True), (0.99, True), (1.0, False), (4.0, False),
                                                (5.9, False), (6.0, True), (51.0, True)])
def test_age_band_is_whole_years_one_to_five(years, outside):
    warning = population_warning({"age_years": years}, KERMANY_POPULATION)
    assert (warning is not None) == outside
    if outside:
        assert "intended population" in warning and format_age({"age_years": years}) in warning


def test_views_unknowns_and_cards_without_a_population():
    assert population_warning({"view_position": "AP", "age_years": 3}, KERMANY_POPULATION) is None
    assert population_warning({"view_position": "PA"}, KERMANY_POPULATION) is None
    assert "the view is OBLIQUE" in population_warning({"view_position": "OBLIQUE"}, KERMANY_POPULATION)
    assert population_warning({"view_position": "LL"}, KERMANY_POPULATION) is None  # the chest-view check's job
    assert population_warning({}, KERMANY_POPULATION) is None  # unknown is not outside
    assert population_warning({"age_years": 40.0}, None) is None
    assert intended_population({"name": "old card"}) is None
    assert format_age({"age_years": 1.5}) == "18 months" and format_age({"age_years": 4.2}) == "4 years"
    assert format_age({"age_years": 10 / 365.25}) == "10 days" and format_age({}) is None


def test_shipped_card_states_the_population_and_its_model_hash_still_holds():
    card = json.loads((DEFAULT / "card.json").read_text())
    population = intended_population(card)
    assert population["age_years"] == [1, 5] and population["views"] == ["PA", "AP"]
    assert "1 to 5" in population["description"]
    assert file_sha256(DEFAULT / "model.keras") == card["model_sha256"]


def test_dicom_loader_reads_age_view_and_body_part_as_pydicom_does(dicom_dir):
    seen = 0
    for path in sorted((dicom_dir / "chest").glob("*.dcm")):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        meta = load_image(path).meta
        assert meta["view_position"] == (str(ds.get("ViewPosition", "")).strip() or None)
        assert meta["body_part"] == (str(ds.get("BodyPartExamined", "")).strip() or None)
        written = str(ds.get("PatientAge", "")).strip()
        if written:
            assert meta["patient_age"] == written and meta["age_years"] == pytest.approx(age_in_years(written))
            assert describe_age(meta).startswith(format_age(meta))
            seen += 1
        elif ds.get("PatientBirthDate") and ds.get("StudyDate"):
            born = dt.datetime.strptime(ds.PatientBirthDate[:8], "%Y%m%d").date()
            study = dt.datetime.strptime(ds.StudyDate[:8], "%Y%m%d").date()
            assert meta["age_years"] == pytest.approx((study - born).days / 365.25)
            assert "birth and study dates" in describe_age(meta)
    assert seen >= 10


def test_adult_chest_dicom_gets_the_warning_in_the_case_and_the_csv(dicom_dir, tmp_path):
    from core.cases import score_files, write_cases_csv
    from core.learning.bundle import load_bundle

    bundle = load_bundle(DEFAULT)
    adults = sorted((dicom_dir / "chest").glob("rsna_*.dcm"))[:3]
    cases = score_files(bundle, adults)
    for case in cases:
        assert case.score is not None and "intended population" in case.population_warning
    out = write_cases_csv(cases, tmp_path / "s.csv")
    rows = list(csv.DictReader(out.open()))
    assert all("years old, outside the ages 1 to 5" in r["population_warning"] for r in rows)

"""Whom a trained model is for comes from the data (issue 20 item 3): a dataset card, flags, or a
fine-tuning site's own DICOM tags; never "ages 1-5, Guangzhou" stamped on every card."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.cli import main
from core.learning.train import TrainConfig, intended_fields
from core.site.finetune import FinetuneConfig, site_intended
from core.site.sets import read_site_set
from core.trust.population import (
    NOT_STATED_USE,
    PopulationError,
    observed_population,
    population_from_flags,
    read_dataset_card,
)
from tests.core.site_data import make_site


def _config(root: Path, **kw) -> TrainConfig:
    return TrainConfig(data_root=str(root), out=str(root.parent / "out"), **kw)


def test_without_a_card_or_flags_the_card_says_not_stated(tmp_path):
    fields = intended_fields(_config(tmp_path), tmp_path)
    assert fields["intended_population"] is None and fields["intended_use"] == NOT_STATED_USE
    assert fields["intended_origin"] == "not stated"
    assert "Guangzhou" not in json.dumps(fields) and "ages 1-5" not in json.dumps(fields)


def test_a_dataset_card_in_the_data_folder_is_used_and_flags_win(tmp_path):
    (tmp_path / "dataset.json").write_text(json.dumps({
        "intended_use": "adult frontal chest films from St Elsewhere; research use only",
        "intended_population": {"age_years": [18, 90], "views": ["pa"], "description": "adults"},
        "limitations": ["One hospital's Philips detectors."],
    }))
    fields = intended_fields(_config(tmp_path), tmp_path)
    assert fields["intended_population"]["age_years"] == [18, 90]
    assert fields["intended_population"]["views"] == ["PA"]
    assert fields["intended_use"].startswith("adult frontal chest films")
    assert "One hospital's Philips detectors." in fields["limitations"]
    assert str(tmp_path / "dataset.json") in fields["intended_origin"]

    flags = population_from_flags("40-60", "AP")
    fields = intended_fields(_config(tmp_path, intended_population=flags), tmp_path)
    assert fields["intended_population"]["age_years"] == [40, 60] and fields["intended_population"]["views"] == ["AP"]
    assert "population flags" in fields["intended_origin"]


def test_the_builtin_kermany_card_names_its_source(tmp_path):
    fields = intended_fields(_config(tmp_path, dataset_card="kermany"), tmp_path)
    assert fields["intended_population"]["age_years"] == [1, 5]
    assert "Guangzhou" in fields["intended_use"] and fields["intended_origin"] == "built-in dataset card 'kermany'"


@pytest.mark.parametrize("content, message", [
    ("{not json", "cannot be read as JSON"),
    (json.dumps({"intended_population": {"age_years": [5, 1]}}), "youngest first"),
    (json.dumps({"intended_population": {"views": "PA"}}), "list of DICOM ViewPosition"),
    (json.dumps([1, 2]), "must hold a JSON object"),
])
def test_a_broken_dataset_card_is_refused_in_plain_words(tmp_path, content, message):
    (tmp_path / "dataset.json").write_text(content)
    with pytest.raises(PopulationError, match=message):
        read_dataset_card(None, tmp_path)


def test_bad_flags_and_a_missing_card_stop_the_cli_before_training(tmp_path, capsys):
    data = tmp_path / "data"
    (data / "NORMAL").mkdir(parents=True)
    rc = main(["train", str(data), "--out", str(tmp_path / "m"), "--dataset-card", str(tmp_path / "nope.json")])
    assert rc != 0 and "no dataset card at" in capsys.readouterr().err
    rc = main(["train", str(data), "--out", str(tmp_path / "m"), "--population-ages", "five"])
    assert rc != 0 and "must look like 1-5" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_a_fine_tuned_child_takes_its_sites_population_from_the_dicom_tags(tmp_path, chest_xray_dir, dicom_dir):
    import pydicom

    site_dir = make_site(tmp_path / "SITE", chest_xray_dir, dicom_dir, per_class=3, broken=False)
    site = read_site_set(site_dir)
    dicoms = [c for c in site.cases if c.path.endswith(".dcm")]
    ages = []
    for c in dicoms:
        age = str(pydicom.dcmread(c.path, stop_before_pixels=True).get("PatientAge") or "")
        if age.strip():
            ages.append(int(age.rstrip("Y")))
    config = FinetuneConfig(site=str(site_dir), init_from="default", out=str(tmp_path / "child"))
    fields = site_intended(config, site.cases)
    population = fields["intended_population"]
    assert population["age_years"] == [min(ages), max(ages)]
    assert set(population["views"]) <= {"PA", "AP"} and population["views"]
    assert fields["intended_origin"] == "the DICOM tags of the site's cases"
    assert "Guangzhou" not in json.dumps(fields)
    assert f"age on {len(ages)} of {len(site.cases)} images" in population["source"]

    jpeg_only = [c for c in site.cases if not c.path.endswith(".dcm")]
    fields = site_intended(config, jpeg_only)
    assert fields["intended_population"] is None and fields["intended_use"].startswith("not stated for this site")


def test_observed_population_is_none_when_no_image_says(tmp_path):
    assert observed_population([{}, {"age_years": None, "view_position": ""}]) is None
    seen = observed_population([{"age_years": 3.5, "view_position": "AP"}, {"age_years": 7.9, "view_position": "LL"}])
    assert seen["age_years"] == [3, 7] and seen["views"] == ["AP"]

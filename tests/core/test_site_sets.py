"""Site data sets: one labelled set, patient groups from CSV / DICOM PatientID / file names, hashed."""

from __future__ import annotations

import os
import shutil

import pytest

from core.site.sets import SiteDataError, dicom_patient_key, read_site_set, site_summary
from tests.core.site_data import dicom_labels, make_site


def test_folder_site_reads_recursively_with_dicom_and_name_groups(tmp_path, chest_xray_dir, dicom_dir):
    site = read_site_set(make_site(tmp_path / "SITE", chest_xray_dir, dicom_dir, per_class=12))
    labels = dicom_labels(dicom_dir)
    n_dicom_pos = sum(v == "PNEUMONIA" for v in labels.values())
    counts = site.counts()
    assert counts["cases"] == 24 + len(labels) + 1  # the damaged file is listed; scoring drops it
    assert counts["pneumonia"] == 12 + n_dicom_pos
    names = {c.name for c in site.cases}
    assert any(n.startswith("NORMAL/batch1/") for n in names)  # searched recursively, relative names
    by_source = site.group_sources()
    assert by_source["dicom"] == len(labels)
    for case in site.cases:
        if case.group_source == "dicom":
            # hashed: no PatientID in clear anywhere in the group key
            assert case.group.startswith("dicom:") and len(case.group) == len("dicom:") + 16
            assert case.path.split("rsna_")[-1][:8] not in case.group
        if case.name.endswith(".jpeg") and "person" in case.name:
            assert case.group.startswith("name:person")
    summary = site_summary(site)
    assert summary["sha256"] == site.sha256 and "cases" in summary["counts"]
    assert not any("rsna_" in str(v) for v in summary.values())


def test_same_patient_id_same_group_and_hash_changes_with_labels(tmp_path, dicom_dir):
    name = next(iter(dicom_labels(dicom_dir)))
    src = dicom_dir / "chest" / name
    for cls, copy in (("NORMAL", "a.dcm"), ("NORMAL", "b.dcm"), ("PNEUMONIA", "c.dcm")):
        (tmp_path / "S" / cls).mkdir(parents=True, exist_ok=True)
        shutil.copy(src, tmp_path / "S" / cls / copy)
    site = read_site_set(tmp_path / "S")
    assert len({c.group for c in site.cases}) == 1  # one PatientID -> one patient
    assert dicom_patient_key(src) == site.cases[0].group
    before = site.sha256
    assert read_site_set(tmp_path / "S").sha256 == before  # stable
    os.replace(tmp_path / "S" / "NORMAL" / "b.dcm", tmp_path / "S" / "PNEUMONIA" / "b.dcm")
    assert read_site_set(tmp_path / "S").sha256 != before  # a label change is a different set


def test_csv_site_with_patient_column_and_bad_rows(tmp_path, chest_xray_dir):
    normals = sorted((chest_xray_dir / "test" / "NORMAL").iterdir())[:3]
    pneu = sorted((chest_xray_dir / "test" / "PNEUMONIA").iterdir())[:3]
    lines = ["file,label,patient"]
    lines += [f"{p},NORMAL,pat-{i % 2}" for i, p in enumerate(normals)]
    lines += [f"{p},pneumonia," for p in pneu]
    lines += ["missing.png,NORMAL,x", f"{pneu[0]},maybe,y", f"{normals[0]},NORMAL,pat-0"]
    (tmp_path / "site.csv").write_text("\n".join(lines) + "\n")
    site = read_site_set(tmp_path / "site.csv")
    assert site.source == "csv"
    assert site.counts()["normal"] == 3 and site.counts()["pneumonia"] == 3
    reasons = " | ".join(r for _, r in site.unreadable)
    assert "file not found" in reasons and "'maybe' is not NORMAL or PNEUMONIA" in reasons
    assert "listed twice" in reasons
    csv_groups = {c.group for c in site.cases if c.group_source == "csv"}
    assert len(csv_groups) == 2 and all("pat-" not in g for g in csv_groups)
    assert all(c.group_source == "name" for c in site.cases if c.label == 1)  # empty patient -> file name rule


def test_plain_errors(tmp_path):
    with pytest.raises(SiteDataError, match="does not exist"):
        read_site_set(tmp_path / "nope")
    (tmp_path / "data" / "train" / "NORMAL").mkdir(parents=True)
    with pytest.raises(SiteDataError, match="training data folder"):
        read_site_set(tmp_path / "data")
    (tmp_path / "empty" / "NORMAL").mkdir(parents=True)
    with pytest.raises(SiteDataError, match="no usable images"):
        read_site_set(tmp_path / "empty")
    (tmp_path / "bad.csv").write_text("path,class\nx.png,NORMAL\n")
    with pytest.raises(SiteDataError, match="file,label"):
        read_site_set(tmp_path / "bad.csv")

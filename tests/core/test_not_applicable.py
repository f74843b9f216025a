"""No PNEUMONIA/NORMAL call when the OOD gate or the chest-view check fires (issue 14, item 2):
one rule in core.cases, the same in the case, the batch CSV, the CLI and the audit log."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from core.cases import (
    NOT_APPLICABLE,
    Case,
    decide,
    describe_case,
    score_case,
    score_files,
    summarize,
    write_cases_csv,
)
from core.learning.bundle import load_bundle
from core.trust.audit import AuditLog

REPO = Path(__file__).resolve().parents[2]
NON_CHEST = ("pdd_MR2_J2KI.dcm", "pdd_RG3_J2KR.dcm", "pdd_OBXXXX1A_rle.dcm", "pyd_SC_rgb_jpeg_dcmtk.dcm")


@pytest.fixture(scope="module")
def bundle():
    return load_bundle(REPO / "models" / "default")


@pytest.mark.parametrize(("ood", "view", "label"), [(False, None, "PNEUMONIA"), (True, None, None),
                                                    (False, "lateral view", None), (True, "colour", None)])
def test_the_rule(ood, view, label):
    case = decide(Case(path="x", score=0.93, threshold=0.56, ood_flag=ood, ood_distance=2.0 if ood else 0.5,
                       chest_warning=view))
    assert case.label == label and case.applicable == (label is not None)
    if label is None:
        assert case.no_call_reason.startswith(NOT_APPLICABLE)
        assert describe_case(case) == "Score " + NOT_APPLICABLE and "0.93" not in describe_case(case)
        assert ("out-of-distribution gate" in case.no_call_reason) == ood
        assert ("chest-view check" in case.no_call_reason) == bool(view)
    else:
        assert describe_case(case).startswith("Score 0.93 - PNEUMONIA")
    assert decide(case, 0.95).label == (None if label is None else "NORMAL")  # a new threshold: same rule


def test_non_chest_images_get_no_call_in_cases_and_csv_and_a_chest_film_does(bundle, dicom_dir, chest_xray_dir,
                                                                            tmp_path):
    chest = sorted((chest_xray_dir / "test" / "PNEUMONIA").glob("*.jpeg"))[0]
    paths = [dicom_dir / "edge" / n for n in NON_CHEST] + [chest]
    cases = score_files(bundle, paths)
    for case in cases[:-1]:
        assert case.score is not None and case.label is None and not case.applicable, case.path
        assert case.ood_flag or case.chest_warning
    assert cases[-1].applicable and cases[-1].label in ("PNEUMONIA", "NORMAL")
    rows = list(csv.DictReader(write_cases_csv(cases, tmp_path / "s.csv").open()))
    for row in rows[:-1]:
        assert row["score"] == "not applicable" and row["label"] == ""
        assert row["no_call_reason"].startswith(NOT_APPLICABLE)
    assert float(rows[-1]["score"]) == pytest.approx(cases[-1].score, abs=1e-6) and rows[-1]["label"]
    counts = summarize(cases)
    assert counts["not_applicable"] == len(NON_CHEST) and counts["positive"] <= 1


def test_audit_records_no_call_for_a_non_chest_image(bundle, dicom_dir):
    case = score_case(bundle, dicom_dir / "edge" / "pdd_MR2_J2KI.dcm", audit=True)
    assert case.label is None
    record = AuditLog().read(event="prediction")[-1]
    assert record["case_hash"] == case.sha256
    assert record["label"] is None and record["score"] is None
    assert record["not_applicable"] == case.no_call_reason
    assert record["model_output"] == pytest.approx(case.score)


def test_cli_predict_counts_not_applicable(dicom_dir, tmp_path, capsys):
    from core.cli import main

    folder = tmp_path / "in"
    folder.mkdir()
    for name in NON_CHEST[:2]:
        (folder / name).write_bytes((dicom_dir / "edge" / name).read_bytes())
    out = tmp_path / "p.csv"
    assert main(["predict", "default", str(folder), "--csv", str(out), "--quiet"]) == 0
    assert "2 not applicable" in capsys.readouterr().out
    assert all(r["label"] == "" for r in csv.DictReader(out.open()))


def test_node_results_for_a_no_call_case_carry_no_score(bundle, dicom_dir):
    from core.node.results import build_sr, summary_lines

    source = dicom_dir / "edge" / "pdd_RG3_J2KR.dcm"  # an extremity film, sent as if by a modality
    case = score_case(bundle, source, audit=False)
    assert case.label is None
    lines = summary_lines(case, bundle.sha256)
    assert "score not applicable" in lines[0] and "no call: not a chest X-ray like the training data" in lines[0]
    assert f"{case.score:.3f}" not in lines[0]
    sr = build_sr(source, case, bundle.sha256)
    names = [item.ConceptNameCodeSequence[0].CodeMeaning for item in sr.ContentSequence]
    assert "Pneumonia score" not in names and "Call at threshold" in names

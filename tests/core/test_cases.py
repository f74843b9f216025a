"""core.cases: one path from a file to a scored, explained, audited case (Review, batch CSV, CLI, node)."""

from __future__ import annotations

import csv
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.cases import (
    CSV_COLUMNS,
    Case,
    active_threshold,
    call,
    list_case_files,
    score_case,
    score_files,
    write_cases_csv,
    write_scores,
)
from core.learning.bundle import load_bundle
from core.trust.audit import AuditLog

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bundle():
    return load_bundle(REPO / "models" / "default")


def test_call_uses_at_or_above():
    assert call(0.5, 0.5) == "PNEUMONIA" and call(0.4999, 0.5) == "NORMAL"


def test_list_case_files_is_recursive_and_skips_hidden(tmp_path):
    for rel in ("NORMAL/a.png", "PNEUMONIA/deep/b.png", ".hidden.png", "notes.txt"):
        f = tmp_path / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(f, format="PNG")
    found = [Path(p).relative_to(tmp_path).as_posix() for p in list_case_files(tmp_path)]
    assert found == ["NORMAL/a.png", "PNEUMONIA/deep/b.png"]


def test_score_case_matches_the_bundle_and_is_audited(bundle, chest_xray_dir):
    from core.imaging import load_image

    path = sorted((chest_xray_dir / "test" / "PNEUMONIA").iterdir())[0]
    case = score_case(bundle, path, want_heatmap=True)
    assert case.error is None and case.score == pytest.approx(bundle.score_pixels(load_image(path).pixels), abs=1e-5)
    threshold, source = active_threshold(bundle)
    assert case.threshold == threshold and case.threshold_source == source and "validation" in source
    assert case.label == call(case.score, threshold)
    assert case.heatmap is not None and case.heatmap.shape == load_image(path).pixels.shape
    assert case.ood_distance is not None and not case.ood_flag
    events = AuditLog().read(event="prediction")
    assert events and events[-1]["case_hash"] == case.sha256 and events[-1]["score"] == pytest.approx(case.score)


def test_unreadable_file_is_a_case_with_an_error(bundle, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    case = score_case(bundle, bad)
    assert case.score is None and case.label is None and "bad.png" in case.error


def test_batch_csv_has_ood_and_view_columns(bundle, chest_xray_dir, dicom_dir, tmp_path):
    chest = sorted((chest_xray_dir / "test" / "NORMAL").iterdir())[:3]
    mr = dicom_dir / "edge" / "pdd_MR2_J2KI.dcm"  # decodes fine; not a chest radiograph
    bad = tmp_path / "broken.dcm"
    bad.write_bytes(b"\0" * 10)
    paths = [*chest, mr, bad]
    result = write_scores(bundle, paths, tmp_path / "out" / "scores.csv")
    assert result["n"] == 5 and result["unreadable"] == 1 and result["scored"] == 4
    with open(result["path"], encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == CSV_COLUMNS
    by_name = {Path(r["file"]).name: r for r in rows}
    mr_row = by_name[mr.name]
    assert mr_row["ood_flag"] == "yes" and float(mr_row["ood_distance"]) > 1.0 and mr_row["chest_view_warning"]
    for p in chest:
        row = by_name[p.name]
        assert row["ood_flag"] == "no" and not row["chest_view_warning"] and not row["error"]
        assert row["label"] == call(float(row["score"]), float(row["threshold"]))
        single = score_case(bundle, p, audit=False)
        assert float(row["score"]) == pytest.approx(single.score, abs=1e-4)
    assert by_name["broken.dcm"]["error"] and by_name["broken.dcm"]["score"] == ""


def test_csv_is_atomic_and_follows_the_umask(tmp_path):
    out = tmp_path / "scores.csv"
    out.write_text("old\n")
    old_mask = os.umask(0o022)
    try:
        write_cases_csv([Case(path="x.png", score=0.7, threshold=0.5, label="PNEUMONIA")], out)
    finally:
        os.umask(old_mask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert out.read_text().splitlines()[1].startswith("x.png,0.700000,PNEUMONIA")

    class Boom(Case):
        @property
        def path(self):
            raise RuntimeError("disk gone")

        @path.setter
        def path(self, value):
            pass

    with pytest.raises(RuntimeError):
        write_cases_csv([Boom(path="y")], out)
    assert out.read_text().splitlines()[1].startswith("x.png")  # the old file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]  # no temp file left


def test_score_files_can_be_cancelled(bundle, chest_xray_dir):
    from core.progress import Cancelled

    paths = sorted((chest_xray_dir / "test" / "NORMAL").iterdir())[:40]
    with pytest.raises(Cancelled):
        score_files(bundle, paths, should_stop=lambda: True)

"""Issue 20 items 2 and 4: batch scoring is audited, and what fails without stopping a score
(Grad-CAM, the gate, the audit write) reaches the application log and the case."""

from __future__ import annotations

import copy
import csv
import os
from pathlib import Path

import pytest

from core.applog import app_log_path
from core.cases import score_case, score_files, write_scores
from core.cli import main
from core.learning.bundle import load_bundle
from core.paths import audit_log_path

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bundle():
    return load_bundle(REPO / "models" / "default")


def _images(chest_xray_dir: Path, n: int) -> list[str]:
    return [str(p) for p in sorted((chest_xray_dir / "test" / "NORMAL").glob("*.jpeg"))[:n]]


def test_cli_predict_then_audit_tail_shows_every_scored_case(bundle, chest_xray_dir, tmp_path, capsys):
    folder = tmp_path / "cases"
    folder.mkdir()
    paths = []
    for src in _images(chest_xray_dir, 3):
        paths.append(str(folder / Path(src).name))
        Path(paths[-1]).write_bytes(Path(src).read_bytes())
    assert main(["predict", str(REPO / "models" / "default"), str(folder), "--csv", str(tmp_path / "s.csv"),
                 "--quiet"]) == 0
    capsys.readouterr()
    assert main(["audit", "--tail", "0", "--json", "--event", "prediction"]) == 0
    out = capsys.readouterr().out
    import json

    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    from core.trust.audit import case_hash

    assert sorted(r["case_hash"] for r in records) == sorted(case_hash(p) for p in paths)
    assert all(r["bundle_sha256"] and r["source"] == "batch" for r in records)
    assert not any(os.path.basename(p) in out for p in paths)  # no file names in clear


def _broken_gate(bundle):
    broken = copy.copy(bundle)
    broken.card = {**bundle.card, "ood": {**bundle.card["ood"], "means": [[0.0, 1.0]], "precision": [[1.0]]}}
    return broken


def test_a_failing_gate_is_logged_and_on_the_case(bundle, chest_xray_dir, tmp_path):
    assert bundle.card.get("ood"), "the default bundle has a gate"
    broken = _broken_gate(bundle)
    path = _images(chest_xray_dir, 1)[0]
    case = score_case(broken, path, audit=False)
    assert case.score is not None and case.ood_distance is None
    assert case.warnings and "Out-of-distribution check failed" in case.warnings[0]
    batch = score_files(broken, [path], audit=False)
    assert batch[0].score is not None and "Out-of-distribution check failed" in batch[0].warnings[0]
    result = write_scores(broken, [path], tmp_path / "s.csv")
    row = next(csv.DictReader(Path(result["path"]).read_text().splitlines()))
    assert "Out-of-distribution check failed" in row["warnings"]
    assert "Out-of-distribution check failed" in app_log_path().read_text()


def test_a_model_grad_cam_cannot_explain_still_scores_and_says_why(bundle, chest_xray_dir):
    import keras

    size, _, channels = bundle.input_shape
    flat = keras.Sequential([keras.Input((size, size, channels)), keras.layers.Flatten(),
                             keras.layers.Dense(1, activation="sigmoid")])
    broken = copy.copy(bundle)
    broken._model = flat
    broken._runtime, broken._runtime_checked = None, True  # this broken model, through Keras
    broken.card = {k: v for k, v in bundle.card.items() if k not in ("ood", "calibration")}
    case = score_case(broken, _images(chest_xray_dir, 1)[0], want_heatmap=True, audit=False)
    assert case.score is not None and case.heatmap is None
    assert any("Heat map (Grad-CAM) failed" in w for w in case.warnings)
    assert "Heat map (Grad-CAM) failed" in app_log_path().read_text()


def test_an_unwritable_audit_folder_is_logged_and_on_the_case(bundle, chest_xray_dir):
    log = audit_log_path()
    if log.exists():
        log.unlink()
    log.mkdir()  # a folder where the audit file should be: every append fails for real
    path = _images(chest_xray_dir, 1)[0]
    case = score_case(bundle, path)
    assert case.score is not None
    assert any("Audit record failed" in w for w in case.warnings)
    batch = score_files(bundle, [path])
    assert any("Audit record failed" in w for w in batch[0].warnings)
    assert "Audit record failed" in app_log_path().read_text()

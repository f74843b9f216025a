"""The shipped default bundle (models/default): loads safely, and its card tells the truth.

Scores the 624 Kermany test images afresh and checks the AUC and operating point recorded in
card.json (computed once at training time) and the stored scores.npz.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from core.paths import default_bundle_dir

BUNDLE = default_bundle_dir()
pytestmark = pytest.mark.skipif(not (BUNDLE / "model.keras").exists(), reason="models/default not trained yet")


@pytest.fixture(scope="module")
def bundle():
    from core.learning.bundle import load_bundle

    return load_bundle(BUNDLE, safe_mode=True)


def test_bundle_is_small_and_card_complete(bundle):
    size = sum(p.stat().st_size for p in BUNDLE.iterdir() if p.is_file())
    assert size < 10 * 1024 * 1024
    card = bundle.card
    for key in ("data", "training", "threshold", "metrics", "versions", "intended_use", "limitations"):
        assert card.get(key), key
    assert card["data"]["manifest_hash"] and card["data"]["split_seed"] is not None
    assert card["threshold"]["chosen_on"] == "val"
    assert card["model"]["hparams"]
    # Everything needed to judge it: intervals on val and test.
    for split in ("val", "test"):
        auc, lo, hi = card["metrics"][split]["auc"]
        assert lo <= auc <= hi


def test_scores_npz_has_both_splits_with_relative_names(bundle):
    for split in ("val", "test"):
        y, s, files = bundle.scores(split)
        assert len(y) == len(s) == len(files) > 0
        assert not any(Path(f).is_absolute() for f in files)
    assert len(bundle.scores("test")[0]) == 624


def test_rescoring_test_split_reproduces_card_and_stored_scores(bundle, chest_xray_dir):
    from core.evaluation.curves import roc_auc
    from core.evaluation.operating import OperatingCurve

    y_stored, s_stored, files = bundle.scores("test")
    paths = [chest_xray_dir / f for f in files]
    assert all(p.exists() for p in paths)
    fresh = bundle.score_paths(paths)
    np.testing.assert_allclose(fresh, s_stored, atol=2e-4)
    labels = np.array([1 if "/PNEUMONIA/" in f"/{f}" else 0 for f in files])
    np.testing.assert_array_equal(labels, y_stored)

    card_test = bundle.card["metrics"]["test"]
    auc = roc_auc(labels, fresh)
    assert auc[0] == pytest.approx(card_test["auc"][0], abs=1e-3)
    point = OperatingCurve(labels, fresh).at(bundle.threshold).metrics_dict()
    recorded = card_test["at_threshold"]
    # A score within 2e-4 of the threshold could flip; allow one image either way.
    for key in ("tp", "fp", "tn", "fn"):
        assert abs(point[key] - recorded[key]) <= 1, key


def test_scores_a_full_resolution_image_quickly(bundle, chest_xray_dir):
    from core.imaging import load_image

    path = sorted((chest_xray_dir / "full_resolution" / "PNEUMONIA").iterdir())[0]
    xray = load_image(path)
    assert min(xray.pixels.shape) > 500
    bundle.score_pixels(xray.pixels)  # warm-up: graph tracing happens once per process
    t0 = time.perf_counter()
    score = bundle.score_pixels(load_image(path).pixels)
    elapsed = time.perf_counter() - t0
    assert 0.0 <= score <= 1.0
    assert elapsed < 1.0, f"loading + scoring one full-resolution image took {elapsed:.2f} s"


def test_card_json_is_plain_json():
    json.loads((BUNDLE / "card.json").read_text())


NON_CHEST = ["pdd_RG3_J2KR.dcm", "pljd_RG2_JPLY_fixed.dcm", "pdd_MR2_J2KI.dcm", "pdd_OBXXXX1A_rle.dcm",
             "pyd_SC_rgb_jpeg_dcmtk.dcm", "pdd_HTJ2K_08_RGB.dcm"]  # extremity, hip, MR, colour x3


def test_ood_gate_flags_non_chest_images_and_few_validation_chests(bundle, dicom_dir, chest_xray_dir):
    from core.imaging import load_image
    from core.trust.ood import bundle_ood_score

    ood = bundle.card["ood"]
    assert ood and ood["val_flag_rate"] < 0.05
    for name in NON_CHEST:
        score, flagged = bundle_ood_score(bundle, load_image(dicom_dir / "edge" / name).pixels)
        assert flagged, f"{name} (score {score:.2f}) should be flagged as unlike the training images"
    # Real Kermany radiographs at full resolution (training patients) pass the gate.
    full = sorted((chest_xray_dir / "full_resolution").rglob("*.jpeg"))
    flagged = [p.name for p in full if bundle_ood_score(bundle, load_image(p).pixels)[1]]
    assert len(full) == 12 and not flagged

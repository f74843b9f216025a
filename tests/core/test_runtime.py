"""LiteRT runtime (issue 18): scoring never imports TensorFlow, and gives Keras's answers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from core.learning.bundle import BundleError, load_bundle
from core.learning.runtime import LITERT_FILE, litert_available

REPO = Path(__file__).resolve().parents[2]
DEFAULT = REPO / "models" / "default"

pytestmark = pytest.mark.skipif(not litert_available(), reason="ai-edge-litert has no wheel here")


def _run_fresh(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PNEUMOSCOPE_HOME=str(tmp_path / "home"), PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def test_shipped_bundle_carries_a_litert_model_covered_by_its_card():
    card = json.loads((DEFAULT / "card.json").read_text())
    assert (DEFAULT / LITERT_FILE).is_file()
    from core.trust.integrity import file_sha256

    assert card["litert"]["sha256"] == file_sha256(DEFAULT / LITERT_FILE)


def test_a_changed_litert_file_is_refused(tmp_path):
    copy = tmp_path / "m"
    shutil.copytree(DEFAULT, copy)
    data = bytearray((copy / LITERT_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / LITERT_FILE).write_bytes(bytes(data))
    with pytest.raises(BundleError, match="LiteRT file does not match"):
        load_bundle(copy)


def test_scoring_a_dicom_with_heat_map_and_gate_leaves_tensorflow_out(dicom_dir, tmp_path):
    dcm = sorted((dicom_dir / "chest").glob("*.dcm"))[0]
    out = _run_fresh(f"""
        import sys
        from core.cases import score_case
        from core.learning.bundle import load_bundle
        from core.learning.registry import load_and_warm
        b = load_and_warm("models/default")
        c = score_case(b, {str(dcm)!r}, want_heatmap=True)
        assert c.error is None and c.heatmap is not None and c.ood_distance is not None, c
        print("TF" if "tensorflow" in sys.modules or "keras" in sys.modules else "NO-TF")
    """, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("NO-TF")


def test_predict_and_node_scorer_leave_tensorflow_out(dicom_dir, tmp_path):
    files = [str(p) for p in sorted((dicom_dir / "chest").glob("*.dcm"))[:3]]
    out = _run_fresh(f"""
        import sys
        from core.cli import main
        rc = main(["predict", "models/default", {files[0]!r}, "--csv", {str(tmp_path / 's.csv')!r}])
        assert rc == 0
        from core.learning.bundle import load_bundle
        from core.node.worker import BundleScorer
        scorer = BundleScorer(load_bundle("models/default"), want_heatmap=True)
        print("TF" if "tensorflow" in sys.modules or "keras" in sys.modules else "NO-TF")
    """, tmp_path)
    assert out.returncode == 0, out.stderr + out.stdout
    assert out.stdout.strip().endswith("NO-TF")
    assert (tmp_path / "s.csv").read_text().count("\n") == 2


def _compare(paths: list[Path]) -> tuple[float, float, float]:
    """(max |score diff|, min heat-map correlation, max |OOD distance diff|) LiteRT vs Keras."""
    from core.imaging import load_image
    from core.trust.explain import _resize_map, _runner
    from core.trust.ood import bundle_spec, extract_features, ood_score

    bundle = load_bundle(DEFAULT)
    runtime = bundle.runtime
    assert runtime is not None
    spec = bundle_spec(bundle)
    dscore, corr, dood = 0.0, 1.0, 0.0
    for p in paths:
        px = load_image(p).pixels
        x = bundle.preprocess(px)
        s_lite, f_lite, cam_lite = runtime.run(x)
        cam_keras, s_keras = _runner(bundle.model, None)(x)
        f_keras = extract_features(bundle.model, x[None])
        dscore = max(dscore, abs(s_lite - s_keras))
        a, b = _resize_map(cam_lite, 64, 64).ravel(), _resize_map(cam_keras, 64, 64).ravel()
        if a.std() > 0 and b.std() > 0:
            corr = min(corr, float(np.corrcoef(a, b)[0, 1]))
        dood = max(dood, abs(float(ood_score(spec, f_lite[None])[0] - ood_score(spec, f_keras)[0])))
    return dscore, corr, dood


def test_litert_matches_keras_on_the_chest_dicoms(dicom_dir):
    dscore, corr, dood = _compare(sorted((dicom_dir / "chest").glob("*.dcm")))
    print(f"19 DICOMs: max |score diff| {dscore:.2e}, min heat-map r {corr:.6f}, max |OOD diff| {dood:.2e}")
    assert dscore < 1e-4
    assert corr >= 0.999
    assert dood < 1e-4


def test_litert_reproduces_the_cards_test_figures_exactly(chest_xray_dir):
    from core.evaluation.curves import roc_auc
    from core.evaluation.operating import OperatingCurve

    bundle = load_bundle(DEFAULT)
    assert bundle.runtime is not None
    y, stored, files = bundle.scores("test")
    scores = bundle.score_paths([chest_xray_dir / f for f in files])
    print(f"624 test images: max |LiteRT - stored Keras score| {np.abs(scores - stored).max():.2e}")
    assert np.abs(scores - stored).max() < 2e-4
    card_test = bundle.card["metrics"]["test"]
    point = OperatingCurve(y, scores).at(bundle.threshold).metrics_dict()
    for key in ("tp", "fp", "tn", "fn"):
        assert point[key] == card_test["at_threshold"][key], key
    assert round(roc_auc(y, scores)[0], 4) == round(card_test["auc"][0], 4)


def test_training_without_tensorflow_says_what_it_needs(tmp_path):
    out = _run_fresh("""
        import sys
        sys.modules["tensorflow"] = None  # as in the lite app: the import fails
        sys.modules["keras"] = None
        from core.errors import PneumoscopeError
        from core.learning.runtime import require_tensorflow
        seen = []
        try:
            require_tensorflow(seen.append)
        except PneumoscopeError as exc:
            print("ERROR:", exc, "| said:", seen[0].message)
    """, tmp_path)
    assert "ERROR: Training needs TensorFlow" in out.stdout, out.stderr
    assert "Loading TensorFlow" in out.stdout

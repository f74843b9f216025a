"""core.evaluation.evaluate, core.evaluation.report and the evaluate command, with a fake bundle (no TensorFlow)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from core.evaluation import choosers, curves
from core.evaluation import figures as fg
from core.evaluation import operating as op
from core.evaluation import report as rp
from core.evaluation.evaluate import Scores, build_report, stored_scores
from core.learning.scoring import evaluate_bundle

REPO = Path(__file__).resolve().parents[2]


def _scores(split: str, n: int = 300, seed: int = 0, shift: float = 0.35) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.6).astype(np.int8)
    y[:2] = [0, 1]
    s = np.clip(rng.normal(0.3 + shift * y, 0.15), 0, 1).astype(np.float32)
    files = [
        (f"person{i}_{'virus' if i % 3 == 0 else 'bacteria'}_{i}.jpeg" if label else f"IM-{i:04d}-0001.jpeg")
        for i, label in enumerate(y)
    ]
    return y, s, files


CARD = {
    "name": "fake-model",
    "created": "2026-11-25T12:00:00Z",
    "model": {"name": "pneumonet", "input_shape": [64, 64, 1], "params": 1234},
    "data": {"root_name": "tiny", "split_seed": 7, "val_fraction": 0.25, "val_source": "made-from-train",
             "counts": {"train": {"NORMAL": 30, "PNEUMONIA": 30}}},
    "training": {"epochs_run": 3, "best_epoch": 2, "seconds": 12.5, "loss": "bce",
                 "history": {"loss": [0.7, 0.5, 0.4], "val_loss": [0.6, 0.5, 0.55],
                             "auc": [0.7, 0.8, 0.9], "val_auc": [0.72, 0.8, 0.79]}},
    "threshold": {"value": 0.5, "method": "youden", "reason": "Youden's J on validation", "chosen_on": "val"},
    "calibration": None,
    "intended_use": "Research only.",
    "limitations": ["Trained on one hospital's children."],
}


class FakeBundle:
    """What core.evaluation.evaluate needs from a ModelBundle: card, stored scores, score_paths."""

    sha256 = "f" * 64  # a model hash with no profile: its own threshold is in force

    def __init__(self, stored: dict | None = None, card: dict | None = None) -> None:
        self.card = json.loads(json.dumps(card or CARD))
        self._stored = stored if stored is not None else {
            "val": _scores("val", seed=1, shift=0.45),
            "test": _scores("test", seed=2, shift=0.2),
        }
        self.path = Path("fake")

    @property
    def threshold(self) -> float:
        return float(self.card["threshold"]["value"])

    def has_scores(self, split: str) -> bool:
        return split in self._stored

    def scores(self, split: str):
        return self._stored[split]

    def score_paths(self, paths, progress=None, should_stop=None, errors=None):
        out = []
        for p in paths:
            name = Path(p).name
            if "broken" in name:
                out.append(np.nan)
                if errors is not None:
                    errors[str(p)] = "cannot decode this file"
            else:
                base = 0.7 if "PNEUMONIA" in str(p) else 0.3
                out.append(base + (sum(map(ord, name)) % 20 - 10) / 100)
        return np.array(out, dtype=np.float32)


def _test_report(prevalence=None):
    y, s, files = _scores("test", seed=3)
    return build_report(CARD, Scores(y, s, files, "test", source="synthetic"), 0.5, prevalence=prevalence)


def test_build_report_numbers_come_from_core_operating():
    y, s, files = _scores("test", seed=3)
    report = _test_report(prevalence=0.1)
    point = op.OperatingCurve(y, s).at(0.5)
    assert report.point == point
    assert report.auc == curves.roc_auc(y, s)
    assert report.average_precision == curves.average_precision(y, s)
    assert report.classification == op.classification_report(y, s, 0.5)
    assert report.subgroups == op.subgroup_sensitivity(y, s, files, 0.5)
    assert report.ppv_npv_at_prevalence == point.ppv_npv_at(0.1)
    assert report.history["val_auc"] == [0.72, 0.8, 0.79]
    assert "report only" in report.split_note and report.split == "test"
    assert any("not chosen on them" in n for n in report.notes)
    json.dumps(report.metrics_dict(), allow_nan=False)
    text = rp.format_report(report)
    assert "Research use only - not for diagnostic use" in text
    assert "Viral pneumonia" in text and "weighted avg" in text


def test_threshold_choice_and_stored_threshold_are_recorded():
    y, s, files = _scores("val", seed=1)
    choice = choosers.choose_threshold(y, s, "sens", target=0.9)
    report = build_report(CARD, Scores(y, s, files, "val"), choice)
    assert report.threshold == choice.threshold and report.threshold_reason == choice.reason
    assert report.threshold_chosen_on == "val"
    assert any("optimistic" in n for n in report.notes)  # chosen and judged on the same images
    stored = build_report(CARD, Scores(y, s, files, "val"))
    assert stored.threshold == 0.5 and stored.threshold_method == "youden"
    with pytest.raises(op.MetricsError):
        build_report(CARD, Scores(y, s, files, "val"), 1.5)


def _pdf_pages(data: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page\b", data))


def test_write_report_pdf_and_html(tmp_path):
    report = _test_report(prevalence=0.05)
    pdf = tmp_path / "sub" / "report.pdf"
    html_path = tmp_path / "report.html"
    assert rp.write_report(report, pdf, html_path) == pdf
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    assert _pdf_pages(data) >= 7  # title, card, ROC, PR, confusion, calibration, history, text
    page = html_path.read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == len(rp.report_figures(report)) >= 5
    assert "Research use only - not for diagnostic use" in page
    assert "report only: never used to choose anything" in page
    assert "PPV at prevalence 5.0%" in page
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["report.html", "report.pdf"]


def test_write_report_is_atomic(tmp_path, monkeypatch):
    report = _test_report()
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF old report")

    def broken(_report):
        raise RuntimeError("figure failed")

    monkeypatch.setattr(rp, "report_figures", broken)
    with pytest.raises(RuntimeError):
        rp.write_report(report, pdf)
    assert pdf.read_bytes() == b"%PDF old report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.pdf"]
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    monkeypatch.undo()
    with pytest.raises(rp.ReportError, match="Could not write"):
        rp.write_report(report, blocker / "r.pdf")


def test_figure_builders_return_figures():
    y, s, _ = _scores("test", seed=5)
    for fig in (
        fg.roc_figure(y, s, threshold=0.5),
        fg.pr_figure(y, s, threshold=0.5),
        fg.confusion_figure(y, s, 0.5),
        fg.calibration_figure(y, s, threshold=0.5),
        fg.history_figure(CARD["training"]["history"]),
        fg.history_figure({}),
    ):
        assert isinstance(fig, Figure) and fig.axes


def test_core_report_needs_no_pyplot_and_no_qt():
    code = (
        "import sys, numpy as np\n"
        "import core.evaluation.report\n"
        "import core.evaluation.figures as r\n"
        "y = np.r_[np.zeros(20), np.ones(20)]; s = np.linspace(0, 1, 40)\n"
        "r.roc_figure(y, s, 0.5).savefig(__import__('io').BytesIO(), format='png')\n"
        "bad = [m for m in sys.modules if m.startswith(('PySide', 'PyQt', 'matplotlib.pyplot'))\n"
        "       or m.startswith('matplotlib.backends.backend_qt')]\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def _tiny_dataset(root: Path) -> Path:
    for split, n in (("train", 24), ("test", 6)):
        for cls in ("NORMAL", "PNEUMONIA"):
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                name = f"person{i}_bacteria_{i}.png" if cls == "PNEUMONIA" else f"IM-{i:04d}-0001.png"
                (folder / name).write_bytes(b"not decoded by the fake bundle" + bytes([i]))
    (root / "test" / "PNEUMONIA" / "person99_virus_1_broken.png").write_bytes(b"x")
    return root


def test_evaluate_bundle_reuses_the_card_split_and_skips_unreadable(tmp_path):
    from core.learning.data import DatasetError, scan_dataset

    root = _tiny_dataset(tmp_path / "data")
    bundle = FakeBundle()
    val = evaluate_bundle(bundle, root, "val")
    expected = scan_dataset(root, val_fraction=0.25, seed=7).splits["val"]
    assert sorted(val.files) == sorted(s.path for s in expected)
    assert list(val.y_true) == [s.label for s in expected]
    test = evaluate_bundle(bundle, root, "test")
    assert len(test) == 12 and len(test.skipped) == 1
    assert test.skipped[0][1] == "cannot decode this file"
    assert np.isfinite(test.y_score).all()
    report = build_report(bundle, test, 0.5)
    assert any("could not be scored" in n for n in report.notes)
    assert report.subgroups["bacteria"]["n"] == 6
    with pytest.raises(DatasetError):
        evaluate_bundle(bundle, tmp_path / "missing", "val")


def test_build_report_from_bundle_like_the_gui_calls_it():
    bundle = FakeBundle()
    report = build_report(bundle, split="test", scores=None)
    y, _, _ = bundle.scores("test")
    assert report.split == "test" and report.n == len(y)
    assert report.threshold == bundle.threshold
    assert stored_scores(bundle, "test").source.startswith("scores stored")


def _cli(argv, monkeypatch, bundle):
    import core.learning.bundle
    from core.cli import main

    monkeypatch.setattr(core.learning.bundle, "load_bundle", lambda path, safe_mode=True: bundle)
    return main(argv)


def test_cli_chooses_on_validation_and_applies_to_test(tmp_path, monkeypatch, capsys):
    bundle = FakeBundle()
    pdf, html_path = tmp_path / "t.pdf", tmp_path / "t.html"
    rc = _cli(["evaluate", "bundle", "--split", "test", "--choose", "spec:0.9", "--report", str(pdf),
               "--html", str(html_path), "--prevalence", "0.1", "--quiet"], monkeypatch, bundle)
    out = capsys.readouterr().out
    assert rc == 0
    yv, sv, _ = bundle.scores("val")
    yt, st_, _ = bundle.scores("test")
    on_val = choosers.choose_threshold(yv, sv, "spec", target=0.9).threshold
    on_test = choosers.choose_threshold(yt, st_, "spec", target=0.9).threshold
    assert on_val != on_test  # the data make the two distinguishable
    assert f"Threshold: {on_val:.4f}" in out
    assert "chosen on the validation split" in out and "not used to choose it" in out
    assert "TEST split - report only" in out
    assert pdf.read_bytes().startswith(b"%PDF") and "base64" in html_path.read_text()


def test_cli_threshold_and_errors(tmp_path, monkeypatch, capsys):
    bundle = FakeBundle()
    assert _cli(["evaluate", "b", "--threshold", "0.4", "--json", "--quiet"], monkeypatch, bundle) == 0
    out = capsys.readouterr().out
    assert "Threshold: 0.4000. Set by hand with the --threshold option" in out
    payload = json.loads(out[out.index("{"):])
    assert payload["threshold"]["value"] == 0.4 and payload["split"] == "val"
    assert _cli(["evaluate", "b", "--choose", "magic", "--quiet"], monkeypatch, bundle) == 1
    assert "Unknown threshold method" in capsys.readouterr().err
    assert _cli(["evaluate", "b", "--html", str(tmp_path / "x.html")], monkeypatch, bundle) == 1
    assert "--html needs --report" in capsys.readouterr().err
    no_test = FakeBundle(stored={"val": _scores("val")})
    assert _cli(["evaluate", "b", "--split", "test", "--quiet"], monkeypatch, no_test) == 1
    assert "no stored test scores" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_real_bundle_end_to_end(tmp_path):
    """A real (tiny, untrained) Keras bundle scores real PNG files through core.evaluation.evaluate."""
    import keras
    from PIL import Image

    from core.learning.bundle import load_bundle, save_bundle

    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    for split, n in (("train", 20), ("test", 8)):
        for cls, level in (("NORMAL", 60), ("PNEUMONIA", 170)):
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                name = f"person{i}_{'virus' if i % 2 else 'bacteria'}_{i}.png" if cls == "PNEUMONIA" else f"IM-{i:04d}.png"
                pixels = np.clip(rng.normal(level, 30, (40, 40)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / name)
    inputs = keras.Input((32, 32, 1))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    outputs = keras.layers.Dense(1, activation="sigmoid", kernel_initializer="ones", bias_initializer="zeros")(x)
    model = keras.Model(inputs, outputs)
    model.layers[-1].set_weights([np.array([[8.0]]), np.array([-3.6])])  # brighter -> higher score
    card = json.loads(json.dumps(CARD))
    card["model"]["input_shape"] = [32, 32, 1]
    card["data"].update(split_seed=3, val_fraction=0.3)
    path = save_bundle(tmp_path / "bundle", model, card, {})
    bundle = load_bundle(path)
    scores = evaluate_bundle(bundle, root, "test")
    assert len(scores) == 16 and not scores.skipped
    val = evaluate_bundle(bundle, root, "val")
    report = build_report(bundle, scores, choosers.choose_threshold(val.y_true, val.y_score, "youden"))
    assert report.threshold_chosen_on == "val"
    assert report.auc is not None and report.auc[0] > 0.9
    assert report.subgroups["virus"]["n"] == 4
    pdf = rp.write_report(report, tmp_path / "r.pdf", tmp_path / "r.html")
    assert _pdf_pages(pdf.read_bytes()) >= 7

"""The PDF report as a reader meets it (issue 14, item 7): one paper size, nothing overlapping,
the learning rate off the metrics axis, who set the threshold, honest notes, the user's umask."""

from __future__ import annotations

import os
import re

import pytest

from core.evaluation import choosers
from core.evaluation import figures as fg
from core.evaluation import report as rp
from core.evaluation.evaluate import Scores, build_report

from .test_evaluate import CARD, _scores

A4_POINTS = (595.44, 841.68)
LETTER_POINTS = (612.0, 792.0)


def _media_boxes(data: bytes) -> set[tuple[float, float]]:
    boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", data)
    return {(round(float(w), 1), round(float(h), 1)) for w, h in boxes}


def _report(card=None, threshold=0.5, split="test", **kw):
    y, s, files = _scores(split, seed=3)
    return build_report(card or CARD, Scores(y, s, files, split, source="synthetic", **kw), threshold)


@pytest.mark.parametrize(("paper", "points"), [("a4", A4_POINTS), ("letter", LETTER_POINTS)])
def test_every_pdf_page_has_the_same_paper_size(tmp_path, paper, points):
    pdf = rp.write_report(_report(), tmp_path / "r.pdf", paper=paper)
    boxes = _media_boxes(pdf.read_bytes())
    assert boxes == {(round(points[0], 1), round(points[1], 1))}


@pytest.mark.parametrize(("lang", "paper"), [("en_US.UTF-8", "letter"), ("en_CA.UTF-8", "letter"),
                                             ("de_DE.UTF-8", "a4"), ("en_GB.UTF-8", "a4"), ("fr_FR", "a4")])
def test_paper_follows_the_locale(monkeypatch, lang, paper):
    for var in ("LC_ALL", "LC_PAPER"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", lang)
    assert rp.default_paper() == paper
    monkeypatch.setenv("LC_PAPER", "en_US.UTF-8" if paper == "a4" else "de_DE.UTF-8")
    assert rp.default_paper() != paper  # LC_PAPER outranks LANG
    with pytest.raises(rp.ReportError, match="paper"):
        rp.paper_size("A3-ish")


def _text_boxes(fig):
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    return [(t.get_text(), t.get_window_extent(renderer)) for t in fig.texts if t.get_text().strip()]


def test_no_text_on_a_report_page_overlaps_another_or_leaves_the_page():
    y, s, files = _scores("val", seed=4)
    long_names = [(f"/data/site/PNEUMONIA/person{i}_bacteria_{i}_an_unusually_long_export_name_from_pacs.dcm",
                   "cannot decode this file: the transfer syntax needs a decoder that is not installed")
                  for i in range(40)]
    report = build_report(CARD, Scores(y, s, files, "val", skipped=long_names))
    pages = list(rp._pages(report, "a4"))
    assert len({tuple(fig.get_size_inches()) for _, fig in pages}) == 1
    for name, fig in pages:
        boxes = _text_boxes(fig)
        page = fig.bbox
        for text, box in boxes:
            assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0, (name, text)
        for i, (a, box_a) in enumerate(boxes):
            for b, box_b in boxes[i + 1:]:
                assert not box_a.overlaps(box_b), (name, a, b)
    assert sum(1 for name, _ in pages if name == "classification") >= 2  # continued, not cut off


def test_learning_rate_has_its_own_axis_not_the_accuracy_axis():
    history = {"accuracy": [0.8, 0.9, 0.95], "val_accuracy": [0.82, 0.88, 0.9], "loss": [0.5, 0.3, 0.2],
               "val_loss": [0.6, 0.4, 0.35], "learning_rate": [1e-3, 1e-3, 3e-4]}
    fig = fg.history_figure(history)
    by_title = {ax.get_title(): ax for ax in fig.axes}
    metrics = by_title["Metrics"]
    assert not any("learning" in line.get_label() for line in metrics.get_lines())
    assert min(min(line.get_ydata()) for line in metrics.get_lines()) >= 0.8
    lr = by_title["Learning rate"]
    assert lr.get_yscale() == "log" and lr.get_ylabel() == "learning rate"
    assert list(lr.get_lines()[0].get_ydata()) == history["learning_rate"]


def _page_text(report) -> str:
    return " ".join(t.get_text() for _, fig in rp._pages(report, "a4") for t in fig.texts)


def test_report_says_who_set_a_hand_adopted_threshold():
    card = dict(CARD, threshold={"value": 0.297, "method": "manual", "reason": "fewer missed cases",
                                 "chosen_on": "manual", "adopted_by": "dr.lee",
                                 "adopted_at": "2026-12-02T10:11:12Z"})
    report = _report(card, threshold=None)
    for text in (_page_text(report), rp.format_report(report), rp.render_html(report)):
        assert "chosen on: manual" not in text and "Method: manual" not in text
        assert "Set by hand by dr.lee on 2026-12-02" in text
    cli = _report(threshold=0.42)
    assert "Set by hand with a number given by the user" in rp.format_report(cli)
    chooser = _report(threshold=None)
    assert "Chosen by the youden chooser on the validation split when the model was trained" in _page_text(chooser)


def test_notes_do_not_claim_a_bundle_threshold_was_chosen_on_other_images():
    y, s, files = _scores("val", seed=1)
    other = build_report(CARD, Scores(y, s, files, "val", same_as_training=False))
    assert not any("these same validation images" in n for n in other.notes)
    assert any("not on these images" in n for n in other.notes)
    same = build_report(CARD, Scores(y, s, files, "val", same_as_training=True))
    assert any("optimistic" in n and "when the model was trained" in n for n in same.notes)
    chosen_now = build_report(CARD, Scores(y, s, files, "val"), choosers.choose_threshold(y, s, "youden"))
    assert any("chosen on these same validation images" in n for n in chosen_now.notes)
    typed = build_report(CARD, Scores(y, s, files, "val"), 0.4, chosen_on="user")
    assert not any("optimistic" in n for n in typed.notes)


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_report_files_get_the_users_umask_not_0600(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        pdf = rp.write_report(_report(), tmp_path / "r.pdf", tmp_path / "r.html", paper="a4")
    finally:
        os.umask(old)
    assert pdf.stat().st_mode & 0o777 == mode
    assert (tmp_path / "r.html").stat().st_mode & 0o777 == mode


def test_stored_scores_are_the_training_images_and_a_changed_folder_is_not(tmp_path):
    import json

    from core.evaluation.evaluate import stored_scores
    from core.learning.scoring import evaluate_bundle

    from .test_evaluate import CARD, FakeBundle, _tiny_dataset

    assert stored_scores(FakeBundle(), "val").same_as_training is True
    root = _tiny_dataset(tmp_path / "data")
    card = json.loads(json.dumps(CARD))
    card["data"]["manifest_hash"] = "another-folder"
    assert evaluate_bundle(FakeBundle(card=card), root, "val").same_as_training is False
    assert evaluate_bundle(FakeBundle(), root, "val").same_as_training is None  # card has no hash


def test_cli_notes_on_another_folder_do_not_claim_the_bundle_threshold_was_chosen_there(tmp_path, monkeypatch,
                                                                                        capsys):
    import json

    from .test_evaluate import CARD, FakeBundle, _cli, _tiny_dataset

    card = json.loads(json.dumps(CARD))
    card["data"]["manifest_hash"] = "the-training-folder"
    bundle = FakeBundle(card=card)
    root = _tiny_dataset(tmp_path / "site")
    assert _cli(["evaluate", "b", str(root), "--quiet"], monkeypatch, bundle) == 0
    out = capsys.readouterr().out
    assert "these same validation images" not in out
    assert "not on these images" in out
    assert "Chosen by the youden chooser on the validation split when the model was trained" in out

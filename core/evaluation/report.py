"""Evaluation reports: figures, text, a multi-page PDF and an HTML page.

Figures are built on ``matplotlib.figure.Figure`` objects with the Agg canvas, never through
pyplot, so no global state is touched and no GUI backend is ever loaded; the GUI embeds the same
figure builders in its own canvases. Files are written to a temporary sibling and renamed into
place, so a crash never leaves a half-written report.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from core.evaluation.calibration import brier_score, expected_calibration_error, reliability_curve
from core.evaluation.curves import average_precision, pr_curve, roc_auc, roc_curve
from core.evaluation.evaluate import Report, build_report
from core.evaluation.operating import OperatingCurve
from core.evaluation.pages import (
    A4_PORTRAIT,
    PAPER_SIZES,
    ReportError,
    default_paper,
    figure_page,
    paper_size,
    text_pages,
)
from core.paths import apply_umask

__all__ = [
    "A4_PORTRAIT",
    "PAPER_SIZES",
    "Report",
    "ReportError",
    "build_report",
    "calibration_figure",
    "confusion_figure",
    "default_paper",
    "format_report",
    "history_figure",
    "paper_size",
    "pr_figure",
    "report_figures",
    "roc_figure",
    "write_report",
]

PNEUMONIA_COLOUR = "#c0392b"
NORMAL_COLOUR = "#2471a3"
def _figure(size: tuple[float, float] = (6.0, 4.5)) -> Figure:
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)  # an Agg canvas so savefig works without pyplot
    return fig


def _pct(v: float) -> str:
    return "n/a" if v is None or math.isnan(v) else f"{v:.1%}"


def _ci(triple: tuple[float, float, float] | None, digits: int = 3) -> str:
    if triple is None or math.isnan(triple[0]):
        return "undefined"
    v, lo, hi = triple
    return f"{v:.{digits}f} ({lo:.{digits}f} to {hi:.{digits}f})"


# ----------------------------------------------------------------------------- figures


def roc_figure(y_true: Any, y_score: Any, threshold: float | None = None) -> Figure:
    """ROC curve with its AUC (95% DeLong interval) and the operating point at ``threshold``."""
    fpr, tpr, _ = roc_curve(y_true, y_score)
    auc, lo, hi = roc_auc(y_true, y_score)
    fig = _figure((5.2, 4.8))
    ax = fig.add_subplot()
    ax.plot(fpr, tpr, color=PNEUMONIA_COLOUR, lw=2, label=f"AUC {auc:.3f} (95% CI {lo:.3f}-{hi:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="chance")
    if threshold is not None:
        p = OperatingCurve(y_true, y_score).at(threshold)
        x, y = 1 - p.specificity[0], p.sensitivity[0]
        ax.errorbar(
            [x],
            [y],
            xerr=[[x - (1 - p.specificity[2])], [(1 - p.specificity[1]) - x]],
            yerr=[[y - p.sensitivity[1]], [p.sensitivity[2] - y]],
            fmt="o",
            color="black",
            capsize=3,
            label=f"threshold {threshold:.3f}: sens {y:.3f}, spec {p.specificity[0]:.3f}",
        )
    ax.set(
        xlim=(-0.01, 1.01),
        ylim=(-0.01, 1.01),
        xlabel="1 - specificity (NORMAL called PNEUMONIA)",
        ylabel="sensitivity (PNEUMONIA caught)",
        title="ROC curve",
    )
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def pr_figure(y_true: Any, y_score: Any, threshold: float | None = None) -> Figure:
    """Precision-recall curve for PNEUMONIA, its average precision, and the operating point."""
    precision, recall, _ = pr_curve(y_true, y_score)
    ap = average_precision(y_true, y_score)
    prevalence = float(np.mean(np.asarray(y_true) == 1))
    fig = _figure((5.2, 4.8))
    ax = fig.add_subplot()
    ax.step(recall, precision, where="post", color=PNEUMONIA_COLOUR, lw=2, label=f"average precision {ap:.3f}")
    ax.axhline(prevalence, color="grey", lw=1, ls="--", label=f"prevalence {prevalence:.3f}")
    if threshold is not None:
        p = OperatingCurve(y_true, y_score).at(threshold)
        if not math.isnan(p.precision[0]):
            ax.plot([p.sensitivity[0]], [p.precision[0]], "o", color="black", label=f"threshold {threshold:.3f}")
    ax.set(xlim=(-0.01, 1.01), ylim=(0, 1.02), xlabel="recall (sensitivity)", ylabel="precision (PPV)")
    ax.set_title("Precision-recall curve")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    return fig


def confusion_figure(y_true: Any, y_score: Any, threshold: float = 0.5) -> Figure:
    """2x2 confusion matrix at ``threshold`` with counts and row percentages."""
    tp, fp, tn, fn = OperatingCurve(y_true, y_score).counts_at(threshold)
    cells = np.array([[tn, fp], [fn, tp]], dtype=float)
    rows = cells.sum(axis=1, keepdims=True)
    share = np.divide(cells, rows, out=np.zeros_like(cells), where=rows > 0)
    fig = _figure((4.8, 4.2))
    ax = fig.add_subplot()
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    names = ("NORMAL", "PNEUMONIA")
    for i in range(2):
        for j in range(2):
            colour = "white" if share[i, j] > 0.6 else "black"
            ax.text(j, i, f"{int(cells[i, j]):,}\n{share[i, j]:.1%}", ha="center", va="center", color=colour, fontsize=12)
    ax.set_xticks([0, 1], names)
    ax.set_yticks([0, 1], names, rotation=90, va="center")
    ax.set(xlabel="called by the model (score >= threshold)", ylabel="true class")
    ax.set_title(f"Confusion matrix at threshold {threshold:.3f}\n(% of each true class)", fontsize=10)
    return fig


def calibration_figure(y_true: Any, y_score: Any, threshold: float | None = None, n_bins: int = 10) -> Figure:
    """Reliability diagram with Brier score and ECE, over a histogram of scores by class."""
    y = np.asarray(y_true)
    s = np.clip(np.asarray(y_score, dtype=float), 0, 1)
    mean_pred, frac_pos, counts = reliability_curve(y, s, n_bins)
    brier = brier_score(y, s)
    ece = expected_calibration_error(y, s, n_bins)
    fig = _figure((5.2, 5.6))
    top, bottom = fig.subplots(2, 1, height_ratios=[3, 1], sharex=True)
    top.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="perfectly calibrated")
    top.plot(mean_pred, frac_pos, "o-", color=PNEUMONIA_COLOUR, label="model")
    for x, f, c in zip(mean_pred, frac_pos, counts, strict=True):
        top.annotate(f"{int(c)}", (x, f), textcoords="offset points", xytext=(4, -10), fontsize=7, color="grey")
    top.set(ylabel="fraction truly PNEUMONIA", xlim=(0, 1), ylim=(-0.02, 1.02))
    top.set_title(f"Calibration: Brier {brier:.3f}, ECE {ece:.3f} ({n_bins} bins)", fontsize=10)
    top.grid(alpha=0.3)
    top.legend(loc="upper left", fontsize=8)
    bins = np.linspace(0, 1, 26)
    bottom.hist(s[y == 0], bins=bins, color=NORMAL_COLOUR, alpha=0.6, label="NORMAL")
    bottom.hist(s[y == 1], bins=bins, color=PNEUMONIA_COLOUR, alpha=0.6, label="PNEUMONIA")
    if threshold is not None:
        for ax in (top, bottom):
            ax.axvline(threshold, color="black", lw=1, ls=":")
    bottom.set(xlabel="score (P(pneumonia))", ylabel="images")
    bottom.legend(fontsize=7)
    return fig


LEARNING_RATE_KEYS = ("learning_rate", "lr")


def history_figure(history: dict[str, list[float]]) -> Figure:
    """Training curves: loss, the other metrics (training solid, validation dashed) and, in a panel
    of its own with a log axis, the learning rate (it lives on another scale than the metrics)."""
    metrics = sorted({k.removeprefix("val_") for k in history if k not in LEARNING_RATE_KEYS and history.get(k)})
    lr_key = next((k for k in LEARNING_RATE_KEYS if history.get(k)), None)
    if not metrics and lr_key is None:
        fig = _figure((7.5, 3.8))
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "No training history in the model card", ha="center", va="center")
        ax.set_axis_off()
        return fig
    others = [m for m in metrics if m != "loss"]
    top = (["loss"] if "loss" in metrics else []) + (["metrics"] if others else [])
    if lr_key and top:  # curves side by side, the learning rate in a strip of its own below them
        fig = _figure((7.5, 5.4))
        mosaic = fig.subplot_mosaic([top, ["lr"] * len(top)], height_ratios=[3, 1.5])
    else:
        top = top or ["lr"]
        fig = _figure((7.5, 3.8))
        mosaic = fig.subplot_mosaic([top])
    for panel, ax in mosaic.items():
        if panel == "lr":
            vals = history[lr_key]
            ax.plot(range(1, len(vals) + 1), vals, color="grey", marker=".", label="learning rate")
            if all(v > 0 for v in vals):
                ax.set_yscale("log")
            ax.set(xlabel="epoch", ylabel="learning rate", title="Learning rate")
            ax.grid(alpha=0.3)
            continue
        names = ["loss"] if panel == "loss" else others
        for i, name in enumerate(names):
            colour = f"C{i}"
            for key, ls, label in ((name, "-", name), (f"val_{name}", "--", f"val {name}")):
                vals = history.get(key)
                if vals:
                    ax.plot(range(1, len(vals) + 1), vals, ls=ls, color=colour, label=label)
        ax.set(xlabel="epoch", title="Loss" if panel == "loss" else "Metrics")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return fig


def report_figures(report: Report) -> list[tuple[str, Figure]]:
    """(caption, figure) pairs in report order; curves need both classes."""
    y, s, t = report.y_true, report.y_score, report.threshold
    figs: list[tuple[str, Figure]] = []
    if report.auc is not None:
        figs.append(("ROC curve with the operating point (95% Wilson intervals)", roc_figure(y, s, t)))
        figs.append(("Precision-recall curve", pr_figure(y, s, t)))
    figs.append(("Confusion matrix", confusion_figure(y, s, t)))
    figs.append(("Calibration", calibration_figure(y, s, t)))
    figs.append(("Training curves from the model card", history_figure(report.history)))
    return figs


# ----------------------------------------------------------------------------- text


def operating_rows(report: Report) -> list[tuple[str, str]]:
    p = report.point
    rows = [
        ("Threshold", f"{report.threshold:.4f} (score >= threshold means PNEUMONIA)"),
        ("Sensitivity (PNEUMONIA recall)", _ci(p.sensitivity)),
        ("Specificity (NORMAL recall)", _ci(p.specificity)),
        ("Precision / PPV", _ci(p.precision)),
        ("NPV", _ci(p.npv)),
        ("Accuracy", _ci(p.accuracy)),
        ("F1 (PNEUMONIA)", _ci(p.f1)),
        ("Balanced accuracy", _ci(p.balanced_accuracy)),
        ("Counts", f"TP {p.tp:,}  FP {p.fp:,}  TN {p.tn:,}  FN {p.fn:,}"),
        ("AUC (DeLong 95% CI)", _ci(report.auc)),
        ("Average precision", "undefined" if report.average_precision is None else f"{report.average_precision:.3f}"),
        ("Brier score / ECE", f"{report.brier:.4f} / {report.ece:.4f}"),
    ]
    if report.ppv_npv_at_prevalence is not None and report.prevalence is not None:
        ppv, npv = report.ppv_npv_at_prevalence
        rows.append((f"PPV at prevalence {report.prevalence:.1%}", _ci(ppv)))
        rows.append((f"NPV at prevalence {report.prevalence:.1%}", _ci(npv)))
    return rows


def subgroup_rows(report: Report) -> list[tuple[str, str]]:
    return [
        (f"{g['label']} ({g['metric']})", f"{g['k']:,}/{g['n']:,} = {_ci(g['value'])}")
        for g in report.subgroups.values()
        if g["n"] > 0
    ]


def _origin(report: Report) -> str:
    """Who or what set the threshold (reports built before the field existed fall back to the method)."""
    return report.threshold_origin or f"Method: {report.threshold_method}."


def _method_label(report: Report) -> str:
    return "set by hand" if report.threshold_method == "manual" else report.threshold_method


def format_report(report: Report) -> str:
    """Plain-text report for the terminal."""
    width = 40
    lines = [
        report.title,
        report.disclaimer,
        "",
        f"Split: {report.split_note}",
        f"Scores: {report.source}" if report.source else "",
        f"Images: {report.n:,} ({report.n_pos:,} PNEUMONIA, {report.n_neg:,} NORMAL)"
        + (f", {len(report.skipped):,} skipped" if report.skipped else ""),
        f"Threshold: {report.threshold:.4f}. {_origin(report)} Reason: {report.threshold_reason}",
        "",
    ]
    lines += [f"{k:<{width}} {v}" for k, v in operating_rows(report)]
    sub = subgroup_rows(report)
    if sub:
        lines += ["", "Subgroups:"] + [f"  {k:<{width - 2}} {v}" for k, v in sub]
    lines += ["", report.classification_text.rstrip()]
    if report.notes:
        lines += ["", "Notes:"] + [f"- {n}" for n in report.notes]
    return "\n".join(line for line in lines if line is not None) + "\n"


# ----------------------------------------------------------------------------- PDF


def _threshold_blocks(report: Report) -> list[tuple[str, Any]]:
    return [
        ("h", "How the threshold was chosen"),
        ("kv", [("Set by", _origin(report)), ("Reason given", report.threshold_reason)]),
        ("h", "Split scored"),
        ("warn" if report.split == "test" else "p", report.split_note),
        ("p", report.source or ""),
    ]


def _pages(report: Report, paper: str | None = None) -> Iterator[tuple[str, Figure]]:
    """Every page of the PDF, all of one paper size ("a4", "letter", or None for the locale's)."""
    size = paper_size(paper)
    headline = [
        ("Images", f"{report.n:,} ({report.n_pos:,} PNEUMONIA, {report.n_neg:,} NORMAL)"),
        ("AUC (95% CI)", _ci(report.auc)),
        ("Threshold", f"{report.threshold:.4f} ({_method_label(report)})"),
        ("Sensitivity", _ci(report.point.sensitivity)),
        ("Specificity", _ci(report.point.specificity)),
        ("Created", report.created),
    ]
    title_blocks: list[tuple[str, Any]] = [("warn", report.disclaimer), ("p", ""), ("kv", headline),
                                           *_threshold_blocks(report)]
    if report.notes:
        title_blocks += [("h", "Notes"), *[("p", f"- {n}") for n in report.notes]]
    for fig in text_pages(report.title, title_blocks, size):
        yield ("title", fig)
    card_blocks: list[tuple[str, Any]] = [
        ("h", "Model card"),
        ("kv", report.card_summary or [("Model", report.model_name)]),
        ("h", "Operating point (95% intervals)"),
        ("kv", operating_rows(report)),
        ("p", "Proportions have Wilson score intervals; F1 via the Jaccard index, balanced accuracy by "
              "MOVER; AUC by DeLong."),
    ]
    for fig in text_pages("Model card and operating point", card_blocks, size):
        yield ("card", fig)
    for caption, fig in report_figures(report):
        yield (caption, figure_page(caption, fig, size))
    blocks: list[tuple[str, Any]] = [("h", "Classification report"), ("pre", report.classification_text)]
    sub = subgroup_rows(report)
    if sub:
        blocks += [("h", "Subgroups (file names)"), ("kv", sub)]
    if report.skipped:
        shown = [(Path(p).name, r) for p, r in report.skipped[:25]]
        blocks += [("h", f"Images left out ({len(report.skipped):,})"), ("kv", shown)]
    for fig in text_pages("Classification report", blocks, size):
        yield ("classification", fig)


@contextlib.contextmanager
def _atomic_path(dest: Path) -> Iterator[Path]:
    """A temporary path next to ``dest``, renamed onto it only if the block succeeds."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        apply_umask(tmp_path)  # mkstemp makes it 0600; the report is the user's ordinary file
        os.replace(tmp_path, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def _write(dest: Path, writer: Callable[[Path], None], what: str) -> None:
    try:
        with _atomic_path(dest) as tmp:
            writer(tmp)
    except OSError as exc:
        raise ReportError(f"Could not write the {what} to {dest}: {exc.strerror or exc}") from exc


def write_report(
    report: Report,
    pdf_path: str | os.PathLike,
    html_path: str | os.PathLike | None = None,
    paper: str | None = None,
) -> Path:
    """Write the multi-page PDF (and the HTML page when ``html_path`` is given); returns the PDF path.

    Every page has one size: ``paper`` "a4" or "letter", or None/"auto" for the one the user's
    locale uses. The files get the permissions of any file the user makes (their umask).
    """
    from matplotlib.backends.backend_pdf import PdfPages

    pdf = Path(pdf_path)

    def write_pdf(tmp: Path) -> None:
        with PdfPages(tmp, metadata={"Title": report.title, "Subject": report.disclaimer, "Creator": "Pneumoscope"}) as pages:
            for _, fig in _pages(report, paper):
                pages.savefig(fig)

    _write(pdf, write_pdf, "PDF report")
    if html_path is not None:
        page = render_html(report)
        _write(Path(html_path), lambda tmp: tmp.write_text(page, encoding="utf-8"), "HTML report")
    return pdf


# ----------------------------------------------------------------------------- HTML


def _png_b64(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def render_html(report: Report) -> str:
    """One self-contained HTML page: the same numbers and figures (PNG, base64) as the PDF."""
    e = html.escape
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{e(report.title)}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}"
        "th{text-align:left;padding-right:1.5em;vertical-align:top}td{padding:2px 0}"
        ".warn{color:#c0392b;font-weight:bold}pre{background:#f5f5f5;padding:1em}"
        "figure{margin:1.5em 0}img{max-width:100%}</style></head><body>",
        f"<h1>{e(report.title)}</h1>",
        f"<p class='warn'>{e(report.disclaimer)}</p>",
        f"<p>Created {e(report.created)}</p>",
        "<h2>Split scored</h2>",
        f"<p class='{'warn' if report.split == 'test' else ''}'>{e(report.split_note)}</p>",
        f"<p>{e(report.source)}</p>",
        "<h2>How the threshold was chosen</h2>",
        f"<p>{e(_origin(report))}</p>",
        f"<p>Reason given: {e(report.threshold_reason)}</p>",
        "<h2>Operating point (95% intervals)</h2>",
        _table(operating_rows(report)),
        "<h2>Model card</h2>",
        _table(report.card_summary or [("Model", report.model_name)]),
    ]
    sub = subgroup_rows(report)
    if sub:
        parts += ["<h2>Subgroups</h2>", _table(sub)]
    for caption, fig in report_figures(report):
        parts.append(
            f"<figure><img alt='{e(caption)}' src='data:image/png;base64,{_png_b64(fig)}'>"
            f"<figcaption>{e(caption)}</figcaption></figure>"
        )
    parts += ["<h2>Classification report</h2>", f"<pre>{e(report.classification_text)}</pre>"]
    if report.notes:
        parts += ["<h2>Notes</h2><ul>", *[f"<li>{e(n)}</li>" for n in report.notes], "</ul>"]
    parts.append("</body></html>")
    return "\n".join(parts)

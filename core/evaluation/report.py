"""Evaluation reports: text, a multi-page PDF and an HTML page (figures: core.evaluation.figures).

No pyplot and no GUI backend, as in core.evaluation.figures. Files are written to a temporary
sibling and renamed into place, so a crash never leaves a half-written report.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from core.evaluation.evaluate import Report, build_report
from core.evaluation.figures import report_figures
from core.evaluation.pages import (
    A4_PORTRAIT,
    PAPER_SIZES,
    ReportError,
    default_paper,
    figure_page,
    paper_size,
    text_pages,
)
from core.paths import atomic_path

__all__ = [
    "A4_PORTRAIT",
    "PAPER_SIZES",
    "Report",
    "ReportError",
    "build_report",
    "default_paper",
    "format_report",
    "paper_size",
    "write_report",
]


def _ci(triple: tuple[float, float, float] | None, digits: int = 3) -> str:
    if triple is None or math.isnan(triple[0]):
        return "undefined"
    v, lo, hi = triple
    return f"{v:.{digits}f} ({lo:.{digits}f} to {hi:.{digits}f})"


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


def _write(dest: Path, writer: Callable[[Path], None], what: str) -> None:
    try:
        with atomic_path(dest) as tmp:
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

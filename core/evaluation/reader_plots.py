"""Readers on the ROC (points with 95% CI crosses), the model-vs-reader table and the readers' PDF.

No pyplot, no GUI backend: the Threshold screen draws :func:`draw_reader_points` on its own axes
and shows :func:`comparison_rows`, so the numbers on screen and in the PDF come from one place.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from core.evaluation.figures import roc_figure
from core.evaluation.operating import OperatingCurve
from core.evaluation.pages import A4_PORTRAIT, figure_page, paper_size, text_pages

READER_COLOURS = ("#1e8449", "#7d3c98", "#b9770e", "#17202a", "#2e86c1", "#a93226")


def _triple(v: Any) -> tuple[float, float, float] | None:
    if not v or v[0] is None or any(x is None or (isinstance(x, float) and math.isnan(x)) for x in v):
        return None
    return (float(v[0]), float(v[1]), float(v[2]))


def reader_points(readers: dict[str, dict[str, Any]]) -> list[tuple[str, tuple[float, float, float], tuple[float, float, float]]]:
    """(name, sensitivity, specificity) triples of readers whose point is known."""
    out = []
    for name, fig in readers.items():
        sens, spec = _triple(fig.get("sensitivity")), _triple(fig.get("specificity"))
        if sens and spec:
            out.append((name, sens, spec))
    return out


def _cross(ax: Any, sens: tuple[float, float, float], spec: tuple[float, float, float], label: str,
           **style: Any) -> Any:
    x, y = 1 - spec[0], sens[0]
    return ax.errorbar([x], [y], xerr=[[x - (1 - spec[2])], [(1 - spec[1]) - x]],
                       yerr=[[y - sens[1]], [sens[2] - y]], capsize=3, lw=1.2, label=label, **style)


def draw_reader_points(ax: Any, readers: dict[str, dict[str, Any]], pooled: dict[str, Any] | None = None) -> list[Any]:
    """Each reader as a square at (1 - spec, sens) with its 95% CI cross; with ``pooled``, the mean
    of the readers as a diamond with its bootstrap cross. Returns the errorbar containers drawn."""
    drawn = []
    for i, (name, sens, spec) in enumerate(reader_points(readers)):
        drawn.append(_cross(ax, sens, spec, f"reader {name}: sens {sens[0]:.2f}, spec {spec[0]:.2f}",
                            fmt="s", ms=7, color=READER_COLOURS[i % len(READER_COLOURS)]))
    sens, spec = _triple((pooled or {}).get("sensitivity")), _triple((pooled or {}).get("specificity"))
    if sens and spec:
        drawn.append(_cross(ax, sens, spec, f"readers' mean ({pooled['readers']}): sens {sens[0]:.2f}, "  # type: ignore[index]
                            f"spec {spec[0]:.2f}", fmt="D", ms=7, color="#555555", mfc="white"))
    return drawn


def _ci(v: Any) -> str:
    t = _triple(v)
    return "n/a" if t is None else f"{t[0]:.1%} [{t[1]:.1%}-{t[2]:.1%}]"


def comparison_rows(y: Any, scores: Any, threshold: float, readers: dict[str, dict[str, Any]],
                    agreement: dict[str, dict[str, Any]] | None = None) -> list[tuple[str, str, str, str]]:
    """(who, sensitivity, specificity, agreement with the model's calls) at ``threshold``, model first.

    ``agreement`` (reader -> :func:`core.evaluation.readers.agreement_at` at ``threshold``) gives the
    kappa at that threshold; without it, the readers' own kappa (at the threshold of their report).
    """
    at = OperatingCurve(y, scores).at(threshold)
    rows = [(f"model at {threshold:.3f}", _ci(at.sensitivity), _ci(at.specificity), "-")]
    for name, fig in readers.items():
        a = (agreement or {}).get(name)
        kappa = _triple(a["kappa"] if a else fig.get("kappa_vs_model"))
        text = "n/a" if kappa is None else f"kappa {kappa[0]:.2f} [{kappa[1]:.2f}-{kappa[2]:.2f}]"
        share = _triple(a["agreement"] if a else fig.get("agreement_vs_model"))
        if share is not None:
            text += f", same call {share[0]:.0%}"
        rows.append((f"reader {name}", _ci(fig.get("sensitivity")), _ci(fig.get("specificity")), text))
    return rows


def reader_roc_figure(y: Any, scores: Any, threshold: float, readers: dict[str, dict[str, Any]],
                      pooled: dict[str, Any] | None = None) -> Any:
    fig = roc_figure(y, scores, threshold)
    ax = fig.axes[0]
    draw_reader_points(ax, readers, pooled)
    ax.set_title("ROC curve with the readers' points")
    ax.legend(loc="lower right", fontsize=7)
    return fig


def _reader_blocks(report: dict[str, Any]) -> list[tuple[str, Any]]:
    blocks: list[tuple[str, Any]] = [
        ("p", f"Threshold in force {report['threshold']:.4f}: {report.get('threshold_source') or ''}"),
        ("h", "Model on the same cases")]
    m = report["model"]
    blocks.append(("kv", [("cases", str(m["n"])), ("AUC", _ci_num(m.get("auc"))),
                          ("sensitivity", _ci(m.get("sensitivity"))), ("specificity", _ci(m.get("specificity")))]))
    table = report.get("table")
    if table:
        blocks += [("h", f"Model and readers at the threshold {report['threshold']:.3f}"),
                   ("kv", [(who, f"sensitivity {se}; specificity {sp}" + ("" if ag == "-" else f"; {ag}"))
                           for who, se, sp, ag in table])]
    for name, f in report["readers"].items():
        rows = [("cases read", f"{f['n'] - f['cannot_read']} of {f['n']} ({f['cannot_read']} cannot read)"),
                ("sensitivity", _ci(f.get("sensitivity"))), ("specificity", _ci(f.get("specificity"))),
                ("AUC of ratings", _ci_num(f.get("auc")))]
        pv = f.get("auc_vs_model")
        if pv:
            lo, hi = pv["ci"]
            rows.append(("AUC reader - model", f"{pv['difference']:+.3f} [{lo:+.3f} to {hi:+.3f}], p = {pv['p']:.3g}"))
        k = _triple(f.get("kappa_vs_model"))
        rows.append(("kappa with the model's calls", "n/a" if k is None else f"{k[0]:.2f} [{k[1]:.2f}-{k[2]:.2f}]"))
        mc = f.get("mcnemar_matched_spec")
        if mc:
            rows.append(("McNemar at matched specificity",
                         f"model threshold {mc['threshold']:.3f}: reader alone right {mc['reader_only_right']}, "
                         f"model alone right {mc['model_only_right']}, p = {mc['p']:.3g}"))
        blocks += [("h", f"Reader {name}"), ("kv", rows)]
    pooled = report.get("pooled")
    if pooled:
        blocks += [("h", f"Mean of {pooled['readers']} readers (bootstrap over readers and cases, "
                         f"{pooled['bootstrap']} replicates, seed {pooled['seed']})"),
                   ("kv", [("sensitivity", _ci(pooled.get("sensitivity"))),
                           ("specificity", _ci(pooled.get("specificity"))), ("AUC", _ci_num(pooled.get("auc"))),
                           ("readers' mean AUC - model", _diff(pooled.get("auc_minus_model")))])]
    for note in report.get("notes") or []:
        blocks.append(("p", note))
    return blocks


def _diff(v: Any) -> str:
    t = _triple(v)
    return "n/a" if t is None else f"{t[0]:+.3f} [{t[1]:+.3f} to {t[2]:+.3f}]"


def _ci_num(v: Any) -> str:
    t = _triple(v)
    return "n/a" if t is None else f"{t[0]:.3f} [{t[1]:.3f}-{t[2]:.3f}]"


def write_reader_pdf(path: str | os.PathLike[str], y: Any, scores: Any, report: dict[str, Any],
                     paper: str | None = None) -> Path:
    """PDF: the figures as text, then the ROC with the readers' points (written atomically)."""
    from matplotlib.backends.backend_pdf import PdfPages

    from core.evaluation.report import _write

    size = paper_size(paper) if paper else A4_PORTRAIT
    dest = Path(path)

    def write(tmp: Path) -> None:
        with PdfPages(tmp, metadata={"Title": "Readers and model", "Creator": "Pneumoscope"}) as pages:
            for fig in text_pages("Readers and model on the same cases", _reader_blocks(report), size):
                pages.savefig(fig)
            roc = reader_roc_figure(y, scores, float(report["threshold"]), report["readers"], report.get("pooled"))
            pages.savefig(figure_page("ROC with the readers' points", roc, size))

    _write(dest, write, "readers' PDF report")
    return dest


__all__ = ["comparison_rows", "draw_reader_points", "reader_points", "reader_roc_figure",
           "write_reader_pdf"]

"""Evaluation figures: ROC, precision-recall, confusion matrix, calibration, training history.

Figures are built on ``matplotlib.figure.Figure`` objects with the Agg canvas, never through
pyplot, so no global state is touched and no GUI backend is ever loaded; the GUI embeds the same
figure builders in its own canvases.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from core.evaluation.calibration import brier_score, expected_calibration_error, reliability_curve
from core.evaluation.curves import average_precision, pr_curve, roc_auc, roc_curve
from core.evaluation.evaluate import Report
from core.evaluation.operating import OperatingCurve

PNEUMONIA_COLOUR = "#c0392b"
NORMAL_COLOUR = "#2471a3"


def _figure(size: tuple[float, float] = (6.0, 4.5)) -> Figure:
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)  # an Agg canvas so savefig works without pyplot
    return fig


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



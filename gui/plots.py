"""Matplotlib canvases for Qt. Only the operating-point markers move on a slider change:
they are animated artists drawn by blitting over a cached background, so one update costs
a marker draw rather than a full figure redraw."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PySide6.QtWidgets import QSizePolicy


class FigureCanvas(FigureCanvasQTAgg):
    def __init__(self, figure: Figure | None = None, parent=None, min_height: int = 220) -> None:
        super().__init__(figure or Figure(figsize=(5, 3.2), layout="constrained"))
        if parent is not None:
            self.setParent(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumHeight(min_height)


class CurvePlot(FigureCanvas):
    """ROC and precision-recall curves side by side with the current operating point."""

    def __init__(self, parent=None) -> None:
        super().__init__(Figure(figsize=(7.5, 3.3), layout="constrained"), parent, min_height=240)
        self.setObjectName("rocPlot")
        self.ax_roc, self.ax_pr = self.figure.subplots(1, 2)
        self._background = None
        (self._roc_line,) = self.ax_roc.plot([], [], color="#1f5fa8", lw=1.8)
        (self._pr_line,) = self.ax_pr.plot([], [], color="#1f5fa8", lw=1.8)
        self.ax_roc.plot([0, 1], [0, 1], ls=":", color="#888888", lw=1)
        (self.roc_marker,) = self.ax_roc.plot([], [], "o", ms=9, mfc="#d9480f", mec="white", mew=1.5, animated=True)
        (self.pr_marker,) = self.ax_pr.plot([], [], "o", ms=9, mfc="#d9480f", mec="white", mew=1.5, animated=True)
        for ax, (xl, yl) in ((self.ax_roc, ("1 - specificity (false positive rate)", "Sensitivity")),
                             (self.ax_pr, ("Recall (sensitivity)", "Precision (PPV)"))):
            ax.set_xlim(-0.02, 1.02)
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlabel(xl, fontsize=9)
            ax.set_ylabel(yl, fontsize=9)
            ax.tick_params(labelsize=8)
            ax.grid(alpha=0.3)
        self.ax_roc.set_title("ROC", fontsize=10)
        self.ax_pr.set_title("Precision-recall", fontsize=10)
        self.mpl_connect("draw_event", self._on_draw)

    def set_curves(self, fpr: Sequence[float], tpr: Sequence[float], precision: Sequence[float],
                   recall: Sequence[float], roc_title: str = "ROC", pr_title: str = "Precision-recall") -> None:
        self._roc_line.set_data(fpr, tpr)
        self._pr_line.set_data(recall, precision)
        self.ax_roc.set_title(roc_title, fontsize=10)
        self.ax_pr.set_title(pr_title, fontsize=10)
        self.draw_idle()

    def clear_curves(self) -> None:
        self.set_curves([], [], [], [])
        self.roc_marker.set_data([], [])
        self.pr_marker.set_data([], [])

    def _on_draw(self, _event) -> None:
        self._background = self.copy_from_bbox(self.figure.bbox)
        self._draw_markers()

    def _draw_markers(self) -> None:
        self.ax_roc.draw_artist(self.roc_marker)
        self.ax_pr.draw_artist(self.pr_marker)

    def set_point(self, fpr: float, tpr: float, recall: float, precision: float) -> None:
        self.roc_marker.set_data([fpr], [tpr])
        self.pr_marker.set_data([recall], [precision] if np.isfinite(precision) else [np.nan])
        if self._background is None:
            self.draw_idle()
            return
        self.restore_region(self._background)
        self._draw_markers()
        self.blit(self.figure.bbox)


class HistoryPlot(FigureCanvas):
    """Per-epoch training curves (loss, accuracy, AUC), train and validation."""

    PANELS = (("loss", "Loss"), ("accuracy", "Accuracy"), ("auc", "AUC"))

    def __init__(self, parent=None) -> None:
        super().__init__(Figure(figsize=(7.5, 2.6), layout="constrained"), parent, min_height=200)
        self.axes = self.figure.subplots(1, 3)
        self.reset()

    def reset(self) -> None:
        self.history: dict[str, list[float]] = {}
        for ax, (_, title) in zip(self.axes, self.PANELS, strict=True):
            ax.clear()
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("epoch", fontsize=8)
            ax.tick_params(labelsize=8)
            ax.grid(alpha=0.3)
        self.draw_idle()

    def add_epoch(self, logs: dict) -> None:
        for key, value in logs.items():
            try:
                self.history.setdefault(key, []).append(float(value))
            except (TypeError, ValueError):
                continue
        self.set_history(self.history)

    def set_history(self, history: dict[str, list[float]]) -> None:
        self.history = {k: list(v) for k, v in history.items()}
        for ax, (key, title) in zip(self.axes, self.PANELS, strict=True):
            ax.clear()
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("epoch", fontsize=8)
            ax.tick_params(labelsize=8)
            ax.grid(alpha=0.3)
            for prefix, style, label in (("", "-o", "train"), ("val_", "--s", "validation")):
                values = self._find(prefix, key)
                if values:
                    ax.plot(range(1, len(values) + 1), values, style, ms=3, lw=1.4, label=label)
            if ax.lines:
                ax.legend(fontsize=7)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        self.draw_idle()

    def _find(self, prefix: str, key: str) -> list[float]:
        for name, values in self.history.items():
            if name == prefix + key or (name.startswith(prefix) and name[len(prefix):] in (key, f"{key}_1", f"binary_{key}")):
                if prefix == "" and name.startswith("val_"):
                    continue
                return values
        return []


class BarPlot(FigureCanvas):
    """Class counts per split, grouped bars with the numbers written on them."""

    def __init__(self, parent=None) -> None:
        super().__init__(Figure(figsize=(4.5, 2.6), layout="constrained"), parent, min_height=180)
        self.ax = self.figure.subplots()

    def set_counts(self, counts: dict[str, dict[str, int]]) -> None:
        self.ax.clear()
        splits = [s for s in ("train", "val", "test") if s in counts] + [s for s in counts if s not in ("train", "val", "test")]
        classes = sorted({c for s in splits for c in counts[s]})
        width = 0.8 / max(len(classes), 1)
        colours = ["#4f8fd0", "#d9480f", "#2e7d4f", "#7048e8"]
        for k, cls in enumerate(classes):
            xs = np.arange(len(splits)) + (k - (len(classes) - 1) / 2) * width
            ys = [counts[s].get(cls, 0) for s in splits]
            bars = self.ax.bar(xs, ys, width, label=cls, color=colours[k % len(colours)])
            self.ax.bar_label(bars, fontsize=7, padding=1)
        self.ax.set_xticks(range(len(splits)), splits)
        self.ax.set_ylabel("images", fontsize=8)
        self.ax.tick_params(labelsize=8)
        self.ax.set_title("Class distribution per split", fontsize=10)
        self.ax.margins(y=0.15)
        if classes:
            self.ax.legend(fontsize=7)
        self.draw_idle()

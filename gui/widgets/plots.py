"""Matplotlib canvases for Qt. Only the operating-point markers move on a slider change:
they are animated artists drawn by blitting over a cached background, so one update costs
a marker draw rather than a full figure redraw."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget


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

    def show_scores(self, y_true: Sequence[int], y_score: Sequence[float]) -> str | None:
        """Draw the ROC and PR curves of these scores (core computes them); the reason when it cannot."""
        from core.evaluation.curves import average_precision, pr_curve, roc_auc, roc_curve
        from gui.workers.runner import user_message

        try:
            fpr, tpr, _ = roc_curve(y_true, y_score)
            precision, recall, _ = pr_curve(y_true, y_score)
            auc = roc_auc(y_true, y_score)
            ap = average_precision(y_true, y_score)
        except Exception as exc:
            self.clear_curves()
            return user_message(exc)
        self.set_curves(fpr, tpr, precision, recall,
                        roc_title=f"ROC, AUC {auc[0]:.3f} ({auc[1]:.3f}-{auc[2]:.3f}), n={len(y_true)}",
                        pr_title=f"Precision-recall, AP {ap:.3f}")
        return None

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


HISTORY_PANELS = (("loss", "Loss"), ("accuracy", "Accuracy"), ("auc", "AUC"))
TRAIN_COLOUR, VAL_COLOUR = "#1f77b4", "#ff7f0e"  # matplotlib's first two, as on the other plots


def _history_series(history: dict[str, list[float]], prefix: str, key: str) -> list[float]:
    for name, values in history.items():
        if name == prefix + key or (name.startswith(prefix) and name[len(prefix):] in (key, f"{key}_1", f"binary_{key}")):
            if prefix == "" and name.startswith("val_"):
                continue
            return values
    return []


def nice_ticks(low: float, high: float, most: int = 6) -> list[float]:
    """Round tick values (steps of 1, 2, 2.5 or 5 times a power of ten) covering [low, high]."""
    if not (np.isfinite(low) and np.isfinite(high)) or high <= low:
        return [low]
    raw = (high - low) / max(most - 1, 1)
    power = 10.0 ** np.floor(np.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw - 1e-12)
    first = np.ceil(low / step - 1e-9) * step
    return [float(v) for v in np.arange(first, high + step * 1e-6, step)]


def tick_decimals(step: float) -> int:
    """Decimals that show every tick at this step exactly (0.25 -> 2, 0.2 -> 1, 5 -> 0)."""
    for d in range(0, 6):
        if abs(round(step, d) - step) < step * 1e-6:
            return d
    return 6


class HistoryPlot(QWidget):
    """Per-epoch training curves (loss, accuracy, AUC), train and validation.

    Drawn with QPainter rather than matplotlib: a matplotlib redraw of three panels cost
    0.2-1 s of Python on the GUI thread on a loaded machine, once per epoch, which froze
    the window while training (tests/gui/test_responsiveness.py); rendering it on a worker
    instead still took the GIL from the GUI thread for that long. This paints in ~1 ms.
    """

    PANELS = HISTORY_PANELS

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("historyPlot")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumHeight(200)
        self.history: dict[str, list[float]] = {}

    def sizeHint(self) -> QSize:
        return QSize(750, 260)

    def reset(self) -> None:
        self.set_history({})

    def add_epoch(self, logs: dict) -> None:
        for key, value in logs.items():
            try:
                self.history.setdefault(key, []).append(float(value))
            except (TypeError, ValueError):
                continue
        self.update()

    def set_history(self, history: dict[str, list[float]]) -> None:
        self.history = {k: [float(x) for x in v] for k, v in history.items()}
        self.update()

    def _find(self, prefix: str, key: str) -> list[float]:
        return _history_series(self.history, prefix, key)

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), QColor("white"))
        n = len(self.PANELS)
        width = self.width() / n
        for i, (key, title) in enumerate(self.PANELS):
            self._paint_panel(painter, QRectF(i * width, 0, width, self.height()), key, title)
        painter.end()

    def _paint_panel(self, painter: QPainter, area: QRectF, key: str, title: str) -> None:
        series = [(label, colour, dashed, self._find(prefix, key))
                  for prefix, label, colour, dashed in (("", "train", TRAIN_COLOUR, False),
                                                        ("val_", "validation", VAL_COLOUR, True))]
        series = [s for s in series if s[3]]
        values = [v for *_, vals in series for v in vals if np.isfinite(v)]
        epochs = max((len(vals) for *_, vals in series), default=0)
        small = QFont(self.font())
        small.setPointSizeF(max(small.pointSizeF() * 0.8, 6.5))
        metrics = QFontMetricsF(small)
        title_font = QFont(self.font())
        title_font.setBold(True)
        title_h = QFontMetricsF(title_font).height()
        plot = QRectF(area.left() + metrics.horizontalAdvance("0.000") + 14, area.top() + title_h + 8,
                      0, 0)
        plot.setRight(area.right() - 10)
        plot.setBottom(area.bottom() - 2 * metrics.height() - 8)
        if plot.width() < 20 or plot.height() < 20:
            return
        painter.setFont(title_font)
        painter.setPen(QColor("#222222"))
        painter.drawText(QRectF(plot.left(), area.top() + 2, plot.width(), title_h),
                         Qt.AlignmentFlag.AlignCenter, title)
        lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
        pad = (hi - lo) * 0.08 or max(abs(hi) * 0.05, 0.01)
        lo, hi = lo - pad, hi + pad
        x_hi = max(epochs, 1) + 0.3
        x_lo = 0.7

        def to_px(x: float, y: float) -> QPointF:
            return QPointF(plot.left() + (x - x_lo) / (x_hi - x_lo) * plot.width(),
                           plot.bottom() - (y - lo) / (hi - lo) * plot.height())

        painter.setFont(small)
        grid = QPen(QColor("#e3e3e3"))
        grid.setWidthF(1.0)
        yticks = nice_ticks(lo, hi, 5)
        step = yticks[1] - yticks[0] if len(yticks) > 1 else 1.0
        decimals = tick_decimals(step)
        for y in yticks:
            p = to_px(x_lo, y)
            painter.setPen(grid)
            painter.drawLine(QPointF(plot.left(), p.y()), QPointF(plot.right(), p.y()))
            painter.setPen(QColor("#444444"))
            painter.drawText(QRectF(area.left(), p.y() - metrics.height() / 2, plot.left() - area.left() - 5,
                                    metrics.height()), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                             f"{round(y, decimals) or 0.0:.{decimals}f}")  # no "-0.0"
        xticks = [int(x) for x in nice_ticks(1, max(epochs, 1), 6) if float(x).is_integer()] or [1]
        for x in xticks:
            p = to_px(x, lo)
            painter.setPen(grid)
            painter.drawLine(QPointF(p.x(), plot.top()), QPointF(p.x(), plot.bottom()))
            painter.setPen(QColor("#444444"))
            painter.drawText(QRectF(p.x() - 20, plot.bottom() + 2, 40, metrics.height()),
                             Qt.AlignmentFlag.AlignCenter, str(x))
        painter.drawText(QRectF(plot.left(), plot.bottom() + metrics.height() + 4, plot.width(), metrics.height()),
                         Qt.AlignmentFlag.AlignCenter, "epoch")
        painter.setPen(QPen(QColor("#999999"), 1.0))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(plot)
        all_points: list[QPointF] = []
        for _label, colour, dashed, vals in series:
            pen = QPen(QColor(colour), 1.6)
            if dashed:
                pen.setStyle(Qt.PenStyle.DashLine)
            points = [to_px(i + 1, v) for i, v in enumerate(vals) if np.isfinite(v)]
            all_points += points
            painter.setPen(pen)
            if len(points) > 1:
                painter.drawPolyline(QPolygonF(points))
            painter.setPen(QPen(QColor(colour), 1.0))
            painter.setBrush(QColor(colour))
            for p in points:
                if dashed:
                    painter.drawRect(QRectF(p.x() - 2.5, p.y() - 2.5, 5, 5))
                else:
                    painter.drawEllipse(p, 2.8, 2.8)
            painter.setBrush(Qt.BrushStyle.NoBrush)
        if series:
            box_w = max(metrics.horizontalAdvance(label) for label, *_ in series) + 34
            box_h = len(series) * metrics.height() + 6
            # The corner the curves cross least, as matplotlib's legend(loc="best") would pick.
            corners = [QRectF(x, y, box_w, box_h)
                       for y in (plot.top() + 4, plot.bottom() - box_h - 4)
                       for x in (plot.right() - box_w - 4, plot.left() + 4)]
            box = min(corners, key=lambda r: sum(r.adjusted(-4, -4, 4, 4).contains(p) for p in all_points))
            painter.setPen(QPen(QColor("#cccccc"), 1.0))
            painter.setBrush(QColor(255, 255, 255, 220))
            painter.drawRect(box)
            for k, (label, colour, dashed, _vals) in enumerate(series):
                cy = box.top() + 3 + (k + 0.5) * metrics.height()
                pen = QPen(QColor(colour), 1.6)
                if dashed:
                    pen.setStyle(Qt.PenStyle.DashLine)
                painter.setPen(pen)
                painter.drawLine(QPointF(box.left() + 5, cy), QPointF(box.left() + 25, cy))
                painter.setPen(QColor("#222222"))
                painter.drawText(QRectF(box.left() + 29, cy - metrics.height() / 2, box_w, metrics.height()),
                                 Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, label)
        elif not values:
            painter.setPen(QColor("#888888"))
            painter.drawText(plot, Qt.AlignmentFlag.AlignCenter, "curves appear\nafter each epoch")


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

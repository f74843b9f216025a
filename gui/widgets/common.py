"""Small reusable widgets: banners, the confusion matrix, a thumbnail grid."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QTableWidget,
    QToolButton,
    QWidget,
)

BANNER_STYLES = {
    "error": ("#fdecea", "#8a1c12", "#e0a39c"),
    "warning": ("#fff6db", "#6b4e00", "#e3c46b"),
    "info": ("#e8f1fb", "#17406d", "#a9c6e8"),
}


class MessageBanner(QFrame):
    """An in-window, non-modal message strip that the user can close."""

    closed = Signal()

    def __init__(self, kind: str = "error", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"{kind}Banner")
        bg, fg, border = BANNER_STYLES[kind]
        self.setStyleSheet(
            f"QFrame#{kind}Banner {{ background: {bg}; border: 1px solid {border}; border-radius: 4px; }}"
            f"QFrame#{kind}Banner QLabel {{ color: {fg}; background: transparent; border: none; }}"
        )
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        self.label = WrappingLabel()
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        layout.addWidget(self.label, 1)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.dismiss)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_message(self, text: str) -> None:
        self.label.setText(text)
        self.show()

    def text(self) -> str:
        return self.label.text() if self.isVisible() or not self.isHidden() else ""

    def dismiss(self) -> None:
        self.hide()
        self.closed.emit()


class ConfusionMatrixWidget(QWidget):
    """2x2 confusion matrix with counts and row percentages (of the true class).

    Rows are the truth, columns the call at the threshold; a score >= threshold is PNEUMONIA.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("confusionMatrix")
        self.setMinimumSize(300, 210)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self._counts: dict[str, int] | None = None
        self._labels = ("NORMAL", "PNEUMONIA")

    def set_counts(self, tp: int, fp: int, tn: int, fn: int) -> None:
        self._counts = {"tp": int(tp), "fp": int(fp), "tn": int(tn), "fn": int(fn)}
        self.setToolTip(self.text())
        self.update()

    def clear(self) -> None:
        self._counts = None
        self.update()

    def counts(self) -> dict[str, int] | None:
        return None if self._counts is None else dict(self._counts)

    def text(self) -> str:
        if self._counts is None:
            return "no scores"
        c = self._counts
        return f"TP {c['tp']}  FN {c['fn']}  FP {c['fp']}  TN {c['tn']}"

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        w, h = self.width(), self.height()
        head_w, head_h = 110, 44
        cell_w = (w - head_w - 8) / 2
        cell_h = (h - head_h - 8) / 2
        small = QFont(self.font())
        small.setPointSizeF(max(self.font().pointSizeF() - 0.5, 8))
        bold = QFont(self.font())
        bold.setBold(True)
        big = QFont(self.font())
        big.setPointSizeF(self.font().pointSizeF() + 5)
        big.setBold(True)
        p.setPen(pal.windowText().color())
        p.setFont(small)
        p.drawText(QRectF(head_w, 0, 2 * cell_w, 18), Qt.AlignmentFlag.AlignCenter,
                   "Model says (at threshold); % of the true class")
        for j, name in enumerate(self._labels):
            p.setFont(bold)
            p.drawText(QRectF(head_w + j * cell_w, 18, cell_w, head_h - 18), Qt.AlignmentFlag.AlignCenter, name)
        for i, name in enumerate(self._labels):
            p.setFont(small)
            p.drawText(
                QRectF(0, head_h + i * cell_h, head_w - 6, cell_h),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                f"Truly\n{name}",
            )
        if self._counts is None:
            p.drawText(QRectF(head_w, head_h, 2 * cell_w, 2 * cell_h), Qt.AlignmentFlag.AlignCenter, "No scores")
            return
        c = self._counts
        cells = [[("TN", c["tn"], True), ("FP", c["fp"], False)], [("FN", c["fn"], False), ("TP", c["tp"], True)]]
        for i, row in enumerate(cells):
            total = sum(n for _, n, _ in row)
            for j, (tag, n, correct) in enumerate(row):
                share = n / total if total else 0.0
                base = QColor("#2e7d4f") if correct else QColor("#b3261e")
                fill = QColor(base)
                fill.setAlphaF(0.12 + 0.55 * share)
                rect = QRectF(head_w + j * cell_w + 2, head_h + i * cell_h + 2, cell_w - 4, cell_h - 4)
                p.setPen(QPen(base, 1.2))
                p.setBrush(fill)
                p.drawRoundedRect(rect, 5, 5)
                p.setPen(QColor("#111111") if share < 0.6 else QColor("#ffffff"))
                p.setFont(big)
                p.drawText(rect.adjusted(0, 0, 0, -rect.height() * 0.45), Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom, str(n))
                p.setFont(small)
                p.drawText(
                    rect.adjusted(2, rect.height() * 0.58, -2, 0),
                    Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                    f"{tag} · {share:.1%}",
                )


def fit_table_height(table: QTableWidget) -> None:
    """Make a short table exactly as tall as its rows, so no empty grey band shows below them."""
    header = table.horizontalHeader()
    height = header.sizeHint().height() if not header.isHidden() else 0
    height += sum(table.rowHeight(r) for r in range(table.rowCount()))
    height += 2 * table.frameWidth()
    table.setFixedHeight(height)


class ThumbnailGrid(QWidget):
    """Groups of thumbnails (a bold title, then one row of pictures), scaled so a whole row fits
    the width it is given: nothing is cut off at the edge, and no sideways scrolling."""

    SPACING = 4

    def __init__(self, per_row: int, max_size: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.per_row, self.max_size = per_row, max_size
        self.grid = QGridLayout(self)
        self.grid.setSpacing(self.SPACING)
        self.grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.setMinimumSize(1, 1)  # the layout must not push the width past the viewport
        self.thumbs: list[tuple[QLabel, QPixmap]] = []
        self.thumb_size = max_size

    def clear(self) -> None:
        while self.grid.count():
            item = self.grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.thumbs = []

    def set_groups(self, groups: list[tuple[str, list[tuple[str, QPixmap]]]]) -> None:
        self.clear()
        for r, (title, items) in enumerate(groups):
            self.grid.addWidget(QLabel(f"<b>{title}</b>"), 2 * r, 0, 1, self.per_row)
            for c, (name, pixmap) in enumerate(items[: self.per_row]):
                label = QLabel()
                label.setToolTip(name)
                label.setAlignment(Qt.AlignmentFlag.AlignCenter)
                self.grid.addWidget(label, 2 * r + 1, c)
                self.thumbs.append((label, pixmap))
        self._fit()

    def _fit(self) -> None:
        m = self.grid.contentsMargins()
        room = self.width() - m.left() - m.right() - self.SPACING * (self.per_row - 1)
        size = max(16, min(self.max_size, room // self.per_row))
        self.thumb_size = size
        for label, pixmap in self.thumbs:
            label.setFixedSize(size, size)
            label.setPixmap(pixmap.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                          Qt.TransformationMode.SmoothTransformation))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()


class WrappingLabel(QLabel):
    """A word-wrapped label that a crowded layout may not squeeze below the height its text needs
    at its current width (Qt's box layouts only ask a wrapped label for a two-line minimum)."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setWordWrap(True)

    def _fit(self) -> None:
        width = self.width() if self.width() > 50 else self.sizeHint().width()
        needed = self.heightForWidth(width)
        if needed > 0 and needed != self.minimumHeight():
            self.setMinimumHeight(needed)

    def setText(self, text: str) -> None:
        super().setText(text)
        self._fit()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()


def add_banners(layout: Any, *kinds: str) -> list[MessageBanner]:
    """The message strips a screen shows at its top (``"error"``, ``"warning"``, ``"info"``),
    added to ``layout`` in that order."""
    banners = [MessageBanner(kind) for kind in kinds]
    for banner in banners:
        layout.addWidget(banner)
    return banners


def add_dialog_buttons(form: Any, confirm: Any, on_confirm: Any, on_cancel: Any) -> Any:
    """The confirm + Cancel row at the foot of a form dialog (``confirm``: a
    ``QDialogButtonBox.StandardButton`` such as Save or Ok)."""
    from PySide6.QtWidgets import QDialogButtonBox

    buttons = QDialogButtonBox(confirm | QDialogButtonBox.StandardButton.Cancel)
    buttons.accepted.connect(on_confirm)
    buttons.rejected.connect(on_cancel)
    form.addRow(buttons)
    return buttons

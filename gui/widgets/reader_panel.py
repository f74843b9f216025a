"""Readers on the Threshold screen: load a readings file for the site cases, draw each reader's point
with its 95% CI cross on the ROC, and show core's model-vs-reader table at the slider's threshold.
Every figure comes from core (core.site.reader_study, core.evaluation.reader_plots)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.errors import PneumoscopeError

HEADERS = ("", "Sensitivity (95% CI)", "Specificity (95% CI)", "Kappa with the model's calls at the threshold in force")


class ReaderPanel(QWidget):
    def __init__(self, plot: Any, state: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot, self.state = plot, state
        self.site: Any = None
        self.report: Any = None
        self._artists: list[Any] = []
        self._threshold = 0.5
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.load_btn = QPushButton("Readers...")
        self.load_btn.setToolTip("A readings file (file,reader,call[,rating]) for the site cases: readers' points on the ROC")
        self.load_btn.clicked.connect(self._dialog)
        row.addWidget(self.load_btn)
        self.status = QLabel("Add site data, then load the readers' readings of those cases.")
        self.status.setWordWrap(True)
        row.addWidget(self.status, 1)
        layout.addLayout(row)
        self.table = QTableWidget(0, len(HEADERS))
        self.table.setObjectName("readerTable")
        self.table.setHorizontalHeaderLabels(HEADERS)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setMaximumHeight(120)
        self.table.hide()
        layout.addWidget(self.table)

    def set_site(self, scored: Any) -> None:
        self.site = scored
        self.report = None
        self._clear_points()
        self.table.hide()
        self.status.setText("" if scored is None else "Load the readers' readings of these site cases.")

    def _dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Readings file", "", "CSV (*.csv)")
        if path:
            self.load(path)

    def load(self, path: str) -> bool:
        from core.site.reader_study import reader_report
        from core.site.readings import read_readings

        if self.site is None:
            self.status.setText("Add the site data the readers read first (Add site data...).")
            return False
        threshold = float(self.state.threshold if self.state.threshold is not None else self._threshold)
        try:
            readings = read_readings(path)
            no_call = self.site.ood > 1.0 if self.site.ood is not None else None
            self.report = reader_report(self.site.site, self.site.scores, readings, threshold,
                                        self.state.threshold_source, no_call, n_boot=300)
        except PneumoscopeError as exc:
            self.status.setText(f"Readings not used: {exc}")
            return False
        self.status.setText(f"{len(self.report.readers)} reader(s) on {self.report.model['n']} site cases; squares with "
                            "95% CI crosses on the ROC.")
        self._draw_points()
        self.set_threshold(self._threshold)
        return True

    def _clear_points(self) -> None:
        for a in self._artists:
            a.remove()
        self._artists = []

    def _draw_points(self) -> None:
        from core.evaluation.reader_plots import draw_reader_points

        self._clear_points()
        ax = self.plot.ax_roc
        before = set(ax.lines) | set(ax.collections)
        draw_reader_points(ax, self.report.readers)
        self._artists = [a for a in [*ax.lines, *ax.collections] if a not in before]
        ax.legend(handles=[c for c in ax.containers if c.get_label().startswith("reader")], fontsize=7,
                  loc="lower right")
        self.plot.draw_idle()

    def set_threshold(self, threshold: float) -> None:
        """The model-vs-reader table at the slider's threshold (the readers' own points do not move)."""

        self._threshold = float(threshold)
        if self.report is None or self.site is None:
            return
        rows = self.report.rows_at(self.site.y_true, self.site.scores, self._threshold)
        self.table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            for j, text in enumerate(row):
                self.table.setItem(i, j, QTableWidgetItem(text))
        self.table.show()

    def rows(self) -> list[list[str]]:
        return [[self.table.item(i, j).text() for j in range(self.table.columnCount())]
                for i in range(self.table.rowCount())]

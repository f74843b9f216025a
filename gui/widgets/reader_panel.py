"""Readers on the Threshold screen: load a readings file for the site cases, draw each reader's point
with its 95% CI cross on the ROC, and show core's model-vs-reader table at the slider's threshold.
Every figure comes from core (core.site.reader_study, core.evaluation.reader_plots)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
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

HEADERS = ("", "Sensitivity (95% CI)", "Specificity (95% CI)", "Kappa with the model's calls at the slider's threshold")


class ReaderPanel(QWidget):
    """``choose(chooser, readings)`` is the Threshold screen's way to run a reader-matched chooser."""

    def __init__(self, plot: Any, state: Any, parent: QWidget | None = None,
                 choose: Callable[[str, list[Any]], Any] | None = None) -> None:
        super().__init__(parent)
        self.plot, self.state = plot, state
        self.site: Any = None
        self.report: Any = None
        self.readings: list[Any] = []
        self._choose = choose
        self._artists: list[Any] = []
        self._threshold = 0.5
        self._shown = True  # readers belong to the site cases: hidden while another split is on screen
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.load_btn = QPushButton("Readers...")
        self.load_btn.setToolTip("Readings files (file,reader,call[,rating]) of the site cases: readers' points on the "
                                 "ROC. Files from elsewhere are kept in your user data folder.")
        self.load_btn.clicked.connect(self._dialog)
        row.addWidget(self.load_btn)
        self.status = QLabel("Add site data, then load the readers' readings of those cases.")
        self.status.setWordWrap(True)
        row.addWidget(self.status, 1)
        layout.addLayout(row)
        match = QHBoxLayout()
        match.addWidget(QLabel("Model threshold matching reader"))
        self.match_reader = QComboBox()
        self.match_kind = QComboBox()
        self.match_kind.addItem("sensitivity", "reader-sens")
        self.match_kind.addItem("specificity", "reader-spec")
        self.match_btn = QPushButton("Suggest")
        self.match_btn.setToolTip("Chosen on part of the site cases (by patient) from the reader's calls there, "
                                  "measured with the reader's own point on the held-out rest")
        self.match_btn.clicked.connect(self.suggest)
        self.pdf_btn = QPushButton("Readers' PDF...")
        self.pdf_btn.setToolTip("The ROC with the readers' points, their figures and the table at the threshold that "
                                "was in force when the readings were loaded")
        self.pdf_btn.clicked.connect(self._pdf_dialog)
        for w in (self.match_reader, self.match_kind, self.match_btn, self.pdf_btn):
            match.addWidget(w)
        match.addStretch(1)
        self.match_row = QWidget()
        self.match_row.setLayout(match)
        match.setContentsMargins(0, 0, 0, 0)
        self.match_row.hide()
        layout.addWidget(self.match_row)
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
        self.readings = []
        self._clear_points()
        self.table.hide()
        self.match_row.hide()
        self.status.setText("" if scored is None else "Load the readers' readings of these site cases.")

    def set_shown(self, shown: bool) -> None:
        """Readers are points on the SITE cases' ROC: shown only while the site split is on screen."""
        self._shown = bool(shown)
        if self.report is None:
            return
        if shown:
            self._draw_points()
            self.set_threshold(self._threshold)
        else:
            self._clear_points()
            self.plot.draw_idle()
        self.table.setVisible(shown)
        self.match_row.setVisible(shown and self._choose is not None)

    def _dialog(self) -> None:
        from core.site.readings import readings_dir

        paths, _ = QFileDialog.getOpenFileNames(self, "Readings files", str(readings_dir()), "CSV (*.csv)")
        if paths:
            self.load(paths)

    def load(self, paths: str | list[str], keep: bool = True) -> bool:
        """Read the readings of the site cases and draw them; files from outside the user data folder
        are kept there (``keep``) so they can be found again (Readers... opens in that folder)."""
        from core.site.reader_study import reader_report
        from core.site.readings import keep_readings, read_readings_files

        if self.site is None:
            self.status.setText("Add the site data the readers read first (Add site data...).")
            return False
        files = [paths] if isinstance(paths, str) else list(paths)
        threshold = float(self.state.threshold if self.state.threshold is not None else self._threshold)
        try:
            readings = read_readings_files(files)
            no_call = self.site.ood > 1.0 if self.site.ood is not None else None
            report = reader_report(self.site.site, self.site.scores, readings, threshold,
                                   self.state.threshold_source, no_call, n_boot=300)
        except PneumoscopeError as exc:
            self.status.setText(f"Readings not used: {exc}")
            return False
        self.report, self.readings = report, readings
        kept = keep_readings(files) if keep else []
        text = (f"{len(report.readers)} reader(s) on {report.model['n']} site cases; squares with 95% CI crosses on "
                "the ROC" + (", the diamond is their mean" if report.pooled else "") + ".")
        if kept:
            text += " Kept: " + "; ".join(kept) + "."
        if report.notes:
            text += " " + " ".join(report.notes)
        self.status.setText(text)
        self.match_reader.clear()
        self.match_reader.addItems(list(report.readers))
        if self._shown:
            self._draw_points()
            self.set_threshold(self._threshold)
        self.match_row.setVisible(self._shown and self._choose is not None)
        return True

    def suggest(self) -> Any:
        """The model threshold matching the chosen reader (core.site.reader_study, honest split)."""
        if self._choose is None or self.report is None or not self.match_reader.currentText():
            return None
        chooser = f"{self.match_kind.currentData()}:{self.match_reader.currentText()}"
        return self._choose(chooser, self.readings)

    def _pdf_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Readers' PDF", "readers.pdf", "PDF (*.pdf)")
        if path:
            self.export_pdf(path)

    def export_pdf(self, path: str) -> Any:
        """Core writes the PDF (the same as ``readers report --report``); None if there is nothing to write."""
        if self.report is None or self.site is None:
            return None
        try:
            out = self.report.pdf(path, self.site.y_true, self.site.scores)
        except (PneumoscopeError, OSError) as exc:
            self.status.setText(f"The PDF was not written: {exc}")
            return None
        self.status.setText(f"Readers' PDF written to {out}")
        return out

    def _clear_points(self) -> None:
        for a in self._artists:
            a.remove()
        self._artists = []
        ax = self.plot.ax_roc
        # The errorbar containers stay in ax.containers after their lines are removed; drop ours
        # (and the legend that lists them) so a second readings file does not keep the first's names.
        ax.containers[:] = [c for c in ax.containers if not str(c.get_label()).startswith(("reader", "readers"))]
        legend = ax.get_legend()
        if legend is not None:
            legend.remove()

    def _draw_points(self) -> None:
        from core.evaluation.reader_plots import draw_reader_points

        self._clear_points()
        ax = self.plot.ax_roc
        before = set(ax.lines) | set(ax.collections)
        drawn = draw_reader_points(ax, self.report.readers, self.report.pooled)
        self._artists = [a for a in [*ax.lines, *ax.collections] if a not in before]
        ax.legend(handles=drawn, fontsize=7, loc="lower right")
        self.plot.draw_idle()

    def legend_labels(self) -> list[str]:
        legend = self.plot.ax_roc.get_legend()
        return [] if legend is None else [t.get_text() for t in legend.get_texts()]

    def set_threshold(self, threshold: float) -> None:
        """The model-vs-reader table at the slider's threshold: the model's point and each reader's
        agreement with the model's calls follow it; the readers' own points do not move."""

        self._threshold = float(threshold)
        if self.report is None or self.site is None or not self._shown:
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

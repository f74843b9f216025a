"""Evaluate screen: score a split (or use the bundle's stored scores), show the
classification report, confusion matrix, ROC and calibration, and export a PDF report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.state import AppState
from gui.widgets.common import ConfusionMatrixWidget, add_banners, fit_table_height
from gui.widgets.plots import FigureCanvas
from gui.widgets.task import BackgroundTask
from gui.workers.runner import Worker

REPORT_ROWS = ("NORMAL", "PNEUMONIA", "macro avg", "weighted avg")


def compute_evaluation(bundle: Any, split: str, data_root: str | None, threshold: float | None,
                       progress=None, should_stop=None) -> dict[str, Any]:
    """core.evaluation.evaluate's report (scores fresh from a data folder, or stored in the bundle) and figures.

    ``bundle`` may be a bundle folder (loaded here, off the GUI thread); ``threshold`` None
    means the bundle's own adopted threshold.
    """
    from core.evaluation.evaluate import build_report, stored_scores
    from core.evaluation.figures import calibration_figure, roc_figure
    from core.learning.scoring import evaluate_bundle

    if isinstance(bundle, (str, Path)):
        from core.learning.bundle import load_bundle

        bundle = load_bundle(bundle)
    from core.cases import active_threshold

    in_force, source = active_threshold(bundle)
    if threshold is None:
        threshold = in_force
    if data_root is None and not bundle.has_scores(split):
        from core.errors import PneumoscopeError

        raise PneumoscopeError(f"This model has no stored {split} scores: choose a data folder to score.")
    if data_root:
        scores = evaluate_bundle(bundle, data_root, split, progress=progress, should_stop=should_stop)
    else:
        scores = stored_scores(bundle, split)
    from core.evaluation.wording import report_threshold

    origin = report_threshold(bundle.threshold, in_force, source, threshold,
                              set_by="the threshold set on the Threshold screen, not adopted")
    report = build_report(bundle, scores=scores, split=split, **origin)
    figures = {
        "roc": roc_figure(scores.y_true, scores.y_score, threshold=threshold),
        "calibration": calibration_figure(scores.y_true, scores.y_score, threshold=threshold),
    }
    return {"report": report, "figures": figures, "split": split, "threshold": threshold, "bundle": bundle}


def export_report(bundle: Any, report: Any, pdf_path: str) -> str:
    from core.reporting import export_report as export

    return str(export(bundle, report, pdf_path))


class EvaluateWidget(QWidget):
    evaluated = Signal(object)
    exported = Signal(str)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.result: dict[str, Any] | None = None
        self._build()
        self.task = BackgroundTask(self, button=self.eval_btn, progress=self.progress, banner=self.banner,
                                   failure="Evaluation stopped", idle_enabled=lambda: self.model_combo.count() > 0)
        self.task.finished.connect(self._on_done)
        self.task.failed.connect(lambda _exc: self._clear_results())
        # the results are still valid when only the report file could not be written
        self.exporting = BackgroundTask(self, progress=self.progress, banner=self.banner,
                                        failure="The report was not written")
        self.exporting.finished.connect(self._on_exported)
        self.runner = self.task.runner
        state.bundleChanged.connect(self._on_bundle)
        self._on_bundle(state.bundle)

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        self.banner, self.info = add_banners(outer, "error", "info")
        row = QHBoxLayout()
        row.addWidget(QLabel("Model"))
        self.model_combo = QComboBox()
        self.model_combo.setObjectName("evalModelCombo")
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.model_combo.setToolTip("Evaluate the active model or any other saved model; the active model "
                                    "does not change.")
        self.model_combo.currentIndexChanged.connect(self._on_choice)
        row.addWidget(self.model_combo)
        self.bundle_label = QLabel("No model loaded")
        self.bundle_label.setObjectName("evalBundleLabel")
        self.bundle_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row.addWidget(self.bundle_label, 1)
        row.addWidget(QLabel("Split"))
        self.split_combo = QComboBox()
        self.split_combo.addItem("Validation", "val")
        self.split_combo.addItem("Test (report only)", "test")
        row.addWidget(self.split_combo)
        outer.addLayout(row)
        row2 = QHBoxLayout()
        row2.addWidget(QLabel("Data folder (optional)"))
        self.data_edit = QLineEdit()
        self.data_edit.setPlaceholderText("empty: use the scores stored in the bundle")
        row2.addWidget(self.data_edit, 1)
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        row2.addWidget(browse)
        self.eval_btn = QPushButton("Evaluate")
        self.eval_btn.setObjectName("evaluateButton")
        self.eval_btn.clicked.connect(self.run_evaluation)
        row2.addWidget(self.eval_btn)
        self.export_btn = QPushButton("Export PDF report...")
        self.export_btn.setObjectName("exportButton")
        self.export_btn.clicked.connect(self.export_dialog)
        self.export_btn.setEnabled(False)
        row2.addWidget(self.export_btn)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(140)
        self.progress.setRange(0, 0)
        self.progress.hide()
        row2.addWidget(self.progress)
        outer.addLayout(row2)

        split = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        self.summary = QLabel("")
        self.summary.setObjectName("evalSummary")
        self.summary.setWordWrap(True)
        # Top-aligned and only as tall as its text: spare height goes below the matrix, not
        # around the summary (it floated mid-column in the screenshots).
        self.summary.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.summary.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        lv.addWidget(self.summary)
        self.report_table = QTableWidget(len(REPORT_ROWS), 4)
        self.report_table.setObjectName("reportTable")
        self.report_table.setHorizontalHeaderLabels(["precision", "recall", "f1-score", "support"])
        self.report_table.setVerticalHeaderLabels(list(REPORT_ROWS))
        self.report_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.report_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.report_table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        fit_table_height(self.report_table)
        lv.addWidget(self.report_table)
        self.matrix = ConfusionMatrixWidget()
        self.matrix.setObjectName("evalConfusionMatrix")
        self.matrix.setMaximumHeight(340)
        lv.addWidget(self.matrix, 1)
        lv.addStretch(0)
        split.addWidget(left)
        self.fig_area = QWidget()
        self.fig_layout = QHBoxLayout(self.fig_area)
        self.fig_layout.setContentsMargins(0, 0, 0, 0)
        self.fig_placeholder = QLabel("Figures appear here after Evaluate.")
        self.fig_placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.fig_layout.addWidget(self.fig_placeholder)
        split.addWidget(self.fig_area)
        split.setSizes([480, 840])
        outer.addWidget(split, 1)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Data folder to score")
        if folder:
            self.data_edit.setText(folder)

    def _on_bundle(self, _bundle: Any) -> None:
        self.refresh_models()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refresh_models()  # models trained since the screen was last shown

    def refresh_models(self) -> None:
        """The active model first, then the shipped default and the user's saved bundles."""
        from core.learning.registry import list_bundles

        chosen = self.model_combo.currentData()
        active = self.state.bundle
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        if active is not None:
            self.model_combo.addItem(f"Active model ({active.name})", None)
        self._cards: dict[str, dict[str, Any]] = {}
        try:
            bundles = list_bundles()
        except OSError:
            bundles = []
        for b in bundles:
            if active is not None and Path(b["path"]).resolve() == Path(active.path).resolve():
                continue
            self.model_combo.addItem(b["label"], b["path"])
            self._cards[b["path"]] = b
        index = self.model_combo.findData(chosen) if chosen is not None else 0
        self.model_combo.setCurrentIndex(max(index, 0))
        self.model_combo.blockSignals(False)
        self._on_choice()

    def _on_choice(self, *_args: Any) -> None:
        path = self.model_combo.currentData()
        enabled = self.model_combo.count() > 0 and not self.task.busy()
        self.eval_btn.setEnabled(enabled)
        if self.model_combo.count() == 0:
            self.bundle_label.setText("No model loaded")
        elif path is None:
            b = self.state.bundle
            self.bundle_label.setText(f"threshold {float(self.state.threshold or b.threshold):.3f} (as in Review) · {b.path}")
        else:
            info = self._cards.get(path, {})
            thr = info.get("threshold_in_force", info.get("threshold"))
            thr_text = f"its own threshold {thr:.3f}" if isinstance(thr, (int, float)) else "its own threshold"
            self.bundle_label.setText(f"{thr_text} · {path}")

    def run_evaluation(self) -> Worker | None:
        if self.task.busy() or self.model_combo.count() == 0:
            return None
        path = self.model_combo.currentData()
        split = self.split_combo.currentData()
        data_root = self.data_edit.text().strip() or None
        if path is not None:
            # Another saved model: loaded on the worker and judged at its own adopted threshold;
            # the active model and the Review threshold stay as they are.
            return self._start(path, split, data_root, None)
        bundle = self.state.bundle
        if bundle is None:
            return None
        if data_root is None and not bundle.has_scores(split):
            self.banner.show_message(f"This bundle has no stored {split} scores: choose a data folder to score.")
            return None
        return self._start(bundle, split, data_root, float(self.state.threshold))

    def _start(self, bundle: Any, split: str, data_root: str | None, threshold: float | None) -> Worker | None:
        if split == "test":
            self.info.show_message("Test results are for reporting only: do not change the threshold or the "
                                   "model because of them.")
        else:
            self.info.hide()
        self._clear_results()  # the last results are not about this run: never shown (or exported) as if
        return self.task.start(compute_evaluation, bundle, split, data_root, threshold)

    def _clear_results(self) -> None:
        """Back to the empty screen: no table, matrix, summary or figures, and nothing to export."""
        self.result = None
        self.export_btn.setEnabled(False)
        self.report_table.clearContents()
        self.matrix.clear()
        self.summary.setText("")
        self._clear_figures()
        self.fig_placeholder.show()

    def _clear_figures(self) -> None:
        while self.fig_layout.count():
            w = self.fig_layout.takeAt(0).widget()
            if w is not None and w is not self.fig_placeholder:
                w.deleteLater()
        self.fig_layout.addWidget(self.fig_placeholder)
        self.canvases = []

    def _on_done(self, result: dict[str, Any]) -> None:
        self.export_btn.setEnabled(True)
        self.result = result
        report = result["report"]
        rep = report.classification
        for i, name in enumerate(REPORT_ROWS):
            entry = rep.get(name) or {}
            for j, key in enumerate(("precision", "recall", "f1-score", "support")):
                v = entry.get(key)
                text = "" if v is None else (f"{int(v)}" if key == "support" else f"{float(v):.3f}")
                self.report_table.setItem(i, j, QTableWidgetItem(text))
        p = report.point
        self.matrix.set_counts(p.tp, p.fp, p.tn, p.fn)
        auc = report.auc
        auc_text = f"AUC {auc[0]:.3f} (95% CI {auc[1]:.3f}-{auc[2]:.3f})" if auc else "AUC undefined"
        acc, sens, spec = p.accuracy, p.sensitivity, p.specificity
        split_name = "TEST split (report only)" if report.split == "test" else "Validation split"
        model = result["bundle"]
        lines = [
            f"Model <b>{getattr(model, 'name', '') or Path(model.path).name}</b>. <b>{split_name}</b>: {report.n} images ({report.n_pos} pneumonia, {report.n_neg} normal); {report.source}.",
            f"{auc_text}. At threshold {report.threshold:.3f} ({report.threshold_method}): "
            f"sensitivity {sens[0]:.3f} ({sens[1]:.3f}-{sens[2]:.3f}), specificity {spec[0]:.3f} "
            f"({spec[1]:.3f}-{spec[2]:.3f}), accuracy {acc[0]:.3f} ({acc[1]:.3f}-{acc[2]:.3f}).",
            f"Brier {report.brier:.3f}, ECE {report.ece:.3f}.",
        ]
        if report.split_note:
            lines.append(f"<i>{report.split_note}</i>")
        if report.skipped:
            lines.append(f"{len(report.skipped)} file(s) could not be read and were skipped.")
        self.summary.setText("<br>".join(lines))
        self._clear_figures()
        self.fig_placeholder.hide()
        for fig in result["figures"].values():
            canvas = FigureCanvas(fig)
            self.fig_layout.addWidget(canvas)
            self.canvases.append(canvas)
        self.evaluated.emit(result)

    def export_dialog(self) -> None:
        if self.result is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export PDF report", "pneumoscope-report.pdf", "PDF (*.pdf)")
        if path:
            self.export(path)

    def export(self, pdf_path: str) -> Worker | None:
        if self.result is None:
            return None
        return self.exporting.start(export_report, self.result["bundle"], self.result["report"], pdf_path)

    def _on_exported(self, path: str) -> None:
        self.info.show_message(f"Report written: {Path(path)}")
        self.exported.emit(path)

    def shutdown(self) -> None:
        for task in (self.task, self.exporting):
            task.runner.wait(60000)

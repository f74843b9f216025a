"""Threshold explorer: move the operating point over stored validation/test scores.

Nothing here calls the model: the bundle's scores are sorted once by
core.evaluation.operating.OperatingCurve and every slider move is an O(log n) lookup, a table
refresh, a confusion-matrix repaint and a blit of two markers.
"""

from __future__ import annotations

import getpass
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSlider,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.plots import CurvePlot
from gui.state import AppState
from gui.widgets import ConfusionMatrixWidget, MessageBanner, fit_table_height
from gui.workers import user_message

SLIDER_STEPS = 1000
SPLIT_LABELS = {"val": "Validation (choose here)", "test": "Test (report only)"}
METRIC_ROWS = (
    ("Sensitivity (pneumonia found)", "sensitivity"),
    ("Specificity (normals cleared)", "specificity"),
    ("PPV (at prevalence)", "ppv"),
    ("NPV (at prevalence)", "npv"),
    ("F1", "f1"),
    ("Accuracy", "accuracy"),
    ("Balanced accuracy", "balanced_accuracy"),
)


class AdoptDialog(QDialog):
    def __init__(self, threshold: float, default_user: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Adopt threshold")
        form = QFormLayout(self)
        form.addRow(QLabel(f"Adopt <b>{threshold:.3f}</b> as this model's operating threshold?"))
        self.user = QLineEdit(default_user)
        self.reason = QPlainTextEdit()
        self.reason.setPlaceholderText("Why this operating point (e.g. target sensitivity 0.95 agreed with ...)")
        self.reason.setFixedHeight(80)
        form.addRow("Your name", self.user)
        form.addRow("Reason", self.reason)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _accept(self) -> None:
        if not self.user.text().strip() or not self.reason.toPlainText().strip():
            QMessageBox.information(self, "Adopt threshold", "Please give your name and a reason.")
            return
        self.accept()


def ask_adoption(parent: QWidget, threshold: float) -> tuple[str, str] | None:
    """Ask who adopts the threshold and why; None if the user cancels. (Tests replace this.)"""
    try:
        default_user = getpass.getuser()
    except Exception:
        default_user = ""
    dialog = AdoptDialog(threshold, default_user, parent)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return dialog.user.text().strip(), dialog.reason.toPlainText().strip()


class ThresholdExplorer(QWidget):
    pointChanged = Signal(float)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._curves: dict[str, Any] = {}
        self._data: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._split = "val"
        self._threshold = 0.5
        self._syncing = False
        self._build()
        state.bundleChanged.connect(self.set_bundle)
        state.thresholdChanged.connect(self._on_adopted_changed)
        self.set_bundle(state.bundle)

    # --- layout ----------------------------------------------------------------------
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        self.banner = MessageBanner("error")
        self.note = MessageBanner("info")
        outer.addWidget(self.banner)
        top = QHBoxLayout()
        top.addWidget(QLabel("Scores from"))
        self.split_combo = QComboBox()
        self.split_combo.currentIndexChanged.connect(self._on_split_changed)
        top.addWidget(self.split_combo)
        top.addSpacing(16)
        top.addWidget(QLabel("Threshold"))
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("thresholdSlider")
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.setPageStep(25)
        self.slider.valueChanged.connect(self._on_slider)
        top.addWidget(self.slider, 1)
        self.spin = QDoubleSpinBox()
        self.spin.setObjectName("thresholdSpin")
        self.spin.setRange(0.0, 1.0)
        self.spin.setDecimals(3)
        self.spin.setSingleStep(0.005)
        self.spin.valueChanged.connect(self._on_spin)
        top.addWidget(self.spin)
        self.adopted_label = QLabel()
        self.adopted_label.setObjectName("adoptedLabel")
        top.addWidget(self.adopted_label)
        outer.addLayout(top)
        outer.addWidget(self.note)

        split = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        self.matrix = ConfusionMatrixWidget()
        lv.addWidget(self.matrix, 1)  # spare height goes to the matrix, not to an empty table band
        prev_row = QHBoxLayout()
        prev_row.addWidget(QLabel("Prevalence for PPV/NPV"))
        self.prevalence = QDoubleSpinBox()
        self.prevalence.setObjectName("prevalenceSpin")
        self.prevalence.setRange(0.001, 0.999)
        self.prevalence.setDecimals(3)
        self.prevalence.setSingleStep(0.01)
        self.prevalence.valueChanged.connect(lambda _v: self._refresh_table())
        prev_row.addWidget(self.prevalence)
        prev_row.addStretch(1)
        lv.addLayout(prev_row)
        self.table = QTableWidget(len(METRIC_ROWS), 2)
        self.table.setObjectName("metricsTable")
        self.table.setHorizontalHeaderLabels(["Value", "95% interval"])
        self.table.setVerticalHeaderLabels([r[0] for r in METRIC_ROWS])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for i in range(len(METRIC_ROWS)):
            for j in range(2):
                item = QTableWidgetItem("-")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(i, j, item)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        fit_table_height(self.table)
        lv.addWidget(self.table)
        left.setMinimumWidth(440)
        split.addWidget(left)

        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        self.plot = CurvePlot()
        rv.addWidget(self.plot, 1)
        rv.addWidget(self._chooser_box())
        split.addWidget(right)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setSizes([470, 930])
        outer.addWidget(split, 1)

    def _chooser_box(self) -> QGroupBox:
        box = QGroupBox("Suggest a threshold (always computed on VALIDATION scores)")
        grid = QGridLayout(box)
        self.youden_btn = QPushButton("Youden's J")
        self.youden_btn.clicked.connect(lambda: self.choose("youden"))
        self.f1_btn = QPushButton("Max F1")
        self.f1_btn.clicked.connect(lambda: self.choose("maxf1"))
        grid.addWidget(self.youden_btn, 0, 0)
        grid.addWidget(self.f1_btn, 0, 1)
        self.sens_target = QDoubleSpinBox()
        self.sens_target.setRange(0.5, 1.0)
        self.sens_target.setDecimals(3)
        self.sens_target.setValue(0.95)
        self.sens_btn = QPushButton("Target sensitivity")
        self.sens_btn.clicked.connect(lambda: self.choose("sens", target=self.sens_target.value()))
        grid.addWidget(self.sens_btn, 1, 0)
        grid.addWidget(self.sens_target, 1, 1)
        self.cost_fn = QDoubleSpinBox()
        self.cost_fn.setRange(0.0, 1000.0)
        self.cost_fn.setValue(5.0)
        self.cost_fn.setPrefix("missed pneumonia ")
        self.cost_fp = QDoubleSpinBox()
        self.cost_fp.setRange(0.0, 1000.0)
        self.cost_fp.setValue(1.0)
        self.cost_fp.setPrefix("false alarm ")
        self.cost_btn = QPushButton("Minimum cost")
        self.cost_btn.clicked.connect(
            lambda: self.choose("cost", cost_fn=self.cost_fn.value(), cost_fp=self.cost_fp.value(),
                                prevalence=self.prevalence.value())
        )
        grid.addWidget(self.cost_btn, 2, 0)
        grid.addWidget(self.cost_fn, 2, 1)
        grid.addWidget(self.cost_fp, 2, 2)
        self.reason_label = QLabel("")
        self.reason_label.setObjectName("reasonLabel")
        self.reason_label.setWordWrap(True)
        grid.addWidget(self.reason_label, 3, 0, 1, 3)
        self.adopt_btn = QPushButton("Adopt this threshold...")
        self.adopt_btn.setObjectName("adoptButton")
        self.adopt_btn.clicked.connect(self.adopt)
        grid.addWidget(self.adopt_btn, 4, 0, 1, 3)
        self.revert_btn = QPushButton("Use the model's own threshold")
        self.revert_btn.setObjectName("revertButton")
        self.revert_btn.clicked.connect(self.revert)
        grid.addWidget(self.revert_btn, 5, 0, 1, 3)
        return box

    # --- data --------------------------------------------------------------------
    def set_bundle(self, bundle: Any) -> None:
        self._data.clear()
        self._curves.clear()
        self.banner.hide()
        if bundle is not None:
            for split in ("val", "test"):
                try:
                    if bundle.has_scores(split):
                        y_true, y_score, _files = bundle.scores(split)
                        self._data[split] = (np.asarray(y_true), np.asarray(y_score, dtype=np.float64))
                except Exception as exc:
                    self.banner.show_message(f"Could not read the {split} scores: {user_message(exc)}")
        self._syncing = True
        self.split_combo.clear()
        for split in self._data:
            self.split_combo.addItem(SPLIT_LABELS[split], split)
        self._syncing = False
        enabled = bool(self._data)
        for w in (self.slider, self.spin, self.adopt_btn, self.youden_btn, self.f1_btn, self.sens_btn, self.cost_btn):
            w.setEnabled(enabled)
        self._update_adopted_label()
        if not enabled:
            self.matrix.clear()
            self.plot.clear_curves()
            self.note.show_message(
                "No model loaded: open a model bundle (File > Open model...) to explore its thresholds."
                if bundle is None else "This model bundle has no stored validation or test scores."
            )
            return
        self.note.hide()
        self._threshold = float(self.state.threshold if self.state.threshold is not None else bundle.threshold)
        self._on_split_changed()

    def set_scores(self, split: str, y_true: Any, y_score: Any) -> None:
        """Show explicit scores (used by tests and by the evaluate screen)."""
        self._data[split] = (np.asarray(y_true), np.asarray(y_score, dtype=np.float64))
        self._curves.pop(split, None)
        if self.split_combo.findData(split) < 0:
            self.split_combo.addItem(SPLIT_LABELS.get(split, split), split)
        self.split_combo.setCurrentIndex(self.split_combo.findData(split))
        self._on_split_changed()

    def curve(self, split: str | None = None) -> Any:
        from core.evaluation.operating import OperatingCurve

        split = split or self._split
        if split not in self._curves:
            y_true, y_score = self._data[split]
            self._curves[split] = OperatingCurve(y_true, y_score)
        return self._curves[split]

    @property
    def split(self) -> str:
        return self._split

    @property
    def threshold(self) -> float:
        return self._threshold

    def _on_split_changed(self, *_args: Any) -> None:
        if self._syncing or self.split_combo.count() == 0:
            return
        from core.evaluation.curves import average_precision, pr_curve, roc_auc, roc_curve

        self._split = self.split_combo.currentData()
        y_true, y_score = self._data[self._split]
        curve = self.curve()
        if self._split == "test":
            self.note.show_message(
                "Test scores are for reporting only. Choose thresholds on validation scores; "
                "the suggestion buttons always use validation. Switch to Validation to adopt a threshold."
            )
        else:
            self.note.hide()
        self._sync_adopt_button()
        self._syncing = True
        self.prevalence.setValue(curve.n_pos / max(curve.n, 1))
        self._syncing = False
        try:
            fpr, tpr, _ = roc_curve(y_true, y_score)
            precision, recall, _ = pr_curve(y_true, y_score)
            auc = roc_auc(y_true, y_score)
            ap = average_precision(y_true, y_score)
            self.plot.set_curves(
                fpr, tpr, precision, recall,
                roc_title=f"ROC, AUC {auc[0]:.3f} ({auc[1]:.3f}-{auc[2]:.3f}), n={curve.n}",
                pr_title=f"Precision-recall, AP {ap:.3f}",
            )
        except Exception as exc:  # one class only: curves undefined, counts still useful
            self.plot.clear_curves()
            self.banner.show_message(f"Curves unavailable for this split: {user_message(exc)}")
        self.set_threshold(self._threshold, force=True)

    # --- threshold ----------------------------------------------------------------
    def set_threshold(self, value: float, force: bool = False) -> None:
        value = float(np.clip(value, 0.0, 1.0))
        if value == self._threshold and not force:
            return
        self._threshold = value
        self._syncing = True
        self.slider.setValue(round(value * SLIDER_STEPS))
        self.spin.setValue(value)
        self._syncing = False
        self._render_point()

    def _on_slider(self, pos: int) -> None:
        if not self._syncing:
            self.set_threshold(pos / SLIDER_STEPS)

    def _on_spin(self, value: float) -> None:
        if not self._syncing:
            self.set_threshold(value)

    def _render_point(self) -> None:
        if self._split not in self._data:
            return
        curve = self.curve()
        self._point = curve.at(self._threshold)
        p = self._point
        self.matrix.set_counts(p.tp, p.fp, p.tn, p.fn)
        self._refresh_table()
        recall = p.sensitivity[0]
        precision = p.precision[0]
        self.plot.set_point(1.0 - p.specificity[0], p.sensitivity[0], recall, precision)
        self.pointChanged.emit(self._threshold)

    def _refresh_table(self) -> None:
        p = getattr(self, "_point", None)
        if p is None or self._syncing:
            return
        try:
            ppv, npv = p.ppv_npv_at(self.prevalence.value())
        except Exception:
            ppv = npv = (float("nan"),) * 3
        values = {
            "sensitivity": p.sensitivity, "specificity": p.specificity, "ppv": ppv, "npv": npv,
            "f1": p.f1, "accuracy": p.accuracy, "balanced_accuracy": p.balanced_accuracy,
        }
        for i, (_, key) in enumerate(METRIC_ROWS):
            v, lo, hi = values[key]
            self.table.item(i, 0).setText("-" if not np.isfinite(v) else f"{v:.3f}")
            self.table.item(i, 1).setText("-" if not (np.isfinite(lo) and np.isfinite(hi)) else f"{lo:.3f} - {hi:.3f}")

    def _on_adopted_changed(self, _value: float) -> None:
        self._update_adopted_label()

    def _update_adopted_label(self) -> None:
        t, bundle = self.state.threshold, self.state.bundle
        self.adopted_label.setText("" if t is None else f"in force: {t:.3f}")
        self.adopted_label.setToolTip(self.state.threshold_source)
        from core.trust.adoption import has_own_threshold

        own = bundle is not None and has_own_threshold(bundle)
        self.revert_btn.setEnabled(own)
        self.revert_btn.setText(f"Use the model's own threshold ({float(bundle.threshold):.3f})"
                                if bundle is not None else "Use the model's own threshold")
        self.revert_btn.setToolTip("Remove the adopted (or site) threshold: Review and the command line go back "
                                   "to the threshold the model came with." if own else
                                   "The model's own threshold is already in force.")

    # --- choosers ------------------------------------------------------------------
    def choose(self, method: str, **kw: Any) -> Any:
        from core.evaluation.choosers import choose_threshold

        if "val" not in self._data:
            self.reason_label.setText("This bundle has no validation scores, so no threshold can be suggested.")
            return None
        y_true, y_score = self._data["val"]
        try:
            choice = choose_threshold(y_true, y_score, method, on="validation", **kw)
        except Exception as exc:
            self.reason_label.setText(user_message(exc))
            return None
        self.reason_label.setText(f"Suggested {choice.threshold:.3f}: {choice.reason}. Not adopted yet.")
        self._last_choice = choice
        self.set_threshold(choice.threshold)
        return choice

    # --- adoption ------------------------------------------------------------------
    def _sync_adopt_button(self) -> None:
        """Adopting while looking at test scores would choose on test: only from validation."""
        on_test = self._split == "test"
        self.adopt_btn.setEnabled(bool(self._data) and not on_test)
        self.adopt_btn.setToolTip(
            "Thresholds are adopted from validation scores only: switch the split to Validation."
            if on_test else "Record this threshold for Review, with who adopts it and why."
        )

    def adopt(self) -> Any:
        """Ask who and why, then make the slider's threshold the one in force for this model (a profile
        kept beside it, so it survives a restart and is what the CLI uses; the bundle is not changed)."""
        bundle = self.state.bundle
        if bundle is None or self._split == "test":
            return None
        threshold = self._threshold
        answer = ask_adoption(self, threshold)
        if answer is None:
            return None
        user, reason = answer
        from core.trust.adoption import adopt_threshold

        choice = getattr(self, "_last_choice", None)
        method = choice.method if choice is not None and abs(choice.threshold - threshold) < 1e-9 else "manual"
        n_val = len(self._data["val"][0]) if "val" in self._data else None
        try:
            value, source = adopt_threshold(bundle, threshold, method, reason, user, n_cases=n_val)
        except Exception as exc:
            QMessageBox.warning(self, "Adopt threshold", f"The threshold was not adopted: {user_message(exc)}")
            return None
        self.state.set_threshold(value, source)
        self.set_threshold(value, force=True)
        self._update_adopted_label()
        text = (f"Threshold {value:.3f} adopted by {user}; Review uses it from now on, also after a restart "
                "and in pneumoscope-cli.")
        self.reason_label.setText(text)
        self.state.status(text)
        return bundle

    def revert(self) -> Any:
        """One action back to the threshold the model shipped with."""
        bundle = self.state.bundle
        if bundle is None:
            return None
        from core.trust.adoption import revert_threshold

        try:
            value, source = revert_threshold(bundle)
        except Exception as exc:
            QMessageBox.warning(self, "Shipped threshold", f"Nothing was changed: {user_message(exc)}")
            return None
        self.state.set_threshold(value, source)
        self.set_threshold(value, force=True)
        self._update_adopted_label()
        text = f"Back to the model's own threshold {value:.3f} ({source})."
        self.reason_label.setText(text)
        self.state.status(text)
        return value

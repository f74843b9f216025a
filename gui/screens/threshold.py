"""Threshold explorer: move the operating point over validation, test or a site's own scores.

Nothing here calls the model on a slider move: scores are sorted once by
core.evaluation.operating.OperatingCurve and every move is an O(log n) lookup, a table refresh,
a confusion-matrix repaint and a blit of two markers. "Add site data..." scores a site's labelled
folder once, on a worker (core.site); choosers on site data choose on part of the cases and report
the held-out rest (core.site.calibrate); Adopt writes a profile beside the model (core.trust.profile).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from gui.dialogs.adopt_dialog import ask_adoption
from gui.state import AppState
from gui.widgets.common import ConfusionMatrixWidget, MessageBanner
from gui.widgets.metrics_table import MetricsTable
from gui.widgets.plots import CurvePlot
from gui.widgets.reader_panel import ReaderPanel
from gui.widgets.site_data import SiteDataControls
from gui.widgets.threshold_choosers import ChooserBox
from gui.workers.runner import Worker, user_message

SLIDER_STEPS = 1000
SPLIT_LABELS = {"val": "Validation (choose here)", "test": "Test (report only)", "site": "Site"}


class ThresholdExplorer(QWidget):
    pointChanged = Signal(float)
    siteAdded = Signal(object)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._curves: dict[str, Any] = {}
        self._data: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._split = "val"
        self._threshold = 0.5
        self._syncing = False
        self._site: Any = None  # core.site.scoring.ScoredSite of the added site data
        self._last_choice: Any = None
        self._last_cal: Any = None
        self._last_cal_site: Any = None  # the cases a reader-matched choice was made on (those the reader read)
        self._split_labels = dict(SPLIT_LABELS)
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
        self.split_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
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
        top.addSpacing(16)
        self.site_data = SiteDataControls(self.state)
        self.runner = self.site_data.runner
        for name in ("site_btn", "site_progress", "site_cancel"):
            setattr(self, name, getattr(self.site_data, name))
        self.site_data.scored.connect(self._on_site_scored)
        self.site_data.failed.connect(self.banner.show_message)
        top.addWidget(self.site_data)
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
        self.table = MetricsTable()
        lv.addWidget(self.table)
        left.setMinimumWidth(440)
        split.addWidget(left)

        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        self.plot = CurvePlot()
        rv.addWidget(self.plot, 1)
        self.chooser_box = ChooserBox(self.choose, self.adopt, self.prevalence.value)
        for name in ("youden_btn", "f1_btn", "sens_target", "sens_btn", "cost_fn", "cost_fp", "cost_btn",
                     "holdout_label", "holdout", "reason_label", "adopt_btn"):
            setattr(self, name, getattr(self.chooser_box, name))
        rv.addWidget(self.chooser_box)
        self.readers = ReaderPanel(self.plot, self.state, choose=self.choose_reader)  # readers on the site ROC
        rv.addWidget(self.readers)
        split.addWidget(right)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setSizes([470, 930])
        outer.addWidget(split, 1)

    # --- data --------------------------------------------------------------------
    def set_bundle(self, bundle: Any) -> None:
        self._data.clear()
        self._curves.clear()
        self._site = None  # site scores belong to the model that made them
        self.readers.set_site(None)
        self._last_choice = self._last_cal = self._last_cal_site = None
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
            self.split_combo.addItem(self._split_labels[split], split)
        self._syncing = False
        enabled = bool(self._data)
        for w in (self.slider, self.spin, self.adopt_btn, self.youden_btn, self.f1_btn, self.sens_btn, self.cost_btn):
            w.setEnabled(enabled)
        self.site_btn.setEnabled(bundle is not None)
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
            self.split_combo.addItem(self._split_labels.get(split, split), split)
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
        self._split = self.split_combo.currentData()
        y_true, y_score = self._data[self._split]
        curve = self.curve()
        if self._split == "test":
            self.note.show_message(
                "Test scores are for reporting only. Choose thresholds on validation or site scores; "
                "on this view the suggestion buttons use validation and nothing can be adopted."
            )
        elif self._split == "site":
            self.note.show_message(
                f"Site cases: {self._site.site.describe()}. The slider and figures describe all of them; "
                "the suggestion buttons choose on part of them (grouped by patient) and report the held-out rest."
            )
        else:
            self.note.hide()
        site = self._split == "site"
        if self._last_choice is not None and (self._last_cal is not None) != site:  # made on the other data
            self._last_choice = self._last_cal = self._last_cal_site = None
            self.reason_label.setText("")
        self.chooser_box.set_site(site)
        self.readers.set_shown(site)
        self.adopt_btn.setEnabled(self._split != "test")
        self._syncing = True
        self.prevalence.setValue(curve.n_pos / max(curve.n, 1))
        self._syncing = False
        problem = self.plot.show_scores(y_true, y_score)
        if problem:  # one class only: curves undefined, counts still useful
            self.banner.show_message(f"Curves unavailable for this split: {problem}")
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
        self.readers.set_threshold(self._threshold)
        self.pointChanged.emit(self._threshold)

    def _refresh_table(self) -> None:
        p = getattr(self, "_point", None)
        if p is not None and not self._syncing:
            self.table.show_point(p, self.prevalence.value())

    def _on_adopted_changed(self, _value: float) -> None:
        self._update_adopted_label()

    def _update_adopted_label(self) -> None:
        t = self.state.threshold
        self.adopted_label.setText("" if t is None else f"in force: {t:.3f}")
        self.adopted_label.setToolTip(self.state.threshold_source)

    # --- choosers ------------------------------------------------------------------
    def choose(self, method: str, **kw: Any) -> Any:
        if self._split == "site" and self._site is not None:
            return self._choose_on_site(method, **kw)
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
        self._last_choice, self._last_cal, self._last_cal_site = choice, None, None
        self.set_threshold(choice.threshold)
        return choice

    def _choose_on_site(self, method: str, **kw: Any) -> Any:
        from core.evaluation.choosers import chooser_text
        from core.site.calibrate import calibrate_site

        chooser = chooser_text(method, **kw)
        return self._site_choice(lambda: (calibrate_site(self.state.bundle, self._site.site, self._site.scores,
                                                         chooser, self.holdout.value()), None))

    def choose_reader(self, chooser: str, readings: list[Any]) -> Any:
        """reader-sens:NAME / reader-spec:NAME on the site cases that reader read (core's honest split)."""
        from core.site.reader_study import choose_reader_matched

        if self._site is None or self.state.bundle is None or self._split != "site":  # the panel shows on site only
            return None
        return self._site_choice(lambda: choose_reader_matched(self._site.site, self._site.scores, readings, chooser,
                                                               self.holdout.value(), bundle=self.state.bundle))

    def _site_choice(self, run: Any) -> Any:
        """Show a site calibration (core.site.calibrate) made by ``run() -> (cal, set it was made on or None)``."""
        from core.site.calibrate import format_calibration

        try:
            cal, chosen_on = run()
        except Exception as exc:
            self.reason_label.setText(user_message(exc))
            return None
        self.reason_label.setText(format_calibration(cal) + "\nNot adopted yet.")
        self._last_choice, self._last_cal, self._last_cal_site = cal.choice, cal, chosen_on
        self.set_threshold(cal.threshold)
        return cal

    # --- site data (gui.widgets.site_data scores it) --------------------------------------------
    def add_site_dialog(self) -> None:
        self.site_data.add_site_dialog()

    def add_site(self, path: str) -> Worker | None:
        """Score a site's labelled folder (or CSV) on a worker; the "Site" entry appears when done."""
        return self.site_data.add_site(path)

    @property
    def _site_worker(self) -> Worker | None:
        return self.site_data.worker

    def _on_site_scored(self, scored: Any) -> None:
        self._site = scored
        self.readers.set_site(scored)
        self._last_choice = self._last_cal = self._last_cal_site = None
        name = Path(scored.site.root).name
        self._split_labels["site"] = f"Site: {name} ({len(scored.site)} cases)"
        self.set_scores("site", scored.y_true, scored.scores)
        skipped = len(scored.site.unreadable)
        if skipped:
            self.banner.show_message(f"{skipped} site file(s) could not be read and are left out, e.g. "
                                     f"{Path(scored.site.unreadable[0][0]).name}: {scored.site.unreadable[0][1]}")
        self.siteAdded.emit(scored)

    # --- adoption ------------------------------------------------------------------
    def adopt(self) -> Any:
        """Record the threshold on screen as the one in force for this model (a profile beside it,
        never inside it) and audit it; returns the profile, or None if cancelled or refused."""
        bundle = self.state.bundle
        if bundle is None or self._split == "test":
            return None
        threshold = self._threshold
        answer = ask_adoption(self, threshold)
        if answer is None:
            return None
        user, reason = answer
        from core.site.calibrate import adoption_profile
        from core.trust.profile import put_in_force

        on_site = self._split == "site" and self._site is not None
        try:
            profile = adoption_profile(bundle, threshold, reason, user, site=self._site.site if on_site else None,
                                       site_scores=self._site.scores if on_site else None,
                                       choice=self._last_choice, cal=self._last_cal, cal_site=self._last_cal_site)
            put_in_force(profile, bundle)
        except Exception as exc:
            QMessageBox.warning(self, "Adopt threshold", f"The threshold was not adopted: {user_message(exc)}")
            return None
        self.state.refresh_threshold()
        self.set_threshold(threshold, force=True)
        text = (f"In force from now on: {profile.describe()}. Review and the command line use it; "
                "File > Revert to the model's own threshold undoes it.")
        self.reason_label.setText(text)
        self.state.status(text.split(". ")[0])
        return profile

    def shutdown(self) -> None:
        self.runner.cancel_all()
        self.runner.wait(30000)

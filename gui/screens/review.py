"""Case review: open or drop images, look at them, and see the model's score and heatmap.

Loading runs on an I/O worker and inference (score, Grad-CAM, out-of-distribution check)
on a single-thread model worker, so the window never freezes; a generation counter
drops results for a case the user has already moved past. The last few cases shown stay in a
bounded cache (gui.case_cache) for going back; older ones are opened and scored again.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QPushButton,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.cases import decide, list_case_files, open_case
from core.imaging import chest_warning
from gui.case_cache import CaseCache, file_key, slim
from gui.state import AppState
from gui.widgets.batch_scoring import BatchScoring
from gui.widgets.case_list import CaseList
from gui.widgets.case_panel import CasePanel
from gui.widgets.common import add_banners
from gui.widgets.feedback_bar import FeedbackBar
from gui.widgets.viewer import ImageView, heat_rgba, view_buttons
from gui.workers.runner import Worker, WorkerRunner, user_message


def score_and_colour(bundle: Any, xray: Any, threshold: float, source: str, progress=None) -> tuple[Any, Any]:
    """Worker body: core scores and explains the case; the heat map is coloured here, off the GUI thread."""
    from core.cases import score_case

    case = score_case(bundle, xray, threshold=threshold, threshold_source=source, want_heatmap=True,
                      progress=progress)
    return case, (heat_rgba(case.heatmap) if case.heatmap is not None else None)


class ReviewWidget(QWidget):
    caseShown = Signal(object)  # XRay, once it is on screen
    scored = Signal(float)
    heatmapShown = Signal()
    loadFailed = Signal(str)
    csvWritten = Signal(object)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.io = WorkerRunner(2, self)
        self.inference = WorkerRunner(1, self)
        self.paths: list[str] = []
        self.index = -1
        self._gen = 0
        self.score: float | None = None
        self.case: Any = None
        self.timings: dict[str, float] = {}
        self._ood_text: str | None = None
        self._session: dict[str, Any] = {}  # path -> the slim Case scored this session (for drift)
        self.cache = CaseCache()  # the last few cases shown, in full
        self._build()
        state.bundleChanged.connect(self._on_bundle)
        state.loadingChanged.connect(self._on_loading)
        state.thresholdChanged.connect(lambda _t: (self._render_score(), self._show_model()))
        self.setAcceptDrops(True)

    # --- layout ----------------------------------------------------------------------
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        self.view = ImageView()
        self.view.filesDropped.connect(self.open_paths)
        bar = QHBoxLayout()
        self.open_btn = QPushButton("Open image...")
        self.open_btn.clicked.connect(self.open_file_dialog)
        self.folder_btn = QPushButton("Open folder...")
        self.folder_btn.clicked.connect(self.open_folder_dialog)
        bar.addWidget(self.open_btn)
        bar.addWidget(self.folder_btn)
        bar.addSpacing(12)
        self.prev_btn = QToolButton()
        self.prev_btn.setText("◀ Prev")
        self.prev_btn.setToolTip("Previous case (PgUp / Left)")
        self.prev_btn.clicked.connect(self.previous_case)
        self.next_btn = QToolButton()
        self.next_btn.setText("Next ▶")
        self.next_btn.setToolTip("Next case (PgDown / Right)")
        self.next_btn.clicked.connect(self.next_case)
        bar.addWidget(self.prev_btn)
        bar.addWidget(self.next_btn)
        bar.addSpacing(12)
        for b in view_buttons(self.view):
            bar.addWidget(b)
        self.invert_btn = b
        bar.addStretch(1)
        self.batch_scoring = BatchScoring(self.state)
        self.batch = self.batch_scoring.runner
        self.csv_btn = self.batch_scoring.csv_btn
        self.batch_scoring.written.connect(self.csvWritten.emit)
        bar.addWidget(self.batch_scoring)
        outer.addLayout(bar)

        self.error_banner, self.warning_banner, self.info_banner = add_banners(outer, "error", "warning", "info")
        self.batch_scoring.info.connect(self.info_banner.show_message)
        self.batch_scoring.error.connect(self.error_banner.show_message)

        split = QSplitter(Qt.Orientation.Horizontal)
        self.cases = CaseList()
        self.case_list, self.case_count = self.cases.list, self.cases.count
        self.case_list.currentRowChanged.connect(self._on_row)
        split.addWidget(self.cases)

        split.addWidget(self.view)

        self.panel = CasePanel(self.view)
        for name in ("score_label", "model_label", "drift_label", "heat_check", "opacity", "heat_note", "wl_label",
                     "tags"):
            setattr(self, name, getattr(self.panel, name))
        split.addWidget(self.panel)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setStretchFactor(2, 0)
        split.setSizes([240, 760, 330])
        outer.addWidget(split, 1)
        self.feedback = FeedbackBar(self.state, self)  # Agree (A) / Disagree (D), core records it
        outer.addWidget(self.feedback)

        for keys, what, slot in (
            (("PgDown", "Right"), "Next case", self.next_case),
            (("PgUp", "Left"), "Previous case", self.previous_case),
            (("F",), "Fit the image to the view", lambda: self.view.fit()),
            (("R",), "Reset zoom, pan and window/level", lambda: self.view.reset_view()),
            (("I",), "Invert grey levels", lambda: self.invert_btn.toggle()),
            (("H",), "Show or hide the heat map", lambda: self.heat_check.toggle()),
        ):
            for key in keys:
                sc = QShortcut(QKeySequence(key), self)
                sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
                sc.setWhatsThis(what)  # Help > Keyboard shortcuts lists it from here
                sc.activated.connect(slot)
        self._on_bundle(self.state.bundle)

    # --- opening ---------------------------------------------------------------------
    def open_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open chest X-ray", "", "Images (*.dcm *.dicom *.png *.jpg *.jpeg *.bmp *.tif *.tiff);;All files (*)"
        )
        if path:
            self.open_paths([path])

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of cases")
        if folder:
            self.open_paths([folder])

    def open_paths(self, paths: list[str]) -> None:
        """A folder becomes the case list; one file opens with its folder as the list; several files form the list."""
        paths = [str(p) for p in paths]
        try:
            if len(paths) == 1 and Path(paths[0]).is_dir():
                cases = list_case_files(paths[0])
                if not cases:
                    self.error_banner.show_message(f"No images found in {paths[0]}.")
                    return
                self.set_cases(cases, 0)
            elif len(paths) == 1:
                self.set_cases([paths[0]], 0)
            else:
                files = [p for p in paths if Path(p).is_file()]
                for p in paths:
                    if Path(p).is_dir():
                        files.extend(list_case_files(p))
                self.set_cases(files, 0)
        except OSError as exc:
            self.error_banner.show_message(f"Could not open: {user_message(exc)}")

    def set_cases(self, paths: list[str], index: int = 0) -> None:
        self.paths = list(paths)
        self.cases.set_paths(self.paths)
        if self.paths:
            self.case_list.setCurrentRow(index)

    def _on_row(self, row: int) -> None:
        if 0 <= row < len(self.paths):
            self.load_index(row)

    def next_case(self) -> None:
        if self.paths and self.index < len(self.paths) - 1:
            self.case_list.setCurrentRow(self.index + 1)

    def previous_case(self) -> None:
        if self.paths and self.index > 0:
            self.case_list.setCurrentRow(self.index - 1)

    def load_index(self, index: int) -> None:
        self.index = index
        self._gen += 1
        gen = self._gen
        path = self.paths[index]
        self.timings = {"t_request": time.perf_counter()}
        self.feedback.set_case(None)
        bundle = self.state.bundle
        cached = self.cache.get(file_key(path, bundle.sha256)) if bundle is not None else None
        if cached is not None:  # shown a moment ago: no need to open and score it again
            xray, case, rgba = cached
            self._on_loaded(gen, xray, infer=False)
            self._on_inferred(gen, (case, rgba))
            return
        worker = Worker(open_case, path)
        worker.signals.finished.connect(lambda xray, g=gen: self._on_loaded(g, xray))
        worker.signals.failed.connect(lambda exc, g=gen, p=path: self._on_load_failed(g, p, exc))
        self.io.start(worker)

    def _on_load_failed(self, gen: int, path: str, exc: BaseException) -> None:
        if gen != self._gen:
            return
        self.view.clear()
        self.view.set_placeholder("This file could not be shown.")
        self.score = None
        self.case = None
        self.state.set_case(None)
        self.tags.fill(None)
        self.warning_banner.hide()
        self.score_label.setText("No score (file not readable)")
        self.panel.set_call("none")
        message = user_message(exc)
        name = Path(path).name
        self.error_banner.show_message(message if name in message else f"Could not open {name}: {message}")
        self.loadFailed.emit(str(exc))

    def _on_loaded(self, gen: int, xray: Any, infer: bool = True) -> None:
        if gen != self._gen:
            return
        self.error_banner.hide()
        self.view.set_pixels(xray.pixels)
        self.invert_btn.blockSignals(True)
        self.invert_btn.setChecked(False)
        self.invert_btn.blockSignals(False)
        self.tags.fill(xray)
        self.score = None
        self.case = None
        self._ood_text = None
        self._population_text = None  # needs the model card: known once the case is scored
        self._chest_text = chest_warning(xray)
        self._render_warnings()
        self.timings["t_shown"] = time.perf_counter()
        self.state.set_case(xray)
        self.caseShown.emit(xray)
        if infer:
            self._start_inference(xray)

    # --- inference -----------------------------------------------------------------
    def _start_inference(self, xray: Any) -> None:
        bundle = self.state.bundle
        if bundle is None:
            self.score_label.setText(
                "Model loading: this image is scored as soon as it is ready." if self.state.loading
                else "No model loaded: image shown without a score."
            )
            self.panel.set_call("none")
            return
        self.score_label.setText("Scoring...")
        self.panel.set_call("none")
        gen = self._gen
        worker = Worker(score_and_colour, bundle, xray, float(self.state.threshold), self.state.threshold_source)
        worker.signals.progress.connect(lambda case, g=gen: self._on_score(g, case))
        worker.signals.finished.connect(lambda res, g=gen: self._on_inferred(g, res))
        worker.signals.failed.connect(lambda exc, g=gen: self._on_infer_failed(g, exc))
        self.inference.start(worker)

    def _on_score(self, gen: int, case: Any) -> None:
        if gen != self._gen:
            return
        self.score = case.score
        self.case = case
        self._ood_text = case.ood_warning
        self._population_text = case.population_warning
        self._session[case.path] = slim(case)  # drift needs the score, not the pixels
        self._render_drift()
        self.timings["t_scored"] = time.perf_counter()
        self._render_score()
        self._render_warnings()
        self.feedback.set_case(case)
        self.scored.emit(self.score)

    def _on_inferred(self, gen: int, result: tuple[Any, Any]) -> None:
        if gen != self._gen:
            return
        case, rgba = result
        if self.score is None:
            self._on_score(gen, case)
        if not case.applicable:
            rgba = None  # where the model "looked" on a leg or a photo means nothing: no heat map
        self.view.set_overlay(rgba)
        self.view.set_overlay_visible(self.heat_check.isChecked())
        bundle = self.state.bundle
        if bundle is not None and case.xray is not None:
            self.cache.put(file_key(case.path, bundle.sha256), case.xray, case, rgba)
        self.timings["t_heatmap"] = time.perf_counter()
        self.timings["model_s"] = case.t_total
        self.timings["score_s"] = case.t_score
        self.heatmapShown.emit()

    def _on_infer_failed(self, gen: int, exc: BaseException) -> None:
        if gen != self._gen:
            return
        if self.score is None:
            self.score_label.setText("No score")
            self.panel.set_call("none")
        self.error_banner.show_message(f"The model could not process this image: {user_message(exc)}")

    def _render_score(self) -> None:
        t = self.state.threshold
        case = getattr(self, "case", None)
        if self.score is None or t is None or case is None:
            return
        decide(case, t)  # core's rule: no call when the gate or the view check fired
        self.panel.show_case(case, t, doubt=bool(getattr(self, "_population_text", None)))

    def _render_warnings(self) -> None:
        texts = [t for t in (getattr(self, "_chest_text", None), self._ood_text,
                             getattr(self, "_population_text", None)) if t]
        if texts:
            self.warning_banner.show_message("Check this image: " + " ".join(texts))
        else:
            self.warning_banner.hide()

    def _on_loading(self, text: str) -> None:
        """While a model loads, say so (not "No model loaded"); the shown case is scored when it arrives."""
        if self.state.bundle is not None:
            return
        self.model_label.setText(
            f"{text} Images can be viewed now; scores follow when the model is ready." if text
            else "No model loaded. Images can be viewed; open a model via File > Open model..."
        )
        if self.state.case is not None and self.score is None:
            self._start_inference(self.state.case)

    def _show_model(self) -> None:
        self.panel.show_model(self.state.bundle, self.state.threshold_source)

    def _render_drift(self) -> None:
        from core.site.drift import drift_of_cases

        bundle = self.state.bundle
        if bundle is None or not self._session:
            self.panel.show_drift(None)
            return
        try:
            report = drift_of_cases(bundle, list(self._session.values()))
        except Exception:  # no validation scores in this bundle: nothing to compare with
            report = None
        self.panel.show_drift(report)

    def _on_bundle(self, bundle: Any) -> None:
        self._session.clear()  # drift is judged per model
        self.cache.clear()
        self._render_drift()
        self._show_model()
        if bundle is not None and self.state.case is not None:
            self.view.clear_overlay()
            self.score = None
            self.case = None
            self._start_inference(self.state.case)

    # --- batch scoring (gui.widgets.batch_scoring) ---------------------------------------------
    def score_folder_dialog(self) -> None:
        self.batch_scoring.score_folder_dialog()

    def score_folder(self, folder: str, out_csv: str) -> Worker | None:
        return self.batch_scoring.score_folder(folder, out_csv)

    # --- drag and drop on the whole screen -----------------------------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        self.view.dropEvent(event)

    def shutdown(self) -> None:
        for runner in (self.io, self.inference, self.batch):
            runner.cancel_all()
        for runner in (self.io, self.inference, self.batch):
            runner.wait(30000)

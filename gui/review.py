"""Case review: open or drop images, look at them, and see the model's score and heatmap.

Loading runs on an I/O worker and inference (score, Grad-CAM, out-of-distribution check)
on a single-thread model worker, so the window never freezes; a generation counter
drops results for a case the user has already moved past.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSlider,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.cases import decide, describe_case, list_case_files, open_case, write_scores
from core.imaging import chest_warning
from gui.state import AppState
from gui.viewer import ImageView, heat_rgba
from gui.widgets import MessageBanner, WrappingLabel
from gui.workers import Worker, WorkerRunner, user_message

TAG_ROWS = (
    ("Modality", "modality"),
    ("Body part", "body_part"),
    ("View", "view_position"),
    ("Patient age", "age"),
    ("Photometric", "photometric"),
    ("Bits stored", "bits_stored"),
    ("Size (rows x cols)", None),
    ("Window (C/W)", "window"),
    ("Transfer syntax", "transfer_syntax"),
    ("Study date", "study_date"),
    ("Manufacturer", "manufacturer"),
    ("Frames", "frames"),
    ("Patient ID", "patient_id"),
    ("Patient name", "patient_name"),
    ("Format", None),
)


PILLOW_MODES = {"L": "greyscale (8-bit)", "I;16": "greyscale (16-bit)", "I": "greyscale (32-bit)",
                "F": "greyscale (float)", "1": "black and white", "P": "palette colour", "RGB": "colour (RGB)",
                "RGBA": "colour (RGBA)", "LA": "greyscale + alpha", "CMYK": "colour (CMYK)"}


def format_dicom_date(value: str) -> str:
    """DICOM DA ``YYYYMMDD`` as ``YYYY-MM-DD`` (unambiguous across locales); anything else as is."""
    text = str(value).strip()
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


def score_and_colour(bundle: Any, xray: Any, threshold: float, source: str, progress=None) -> tuple[Any, Any]:
    """Worker body: core scores and explains the case; the heat map is coloured here, off the GUI thread."""
    from core.cases import score_case

    case = score_case(bundle, xray, threshold=threshold, threshold_source=source, want_heatmap=True,
                      progress=progress)
    return case, (heat_rgba(case.heatmap) if case.heatmap is not None else None)


def progress_fraction(p: Any) -> float | None:
    if hasattr(p, "fraction"):
        return float(p.fraction)
    if isinstance(p, tuple) and len(p) == 2 and p[1]:
        return p[0] / p[1]
    if isinstance(p, (int, float)):
        return float(p)
    return None


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
        self.batch = WorkerRunner(1, self)
        self.paths: list[str] = []
        self.index = -1
        self._gen = 0
        self.score: float | None = None
        self.case: Any = None
        self.timings: dict[str, float] = {}
        self._ood_text: str | None = None
        self._csv_worker: Worker | None = None
        self._session: dict[str, Any] = {}  # case hash or path -> Case scored this session (for drift)
        self._build()
        state.bundleChanged.connect(self._on_bundle)
        state.loadingChanged.connect(self._on_loading)
        state.thresholdChanged.connect(lambda _t: (self._render_score(), self._show_model()))
        self.setAcceptDrops(True)

    # --- layout ----------------------------------------------------------------------
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
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
        for text, tip, slot in (
            ("Fit", "Fit the image to the window (F)", lambda: self.view.fit()),
            ("Zoom +", "Zoom in (mouse wheel)", lambda: self.view.zoom(1.25)),
            ("Zoom −", "Zoom out (mouse wheel)", lambda: self.view.zoom(0.8)),
            ("Reset", "Reset zoom, window/level and inversion (R)", lambda: self.view.reset_view()),
        ):
            b = QToolButton()
            b.setText(text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            bar.addWidget(b)
        self.invert_btn = QToolButton()
        self.invert_btn.setText("Invert")
        self.invert_btn.setCheckable(True)
        self.invert_btn.setToolTip("Invert grey levels (I)")
        self.invert_btn.toggled.connect(lambda on: self.view.set_inverted(on))
        bar.addWidget(self.invert_btn)
        bar.addStretch(1)
        self.csv_btn = QPushButton("Score folder to CSV...")
        self.csv_btn.clicked.connect(self.score_folder_dialog)
        bar.addWidget(self.csv_btn)
        self.csv_progress = QProgressBar()
        self.csv_progress.setMaximumWidth(160)
        self.csv_progress.hide()
        bar.addWidget(self.csv_progress)
        self.csv_cancel = QToolButton()
        self.csv_cancel.setText("Cancel")
        self.csv_cancel.hide()
        self.csv_cancel.clicked.connect(lambda: self._csv_worker and self._csv_worker.cancel())
        bar.addWidget(self.csv_cancel)
        outer.addLayout(bar)

        self.error_banner = MessageBanner("error")
        self.warning_banner = MessageBanner("warning")
        self.info_banner = MessageBanner("info")
        outer.addWidget(self.error_banner)
        outer.addWidget(self.warning_banner)
        outer.addWidget(self.info_banner)

        split = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(QLabel("<b>Cases</b>"))
        self.case_list = QListWidget()
        self.case_list.setObjectName("caseList")
        self.case_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.case_list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.case_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.case_list.currentRowChanged.connect(self._on_row)
        lv.addWidget(self.case_list)
        self.case_count = QLabel("")
        lv.addWidget(self.case_count)
        split.addWidget(left)

        self.view = ImageView()
        self.view.filesDropped.connect(self.open_paths)
        self.view.windowChanged.connect(self._on_window)
        split.addWidget(self.view)

        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        self.score_label = WrappingLabel("No image")
        self.score_label.setObjectName("scoreLabel")
        self.score_label.setProperty("call", "none")
        rv.addWidget(self.score_label)
        self.model_label = QLabel("")
        self.model_label.setObjectName("modelLabel")
        self.model_label.setWordWrap(True)
        rv.addWidget(self.model_label)
        self.drift_label = QLabel("")
        self.drift_label.setObjectName("driftLabel")
        self.drift_label.setWordWrap(True)
        self.drift_label.setToolTip("Scores of the cases reviewed this session compared with the model's validation "
                                    "scores (PSI) and its out-of-distribution rate: a drift warning means the "
                                    "threshold was set on images unlike today's.")
        rv.addWidget(self.drift_label)

        heat_box = QGroupBox("Grad-CAM heatmap")
        hv = QVBoxLayout(heat_box)
        self.heat_check = QCheckBox("Show heatmap (H)")
        self.heat_check.setChecked(True)
        self.heat_check.toggled.connect(self.view.set_overlay_visible)
        hv.addWidget(self.heat_check)
        row = QHBoxLayout()
        row.addWidget(QLabel("Opacity"))
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setObjectName("opacitySlider")
        self.opacity.setRange(0, 100)
        self.opacity.setValue(45)
        self.opacity.valueChanged.connect(lambda v: self.view.set_overlay_opacity(v / 100.0))
        row.addWidget(self.opacity)
        hv.addLayout(row)
        self.heat_note = QLabel("Red = regions that pushed the score up. It shows where the model looked, "
                                "not where disease is.")
        self.heat_note.setWordWrap(True)
        self.heat_note.setObjectName("hint")
        hv.addWidget(self.heat_note)
        rv.addWidget(heat_box)

        self.wl_label = QLabel("")
        self.wl_label.setObjectName("hint")
        self.wl_label.setWordWrap(True)
        rv.addWidget(self.wl_label)

        rv.addWidget(QLabel("<b>Image information</b>"))
        self.tags = QTableWidget(len(TAG_ROWS), 1)
        self.tags.setObjectName("tagTable")
        self.tags.setVerticalHeaderLabels([r[0] for r in TAG_ROWS])
        self.tags.horizontalHeader().hide()
        self.tags.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.tags.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for i in range(len(TAG_ROWS)):
            self.tags.setItem(i, 0, QTableWidgetItem(""))
        rv.addWidget(self.tags, 1)
        right.setMinimumWidth(300)
        split.addWidget(right)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setStretchFactor(2, 0)
        split.setSizes([240, 760, 330])
        outer.addWidget(split, 1)

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
        self.case_list.blockSignals(True)
        self.case_list.clear()
        for p in self.paths:
            item = QListWidgetItem(Path(p).name)
            item.setToolTip(p)
            self.case_list.addItem(item)
        self.case_list.blockSignals(False)
        self.case_count.setText(f"{len(self.paths)} case(s)")
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
        self._fill_tags(None)
        self.warning_banner.hide()
        self.score_label.setText("No score (file not readable)")
        self._set_call("none")
        message = user_message(exc)
        name = Path(path).name
        self.error_banner.show_message(message if name in message else f"Could not open {name}: {message}")
        self.loadFailed.emit(str(exc))

    def _on_loaded(self, gen: int, xray: Any) -> None:
        if gen != self._gen:
            return
        self.error_banner.hide()
        self.view.set_pixels(xray.pixels)
        self.invert_btn.blockSignals(True)
        self.invert_btn.setChecked(False)
        self.invert_btn.blockSignals(False)
        self._fill_tags(xray)
        self.score = None
        self.case = None
        self._ood_text = None
        self._population_text = None  # needs the model card: known once the case is scored
        self._chest_text = chest_warning(xray)
        self._render_warnings()
        self.timings["t_shown"] = time.perf_counter()
        self.state.set_case(xray)
        self.caseShown.emit(xray)
        self._start_inference(xray)

    # --- inference -----------------------------------------------------------------
    def _start_inference(self, xray: Any) -> None:
        bundle = self.state.bundle
        if bundle is None:
            self.score_label.setText(
                "Model loading: this image is scored as soon as it is ready." if self.state.loading
                else "No model loaded: image shown without a score."
            )
            self._set_call("none")
            return
        self.score_label.setText("Scoring...")
        self._set_call("none")
        gen = self._gen
        threshold, source = self._threshold_and_source()
        worker = Worker(score_and_colour, bundle, xray, threshold, source)
        worker.signals.progress.connect(lambda case, g=gen: self._on_score(g, case))
        worker.signals.finished.connect(lambda res, g=gen: self._on_inferred(g, res))
        worker.signals.failed.connect(lambda exc, g=gen: self._on_infer_failed(g, exc))
        self.inference.start(worker)

    def _threshold_and_source(self) -> tuple[float, str]:
        return float(self.state.threshold), self.state.threshold_source

    def _on_score(self, gen: int, case: Any) -> None:
        if gen != self._gen:
            return
        self.score = case.score
        self.case = case
        self._ood_text = case.ood_warning
        self._population_text = case.population_warning
        self._session[case.path] = case
        self._render_drift()
        self.timings["t_scored"] = time.perf_counter()
        self._render_score()
        self._render_warnings()
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
        self.timings["t_heatmap"] = time.perf_counter()
        self.timings["model_s"] = case.t_total
        self.timings["score_s"] = case.t_score
        self.heatmapShown.emit()

    def _on_infer_failed(self, gen: int, exc: BaseException) -> None:
        if gen != self._gen:
            return
        if self.score is None:
            self.score_label.setText("No score")
            self._set_call("none")
        self.error_banner.show_message(f"The model could not process this image: {user_message(exc)}")

    def _render_score(self) -> None:
        t = self.state.threshold
        case = getattr(self, "case", None)
        if self.score is None or t is None or case is None:
            return
        decide(case, t)  # core's rule: no call when the gate or the view check fired
        if not case.applicable:
            self.score_label.setText(describe_case(case).replace(": ", ":\n", 1))
            self.score_label.setToolTip(
                "No PNEUMONIA/NORMAL call: " + (case.no_call_reason or "") + ". See the warning above the image."
            )
            self._set_call("doubt")
            return
        # A green NORMAL (or red PNEUMONIA) box under a "do not rely on the score" warning sends
        # two messages; with a warning the box turns neutral amber and says so itself.
        doubt = bool(getattr(self, "_population_text", None))
        self.score_label.setText(describe_case(case) + ("\nUnreliable for this image: see the warning" if doubt else ""))
        self.score_label.setToolTip(
            f"Model score {self.score:.4f} (probability-like, 0 = normal, 1 = pneumonia). "
            f"At or above the threshold {t:.4f} the model calls PNEUMONIA."
        )
        self._set_call("doubt" if doubt else str(case.label).lower())

    def _set_call(self, call: str) -> None:
        self.score_label.setProperty("call", call)
        self.score_label.style().unpolish(self.score_label)
        self.score_label.style().polish(self.score_label)

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
        bundle = self.state.bundle
        if bundle is None:
            self.model_label.setText("No model loaded. Images can be viewed; open a model via File > Open model...")
            return
        card = getattr(bundle, "card", {}) or {}
        name = card.get("name") or Path(bundle.path).name
        self.model_label.setText(f"Model: {name} · {self.state.threshold_source}")

    def _render_drift(self) -> None:
        from core.site.drift import drift_of_cases

        bundle = self.state.bundle
        if bundle is None or not self._session:
            self.drift_label.setText("")
            return
        try:
            report = drift_of_cases(bundle, list(self._session.values()))
        except Exception:  # no validation scores in this bundle: nothing to compare with
            self.drift_label.setText("")
            return
        self.drift_label.setText(("Warning: " if report.warn else "") + report.status)
        self.drift_label.setProperty("call", "doubt" if report.warn else "none")
        self.drift_label.style().unpolish(self.drift_label)
        self.drift_label.style().polish(self.drift_label)

    def _on_bundle(self, bundle: Any) -> None:
        self._session.clear()  # drift is judged per model
        self._render_drift()
        self._show_model()
        if bundle is not None and self.state.case is not None:
            self.view.clear_overlay()
            self.score = None
            self.case = None
            self._start_inference(self.state.case)

    def _on_window(self, center: float, width: float) -> None:
        self.wl_label.setText(
            f"Display window: level {center:.0f}, width {width:.0f} (display only; "
            "right-drag or Shift+drag to change)"
        )

    def _fill_tags(self, xray: Any) -> None:
        meta = dict(getattr(xray, "meta", {}) or {}) if xray is not None else {}
        for i, (_label, key) in enumerate(TAG_ROWS):
            if xray is None:
                value = ""
            elif key is None and _label.startswith("Size"):
                h, w = xray.pixels.shape[:2]
                value = f"{meta.get('rows', h)} x {meta.get('cols', w)}"
            elif key is None:
                value = str(getattr(xray, "kind", "")).upper()
            elif key == "age":
                from core.trust.population import describe_age

                value = describe_age(meta)
            else:
                v = meta.get(key)
                if isinstance(v, (tuple, list)) and v:
                    value = " / ".join(f"{x:g}" if isinstance(x, float) else str(x) for x in v)
                else:
                    value = "" if v in (None, "") else str(v)
                if key == "study_date":
                    value = format_dicom_date(value)
                elif key == "photometric" and getattr(xray, "kind", "") != "dicom":
                    value = PILLOW_MODES.get(value, value)  # Pillow's mode letters mean nothing to readers
                elif key == "transfer_syntax" and value and meta.get("transfer_syntax_name"):
                    value = f"{meta['transfer_syntax_name']} ({value})"
            self.tags.item(i, 0).setText(value or "—")
            self.tags.item(i, 0).setToolTip(value)

    # --- batch scoring ---------------------------------------------------------------
    def score_folder_dialog(self) -> None:
        if self.state.bundle is None:
            self.info_banner.show_message("Load a model first (File > Open model...).")
            return
        folder = QFileDialog.getExistingDirectory(self, "Folder of images to score")
        if not folder:
            return
        out, _ = QFileDialog.getSaveFileName(self, "Save scores as", str(Path(folder) / "scores.csv"), "CSV (*.csv)")
        if out:
            self.score_folder(folder, out)

    def score_folder(self, folder: str, out_csv: str) -> Worker | None:
        bundle = self.state.bundle
        if bundle is None or self.batch.busy():
            return None
        paths = list_case_files(folder)
        if not paths:
            self.error_banner.show_message(f"No images found in {folder}.")
            return None
        threshold, source = self._threshold_and_source()
        worker = Worker(write_scores, bundle, paths, out_csv, threshold, source)
        self._csv_worker = worker
        self.csv_progress.setRange(0, 1000)
        self.csv_progress.setValue(0)
        self.csv_progress.show()
        self.csv_cancel.show()
        self.csv_btn.setEnabled(False)
        worker.signals.progress.connect(self._on_csv_progress)
        worker.signals.finished.connect(self._on_csv_done)
        worker.signals.failed.connect(self._on_csv_failed)
        self.batch.start(worker)
        return worker

    def _on_csv_progress(self, p: Any) -> None:
        frac = progress_fraction(p)
        if frac is not None:
            self.csv_progress.setValue(int(frac * 1000))

    def _csv_finish(self) -> None:
        self.csv_progress.hide()
        self.csv_cancel.hide()
        self.csv_btn.setEnabled(True)
        self._csv_worker = None

    def _on_csv_done(self, result: dict[str, Any]) -> None:
        self._csv_finish()
        extra = f", {result['unreadable']} unreadable" if result["unreadable"] else ""
        self.info_banner.show_message(f"Scored {result['n']} images{extra}: {result['path']}")
        self.csvWritten.emit(result)

    def _on_csv_failed(self, exc: BaseException) -> None:
        self._csv_finish()
        self.error_banner.show_message(f"Scoring the folder stopped: {user_message(exc)}")

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

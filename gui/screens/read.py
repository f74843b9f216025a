"""Read: a reader-study session on a labelled set, model output hidden (core.site.reading_session).

The reader types their name and picks a set (a site folder or CSV, or a dataset's val/ or test/
folder), then reads each case in the session's seeded order with the Review viewer's tools: a call
(N NORMAL, P PNEUMONIA) and a rating (keys 1-5), or X "cannot read". Seconds per case are timed from
when the image is on screen. Core saves the session after every answer; starting again with the same
name, set and seed resumes it. With "aided phase" the set is read a second time with the model's
score and heat map shown, and changed calls are recorded.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.cases import open_case
from core.errors import PneumoscopeError
from gui.widgets.common import add_banners
from gui.widgets.viewer import ImageView, view_buttons
from gui.workers.runner import Worker, WorkerRunner, user_message

RATINGS = {1: "definitely normal", 2: "probably normal", 3: "unsure", 4: "probably pneumonia",
           5: "definitely pneumonia"}


HINT = "Give a call and a rating: the next case comes at once. Answers are saved as you go."


class ReadWidget(QWidget):
    def __init__(self, state: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.session: Any = None
        self.io = WorkerRunner(1, self)
        self.model = WorkerRunner(1, self)
        self.call: str | None = None
        self.rating: int | None = None
        self._shown_at: float | None = None
        self._gen = 0
        self._answering = False  # True while the case on screen may be answered with a call
        self._waiting_aid: Any = None  # the image shown in the aided phase while no model was loaded
        self._confirm: tuple[str, int] | None = None  # a call and rating that disagree, waiting for Enter
        self._build()
        if hasattr(state, "bundleChanged"):
            state.bundleChanged.connect(self._on_bundle)

    def _on_bundle(self, bundle: Any) -> None:
        """A model loaded while an aided case waits for it: score that case now."""
        xray, self._waiting_aid = self._waiting_aid, None
        if xray is not None and bundle is not None and self.session is not None and self.session.phase == "aided":
            self._show_aid(xray)

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        form = QHBoxLayout()
        form.addWidget(QLabel("Reader"))
        self.reader_edit = QLineEdit()
        self.reader_edit.setPlaceholderText("your name or initials")
        form.addWidget(self.reader_edit)
        form.addWidget(QLabel("Set"))
        self.set_edit = QLineEdit()
        self.set_edit.setPlaceholderText("site folder (NORMAL/ PNEUMONIA/), its CSV, or a dataset's val/ or test/ folder")
        form.addWidget(self.set_edit, 2)
        browse = QPushButton("Folder...")
        browse.clicked.connect(self._browse)
        form.addWidget(browse)
        browse_csv = QPushButton("CSV...")
        browse_csv.setToolTip("A site CSV file,label[,patient]")
        browse_csv.clicked.connect(self._browse_csv)
        form.addWidget(browse_csv)
        form.addWidget(QLabel("Seed"))
        self.seed = QSpinBox()
        self.seed.setRange(0, 999999)
        form.addWidget(self.seed)
        self.aided = QCheckBox("Aided phase after")
        self.aided.setToolTip("After the unaided reading, read the set again with the model's score and heat map")
        form.addWidget(self.aided)
        self.start_btn = QPushButton("Start / resume")
        self.start_btn.clicked.connect(self.start)
        form.addWidget(self.start_btn)
        self.export_btn = QPushButton("Export readings...")
        self.export_btn.clicked.connect(self._export)
        form.addWidget(self.export_btn)
        outer.addLayout(form)
        self.banner, self.info = add_banners(outer, "error", "info")

        body = QHBoxLayout()
        left = QVBoxLayout()
        tools = QHBoxLayout()
        self.view = ImageView()
        self.view.set_placeholder("Enter your name, choose a labelled set and press Start.\n"
                                  "The model's output stays hidden while you read.")
        for b in view_buttons(self.view):
            tools.addWidget(b)
        self.invert_btn = b
        tools.addStretch(1)
        left.addLayout(tools)
        left.addWidget(self.view, 1)
        body.addLayout(left, 1)

        panel = QVBoxLayout()
        self.progress = QLabel("No session")
        self.progress.setObjectName("readProgress")
        panel.addWidget(self.progress)
        panel.addWidget(QLabel("<b>Call</b>"))
        self.call_btns: dict[str, QPushButton] = {}
        for call, key in (("NORMAL", "N"), ("PNEUMONIA", "P")):
            b = QPushButton(f"{call} ({key})")
            b.setCheckable(True)
            b.clicked.connect(lambda _c=False, c=call: self.set_call(c))
            self.call_btns[call] = b
            panel.addWidget(b)
        panel.addWidget(QLabel("<b>Rating</b> (keys 1-5)"))
        grid = QGridLayout()
        self.rating_btns: dict[int, QPushButton] = {}
        for i, (value, text) in enumerate(RATINGS.items()):
            b = QPushButton(f"{value}  {text}")
            b.setCheckable(True)
            b.clicked.connect(lambda _c=False, v=value: self.set_rating(v))
            self.rating_btns[value] = b
            grid.addWidget(b, i, 0)
        panel.addLayout(grid)
        self.cannot_btn = QPushButton("Cannot read (X)")
        self.cannot_btn.clicked.connect(self.cannot_read)
        panel.addWidget(self.cannot_btn)
        self.aid_label = QLabel("")
        self.aid_label.setWordWrap(True)
        panel.addWidget(self.aid_label)
        self.hint = QLabel(HINT)
        self.hint.setWordWrap(True)
        panel.addWidget(self.hint)
        panel.addStretch(1)
        side = QWidget()
        side.setLayout(panel)
        side.setFixedWidth(260)
        side.setStyleSheet("QPushButton:checked { background: #1f5fa8; color: white; font-weight: bold; }")
        body.addWidget(side)
        outer.addLayout(body, 1)

        keys = [("N", lambda: self.set_call("NORMAL"), "Read: call NORMAL"),
                ("P", lambda: self.set_call("PNEUMONIA"), "Read: call PNEUMONIA"),
                ("X", self.cannot_read, "Read: cannot read this case"),
                ("Return", self.confirm, "Read: keep a call and rating that disagree"),
                ("Enter", self.confirm, "Read: keep a call and rating that disagree (keypad)"),
                ("F", lambda: self.view.fit(), "Read: fit the image to the window"),
                ("R", lambda: self.view.reset_view(), "Read: reset window/level and zoom"),
                ("I", lambda: self.invert_btn.toggle(), "Read: invert grey levels")]
        keys += [(str(v), lambda v=v: self.set_rating(v), f"Read: rating {v} (1 definitely normal ... 5 definitely pneumonia)")
                 for v in RATINGS]
        for key, slot, what in keys:
            sc = QShortcut(QKeySequence(key), self)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.setWhatsThis(what)  # Help > Keyboard shortcuts lists it from here
            sc.activated.connect(slot)
        self._enable(False)

    # --- session ---------------------------------------------------------------------
    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Labelled set to read")
        if folder:
            self.set_edit.setText(folder)

    def _browse_csv(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Labelled set to read (CSV)", "", "CSV (*.csv)")
        if path:
            self.set_edit.setText(path)

    def start(self) -> bool:
        from core.site.reading_session import ReadingSession

        self.banner.hide()
        if self.aided.isChecked() and self.state.bundle is None:
            self.banner.show_message("The aided phase shows the model's score and heat map: load a model first, "
                                     "or untick 'Aided phase after'.")
            return False
        try:
            self.session = ReadingSession(self.set_edit.text().strip(), self.reader_edit.text(),
                                          seed=self.seed.value(), aided=self.aided.isChecked())
        except PneumoscopeError as exc:
            self.banner.show_message(str(exc))
            return False
        done, total = self.session.position()
        self.info.show_message(f"Session for {self.session.reader}: {done} of {total} cases already read; "
                               f"saved to {self.session.path}.")
        self.view.setFocus()  # the keys (N, P, 1-5, X) go to the reading, not to the name field
        self._next()
        return True

    def _enable(self, on: bool, cannot: bool | None = None) -> None:
        """Answers with a call (``on``) and "cannot read" (``cannot``, default as ``on``) allowed or not."""
        self._answering = bool(on)
        for b in [*self.call_btns.values(), *self.rating_btns.values()]:
            b.setEnabled(on)
        self.cannot_btn.setEnabled(on if cannot is None else cannot)

    def _next(self) -> None:
        self.call, self.rating, self._confirm, self._waiting_aid = None, None, None, None
        for b in [*self.call_btns.values(), *self.rating_btns.values()]:
            b.setChecked(False)
        self.aid_label.setText("")
        case = self.session.current() if self.session else None
        if case is None:
            self._enable(False)
            self.view.clear()
            self.view.set_placeholder("Session complete: thank you. Export the readings, or run\n"
                                      "pneumoscope-cli readers report READINGS --set SET")
            self.progress.setText("Session complete")
            return
        done, total = self.session.position()
        phase = self.session.phase
        self.progress.setText(f"<b>Case {done + 1} of {total}</b>" + (" - aided phase" if phase == "aided" else ""))
        self._gen += 1
        gen = self._gen
        worker = Worker(open_case, case.path)
        worker.signals.finished.connect(lambda xray, g=gen: self._shown(g, xray))
        worker.signals.failed.connect(lambda exc, g=gen: self._failed(g, exc))
        self._enable(False)
        self.io.start(worker)

    def _shown(self, gen: int, xray: Any) -> None:
        if gen != self._gen:
            return
        self.view.set_pixels(xray.pixels)
        self._shown_at = time.monotonic()
        if self.session.phase == "aided":
            # The aided answer waits for the aid: the call is given with the score and heat map shown.
            self._enable(False, cannot=True)
            self._show_aid(xray)
        else:
            self._enable(True)

    def _failed(self, gen: int, exc: BaseException) -> None:
        if gen != self._gen:
            return
        self.view.clear()
        self.view.set_placeholder("This file could not be shown: answer 'Cannot read' (X).")
        self.banner.show_message(user_message(exc))
        self._shown_at = time.monotonic()
        self._enable(False, cannot=True)  # no call on an image that was never shown

    def _show_aid(self, xray: Any) -> None:
        case = self.session.current()
        before = self.session.previous_call(case)
        bundle = self.state.bundle
        if bundle is None:
            self._waiting_aid = xray
            self.aid_label.setText(f"Your unaided call: {before}. The aided phase needs the model's output and no "
                                   "model is loaded: load one (the answer waits for it).")
            return
        from gui.screens.review import score_and_colour

        self.session.note_aid(str(bundle.sha256), float(self.state.threshold), self.state.threshold_source)
        self.aid_label.setText(f"Your unaided call: {before}. Scoring...")
        gen = self._gen
        worker = Worker(score_and_colour, bundle, xray, float(self.state.threshold), self.state.threshold_source)
        worker.signals.finished.connect(lambda res, g=gen, b=before: self._aid_ready(g, res, b))
        worker.signals.failed.connect(lambda exc, g=gen, b=before: self._aid_failed(g, exc, b))
        self.model.start(worker)

    def _aid_failed(self, gen: int, exc: BaseException, before: str | None) -> None:
        if gen != self._gen:
            return
        self.aid_label.setText(f"Your unaided call: {before}.\nThe model could not score this case "
                               f"({user_message(exc)}): there is no aid to show. Answer 'Cannot read' (X) to "
                               "leave it out of the aided phase.")

    def _aid_ready(self, gen: int, result: Any, before: str | None) -> None:
        if gen != self._gen:
            return
        from core.cases import describe_case

        case, rgba = result
        self.aid_label.setText(f"Your unaided call: {before}.\nModel: {describe_case(case)}")
        if rgba is not None and case.applicable:
            self.view.set_overlay(rgba)
            self.view.set_overlay_visible(True)
        self._shown_at = time.monotonic()  # the aided reading time starts with the aid on screen
        self._enable(True)

    # --- answering -------------------------------------------------------------------
    def set_call(self, call: str) -> None:
        if not self._answering:
            return
        self.call = call
        for c, b in self.call_btns.items():
            b.setChecked(c == call)
        self._maybe_answer()

    def set_rating(self, value: int) -> None:
        if not self._answering:
            return
        self.rating = value
        for v, b in self.rating_btns.items():
            b.setChecked(v == value)
        self._maybe_answer()

    def cannot_read(self) -> None:
        if self.session is not None and self.cannot_btn.isEnabled():
            self._answer("CANNOT_READ", None)

    def _maybe_answer(self) -> None:
        from core.site.readings import call_rating_conflict

        self._confirm = None
        if self.call is None or self.rating is None:
            return
        conflict = call_rating_conflict(self.call, self.rating)
        if conflict:
            # A slip of the key is likelier than a reader meaning it: ask before saving.
            self._confirm = (self.call, self.rating)
            self.hint.setText(f"<b>{conflict}</b> Press Enter to keep it, or change the call or the rating.")
            return
        self._answer(self.call, self.rating)

    def confirm(self) -> None:
        """Keep a call and rating that disagree (Enter)."""
        if self._confirm is not None and self._answering:
            call, rating = self._confirm
            self._answer(call, rating)

    def _answer(self, call: str, rating: int | None) -> None:
        seconds = time.monotonic() - self._shown_at if self._shown_at is not None else None
        try:
            self.session.answer(call, rating, seconds)
        except PneumoscopeError as exc:
            self.banner.show_message(f"Not saved: {exc}")
            return
        self.hint.setText(HINT)
        self._next()

    def _export(self) -> None:
        if self.session is None:
            self.banner.show_message("Start a session first.")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export readings", "readings.csv", "CSV (*.csv)")
        if path:
            self.session.export(path)
            self.info.show_message(f"Readings written to {path}")

    def shutdown(self) -> None:
        for runner in (self.io, self.model):
            runner.cancel_all()
        for runner in (self.io, self.model):
            runner.wait(30000)

"""Agree / Disagree with the model's call on the case on screen (keys A and D), with an optional
true label and note; core records it (core.trust.feedback) and says whether disagreement is past
the stop rule (core.site.reader_study.feedback_status). A view: it computes nothing itself."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from core.errors import PneumoscopeError
from gui.widgets.common import MessageBanner


class FeedbackBar(QWidget):
    recorded = Signal(dict)

    def __init__(self, state: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.case: Any = None
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Your view:"))
        self.agree_btn = QPushButton("Agree (A)")
        self.disagree_btn = QPushButton("Disagree (D)")
        self.truth = QComboBox()
        self.truth.addItems(["true label: not given", "NORMAL", "PNEUMONIA"])
        self.note = QLineEdit()
        self.note.setPlaceholderText("note (optional, no patient names)")
        for w in (self.agree_btn, self.disagree_btn, self.truth, self.note):
            row.addWidget(w)
        self.done_label = QLabel("")
        row.addWidget(self.done_label, 1)
        outer.addLayout(row)
        self.watch_banner = MessageBanner("warning")
        outer.addWidget(self.watch_banner)
        self.agree_btn.clicked.connect(lambda: self.record("agree"))
        self.disagree_btn.clicked.connect(lambda: self.record("disagree"))
        for key, verdict in (("A", "agree"), ("D", "disagree")):
            sc = QShortcut(QKeySequence(key), parent or self)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.setWhatsThis(f"{verdict.title()} with the model's call (case feedback)")
            sc.activated.connect(lambda v=verdict: self.record(v))
        self.set_case(None)
        if hasattr(state, "bundleChanged"):
            state.bundleChanged.connect(lambda _b: self.refresh_watch())
        self.refresh_watch()  # a log already past the stop rule warns as soon as the screen opens

    def showEvent(self, event: Any) -> None:
        # Feedback given on another screen (Review vs Worklist) counts here too.
        self.refresh_watch()
        super().showEvent(event)

    def set_case(self, case: Any) -> None:
        """The scored core Case on screen (None: nothing to assess)."""
        self.case = case
        ok = case is not None and getattr(case, "score", None) is not None
        self.agree_btn.setEnabled(ok)
        self.disagree_btn.setEnabled(ok)
        self.truth.setCurrentIndex(0)
        self.note.clear()
        self.done_label.setText("")

    def record(self, verdict: str) -> dict | None:
        from core.trust.feedback import make_record, record_feedback

        case, bundle = self.case, self.state.bundle
        if case is None or getattr(case, "score", None) is None:
            return None
        truth = self.truth.currentText() if self.truth.currentIndex() > 0 else None
        try:
            rec = record_feedback(make_record(
                file=case.path, verdict=verdict, call=case.label, score=case.score, threshold=case.threshold,
                model_sha256=getattr(case, "model_sha256", None) or (str(bundle.sha256) if bundle is not None else None),
                threshold_source=case.threshold_source, true_label=truth, note=self.note.text(),
                sop_instance_uid=getattr(case, "sop_instance_uid", None)))
        except PneumoscopeError as exc:
            self.done_label.setText(f"Not recorded: {exc}")
            return None
        self.done_label.setText(f"Recorded: {verdict}" + (f", true label {truth}" if truth else ""))
        self.refresh_watch()
        self.recorded.emit(rec)
        return rec

    def refresh_watch(self) -> dict | None:
        from core.site.reader_study import feedback_status

        if self.state.bundle is None:
            return None
        status = feedback_status(self.state.bundle)
        if status["warn"]:
            self.watch_banner.show_message(status["text"] + " Rule: " + status["rule"] + ".")
        else:
            self.watch_banner.hide()
        self.done_label.setToolTip(status["text"])
        return status

"""Worklist screen: what the DICOM node received, newest first, updating live.

The view reads the node's journal (core.node.worklist) on a timer, so it shows the work of a
listener running in this window or of a headless ``pneumoscope-cli listen`` on the same inbox.
The listener itself is core's :class:`core.node.service.Node`; its threads never touch widgets.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.node.config import NodeSettings, load_settings
from core.node.errors import NodeError
from core.node.probe import listener_answers
from core.node.worklist import Worklist, WorklistRow
from gui.dialogs.node_settings import NodeSettingsDialog
from gui.widgets.feedback_bar import FeedbackBar
from gui.workers.runner import Worker, WorkerRunner, user_message

COLUMNS = ("Received", "Patient key", "Score", "Label", "Threshold", "OOD", "Reviewed", "Status")
_LIGHTS = {"on": "#2e9d48", "other": "#d29a00", "off": "#8a8f98", "error": "#c0392b"}


def local_time(iso: str) -> str:
    try:
        when = _dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def row_cells(row: WorklistRow) -> list[str]:
    if row.status == "scored":
        score = "not applicable" if row.no_call_reason else ("n/a" if row.score is None else f"{row.score:.3f}")
        label = row.label or "no call"
        status = {"sent": "scored, results sent", "": "scored"}.get(row.sent, f"scored; send {row.sent}")
    else:
        score, label = "", ""
        status = "waiting to be scored" if row.status == "queued" else f"failed: {row.error}"
    ood = "yes" if row.ood_flag else ("no" if row.status == "scored" else "")
    threshold = "" if row.threshold is None else f"{row.threshold:.3f}"
    return [local_time(row.received), row.patient_key or "-", score, label, threshold, ood,
            "yes" if row.reviewed else "", status]


def feedback_case(screen: Any, index: int) -> Any:
    """The selected scored row as what the feedback bar records (path in the inbox, score, call, threshold)."""
    rows = screen._rows
    if not 0 <= index < len(rows) or rows[index].score is None:
        return None
    r = rows[index]
    return SimpleNamespace(path=str(Path(screen.settings.inbox_path()) / r.file), score=r.score, label=r.label,
                           threshold=r.threshold, threshold_source=r.threshold_source, sop_instance_uid=r.uid,
                           model_sha256=r.model_sha256)  # the model that scored this row, not the app's


class WorklistWidget(QWidget):
    """Received studies with their scores; double-click opens one in Review."""

    openRequested = Signal(str)  # path of the received file

    def __init__(self, state: Any, parent: QWidget | None = None, poll_ms: int = 1000) -> None:
        super().__init__(parent)
        self.setObjectName("worklistScreen")
        self.state = state
        self.node: Any = None
        self.error = ""
        self._signature: tuple[int, int] | None = None
        self._rows: list[WorklistRow] = []
        self._other = False  # the last probe's answer: another listener on the port
        self._probe: threading.Thread | None = None
        self._probed: list[bool] = []  # answers the probe thread left for the GUI thread
        try:
            self.settings = load_settings()
        except NodeError as exc:
            self.settings, self.error = NodeSettings(), str(exc)
        self.sender_runner = WorkerRunner(1, self)  # Assessment SRs go back to the PACS off the GUI thread
        self._build()
        self._open_worklist()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.refresh)
        self.timer.start(poll_ms)
        state.bundleChanged.connect(self._on_bundle)
        self.refresh()
        if self.settings.enabled and state.bundle is not None:
            QTimer.singleShot(0, self.start_listener)

    # -- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.light = QLabel()
        self.light.setObjectName("listenerLight")
        self.light.setFixedSize(16, 16)
        self.status = QLabel()
        self.status.setObjectName("listenerStatus")
        self.start_button = QPushButton("Start listener")
        self.start_button.clicked.connect(self.toggle_listener)
        self.settings_button = QPushButton("Settings...")
        self.settings_button.clicked.connect(self.edit_settings)
        self.counts = QLabel()
        top.addWidget(self.light)
        top.addWidget(self.status, 1)
        top.addWidget(self.counts)
        top.addWidget(self.start_button)
        top.addWidget(self.settings_button)
        layout.addLayout(top)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("worklistTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.cellDoubleClicked.connect(self._on_double_click)
        layout.addWidget(self.table, 1)
        self.feedback = FeedbackBar(self.state, self)  # Agree (A) / Disagree (D) on the selected row
        self.table.currentCellChanged.connect(lambda r, *_: self.feedback.set_case(feedback_case(self, r)))
        self.feedback.recorded.connect(self.send_assessment)
        layout.addWidget(self.feedback)
        note = QLabel("Double-click a row to open it in Review. Patient keys are hashed on this computer; "
                      "no patient ID is stored in the worklist. Research use only.")
        note.setWordWrap(True)
        layout.addWidget(note)

    def _open_worklist(self) -> None:
        try:
            self.worklist = Worklist(self.settings.inbox_path())
        except (NodeError, OSError) as exc:
            self.error = f"cannot open the inbox {self.settings.inbox_path()}: {exc}"
            self.worklist = None

    # -- the listener ------------------------------------------------------------------------
    @property
    def listening(self) -> bool:
        return self.node is not None and self.node.running

    def start_listener(self) -> bool:
        if self.listening:
            return True
        bundle = self.state.bundle
        if bundle is None:
            self.error = "load a model before starting the listener"
            self.refresh()
            return False
        from core.node.service import Node
        from core.node.worker import BundleScorer

        try:
            node = Node(self.settings, BundleScorer(bundle, want_heatmap=self.settings.needs_heat_map()))
            node.start()
        except NodeError as exc:
            self.error = str(exc)
            self.refresh()
            return False
        self.node, self.error = node, ""
        self.refresh()
        return True

    def stop_listener(self) -> None:
        node, self.node = self.node, None
        if node is not None:
            node.stop()
        self.refresh()

    def toggle_listener(self) -> None:
        if self.listening:
            self.stop_listener()
        else:
            self.start_listener()

    def edit_settings(self) -> None:
        dialog = NodeSettingsDialog(self.settings, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            was_listening = self.listening
            if was_listening:
                self.stop_listener()
            self.settings, self.error = dialog.settings, ""
            self._signature = None
            self._open_worklist()
            if was_listening:
                self.start_listener()
            self.refresh()

    def _on_bundle(self, bundle: Any) -> None:
        if bundle is None:
            return
        if self.listening:  # score with the model now in use
            self.stop_listener()
            self.start_listener()
        elif self.settings.enabled and not self.error:
            self.start_listener()

    def probe_other_listener(self) -> threading.Thread | None:
        """Ask, on a thread, whether something else answers on the port (a headless
        ``pneumoscope-cli listen``); the connect can take its whole timeout, so never on the GUI thread.
        The answer is picked up by the next refresh. A plain thread and no Qt signal: this runs
        every second for as long as the app is open (PySide6 6.12 loses a reference to True on
        each Python ``emit``; see tests/gui/test_worklist_probe.py)."""
        if self._probe is not None and self._probe.is_alive():
            return None
        settings, answers = self.settings, self._probed
        self._probe = threading.Thread(target=lambda: answers.append(listener_answers(settings)),
                                       name="worklist-probe", daemon=True)
        self._probe.start()
        return self._probe

    def _take_probe_answer(self) -> None:
        if self._probed:
            answer = bool(self._probed.pop())
            self._probed.clear()
            if not self.listening:  # else it may have found our own listener, started meanwhile
                self._other = answer

    # -- refreshing --------------------------------------------------------------------------
    def light_state(self) -> str:
        if self.error:
            return "error"
        if self.listening:
            return "on"
        return "other" if self._other else "off"

    def refresh(self) -> None:
        self._take_probe_answer()
        if not self.error and not self.listening:
            self.probe_other_listener()
        self._show_light()
        self._show_rows()

    def _show_light(self) -> None:
        state = self.light_state()
        self.light.setStyleSheet(f"background:{_LIGHTS[state]}; border-radius:8px;")
        self.light.setProperty("lightState", state)
        s = self.settings
        self.status.setText({
            "on": f"Listening as {s.ae_title} on {s.bind_host}:{s.port}"
                  + (f"; results to {s.destination}" if s.destination else "; results kept here"),
            "other": f"A listener is running on port {s.port} outside this window (pneumoscope-cli listen?)",
            "off": "Listener off",
            "error": f"Listener: {self.error}",
        }[state])
        self.start_button.setText("Stop listener" if self.listening else "Start listener")
        self.start_button.setEnabled(self.listening or state != "other")

    def _show_rows(self) -> None:
        if self.worklist is None:
            return
        signature = self.worklist.signature()
        if signature == self._signature:
            return
        self._signature = signature
        self._rows = self.worklist.rows()
        self.table.setRowCount(len(self._rows))
        for r, row in enumerate(self._rows):
            for c, text in enumerate(row_cells(row)):
                item = QTableWidgetItem(text)
                if c == 3 and row.label == "PNEUMONIA":
                    item.setForeground(Qt.GlobalColor.darkRed)
                if c == 4 and row.threshold_source:
                    item.setToolTip(row.threshold_source)
                if c == 5 and row.ood_flag:
                    item.setToolTip("The image does not look like the training images: read the score with care.")
                self.table.setItem(r, c, item)
        scored = sum(1 for row in self._rows if row.status == "scored")
        self.counts.setText(f"{len(self._rows)} received, {scored} scored")

    def rows(self) -> list[WorklistRow]:
        return list(self._rows)

    def _on_double_click(self, row: int, _column: int) -> None:
        if 0 <= row < len(self._rows):
            self.open_row(self._rows[row])

    def open_row(self, row: WorklistRow) -> None:
        path = Path(self.settings.inbox_path()) / row.file
        if not path.exists():
            QMessageBox.warning(self, "Worklist", f"The received file is no longer in the inbox:\n{path}")
            return
        if self.worklist is not None and not row.reviewed:
            self.worklist.mark_reviewed(row.uid)
        self.openRequested.emit(str(path))
        self.refresh()

    def send_assessment(self, record: dict) -> Worker | None:
        """Send the reader's Agree/Disagree back to the PACS as an Assessment SR referencing the AI
        result (core.node.assessment), when the node sends results; on a worker, never blocking."""
        if not self.settings.sends_results() or not record.get("sop_instance_uid"):
            return None
        from core.node.assessment import send_assessments

        worker = Worker(send_assessments, [record], dataclasses.replace(self.settings))  # the settings as now
        worker.signals.finished.connect(self._assessment_sent)
        worker.signals.failed.connect(lambda exc: self.feedback.done_label.setText(
            f"Recorded; not sent to the PACS: {user_message(exc)}"))
        self.sender_runner.start(worker)
        return worker

    def _assessment_sent(self, outcomes: list) -> None:
        o = outcomes[0] if outcomes else {"status": "skipped", "why": "nothing to send", "uid": ""}
        text = {"sent": "Recorded and sent to the PACS as an Assessment SR",
                "already sent": "Recorded (already sent to the PACS)"}.get(o["status"])
        text = text or f"Recorded; not sent to the PACS: {o.get('why', o['status'])}"
        self.feedback.done_label.setText(f"{text} (image ...{str(o.get('uid', ''))[-8:]})")  # it may be an earlier row

    def shutdown(self) -> None:
        self.timer.stop()
        self.sender_runner.cancel_all()
        self.sender_runner.wait(30000)
        self.stop_listener()
        if self._probe is not None:
            self._probe.join(2.0)

"""Worklist screen: the listener started from the window receives real storescu sends, scores
them with a real (tiny) model, lists them newest first, and a double-click opens Review."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from core.node.config import NodeSettings, save_settings
from core.node.worklist import Worklist
from tests.core.node_support import free_port, storescu


@pytest.fixture
def node_settings(tmp_path: Path) -> NodeSettings:
    settings = NodeSettings(enabled=False, port=free_port(), inbox=str(tmp_path / "inbox"))
    save_settings(settings)
    return settings


def test_worklist_receives_scores_lists_and_opens_in_review(qtbot, node_settings, loaded_window, dicom_dir):
    win = loaded_window
    win.tabs.setCurrentIndex(1)
    worklist = win.worklist
    assert win.tabs.tabText(1) == "Worklist" and win.tabs.currentWidget() is worklist
    assert worklist.light_state() == "off" and worklist.status.text() == "Listener off"
    assert worklist.start_listener()
    assert worklist.light.property("lightState") == "on"
    assert f":{node_settings.port}" in worklist.status.text()

    files = sorted((dicom_dir / "chest").glob("rsna_*.dcm"))[:3]
    for f in files:  # one association each, so the received times differ
        assert len(storescu([f], node_settings.port)["acked"]) == 1
    qtbot.waitUntil(lambda: len(worklist.rows()) == 3 and all(r.status == "scored" for r in worklist.rows()),
                    timeout=60000)
    rows = worklist.rows()
    assert [r.received for r in rows] == sorted((r.received for r in rows), reverse=True)
    newest = str(pydicom.dcmread(files[-1], stop_before_pixels=True).SOPInstanceUID)
    assert rows[0].uid == newest
    table = worklist.table
    assert table.rowCount() == 3
    for i, f in enumerate(reversed(files)):
        pid = str(pydicom.dcmread(f, stop_before_pixels=True).PatientID)
        shown = [table.item(i, c).text() for c in range(table.columnCount())]
        assert pid not in " ".join(shown)
        assert float(shown[4]) == pytest.approx(win.state.bundle.threshold, abs=1e-3)
        if shown[2] == "not applicable":  # the gate or the view check fired (core.cases.decide): no call
            assert shown[3] == "no call"
        else:
            assert shown[3] in ("PNEUMONIA", "NORMAL") and 0.0 <= float(shown[2]) <= 1.0
            assert (float(shown[2]) >= float(shown[4])) == (shown[3] == "PNEUMONIA")
        assert shown[6] == ""  # not reviewed yet
    worklist.grab().save("/tmp/worklist.png")
    win.grab().save("/tmp/worklist_window.png")

    with qtbot.waitSignal(win.review.scored, timeout=60000):
        worklist._on_double_click(0, 0)
    assert win.tabs.currentWidget() is win.review
    assert Path(win.state.case.path).name == f"{newest}.dcm"
    assert Worklist(node_settings.inbox_path()).rows()[0].reviewed
    worklist.refresh()
    assert table.item(0, 6).text() == "yes"

    worklist.stop_listener()
    assert worklist.light_state() == "off"
    assert len(storescu([files[0]], node_settings.port)["acked"]) == 0  # really stopped


def test_listener_needs_a_model_and_reports_a_busy_port(qtbot, node_settings, window, tiny_bundle):
    import socket

    worklist = window.worklist
    assert not worklist.start_listener()  # no model loaded
    assert worklist.light_state() == "error" and "load a model" in worklist.status.text()
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", node_settings.port))
        blocker.listen(1)
        window.state.set_bundle(tiny_bundle)
        assert not worklist.start_listener()
        assert worklist.light_state() == "error" and "cannot listen" in worklist.status.text()
    assert worklist.start_listener()  # the port is free again
    assert worklist.light_state() == "on"


def test_settings_dialog_validates_and_saves(qtbot, node_settings, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from gui.dialogs.node_settings import NodeSettingsDialog

    dialog = NodeSettingsDialog(node_settings)
    qtbot.addWidget(dialog)
    dialog.destination.setText("pacs.local:not-a-port:PACS")
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda *a, **k: shown.append(a[2])))
    dialog.save()
    assert shown and "not a number" in shown[0] and dialog.result() == 0
    dialog.destination.setText("pacs.local:4242:PACS")
    dialog.allowed.setText("CR_ROOM, PACS")
    dialog.save()
    from core.node.config import load_settings

    saved = load_settings()
    assert saved.destination == "pacs.local:4242:PACS" and saved.allowed_callers == ["CR_ROOM", "PACS"]


def test_enabled_node_starts_with_the_app_once_a_model_is_loaded(qtbot, tmp_path, tiny_bundle):
    settings = NodeSettings(enabled=True, port=free_port(), inbox=str(tmp_path / "inbox"))
    save_settings(settings)
    from gui.window import create_window

    win = create_window(load_default=False)
    qtbot.addWidget(win)
    try:
        worklist = win.built_screen("worklist")
        assert worklist is not None  # built at start-up, not when the tab is first shown
        assert not worklist.listening  # no model yet
        win.state.set_bundle(tiny_bundle)
        qtbot.waitUntil(lambda: worklist.listening, timeout=10000)
        assert worklist.light_state() == "on"
    finally:
        win.shutdown()


def test_worklist_node_computes_heat_maps_when_results_go_to_dicomweb(qtbot, node_settings, loaded_window):
    """The screen used to look at the DICOM destination only: a DICOMweb-only node sent no heat map."""
    node_settings.web_destination = "http://127.0.0.1:9/dicom-web"
    save_settings(node_settings)
    worklist = loaded_window.worklist
    worklist.settings = node_settings
    assert worklist.start_listener()
    try:
        assert worklist.node.worker.scorer.want_heatmap is True
    finally:
        worklist.stop_listener()


def test_settings_dialog_keeps_and_edits_how_results_are_sent(qtbot, node_settings, tmp_path, monkeypatch):
    """Saving the dialog used to reset the report style, heat-map kind, DICOMweb address and run
    label (set with `listen --save`) to their defaults."""
    from core.node.config import load_settings
    from gui.dialogs.node_settings import NodeSettingsDialog

    node_settings.heat_map, node_settings.sr_style = "sc", "legacy"
    node_settings.web_destination, node_settings.results_run = "http://127.0.0.1:8042/dicom-web", "site-2"
    save_settings(node_settings)
    dialog = NodeSettingsDialog(load_settings())
    qtbot.addWidget(dialog)
    dialog.save()
    kept = load_settings()
    assert (kept.heat_map, kept.sr_style, kept.web_destination, kept.results_run) == \
        ("sc", "legacy", "http://127.0.0.1:8042/dicom-web", "site-2")

    dialog = NodeSettingsDialog(kept)
    qtbot.addWidget(dialog)
    dialog.heat_map.setCurrentIndex(dialog.heat_map.findData("both"))
    dialog.sr_style.setCurrentIndex(dialog.sr_style.findData("tid1500"))
    dialog.send_heat.setChecked(False)
    dialog.web.setText("ftp://nope")
    from PySide6.QtWidgets import QMessageBox

    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda *a, **k: shown.append(a[2])))
    dialog.save()
    assert shown and "DICOMweb" in shown[0]
    dialog.web.setText("")
    dialog.save()
    edited = load_settings()
    assert (edited.heat_map, edited.sr_style, edited.send_secondary_capture, edited.web_destination) == \
        ("both", "tid1500", False, "")
    dialog.grab().save(str(tmp_path.parent / "node_settings.png"))


def test_worklist_feedback_goes_back_to_the_pacs_as_an_assessment_sr(qtbot, tmp_path, loaded_window, dicom_dir):
    from core.trust.feedback import read_feedback
    from tests.core.node_support import Orthanc

    with Orthanc(tmp_path / "orthanc") as orthanc:
        settings = NodeSettings(enabled=False, port=free_port(), inbox=str(tmp_path / "inbox"),
                                destination=f"127.0.0.1:{orthanc.dicom_port}:{orthanc.aet}")
        save_settings(settings)
        worklist = type(loaded_window.worklist)(loaded_window.state)  # reads the settings just saved
        qtbot.addWidget(worklist)
        try:
            assert worklist.start_listener()
            src = sorted((dicom_dir / "chest").glob("rsna_*.dcm"))[0]
            assert len(storescu([src], settings.port)["acked"]) == 1
            qtbot.waitUntil(lambda: any(r.sent == "sent" for r in worklist.rows()), timeout=60000)
            before = len(orthanc.instances())
            worklist.table.setCurrentCell(0, 0)
            assert worklist.feedback.agree_btn.isEnabled()
            rec = worklist.feedback.record("disagree")
            assert rec["model_sha256"] == worklist.rows()[0].model_sha256  # the model that scored the row
            qtbot.waitUntil(lambda: "sent to the PACS" in worklist.feedback.done_label.text(), timeout=30000)
            assert "Recorded and sent" in worklist.feedback.done_label.text()
            held = orthanc.instances()
            assert len(held) == before + 1
            assert read_feedback()[-1]["sop_instance_uid"] == worklist.rows()[0].uid
        finally:
            worklist.shutdown()


def test_feedback_bar_warns_as_soon_as_it_opens(qtbot, loaded_window):
    from core.trust.feedback import make_record, record_feedback
    from gui.widgets.feedback_bar import FeedbackBar

    sha = str(loaded_window.state.bundle.sha256)
    for i in range(20):  # every case disagreed: far past what any operating point explains
        record_feedback(make_record(file=f"/x/{i}.dcm", verdict="disagree", call="NORMAL", score=0.1, threshold=0.5,
                                    model_sha256=sha, sop_instance_uid=f"1.2.{i}"))
    bar = FeedbackBar(loaded_window.state)
    qtbot.addWidget(bar)
    bar.show()
    assert not bar.watch_banner.isHidden() and "STOP" in bar.watch_banner.text()

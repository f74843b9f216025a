"""Crash safety: SIGKILL the listener process while it receives and while it scores; on restart
every instance that storescu saw acknowledged is on disk, whole, and gets scored."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pydicom

from core.node.inbox import PART_PREFIX, Inbox
from tests.core.node_support import (
    REPO,
    chest_files,
    copy_with_new_uids,
    free_port,
    need_tool,
    parse_storescu_acks,
    storescu,
)

LISTENER = r"""
import sys, time
from core.cases import Case
from core.node.config import NodeSettings
from core.node.service import Node

port, inbox, delay = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])

def scorer(path):
    time.sleep(delay)  # stands in for a slow model
    return Case(path=str(path), score=0.5, threshold=0.5, threshold_source="test", label="PNEUMONIA")

node = Node(NodeSettings(port=port, inbox=inbox), scorer, sender=None)
node.start()
print("READY", node.recovered, flush=True)
while True:
    time.sleep(0.2)
"""


def start_listener(tmp_path: Path, port: int, inbox: Path, delay: float) -> tuple[subprocess.Popen[str], int]:
    script = tmp_path / "listener.py"
    script.write_text(LISTENER)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, str(script), str(port), str(inbox), str(delay)], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    assert line.startswith("READY"), line + (proc.stdout.read() if proc.stdout else "")
    return proc, int(line.split()[1])


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def wait_until(condition, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return False


def check_on_disk(inbox: Inbox, acked: list[Path]) -> None:
    for f in acked:
        source = pydicom.dcmread(f)
        stored = inbox.path_for(str(source.SOPInstanceUID))
        assert stored.exists(), f"acknowledged but not on disk: {f.name}"
        again = pydicom.dcmread(stored)
        assert again.SOPInstanceUID == source.SOPInstanceUID and again.PixelData == source.PixelData


def restart_and_score_all(tmp_path: Path, inbox_dir: Path, expected_recovered: int | None) -> Inbox:
    port = free_port()
    proc, recovered = start_listener(tmp_path, port, inbox_dir, 0.0)
    try:
        if expected_recovered is not None:
            assert recovered == expected_recovered
        inbox = Inbox(inbox_dir)
        assert wait_until(lambda: inbox.counts()["queued"] == 0, 60), inbox.counts()
        return inbox
    finally:
        kill(proc)


def test_kill_during_scoring_then_restart_scores_the_rest(tmp_path: Path, dicom_dir: Path) -> None:
    inbox_dir = tmp_path / "inbox"
    port = free_port()
    proc, _ = start_listener(tmp_path, port, inbox_dir, 0.5)
    files = chest_files(dicom_dir)
    try:
        sent = storescu(files, port)
        assert len(sent["acked"]) == len(files), sent["output"][-2000:]
        inbox = Inbox(inbox_dir)
        assert wait_until(lambda: inbox.counts()["scored"] >= 2, 30)
    finally:
        kill(proc)
    before = Inbox(inbox_dir).counts()
    assert 2 <= before["scored"] < len(files), before  # killed mid-queue
    check_on_disk(Inbox(inbox_dir), sent["acked"])
    inbox = restart_and_score_all(tmp_path, inbox_dir, expected_recovered=len(files) - before["scored"])
    rows = {r.uid: r for r in inbox.worklist.rows()}
    for f in files:
        assert rows[str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID)].status == "scored"
    assert inbox.counts()["scored"] == len(files)


def test_kill_during_receive_keeps_every_acknowledged_instance(tmp_path: Path, dicom_dir: Path) -> None:
    copies = copy_with_new_uids([f for f in chest_files(dicom_dir) if f.name.startswith("rsna_")],
                                tmp_path / "copies", 150)
    inbox_dir = tmp_path / "inbox"
    port = free_port()
    proc, _ = start_listener(tmp_path, port, inbox_dir, 0.0)
    sender = subprocess.Popen([need_tool("storescu", "dcmtk"), "-v", "-xy", "-aec", "PNEUMOSCOPE", "127.0.0.1",
                               str(port), *map(str, copies)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    instances = inbox_dir / "instances"
    try:
        assert wait_until(lambda: instances.exists() and len(list(instances.glob("*.dcm"))) >= 10, 60)
    finally:
        kill(proc)
    output = sender.communicate(timeout=60)[0]
    acked_names = parse_storescu_acks(output)
    acked = [f for f in copies if str(f) in acked_names]
    assert 10 <= len(acked) < len(copies), f"{len(acked)} acknowledged: the kill was not mid-transfer"
    inbox = Inbox(inbox_dir)
    check_on_disk(inbox, acked)
    on_disk = len(list(instances.glob("*.dcm")))
    assert on_disk >= len(acked)  # at most the one whose answer was lost on the way back
    assert on_disk <= len(acked) + 1
    inbox = restart_and_score_all(tmp_path, inbox_dir, expected_recovered=None)
    counts = inbox.counts()
    assert counts["scored"] == on_disk and counts["partial_files"] == 0
    assert not list(instances.glob(f"{PART_PREFIX}*"))
    rows = {r.uid: r for r in inbox.worklist.rows()}
    for f in acked:
        assert rows[str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID)].status == "scored"

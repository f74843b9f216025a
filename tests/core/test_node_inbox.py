"""DICOM node without the network: settings, the atomic inbox, the journal and its recovery."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest

from core.node.config import Destination, NodeSettings, load_settings, save_settings
from core.node.errors import NodeConfigError
from core.node.inbox import PART_PREFIX, Inbox, file_stem, read_info
from core.node.worklist import Worklist


def test_settings_defaults_are_safe_and_round_trip(tmp_path: Path) -> None:
    s = NodeSettings()
    assert s.enabled is False and s.bind_host == "127.0.0.1" and s.port == 11112
    assert s.inbox_path().name == "inbox"
    s.ae_title, s.allowed_callers, s.destination = "NODE1", ["PACS", "CR_ROOM"], "pacs.local:104:PACS"
    path = save_settings(s, tmp_path / "node.json")
    back = load_settings(path)
    assert back == s
    assert back.destination_parsed() == Destination("pacs.local", 104, "PACS")
    assert load_settings(tmp_path / "missing.json") == NodeSettings()


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("ae_title", "A" * 17, "not valid"),
        ("ae_title", "BAD\\AET", "not valid"),
        ("port", 70000, "outside"),
        ("destination", "pacs.local:104", "HOST:PORT:AET"),
        ("destination", "pacs.local:x:PACS", "not a number"),
        ("allowed_callers", ["   "], "not valid"),
        ("max_instance_mb", 0, "above 0"),
    ],
)
def test_bad_settings_get_plain_errors(field: str, value: object, words: str, tmp_path: Path) -> None:
    s = NodeSettings(**{field: value})
    with pytest.raises(NodeConfigError, match=words):
        s.validated()
    with pytest.raises(NodeConfigError):
        save_settings(s, tmp_path / "node.json")
    assert not (tmp_path / "node.json").exists()


def test_destination_parse_ipv6_and_corrupt_settings_file(tmp_path: Path) -> None:
    assert Destination.parse("[::1]:4242:ORTHANC") == Destination("::1", 4242, "ORTHANC")
    bad = tmp_path / "node.json"
    bad.write_text("{not json")
    with pytest.raises(NodeConfigError, match="cannot be read"):
        load_settings(bad)


def test_file_stem_never_escapes_the_folder() -> None:
    assert file_stem("1.2.840.113619.2.55") == "1.2.840.113619.2.55"
    for evil in ("../../etc/passwd", "1.2/../3", "", "1." * 40):
        stem = file_stem(evil)
        assert "/" not in stem and ".." not in stem and stem.startswith("x")


def test_worklist_never_stores_patient_id_and_skips_torn_lines(tmp_path: Path) -> None:
    viewer = Worklist(tmp_path / "not_yet")
    assert viewer.rows() == [] and viewer.signature() == (0, 0)
    assert not (tmp_path / "not_yet").exists()  # looking creates nothing
    wl = Worklist(tmp_path)
    key = wl.patient_key("PAT-12345")
    assert key and key == wl.patient_key("PAT-12345") and key != wl.patient_key("PAT-12346")
    assert Worklist(tmp_path).patient_key("PAT-12345") == key  # the secret persists
    assert Worklist(tmp_path / "other").patient_key("PAT-12345") != key  # and is per inbox
    with pytest.raises(ValueError, match="never hold"):
        wl.append("received", "1.2.3", patient_id="PAT-12345")
    wl.append("received", "1.2.3", file="instances/1.2.3.dcm", patient_key=key, modality="CR")
    with open(wl.path, "ab") as fh:
        fh.write(b'{"event":"scored","uid":"1.2.3","sco')  # a crash mid-line
    wl.append("scored", "1.2.3", score=0.8, threshold=0.5, label="PNEUMONIA", ood_flag=False)
    wl.append("received", "1.2.4", file="instances/1.2.4.dcm", patient_key="", modality="DX")
    wl.mark_reviewed("1.2.3")
    rows = wl.rows()
    assert [r.uid for r in rows] == ["1.2.4", "1.2.3"]  # newest first
    row = rows[1]
    assert row.scored and row.score == 0.8 and row.label == "PNEUMONIA" and row.reviewed
    assert rows[0].status == "queued" and not rows[0].reviewed
    assert b"PAT-12345" not in wl.path.read_bytes()
    for line in wl.path.read_text().splitlines():
        if line.startswith("{") and line.endswith("}"):
            json.loads(line)


def test_store_is_atomic_and_recover_finds_unscored(tmp_path: Path, dicom_dir: Path) -> None:
    src = sorted((dicom_dir / "chest").glob("rsna_*.dcm"))[:3]
    inbox = Inbox(tmp_path / "inbox")
    uids = []
    for f in src:
        info = read_info(f)
        stored = inbox.store(f, info.uid)
        assert stored.read_bytes() == f.read_bytes()
        inbox.record_received(stored, info, calling_aet="TEST")
        uids.append(info.uid)
    inbox.worklist.append("scored", uids[0], score=0.1, threshold=0.5, label="NORMAL")
    # A crash left a half-written file (never acknowledged) and an instance renamed into place
    # whose journal line was never written.
    (inbox.instances / f"{PART_PREFIX}1.2.3.dcm.1.1").write_bytes(b"DICM half")
    orphan_src = dicom_dir / "chest" / "nih_gcp_110503645592756492463169821050252582267888.dcm"
    orphan_uid = str(pydicom.dcmread(orphan_src, stop_before_pixels=True).SOPInstanceUID)
    inbox.store(orphan_src, orphan_uid)

    pending = Inbox(tmp_path / "inbox").recover()
    assert set(pending) == {uids[1], uids[2], orphan_uid}
    assert not list(inbox.instances.glob(f"{PART_PREFIX}*"))
    rows = {r.uid: r for r in inbox.worklist.rows()}
    assert rows[orphan_uid].status == "queued" and rows[orphan_uid].modality == "DX"
    assert rows[orphan_uid].patient_key and "Covid0000" not in inbox.worklist.path.read_text()
    counts = inbox.counts()
    assert counts["on_disk"] == 4 and counts["scored"] == 1 and counts["partial_files"] == 0

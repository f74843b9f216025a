"""Audit log (append-only, no identifiers, robust to concurrent writers and torn lines) and sys info."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.cli import main as cli_main
from core.sysinfo import format_sys_info, sys_info
from core.trust.audit import AuditError, AuditLog, case_hash, default_log, name_hash

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class FakeXRay:
    pixels: np.ndarray
    kind: str
    meta: dict[str, Any] = field(default_factory=dict)
    path: str = ""


@dataclass
class FakeBundle:
    path: Path
    card: dict
    sha256: str = "ab" * 32


def _xray(tmp_path: Path, name="Doe_John_chest.dcm", content=b"DICM" * 100) -> FakeXRay:
    p = tmp_path / name
    p.write_bytes(content)
    return FakeXRay(
        pixels=np.zeros((4, 4), np.uint8),
        kind="dicom",
        meta={"patient_name": "Doe^John", "patient_id": "PID12345", "modality": "CR"},
        path=str(p),
    )


def test_default_path_follows_pneumoscope_home(_isolated_home):
    log = AuditLog()
    assert log.path == Path(_isolated_home) / "logs" / "audit.jsonl"
    log.app_start()
    assert default_log().read()[-1]["event"] == "app_start"


def test_records_have_the_common_fields(tmp_path):
    log = AuditLog(tmp_path / "a.jsonl")
    rec = log.log("app_start", note="hello")
    assert {"ts", "event", "app_version", "user", "host", "pid", "note"} <= rec.keys()
    assert rec["ts"].endswith("Z")
    assert log.read() == [rec]


def test_every_event_and_no_identifier_reaches_the_file(tmp_path):
    log = AuditLog(tmp_path / "a.jsonl")
    xr = _xray(tmp_path)
    bundle = FakeBundle(Path("/models/m1"), {"name": "m1", "threshold": {"value": 0.42}})
    log.app_start()
    log.bundle_loaded(bundle)
    log.case_opened(xr)
    log.prediction(xr, score=0.42, threshold=0.42, bundle=bundle)
    log.prediction(case_hash(xr), score=np.float32(0.1), threshold=0.42, bundle=bundle)
    log.threshold_adopted(0.3, "sens", "site wants 95% sensitivity", bundle=bundle, adopted_by="dr_x")
    log.report_exported(tmp_path / "Doe_John_report.pdf", bundle=bundle)
    log.log("note", text="reviewed Doe^John today, PID12345 follow-up", where=tmp_path / "Doe_John.png")
    log.app_stop()

    raw = log.path.read_text()
    for secret in ("Doe", "John", "PID12345", "Doe_John"):
        assert secret not in raw
    recs = log.read()
    assert [r["event"] for r in recs] == [
        "app_start", "bundle_loaded", "case_opened", "prediction", "prediction",
        "threshold_adopted", "report_exported", "note", "app_stop",
    ]  # fmt: skip
    opened, pred1, pred2 = recs[2], recs[3], recs[4]
    assert opened["case_hash"] == pred1["case_hash"] == pred2["case_hash"] == case_hash(xr.path)
    assert len(opened["case_hash"]) == 64
    assert opened["name_hash"] == name_hash(xr.path)
    # score == threshold is PNEUMONIA (>=, never >)
    assert pred1["label"] == "PNEUMONIA" and pred2["label"] == "NORMAL"
    assert pred1["bundle_sha256"] == bundle.sha256
    assert recs[1]["threshold"] == 0.42
    assert recs[5]["adopted_by"] == "dr_x" and recs[5]["method"] == "sens"
    assert recs[6]["report_suffix"] == ".pdf"
    assert "[redacted]" in recs[7]["text"]
    assert recs[7]["where"]["suffix"] == ".png"


@pytest.mark.parametrize("key", ["patient_name", "PatientID", "patient-birth-date", "source_path", "accession_number"])
def test_identifier_fields_are_refused(tmp_path, key):
    log = AuditLog(tmp_path / "a.jsonl")
    with pytest.raises(ValueError):
        log.log("case_opened", **{key: "x"})
    with pytest.raises(ValueError):
        log.log("case_opened", details={key: "x"})
    assert not log.path.exists() or log.read() == []


def test_bad_event_names_and_reserved_fields(tmp_path):
    log = AuditLog(tmp_path / "a.jsonl")
    for bad in ("", "App Start", "x\ny", 3):
        with pytest.raises(ValueError):
            log.log(bad)
    with pytest.raises(ValueError):
        log.log("x", user="mallory")


def test_values_are_json_safe(tmp_path):
    log = AuditLog(tmp_path / "a.jsonl")
    rec = log.log("x", nan=float("nan"), arr=np.float64(0.5), ints=(np.int64(3), 4), long="a" * 10_000)
    assert rec["nan"] is None and rec["arr"] == 0.5 and rec["ints"] == [3, 4]
    assert len(rec["long"]) <= 2000
    json.loads(log.path.read_text())


def test_case_hash_is_stable_and_content_based(tmp_path):
    a = _xray(tmp_path, "a.dcm", b"same")
    b = _xray(tmp_path, "b.dcm", b"same")
    c = _xray(tmp_path, "c.dcm", b"other")
    assert case_hash(a) == case_hash(b) == case_hash(Path(a.path)) == case_hash(b"same")
    assert case_hash(a) != case_hash(c)
    gone = FakeXRay(np.arange(16, dtype=np.uint8).reshape(4, 4), "png", {}, str(tmp_path / "missing.png"))
    assert case_hash(gone) == case_hash(gone.pixels) != case_hash(np.zeros((4, 4), np.uint8))


def test_torn_last_line_is_skipped_and_next_event_starts_fresh(tmp_path):
    log = AuditLog(tmp_path / "a.jsonl")
    log.log("one")
    with open(log.path, "ab") as fh:
        fh.write(b'{"ts":"2024-01-01T00:00:00Z","event":"tor')  # a writer died mid-line
    assert [r["event"] for r in log.read()] == ["one"]
    log.log("two")
    assert [r["event"] for r in log.read()] == ["one", "two"]
    assert log.read(limit=1)[0]["event"] == "two"
    assert log.read(event="two")[0]["event"] == "two"
    assert log.read(limit=0) == []


_WRITER = """
import sys
from core.trust.audit import AuditLog
log = AuditLog(sys.argv[1])
for i in range(int(sys.argv[3])):
    log.log("prediction", writer=int(sys.argv[2]), i=i, pad="x" * 3000)
"""


def test_concurrent_writers_never_interleave(tmp_path):
    path = tmp_path / "a.jsonl"
    n_writers, n_events = 4, 150
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(w), str(n_events)], cwd=REPO)
        for w in range(n_writers)
    ]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    recs = [json.loads(line) for line in lines[:-1]]  # every line is whole JSON
    assert len(recs) == n_writers * n_events
    for w in range(n_writers):
        assert [r["i"] for r in recs if r["writer"] == w] == list(range(n_events))


def test_unwritable_log_gives_a_plain_error(tmp_path):
    target = tmp_path / "dir_not_file"
    target.mkdir()
    with pytest.raises(AuditError, match="audit log"):
        AuditLog(target).log("x")


def test_cli_audit_prints_the_log(tmp_path, capsys):
    log = AuditLog()
    log.app_start()
    log.prediction(b"case", 0.9, 0.5)
    assert cli_main(["audit", "--tail", "1"]) == 0
    out = capsys.readouterr().out
    assert "prediction" in out and "app_start" not in out and "PNEUMONIA" in out
    assert cli_main(["audit", "--json", "--event", "app_start"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    assert len(lines) == 1 and json.loads(lines[0])["event"] == "app_start"
    assert cli_main(["audit", "--log", str(tmp_path / "none.jsonl")]) == 0
    assert "no audit events" in capsys.readouterr().out


# --- sys info -----------------------------------------------------------------------------------


def test_sys_info_without_bundle_does_not_import_tf_or_qt():
    code = (
        "import sys, core.sysinfo as s; i = s.sys_info(); t = s.format_sys_info(i);"
        "assert 'PySide6' not in sys.modules and 'tensorflow' not in sys.modules, 'heavy import';"
        "print(i['packages']['numpy'])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == np.__version__


def _card() -> dict:
    return {
        "name": "tiny",
        "created": "2024-01-01T00:00:00Z",
        "model": {"name": "pneumonet", "input_shape": [128, 128, 1], "params": 190000},
        "threshold": {"value": 0.3456, "method": "youden", "chosen_on": "val", "adopted_by": "dr_x"},
        "metrics": {"val": {"auc": [0.99, 0.98, 1.0]}},
        "data": {"root_name": "chest_xray", "counts": {"train": {"NORMAL": 10, "PNEUMONIA": 20}}},
        "model_sha256": "cd" * 32,
        "ood": {"method": "mahalanobis"},
    }


def test_sys_info_with_bundle_folder_and_object(tmp_path, capsys):
    folder = tmp_path / "b"
    folder.mkdir()
    (folder / "card.json").write_text(json.dumps(_card()))
    info = sys_info(folder)
    assert info["bundle"]["model_sha256"] == "cd" * 32
    assert info["bundle"]["threshold"] == 0.3456 and info["bundle"]["val_auc"] == 0.99
    text = format_sys_info(info)
    for needle in ("0.3456", "youden", "on val", "cd" * 32, "pneumonet", "keras", "PySide6", "HTJ2K"):
        assert needle in text
    obj = FakeBundle(folder, _card(), sha256="ef" * 32)
    assert sys_info(obj)["bundle"]["model_sha256"] == "ef" * 32

    assert cli_main(["info", str(folder)]) == 0
    assert "0.3456" in capsys.readouterr().out
    assert cli_main(["info", str(folder), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["bundle"]["name"] == "tiny"
    assert cli_main(["info", str(tmp_path / "nope")]) == 1
    assert "not a model bundle" in capsys.readouterr().err

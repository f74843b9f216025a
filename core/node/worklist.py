"""The node's journal and the worklist rows a reader sees.

One append-only JSON-lines file, ``worklist.jsonl`` in the inbox folder, holds one record per
event: ``received``, ``scored``, ``failed``, ``sent``, ``send_failed``, ``reviewed``. Each record
is written with a single ``os.write`` under an advisory lock and fsynced, so a crash leaves at
worst one torn last line, which readers skip and the next writer starts after. A
:class:`WorklistRow` is the fold of all records of one SOP Instance UID.

No patient identifier is stored in clear: the patient key is an HMAC-SHA256 of the PatientID
with a random secret kept in the inbox folder (``.patient-key``), so the same patient gets the
same key on this node while the key cannot be turned back into an ID by trying short numbers.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import json
import math
import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.node.errors import NodeError
from core.paths import append_line

JOURNAL_NAME = "worklist.jsonl"
KEY_NAME = ".patient-key"
EVENTS = ("received", "scored", "failed", "sent", "send_failed", "reviewed")
# Fields a record may never carry, whatever a caller passes.
_FORBIDDEN = frozenset({"patient_id", "patient_name", "patient_birth_date", "accession_number"})


def now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _secret(folder: Path) -> bytes:
    """The inbox's random HMAC key, created once (atomically) on first use."""
    path = folder / KEY_NAME
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        pass
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{KEY_NAME}.{os.getpid()}.{secrets.token_hex(4)}"
    tmp.write_text(secrets.token_hex(32), encoding="ascii")
    try:
        os.link(tmp, path)  # fails if another process made it first: then use theirs
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return bytes.fromhex(path.read_text(encoding="ascii").strip())


def patient_key(patient_id: str | None, secret: bytes) -> str:
    """Stable, non-reversible key of a PatientID on this node ('' when there is none)."""
    pid = str(patient_id or "").strip()
    if not pid:
        return ""
    return hmac.new(secret, pid.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:16]


@dataclass
class WorklistRow:
    """What a reader sees of one received instance."""

    uid: str
    received: str  # ISO time (UTC)
    file: str  # path relative to the inbox folder
    patient_key: str = ""
    modality: str = ""
    calling_aet: str = ""
    status: str = "queued"  # queued | scored | failed
    score: float | None = None
    threshold: float | None = None
    threshold_source: str = ""
    label: str | None = None
    ood_flag: bool = False
    ood_distance: float | None = None
    chest_warning: str | None = None
    no_call_reason: str | None = None  # core.cases.decide: the gate or the view check fired, no call
    model_sha256: str = ""
    error: str = ""
    sent: str = ""  # "" (not sent), "sent", "failed: reason"
    reviewed: bool = False

    @property
    def scored(self) -> bool:
        return self.status == "scored"


class Worklist:
    """The journal file of one inbox folder: append records, fold them into rows."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / JOURNAL_NAME
        self._lock = threading.Lock()
        self._secret: bytes | None = None  # made on first use: a viewer never creates files

    def patient_key(self, patient_id: str | None) -> str:
        if self._secret is None:
            self._secret = _secret(self.folder)
        return patient_key(patient_id, self._secret)

    # -- writing ----------------------------------------------------------------------------
    def append(self, event: str, uid: str, **fields: Any) -> dict[str, Any]:
        if event not in EVENTS:
            raise ValueError(f"unknown worklist event {event!r}")
        bad = _FORBIDDEN.intersection(fields)
        if bad:
            raise ValueError(f"worklist records never hold {sorted(bad)}")
        record: dict[str, Any] = {"event": event, "uid": str(uid), "time": now_iso()}
        for key, value in fields.items():
            record[key] = None if isinstance(value, float) and not math.isfinite(value) else value
        line = (json.dumps(record, ensure_ascii=True, separators=(",", ":")) + "\n").encode()
        with self._lock:
            try:
                append_line(self.path, line)
            except OSError as exc:
                raise NodeError(f"cannot write the worklist {self.path}: {exc.strerror or exc}") from exc
        return record

    def mark_reviewed(self, uid: str) -> None:
        self.append("reviewed", uid)

    # -- reading ----------------------------------------------------------------------------
    def records(self) -> Iterator[dict[str, Any]]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        for line in raw.splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a torn line left by a crash
            if isinstance(record, dict) and record.get("event") in EVENTS and record.get("uid"):
                yield record

    def rows(self) -> list[WorklistRow]:
        """One row per received instance, newest first."""
        rows: dict[str, WorklistRow] = {}
        for rec in self.records():
            uid = str(rec["uid"])
            event = rec["event"]
            if event == "received":
                rows[uid] = WorklistRow(
                    uid=uid,
                    received=str(rec.get("time", "")),
                    file=str(rec.get("file", "")),
                    patient_key=str(rec.get("patient_key") or ""),
                    modality=str(rec.get("modality") or ""),
                    calling_aet=str(rec.get("calling_aet") or ""),
                )
                continue
            row = rows.get(uid)
            if row is None:
                continue
            if event == "scored":
                row.status = "scored"
                row.error = ""
                row.score = _num(rec.get("score"))
                row.threshold = _num(rec.get("threshold"))
                row.threshold_source = str(rec.get("threshold_source") or "")
                row.label = rec.get("label")
                row.ood_flag = bool(rec.get("ood_flag"))
                row.ood_distance = _num(rec.get("ood_distance"))
                row.chest_warning = rec.get("chest_warning")
                row.no_call_reason = rec.get("no_call_reason")
                row.model_sha256 = str(rec.get("model_sha256") or "")
            elif event == "failed":
                row.status = "failed"
                row.error = str(rec.get("error") or "unknown error")
            elif event == "sent":
                row.sent = "sent"
            elif event == "send_failed":
                row.sent = f"failed: {rec.get('error') or 'unknown error'}"
            elif event == "reviewed":
                row.reviewed = True
        return sorted(rows.values(), key=lambda r: (r.received, r.uid), reverse=True)

    def signature(self) -> tuple[int, int]:
        """(size, mtime_ns) of the journal: cheap change detection for a polling view."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return (0, 0)
        return (st.st_size, st.st_mtime_ns)


def _num(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None

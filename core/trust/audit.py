"""Append-only audit log: who did what with which model on which case, without patient identifiers.

One JSON object per line. Each event is written with a single ``os.write`` of the whole line
to a file opened with ``O_APPEND`` (under an advisory ``flock`` where the OS has one) and then
fsynced, so two processes logging at once, or a crash in the middle, never leave two half lines
glued together. If an earlier writer did leave a torn last line (disk full mid-write), the next
writer starts on a fresh line and :meth:`AuditLog.read` skips the torn one.

Cases are identified only by :func:`case_hash` (SHA-256 of the file's bytes): the same file
always gives the same hash, so an auditor holding the file can find its entries, but the log
itself holds no name, ID, birth date or image path. :meth:`AuditLog.log` refuses fields whose
name says they carry such things and redacts any patient name/ID it has seen from free text.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import hashlib
import json
import math
import os
import re
import socket
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from core import NEGATIVE_CLASS, POSITIVE_CLASS, __version__
from core.errors import PneumoscopeError
from core.paths import append_line
from core.trust.integrity import file_sha256

EVENTS = (
    "app_start",
    "app_stop",
    "bundle_loaded",
    "case_opened",
    "prediction",
    "threshold_adopted",
    "report_exported",
)

# Field names that would put identifiers in the log. Matching is on normalised names
# ("PatientName", "patient-name" and "patient_name" are the same).
_FORBIDDEN_FIELDS = frozenset(
    {
        "patient",
        "patient_name",
        "patient_id",
        "patient_birth_date",
        "birth_date",
        "birthdate",
        "dob",
        "patient_address",
        "address",
        "other_patient_ids",
        "other_patient_names",
        "accession_number",
        "mrn",
        "ssn",
        "name_of_patient",
        "referring_physician_name",
        "institution_name",
        "source_path",
        "image_path",
        "case_path",
        "file_path",
        "filename",
    }
)
_FORBIDDEN_PREFIXES = ("patient_",)
_RESERVED = frozenset({"ts", "event", "app_version", "user", "host", "pid"})
_EVENT_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_MAX_TEXT = 2000


class AuditError(PneumoscopeError):
    """The audit log could not be written or read."""


def _norm_field(name: str) -> str:
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return re.sub(r"[^a-z0-9]+", "_", snake.lower()).strip("_")


def _is_forbidden(name: str) -> bool:
    norm = _norm_field(name)
    return norm in _FORBIDDEN_FIELDS or norm.startswith(_FORBIDDEN_PREFIXES)


def case_hash(xray_or_path: Any) -> str:
    """Stable, non-identifying id of a case: SHA-256 (hex) of the file's bytes.

    Accepts an ``XRay`` (its ``path``; its pixels if the file is gone), a path, raw ``bytes``
    or a pixel array. File bytes rather than a DICOM UID because every format has them and
    anyone holding the file can recompute the id with ``sha256sum``.
    """
    if isinstance(xray_or_path, bytes | bytearray | memoryview):
        return hashlib.sha256(bytes(xray_or_path)).hexdigest()
    if isinstance(xray_or_path, str | os.PathLike):
        return file_sha256(xray_or_path)
    path = getattr(xray_or_path, "path", None)
    if path:
        try:
            return file_sha256(path)
        except OSError:
            pass
    pixels = getattr(xray_or_path, "pixels", xray_or_path)
    try:
        import numpy as np

        arr = np.ascontiguousarray(np.asarray(pixels))
    except Exception as exc:  # not array-like at all
        raise TypeError(f"case_hash needs an XRay, a path, bytes or pixels, got {type(xray_or_path)!r}") from exc
    head = f"{arr.dtype.str}{arr.shape}".encode()
    return hashlib.sha256(head + arr.tobytes()).hexdigest()


def identifier_hash(value: str) -> str:
    """Short hash of a patient identifier, to group cases by patient without keeping the ID itself."""
    return hashlib.sha256(str(value).encode("utf-8", "surrogatepass")).hexdigest()[:16]


def name_hash(path: str | os.PathLike[str]) -> str:
    """Short hash of a file's basename (names often carry patient names; never log them in clear)."""
    return hashlib.sha256(Path(path).name.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _host_hash() -> str:
    try:
        host = socket.gethostname()
    except OSError:
        host = "unknown"
    return hashlib.sha256(host.encode()).hexdigest()[:12]


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (some containers): still log, just without it
        return "unknown"


def _bundle_sha(bundle: Any) -> str | None:
    if bundle is None:
        return None
    if isinstance(bundle, str):
        return bundle
    try:
        return str(bundle.sha256)
    except Exception:
        card = getattr(bundle, "card", None) or {}
        return card.get("model_sha256")


class AuditLog:
    """Append-only JSON-lines audit log (default: ``core.paths.audit_log_path()``)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        if path is None:
            from core.paths import audit_log_path

            path = audit_log_path()
        self.path = Path(path)
        self._user = _user()
        self._host = _host_hash()
        # Identifiers seen on cases opened through this log; redacted from any free text.
        self._secrets: set[str] = set()

    # -- writing -------------------------------------------------------------------------
    def log(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one event; returns the record written.

        Raises ``ValueError`` for a malformed event name or a field that would carry a patient
        identifier, and :class:`AuditError` if the file cannot be written.
        """
        if not isinstance(event, str) or not _EVENT_RE.match(event):
            raise ValueError(f"bad audit event name: {event!r}")
        for key in fields:
            if key in _RESERVED:
                raise ValueError(f"audit field {key!r} is reserved")
            if _is_forbidden(key):
                raise ValueError(f"audit field {key!r} would store a patient identifier; log case_hash instead")
        record: dict[str, Any] = {
            "ts": _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "event": event,
            "app_version": __version__,
            "user": self._user,
            "host": self._host,
            "pid": os.getpid(),
        }
        for key, value in fields.items():
            record[key] = self._scrub(value)
        line = (json.dumps(record, ensure_ascii=True, allow_nan=False, separators=(",", ":")) + "\n").encode()
        self._append(line)
        return record

    def _append(self, line: bytes) -> None:
        try:
            append_line(self.path, line)
        except OSError as exc:
            raise AuditError(f"cannot write the audit log {self.path}: {exc.strerror or exc}") from exc

    def _scrub(self, value: Any, depth: int = 0) -> Any:
        if depth > 4:
            return "[nested too deep]"
        if value is None or isinstance(value, bool | int):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else None
        if isinstance(value, os.PathLike):
            # Paths of images name patients more often than not: keep only a hash of the basename.
            return {"name_hash": name_hash(value), "suffix": Path(value).suffix.lower()}
        if isinstance(value, str):
            text = value[:_MAX_TEXT]
            for secret in sorted(self._secrets, key=len, reverse=True):
                text = text.replace(secret, "[redacted]")
            return text
        if isinstance(value, Mapping):
            out = {}
            for k, v in value.items():
                if _is_forbidden(str(k)):
                    raise ValueError(f"audit field {k!r} would store a patient identifier")
                out[str(k)] = self._scrub(v, depth + 1)
            return out
        if isinstance(value, list | tuple | set | frozenset):
            return [self._scrub(v, depth + 1) for v in list(value)[:100]]
        if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy scalar
            return self._scrub(value.item(), depth + 1)
        if hasattr(value, "pixels") and hasattr(value, "meta"):
            return case_hash(value)
        return self._scrub(str(value), depth + 1)

    def remember_identifiers(self, xray: Any) -> None:
        """Note a case's patient name/ID so that they are redacted if they ever reach free text."""
        meta = getattr(xray, "meta", None) or {}
        for key in ("patient_name", "patient_id"):
            value = str(meta.get(key) or "").strip()
            if len(value) >= 3:  # short strings would redact innocent text
                self._secrets.add(value)
                self._secrets.update(p for p in re.split(r"[\^ ]+", value) if len(p) >= 3)

    # -- the events the app logs -------------------------------------------------------------
    def app_start(self, **extra: Any) -> dict[str, Any]:
        return self.log("app_start", **extra)

    def app_stop(self, **extra: Any) -> dict[str, Any]:
        return self.log("app_stop", **extra)

    def bundle_loaded(self, bundle: Any, **extra: Any) -> dict[str, Any]:
        path = getattr(bundle, "path", None)
        card = getattr(bundle, "card", None) or {}
        return self.log(
            "bundle_loaded",
            bundle_sha256=_bundle_sha(bundle),
            bundle_path=str(path) if path is not None else None,
            bundle_name=card.get("name"),
            threshold=(card.get("threshold") or {}).get("value"),
            **extra,
        )

    def case_opened(self, xray: Any, **extra: Any) -> dict[str, Any]:
        self.remember_identifiers(xray)
        meta = getattr(xray, "meta", None) or {}
        path = getattr(xray, "path", None)
        return self.log(
            "case_opened",
            case_hash=case_hash(xray),
            name_hash=name_hash(path) if path else None,
            kind=getattr(xray, "kind", None),
            modality=meta.get("modality"),
            **extra,
        )

    def prediction(
        self, case: Any, score: float, threshold: float, bundle: Any = None, no_call_reason: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """``case`` is an XRay, a path or an already computed case hash (64 hex chars).

        With ``no_call_reason`` (the gate or the view check fired, :func:`core.cases.decide`) the
        record has no score and no label, as the user saw; the model's number is kept apart as
        ``model_output`` for the record.
        """
        chash = case if isinstance(case, str) and re.fullmatch(r"[0-9a-f]{64}", case) else case_hash(case)
        score = float(score)
        threshold = float(threshold)
        if no_call_reason:
            fields: dict[str, Any] = {"score": None, "label": None, "not_applicable": no_call_reason,
                                      "model_output": score}
        else:
            fields = {"score": score, "label": POSITIVE_CLASS if score >= threshold else NEGATIVE_CLASS}
        return self.log(
            "prediction",
            case_hash=chash,
            threshold=threshold,
            **fields,
            bundle_sha256=_bundle_sha(bundle),
            **extra,
        )

    def threshold_adopted(
        self,
        value: float,
        method: str,
        reason: str,
        bundle: Any = None,
        adopted_by: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        return self.log(
            "threshold_adopted",
            value=float(value),
            method=method,
            reason=reason,
            adopted_by=adopted_by or self._user,
            bundle_sha256=_bundle_sha(bundle),
            **extra,
        )

    def report_exported(self, path: str | os.PathLike[str], bundle: Any = None, **extra: Any) -> dict[str, Any]:
        return self.log(
            "report_exported",
            report_name_hash=name_hash(path),
            report_suffix=Path(path).suffix.lower(),
            bundle_sha256=_bundle_sha(bundle),
            **extra,
        )

    # -- reading -----------------------------------------------------------------------------
    def read(self, limit: int | None = None, event: str | Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Records oldest first (the last ``limit`` of them), skipping torn or foreign lines."""
        if not self.path.exists():
            return []
        wanted = {event} if isinstance(event, str) else set(event) if event is not None else None
        records: list[dict[str, Any]] = []
        try:
            with open(self.path, "rb") as fh:
                for raw in fh:
                    try:
                        rec = json.loads(raw)
                    except (ValueError, UnicodeDecodeError):
                        continue
                    if not isinstance(rec, dict) or "event" not in rec:
                        continue
                    if wanted is None or rec["event"] in wanted:
                        records.append(rec)
        except OSError as exc:
            raise AuditError(f"cannot read the audit log {self.path}: {exc.strerror or exc}") from exc
        if limit is not None:
            records = records[-limit:] if limit > 0 else []
        return records


_default: AuditLog | None = None


def default_log() -> AuditLog:
    """The per-user audit log, created on first use (re-created if PNEUMOSCOPE_HOME changes)."""
    global _default
    from core.paths import audit_log_path

    path = audit_log_path()
    if _default is None or _default.path != path:
        _default = AuditLog(path)
    return _default

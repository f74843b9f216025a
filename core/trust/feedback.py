"""Case feedback: the expert agrees or disagrees with the model's call, in an append-only log.

One JSON object per line in ``feedback.jsonl`` in the user log folder, written like the audit log
(one ``O_APPEND`` write under ``flock``, fsynced; a torn last line is skipped on reading). A record::

    {time, user, file, sop_instance_uid, study_instance_uid, verdict: agree|disagree,
     true_label: NORMAL|PNEUMONIA|null, note, model_sha256, threshold, threshold_source, score, call}

``file`` is the local path of the case (the log stays on this machine, like the scores CSV); the
export to a site CSV needs it. :func:`disagreement_watch` compares the recent disagreement rate with
the rate the operating point expects and says when to stop and look.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
import os
from pathlib import Path
from typing import Any

from core.paths import append_line, atomic_open, user_log_dir
from core.trust.audit import AuditError, _user

VERDICTS = ("agree", "disagree")
LABELS = ("NORMAL", "PNEUMONIA")
FIELDS = ("time", "user", "file", "sop_instance_uid", "study_instance_uid", "verdict", "true_label", "note",
          "model_sha256", "threshold", "threshold_source", "score", "call")
DEFAULT_WINDOW = 50
STOP_P = 0.01


def feedback_path() -> Path:
    return user_log_dir() / "feedback.jsonl"


def _label(value: Any, what: str) -> str | None:
    if value in (None, ""):
        return None
    text = str(value).strip().upper()
    if text not in LABELS:
        raise AuditError(f"the {what} {value!r} is not NORMAL or PNEUMONIA")
    return text


def make_record(*, file: str, verdict: str, call: str | None, score: float | None, threshold: float | None,
                model_sha256: str | None, threshold_source: str | None = None, true_label: str | None = None,
                note: str = "", user: str | None = None, sop_instance_uid: str | None = None,
                study_instance_uid: str | None = None) -> dict[str, Any]:
    """A checked feedback record in the shared schema (see the module docstring)."""
    v = str(verdict).strip().lower()
    if v not in VERDICTS:
        raise AuditError(f"the verdict {verdict!r} is not agree or disagree")
    call_l, truth = _label(call, "model call"), _label(true_label, "true label")
    if call_l and truth and (truth == call_l) != (v == "agree"):
        raise AuditError(f"the true label {truth} contradicts '{v}' with the model's call {call_l}")
    return {
        "time": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "user": user or _user(),
        "file": str(file),
        "sop_instance_uid": sop_instance_uid,
        "study_instance_uid": study_instance_uid,
        "verdict": v,
        "true_label": truth,
        "note": str(note or "")[:2000],
        "model_sha256": model_sha256,
        "threshold": None if threshold is None else float(threshold),
        "threshold_source": threshold_source,
        "score": None if score is None or not math.isfinite(float(score)) else float(score),
        "call": call_l,
    }


def record_feedback(record: dict[str, Any], path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Append one record (from :func:`make_record`) to the log, all or nothing."""
    missing = [k for k in FIELDS if k not in record]
    if missing:
        raise AuditError(f"a feedback record lacks {', '.join(missing)}")
    line = (json.dumps({k: record[k] for k in FIELDS}, ensure_ascii=False) + "\n").encode()
    target = Path(path) if path else feedback_path()
    try:
        append_line(target, line)
    except OSError as exc:
        raise AuditError(f"cannot write the feedback log {target}: {exc.strerror or exc}") from exc
    return record


def read_feedback(path: str | os.PathLike[str] | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Records oldest first (the last ``limit``), torn or foreign lines skipped."""
    p = Path(path) if path else feedback_path()
    if not p.exists():
        return []
    out: list[dict[str, Any]] = []
    with open(p, "rb") as fh:
        for raw in fh:
            try:
                rec = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                continue
            if isinstance(rec, dict) and rec.get("verdict") in VERDICTS:
                out.append(rec)
    return out[-limit:] if limit else out


def true_label_of(rec: dict[str, Any]) -> str | None:
    """The label the expert's feedback implies: the one given, else the call agreed with or its opposite."""
    if rec.get("true_label") in LABELS:
        return rec["true_label"]
    call = rec.get("call")
    if call not in LABELS:
        return None
    return call if rec["verdict"] == "agree" else LABELS[1 - LABELS.index(call)]


def export_site_csv(out: str | os.PathLike[str], path: str | os.PathLike[str] | None = None) -> tuple[Path, int, int]:
    """Write a site CSV ``file,label`` (latest feedback per file) that ``site calibrate`` reads.

    Returns (path, rows written, records left out: no label implied or file gone)."""
    latest: dict[str, dict[str, Any]] = {}
    for rec in read_feedback(path):
        latest[str(rec.get("file"))] = rec
    out_p = Path(out)
    rows, left = [], 0
    for file, rec in latest.items():
        label = true_label_of(rec)
        if label is None or not Path(file).is_file():
            left += 1
            continue
        try:
            name = os.path.relpath(file, out_p.parent.resolve())
        except ValueError:  # another drive (Windows)
            name = os.path.abspath(file)
        rows.append((Path(name).as_posix(), label))
    if not rows:
        raise AuditError("no feedback with a known label and an existing file to export")
    out_p.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(out_p, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(("file", "label"))
        w.writerows(rows)
    return out_p, len(rows), left


def _upper_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    return float(sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k, n + 1)))


def assessed_cases(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per case (its latest), in the order of those latest records, skipping cases the
    model gave no call on (nothing to agree with). A case is its SOP Instance UID when known, else
    its file: feedback given twice on one case counts once."""
    latest: dict[str, tuple[int, dict[str, Any]]] = {}
    for i, rec in enumerate(records):
        key = str(rec.get("sop_instance_uid") or rec.get("file"))
        latest[key] = (i, rec)
    ordered = [rec for _, rec in sorted(latest.values(), key=lambda t: t[0])]
    return [rec for rec in ordered if rec.get("call") in LABELS]


def disagreement_watch(records: list[dict[str, Any]], expected: float | None, window: int = DEFAULT_WINDOW,
                       stop_p: float = STOP_P, source: str = "") -> dict[str, Any]:
    """The disagreement rate over the last ``window`` assessed cases against the ``expected`` error rate.

    Stop rule: warn when P(X >= observed | window, expected) < ``stop_p`` (one-sided exact binomial),
    i.e. more disagreement than the operating point's own error rate plausibly gives.
    """
    recent = assessed_cases(records)[-window:]
    n = len(recent)
    k = sum(1 for r in recent if r.get("verdict") == "disagree")
    out: dict[str, Any] = {"n": n, "disagree": k, "rate": k / n if n else None, "expected": expected,
                           "window": window, "stop_p": stop_p, "source": source, "warn": False}
    rule = (f"warn when the disagreements in the last {window} assessed cases are more than the expected "
            f"rate plausibly gives (one-sided binomial p < {stop_p:g})")
    out["rule"] = rule
    if expected is None or n == 0:
        out["text"] = f"{k} of {n} assessed cases disagreed; no expected rate is known."
        return out
    p = _upper_tail(k, n, min(max(expected, 1e-6), 1 - 1e-6))
    out["p"] = p
    out["warn"] = p < stop_p
    head = f"{k} of the last {n} assessed cases disagreed ({k / n:.0%}); about {expected:.0%} expected"
    out["text"] = head + (f" {source}" if source else "") + (
        f". STOP and check: this is more than the operating point explains (p = {p:.3g})." if out["warn"] else ".")
    return out

"""A reader's feedback on an AI result, sent back as an SR that references the AI result SR.

The feedback is the case feedback record (issue 15): ``{time, user, file, sop_instance_uid,
study_instance_uid, verdict (agree|disagree), true_label, note, model_sha256, threshold,
threshold_source, score, call}``, here taken as a plain dict so it works with any store that
keeps those keys.

The Assessment SR is a TID 1500 Measurement Report (Comprehensive 3D SR) in the AI result's
study:

- observer: the reader as a person observer (TID 1003; the user name as given, no patient data);
- one measurement group with the **same tracking UID** as the AI result's finding, so a viewer or
  a script pairs the two, the source image, finding type pneumonia;
- qualitative evaluations: "Reader agrees with the AI result" (SNOMED CT 373066001 Yes /
  373067005 No), the reader's pneumonia label (SNOMED CT 233604007 Pneumonia = Present / Absent),
  the AI's call it was given, and the note as a comment;
- the AI result SR (and the source) in the evidence sequences (Current Requested Procedure
  Evidence); the group's Tracking Identifier text is "Reader assessment of Pneumonia finding 1".

:func:`send_assessments` sends them to the node's result destinations (``pneumoscope-cli feedback
send``, and the Worklist after each Agree/Disagree when the node sends results).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydicom.sr.coding import Code

from core import __version__
from core.node.tid1500 import ABSENT, PNEUMONIA, PRESENT, QUALITATIVE, SCHEME

AGREES = Code("PNQ10", SCHEME, "Reader agrees with the AI result")
AI_CALL = Code("PNQ11", SCHEME, "AI call shown to the reader")
YES = Code("373066001", "SCT", "Yes")
NO = Code("373067005", "SCT", "No")
SERIES_NUMBER = 9904
VERDICTS = ("agree", "disagree")


def _label_code(label: Any) -> Code | None:
    text = str(label or "").strip().upper()
    if text in ("PNEUMONIA", "1", "POSITIVE", "PRESENT"):
        return PRESENT
    if text in ("NORMAL", "0", "NEGATIVE", "ABSENT"):
        return ABSENT
    return None


def _tracking_uid(ai_sr: Any) -> str | None:
    def walk(items: Any) -> str | None:
        for it in items or []:
            name = it.get("ConceptNameCodeSequence")
            if name and name[0].CodeValue == "112040":
                return str(it.UID)
            found = walk(it.get("ContentSequence"))
            if found:
                return found
        return None

    return walk(ai_sr.get("ContentSequence"))


def check_record(record: dict[str, Any]) -> dict[str, Any]:
    """The record, or a plain error naming what is missing or wrong."""
    missing = [k for k in ("sop_instance_uid", "verdict") if not record.get(k)]
    if missing:
        raise ValueError(f"the feedback record lacks {', '.join(missing)}")
    if str(record["verdict"]).lower() not in VERDICTS:
        raise ValueError(f"the feedback verdict {record['verdict']!r} is not agree or disagree")
    return record


def build_assessment_sr(record: dict[str, Any], ai_sr: Any, source_ref: Any) -> Any:
    """The Assessment SR for one feedback ``record`` on the AI result ``ai_sr`` of ``source_ref``."""
    import highdicom as hd
    from pydicom.uid import generate_uid

    check_record(record)
    if str(source_ref.SOPInstanceUID) != str(record["sop_instance_uid"]):
        raise ValueError("the feedback is about another image than this AI result")
    rel = hd.sr.RelationshipTypeValues.CONTAINS
    user = str(record.get("user") or "unknown reader")
    stamp = str(record.get("time") or "")

    def uid(*parts: Any) -> str:
        return str(generate_uid(entropy_srcs=[str(p) for p in (ai_sr.SOPInstanceUID, user, stamp, *parts)]))

    person = hd.sr.ObserverContext(
        observer_type=Code("121006", "DCM", "Person"),
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(name=_person_name(user)),
    )
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=_tracking_uid(ai_sr) or uid("tracking"), identifier="Reader assessment of Pneumonia finding 1"
        ),
        finding_type=PNEUMONIA,
        source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(source_ref)],
    )
    from core.node.tid1500 import IMAGING_PROCEDURE, _lenient_image_library

    _lenient_image_library()
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_person_context=person),
        procedure_reported=IMAGING_PROCEDURE,
        imaging_measurements=[group],
    )
    verdict = str(record["verdict"]).lower()
    items: list[Any] = [hd.sr.CodeContentItem(AGREES, YES if verdict == "agree" else NO, relationship_type=rel)]
    truth = _label_code(record.get("true_label"))
    if truth is not None:
        items.append(hd.sr.CodeContentItem(PNEUMONIA, truth, relationship_type=rel))
    if record.get("call"):
        items.append(hd.sr.TextContentItem(AI_CALL, str(record["call"])[:1000], relationship_type=rel))
    if record.get("note"):
        items.append(hd.sr.TextContentItem(Code("121106", "DCM", "Comment"), str(record["note"])[:1000],
                                           relationship_type=rel))
    container = hd.sr.ContainerContentItem(QUALITATIVE, relationship_type=rel)
    container.ContentSequence = hd.sr.ContentSequence(items)
    report[0].ContentSequence.append(container)
    sr = hd.sr.Comprehensive3DSR(
        evidence=[source_ref, ai_sr],
        content=report,
        series_instance_uid=str(generate_uid(entropy_srcs=[str(ai_sr.StudyInstanceUID), "assessment-series"])),
        series_number=SERIES_NUMBER,
        sop_instance_uid=uid("assessment"),
        instance_number=1,
        manufacturer="Pneumoscope",
        is_complete=True,
        is_final=False,
    )
    sr.SeriesDescription = "Pneumoscope reader assessment (research use only)"
    sr.SoftwareVersions = __version__
    return sr


def _threshold_of(ai_sr: Any) -> float | None:
    """The threshold an AI result SR states (DCM 122411 Threshold Value), or None."""
    def walk(items: Any) -> float | None:
        for it in items or []:
            name = it.get("ConceptNameCodeSequence")
            if name and name[0].CodeValue == "122411" and it.get("MeasuredValueSequence"):
                return float(it.MeasuredValueSequence[0].NumericValue)
            found = walk(it.get("ContentSequence"))
            if found is not None:
                return found
        return None

    return walk(ai_sr.get("ContentSequence"))


def _person_name(user: str) -> str:
    """A DICOM person name from a login or display name ("jdoe" -> "jdoe^", "Jane Doe" -> "Doe^Jane");
    a one-part name keeps a trailing caret, which says it is one component on purpose."""
    parts = [p for p in user.replace("^", " ").split() if p]
    if len(parts) >= 2:
        return f"{parts[-1]}^{' '.join(parts[:-1])}"[:64]
    return (parts[0] if parts else "unknown")[:63] + "^"


def assessment_from_inbox(record: dict[str, Any], inbox: Any) -> Any:
    """The Assessment SR for a feedback record on an image the node scored and sent: the AI SR
    and the source come from the node's inbox (``inbox`` is a :class:`core.node.inbox.Inbox`)."""
    import pydicom

    from core.node.results import read_source

    check_record(record)
    uid = str(record["sop_instance_uid"])
    ai_path = inbox.results_dir(uid) / "sr.dcm"
    source = inbox.path_for(uid)
    if not ai_path.exists() or not source.exists():
        raise ValueError(f"no AI result SR for image {uid} in the node's inbox (was it scored and sent here?)")
    ai_sr = pydicom.dcmread(ai_path)
    shown, now = record.get("threshold"), _threshold_of(ai_sr)
    if shown is not None and now is not None and abs(float(shown) - now) > 5e-5:
        raise ValueError(f"the AI result for image {uid} was made again at threshold {now:.4f} since this feedback "
                         f"(given at {float(shown):.4f}): the assessment would reference a result it is not about")
    import warnings

    with warnings.catch_warnings():
        # Anonymised sources often hold a one-part PatientName; highdicom copies it as it is.
        warnings.filterwarnings("ignore", message=".*intended person name", category=UserWarning)
        return build_assessment_sr(record, ai_sr, read_source(source))


ASSESSMENTS_SENT = "assessments.jsonl"  # in the node's inbox: one line per Assessment SR sent


def assessment_key(record: dict[str, Any]) -> str:
    """One feedback record (image, reader, time): the same record is sent once."""
    return "|".join(str(record.get(k) or "") for k in ("sop_instance_uid", "user", "time"))


def sent_assessments(inbox: Any) -> set[str]:
    import json

    path = Path(inbox.folder) / ASSESSMENTS_SENT
    if not path.exists():
        return set()
    keys = set()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            keys.add(str(json.loads(line)["key"]))
        except (ValueError, KeyError, TypeError):
            continue  # a torn last line
    return keys


def send_assessments(records: list[dict[str, Any]], settings: Any, again: bool = False) -> list[dict[str, Any]]:
    """Build and send the Assessment SR of each feedback record on an image the node scored.

    Sent to the node's result destinations (``settings.destination`` by C-STORE and/or
    ``settings.web_destination`` by STOW-RS), saved beside the AI result in the inbox, and noted in
    the inbox's ``assessments.jsonl`` so a record is sent once (``again`` sends it anyway). Returns
    one outcome per record: ``{"uid", "status": sent|already sent|skipped|failed, "why", "sop"}``;
    a failure is reported, never raised, so one bad record does not stop the others. A record is
    skipped when the node holds no AI result for its image, or when the result was made again at
    another threshold since the feedback was given (the assessment would cite the wrong call).
    """
    import json

    from core.errors import PneumoscopeError
    from core.node.inbox import Inbox
    from core.node.send import _save
    from core.paths import append_line

    dest = settings.destination_parsed()
    web = settings.web_destination.strip()
    if dest is None and not web:
        raise ValueError("the node has no result destination (set --send-to or --send-to-web) to send "
                         "assessments to")
    inbox = Inbox(settings.inbox_path())
    done = set() if again else sent_assessments(inbox)
    out: list[dict[str, Any]] = []
    for rec in records:
        uid = str(rec.get("sop_instance_uid") or "")
        entry: dict[str, Any] = {"uid": uid, "user": rec.get("user"), "verdict": rec.get("verdict")}
        if not uid:
            out.append({**entry, "status": "skipped", "why": "not an image the node received (no SOP UID)"})
            continue
        if assessment_key(rec) in done:
            out.append({**entry, "status": "already sent"})
            continue
        try:
            sr = assessment_from_inbox(rec, inbox)
        except ValueError as exc:  # not scored and sent here, or re-made at another threshold since
            out.append({**entry, "status": "skipped", "why": str(exc)})
            continue
        except Exception as exc:  # a damaged file in the inbox: this record fails, the others go on
            out.append({**entry, "status": "failed", "why": f"cannot build the assessment: {exc}"})
            continue
        try:
            _save(sr, inbox.results_dir(uid), f"assessment-{str(sr.SOPInstanceUID)[-12:]}.dcm")
            if dest is not None:
                from core.node.send import send_datasets

                send_datasets([sr], dest, settings.ae_title)
            if web:
                from core.node.web import stow

                stow([sr], web)
        except (PneumoscopeError, OSError) as exc:
            out.append({**entry, "status": "failed", "why": str(exc)})
            continue
        line = json.dumps({"key": assessment_key(rec), "uid": uid, "sop": str(sr.SOPInstanceUID),
                           "time": rec.get("time")}) + "\n"
        append_line(Path(inbox.folder) / ASSESSMENTS_SENT, line.encode())
        out.append({**entry, "status": "sent", "sop": str(sr.SOPInstanceUID)})
    return out

"""A reader's feedback goes back as an Assessment SR that references the AI result SR
(issue 19): valid by dciodvfy (and PixelMed, slow), paired by tracking UID, stored in Orthanc."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydicom
import pytest

from core.node.assessment import assessment_from_inbox, build_assessment_sr
from core.node.config import Destination, NodeSettings
from core.node.results import build_results, read_source
from core.node.send import send_datasets
from core.node.service import Node
from tests.core.node_support import Orthanc, chest_files, free_port, storescu
from tests.core.node_validate import dciodvfy_errors, pixelmed_problems
from tests.core.test_node_orthanc import scorer_with_map

SHA = "fe" * 32


def _record(src: Any, verdict: str = "disagree", true_label: str = "NORMAL") -> dict[str, Any]:
    return {"time": "2026-12-03T19:00:00Z", "user": "Jane Reader", "file": "x.dcm",
            "sop_instance_uid": str(src.SOPInstanceUID), "study_instance_uid": str(src.StudyInstanceUID),
            "verdict": verdict, "true_label": true_label, "note": "consolidation is an artefact",
            "model_sha256": SHA, "threshold": 0.5, "threshold_source": "test", "score": 0.8, "call": "PNEUMONIA"}


def _walk(items: Any) -> list[Any]:
    out = []
    for it in items or []:
        out.append(it)
        out += _walk(it.get("ContentSequence"))
    return out


def _codes(ds: Any) -> dict[str, str]:
    return {it.ConceptNameCodeSequence[0].CodeMeaning: it.ConceptCodeSequence[0].CodeMeaning
            for it in _walk(ds.ContentSequence) if it.ValueType == "CODE"}


@pytest.fixture
def ai(tmp_path: Path, dicom_dir: Path) -> tuple[Any, Any, Path]:
    src_path = chest_files(dicom_dir)[0]
    ref = read_source(src_path)
    sr = build_results(src_path, scorer_with_map(src_path), SHA, with_sc=False)[0]
    return sr, ref, src_path


def test_assessment_references_the_ai_sr_and_validates(tmp_path: Path, ai: tuple[Any, Any, Path]) -> None:
    ai_sr, ref, _ = ai
    out = build_assessment_sr(_record(ref), ai_sr, ref)
    assert out.StudyInstanceUID == ai_sr.StudyInstanceUID and out.SOPInstanceUID != ai_sr.SOPInstanceUID
    evidence = {r.ReferencedSOPInstanceUID for s in out.CurrentRequestedProcedureEvidenceSequence
                for se in s.ReferencedSeriesSequence for r in se.ReferencedSOPSequence}
    assert {ai_sr.SOPInstanceUID, ref.SOPInstanceUID} <= evidence
    tracking = {str(it.UID) for it in _walk(out.ContentSequence) if it.ValueType == "UIDREF"}
    ai_tracking = {str(it.UID) for it in _walk(ai_sr.ContentSequence) if it.ValueType == "UIDREF"}
    assert tracking & ai_tracking  # the same finding
    codes = _codes(out)
    assert codes["Reader agrees with the AI result"] == "No" and codes["Pneumonia"] == "Absent"
    agree = _codes(build_assessment_sr(_record(ref, "agree", "PNEUMONIA"), ai_sr, ref))
    assert agree["Reader agrees with the AI result"] == "Yes" and agree["Pneumonia"] == "Present"
    path = tmp_path / "assessment.dcm"
    out.save_as(path, enforce_file_format=True)
    assert not dciodvfy_errors(path)
    with pytest.raises(ValueError, match="agree or disagree"):
        build_assessment_sr(_record(ref, verdict="maybe"), ai_sr, ref)


@pytest.mark.slow
def test_assessment_is_clean_for_pixelmed(tmp_path: Path, ai: tuple[Any, Any, Path]) -> None:
    ai_sr, ref, _ = ai
    path = tmp_path / "assessment.dcm"
    build_assessment_sr(_record(ref), ai_sr, ref).save_as(path, enforce_file_format=True)
    assert not any(pixelmed_problems([path]).values())


def test_feedback_from_the_node_inbox_reaches_orthanc(tmp_path: Path, dicom_dir: Path) -> None:
    src = chest_files(dicom_dir)[0]
    with Orthanc(tmp_path / "orthanc") as orthanc:
        dest = f"127.0.0.1:{orthanc.dicom_port}:{orthanc.aet}"
        node = Node(NodeSettings(port=free_port(), inbox=str(tmp_path / "inbox"), destination=dest), scorer_with_map)
        node.start()
        try:
            assert len(storescu([src], node.address[1])["acked"]) == 1
            assert node.wait_idle(60)
        finally:
            node.stop()
        ref = pydicom.dcmread(src, stop_before_pixels=True)
        sr = assessment_from_inbox(_record(ref), node.inbox)
        send_datasets([sr], Destination.parse(dest), "PNEUMOSCOPE")
        held = {i["MainDicomTags"]["SOPInstanceUID"] for i in orthanc.instances()}
        assert str(sr.SOPInstanceUID) in held and len(held) == 3  # PM, AI SR, assessment
        # The way a reader's feedback goes back in use: `pneumoscope-cli feedback send`, once per record.
        from core.cli import main
        from core.trust.feedback import record_feedback

        log = tmp_path / "feedback.jsonl"
        later = {**_record(ref, verdict="agree", true_label="PNEUMONIA"), "time": "2026-12-04T08:00:00Z"}
        record_feedback(later, log)
        record_feedback({**later, "sop_instance_uid": None, "file": "/elsewhere/x.png"}, log)  # not a node image
        args = ["feedback", "send", "--log", str(log), "--inbox", str(tmp_path / "inbox"), "--send-to", dest]
        assert main(args) == 0
        held = {i["MainDicomTags"]["SOPInstanceUID"] for i in orthanc.instances()}
        assert len(held) == 4  # the second reader's assessment joined the study
        assert main(args) == 0  # sent once: the second run sends nothing
        assert len(orthanc.instances()) == 4
        kept = list((tmp_path / "inbox" / "results").rglob("assessment-*.dcm"))
        assert len(kept) == 1 and pydicom.dcmread(kept[0]).Modality == "SR"
    with pytest.raises(ValueError, match="no AI result SR"):
        assessment_from_inbox({**_record(ref), "sop_instance_uid": "1.2.3"}, node.inbox)
    # Feedback given at another threshold than the AI result now in the inbox: not sent against it.
    with pytest.raises(ValueError, match=r"made again at threshold 0\.5000"):
        assessment_from_inbox({**_record(ref), "threshold": 0.9}, node.inbox)
    # A damaged AI result in the inbox fails that record and says so; nothing is raised.
    from core.node.assessment import send_assessments

    (node.inbox.results_dir(str(ref.SOPInstanceUID)) / "sr.dcm").write_bytes(b"damaged")
    settings = NodeSettings(port=free_port(), inbox=str(tmp_path / "inbox"), destination=f"127.0.0.1:{free_port()}:X")
    out = send_assessments([{**_record(ref), "time": "2026-12-05T00:00:00Z"}], settings)
    assert out[0]["status"] == "failed" and "cannot build" in out[0]["why"]

"""Results back to a real PACS: the node sends its Secondary Capture and SR to a real Orthanc;
they are found there over REST and C-FIND (DCMTK findscu) and validate (dciodvfy)."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

from core.cases import Case
from core.imaging import load_image
from core.node.config import NodeSettings
from core.node.results import RESEARCH_ONLY
from core.node.service import Node
from core.node.worklist import Worklist
from tests.core.node_support import REPO, Orthanc, chest_files, free_port, need_tool, start_listen, storescu


def scorer_with_map(path: Path) -> Case:
    """Quick real scorer (brightness of the decoded image) with a simple heat map."""
    xray = load_image(path)
    score = float(np.mean(xray.pixels) / 255.0)
    h, w = xray.pixels.shape
    heat = np.outer(np.linspace(0, 1, h), np.ones(w)).astype(np.float32)
    return Case(path=str(path), xray=xray, score=score, threshold=0.5, threshold_source="test",
                label="PNEUMONIA" if score >= 0.5 else "NORMAL", ood_flag=False, ood_distance=0.4, heatmap=heat)


def _items(ds: Any) -> list[Any]:
    return list(ds.ContentSequence)


def validate_results(orthanc: Orthanc, sources: list[Path], rows: dict[str, Any], tmp: Path) -> None:
    """Every source has one SC and one SR in Orthanc, in its study, that validate."""
    dciodvfy = need_tool("dciodvfy", "dicom3tools")
    found: dict[str, dict[str, pydicom.Dataset]] = {}
    for inst in orthanc.instances():
        raw = orthanc.file(inst["ID"])
        out = tmp / f"{inst['ID']}.dcm"
        out.write_bytes(raw)
        ds = pydicom.dcmread(out)
        errors = [line for line in subprocess.run([dciodvfy, str(out)], capture_output=True, text=True,
                                                  timeout=60).stderr.splitlines() if line.startswith("Error")]
        assert not errors, f"{ds.Modality} for {ds.StudyInstanceUID}: {errors}"
        found.setdefault(str(ds.StudyInstanceUID), {})[str(ds.Modality)] = ds
    for f in sources:
        src = pydicom.dcmread(f, stop_before_pixels=True)
        row = rows[str(src.SOPInstanceUID)]
        study = found.get(str(src.StudyInstanceUID), {})
        assert set(study) == {"OT", "SR"}, f"{f.name}: {sorted(study)}"
        sc, sr = study["OT"], study["SR"]
        for ds in (sc, sr):
            assert ds.PatientID == src.PatientID
            assert ds.SeriesInstanceUID != src.SeriesInstanceUID
            assert ds.Manufacturer == "Pneumoscope"
        assert sc.SeriesInstanceUID != sr.SeriesInstanceUID
        assert sc.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7" and sc.BurnedInAnnotation == "YES"
        assert sc.SourceImageSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
        pixels = sc.pixel_array
        assert pixels.ndim == 3 and pixels.shape[2] == 3 and pixels.shape[1] == src.Columns
        assert pixels.shape[0] > src.Rows  # the text band is added above the image
        # An image the OOD gate or view check flags gets no call and its score is "not applicable" (issue 14.2).
        shown = f"score {row.score:.3f}" if row.label else "score not applicable"
        assert shown in sc.ImageComments and RESEARCH_ONLY in sc.ImageComments
        assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR
        items = {it.ConceptNameCodeSequence[0].CodeMeaning: it for it in _items(sr)}
        if row.label:
            score = float(items["Pneumonia score"].MeasuredValueSequence[0].NumericValue)
            assert score == pytest.approx(row.score, abs=1e-6)
        else:  # no call: the SR carries no number a reader could take for a result
            assert "Pneumonia score" not in items
        assert float(items["Decision threshold"].MeasuredValueSequence[0].NumericValue) == pytest.approx(row.threshold)
        call = items["Call at threshold"].TextValue
        assert call == row.label if row.label else call.startswith("no call")
        assert items["Model SHA-256"].TextValue == (row.model_sha256 or "unknown")
        assert "Out-of-distribution check" in items and items["Comment"].TextValue == RESEARCH_ONLY
        refs = [it for it in _items(sr) if it.ValueType == "IMAGE"]
        ref_uids = {it.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for it in refs}
        assert ref_uids == {src.SOPInstanceUID, sc.SOPInstanceUID}


def findscu_series(orthanc: Orthanc, study_uid: str) -> set[str]:
    """Modalities of the series Orthanc answers for a study, by C-FIND."""
    exe = need_tool("findscu", "dcmtk")
    proc = subprocess.run([exe, "-v", "-S", "-aet", "PNEUMOSCOPE", "-aec", orthanc.aet, "127.0.0.1",
                           str(orthanc.dicom_port), "-k", "QueryRetrieveLevel=SERIES", "-k",
                           f"StudyInstanceUID={study_uid}", "-k", "Modality", "-k", "SeriesInstanceUID"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return set(re.findall(r"\(0008,0060\) CS \[(\w+)\s*\]", proc.stdout + proc.stderr))


def test_results_reach_orthanc_and_validate(tmp_path: Path, dicom_dir: Path) -> None:
    chest = dicom_dir / "chest"
    sources = [chest / "nema_wg04_RG1_J2KI.dcm", chest / "nih_gcp_110503645592756492463169821050252582267888.dcm",
               chest / "rsna_00436515-870c-4b36-a041-de91049b9ab4.dcm"]
    with Orthanc(tmp_path / "orthanc") as orthanc:
        # The legacy results (issue 19 keeps them as an option): burned-in SC + free-form SR.
        settings = NodeSettings(port=free_port(), inbox=str(tmp_path / "inbox"), sr_style="legacy", heat_map="sc",
                                destination=f"127.0.0.1:{orthanc.dicom_port}:{orthanc.aet}")
        node = Node(settings, scorer_with_map)
        node.start()
        try:
            assert len(storescu(sources, node.address[1])["acked"]) == len(sources)
            assert node.wait_idle(120)
            assert node.counts()["sent"] == len(sources), node.inbox.worklist.rows()
        finally:
            node.stop()
        rows = {r.uid: r for r in node.inbox.worklist.rows()}
        assert all(r.sent == "sent" for r in rows.values())
        validate_results(orthanc, sources, rows, tmp_path)
        study = str(pydicom.dcmread(sources[2], stop_before_pixels=True).StudyInstanceUID)
        assert findscu_series(orthanc, study) == {"OT", "SR"}
        # Results are kept in the inbox too, and a second send replaces rather than duplicates.
        assert len(list((tmp_path / "inbox" / "results").rglob("*.dcm"))) == 2 * len(sources)


def test_unreachable_destination_is_recorded_and_retried_on_restart(tmp_path: Path, dicom_dir: Path) -> None:
    orthanc = Orthanc(tmp_path / "orthanc")  # configured, not started yet
    settings = NodeSettings(port=free_port(), inbox=str(tmp_path / "inbox"),
                            destination=f"127.0.0.1:{orthanc.dicom_port}:{orthanc.aet}")
    source = chest_files(dicom_dir)[0]
    node = Node(settings, scorer_with_map)
    node.start()
    try:
        assert len(storescu([source], node.address[1])["acked"]) == 1
        assert node.wait_idle(60)
    finally:
        node.stop()
    row = node.inbox.worklist.rows()[0]
    assert row.status == "scored" and row.sent.startswith("failed: ")
    assert "cannot reach" in row.sent or "association" in row.sent
    with orthanc:
        node = Node(settings, scorer_with_map)
        node.start()
        try:
            assert node.wait_idle(60)
        finally:
            node.stop()
        assert node.inbox.worklist.rows()[0].sent == "sent"
        assert len({i["MainDicomTags"].get("SOPInstanceUID") for i in orthanc.instances()}) == 2


@pytest.mark.slow
def test_cli_listen_with_the_model_end_to_end(tmp_path: Path, dicom_dir: Path) -> None:
    """`pneumoscope-cli listen` with the shipped model: storescu -> score -> SC/SR -> Orthanc."""
    if not (REPO / "models" / "default" / "model.keras").exists():
        pytest.skip("no shipped model in models/default")
    files = chest_files(dicom_dir)
    inbox = tmp_path / "inbox"
    port = free_port()
    with Orthanc(tmp_path / "orthanc") as orthanc:
        cli, lines = start_listen(
            ["--port", str(port), "--aet", "PNEUMOSCOPE", "--send-to", f"127.0.0.1:{orthanc.dicom_port}:{orthanc.aet}",
             "--inbox", str(inbox), "--interval", "1", "--sr", "legacy", "--heat-map", "sc"])
        try:
            sent = storescu(files, port)
            assert len(sent["acked"]) == len(files), sent["output"][-2000:]
            worklist = Worklist(inbox)
            end = time.monotonic() + 600
            while time.monotonic() < end:
                rows = worklist.rows()
                if len(rows) == len(files) and all(r.sent for r in rows):
                    break
                time.sleep(1)
            cli.send_signal(signal.SIGINT)
            out, _ = cli.communicate(timeout=120)
            lines.append(out)
        finally:
            if cli.poll() is None:
                cli.kill()
        text = "".join(lines)
        assert cli.returncode == 0, text[-3000:]
        assert "stopped." in text and f"received {len(files)}, scored {len(files)}" in text
        rows = {r.uid: r for r in Worklist(inbox).rows()}
        assert len(rows) == len(files)
        for r in rows.values():
            assert r.status == "scored" and r.sent == "sent", (r.uid, r.error, r.sent)
            assert 0.0 <= r.score <= 1.0 and len(r.model_sha256) == 64
            # one terminal line per instance, with the score the journal holds
            assert f"scored      ...{r.uid[-16:]} score {r.score:.3f}" in text, text[-3000:]
        validate_results(orthanc, files, rows, tmp_path)


def test_orthanc_pushes_studies_to_the_node(tmp_path: Path, dicom_dir: Path) -> None:
    """The PACS side of the story: Orthanc holds the studies and C-STOREs them to the node."""
    import json
    import urllib.request

    port = free_port()
    files = chest_files(dicom_dir)
    with Orthanc(tmp_path / "orthanc", modalities={"pneumoscope": ["PNEUMOSCOPE", "127.0.0.1", port]}) as orthanc:
        assert len(storescu(files, orthanc.dicom_port, aec=orthanc.aet)["acked"]) == len(files)
        node = Node(NodeSettings(port=port, inbox=str(tmp_path / "inbox")), scorer_with_map, sender=None)
        node.start()
        try:
            ids = orthanc.get("/instances")
            request = urllib.request.Request(f"http://127.0.0.1:{orthanc.http_port}/modalities/pneumoscope/store",
                                             data=json.dumps(ids).encode(), method="POST")
            with urllib.request.urlopen(request, timeout=120) as rsp:
                answer = json.loads(rsp.read())
            assert answer["FailedInstancesCount"] == 0 and answer["InstancesCount"] == len(files)
            assert node.wait_idle(120)
        finally:
            node.stop()
    rows = node.inbox.worklist.rows()
    assert len(rows) == len(files) and all(r.status == "scored" for r in rows)
    assert {r.calling_aet for r in rows} == {"ORTHANC"}

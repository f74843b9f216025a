"""DICOMweb and routing against a real Orthanc: the node's results by STOW-RS into Orthanc's
DICOMweb plugin (Debian orthanc-dicomweb), and the shipped Lua script forwarding only the chest
CR/DX instances of a stable study to the node."""

from __future__ import annotations

import time
from pathlib import Path

import pydicom
import pytest

from core.node.config import NodeSettings
from core.node.errors import NodeSendError
from core.node.send import send_results
from core.node.service import Node
from core.node.web import stow
from tests.core.node_support import REPO, Orthanc, chest_files, free_port, start_listen, storescu
from tests.core.test_node_orthanc import scorer_with_map

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


def web_orthanc(folder: Path) -> Orthanc:
    if not DICOMWEB_PLUGIN.exists():
        from tests.core.node_support import need_tool

        need_tool("orthanc-dicomweb-plugin", "orthanc-dicomweb")
    orthanc = Orthanc(folder)
    orthanc.config["Plugins"] = [str(DICOMWEB_PLUGIN)]
    orthanc.config["DicomWeb"] = {"Enable": True, "Root": "/dicom-web/"}
    return orthanc


def test_results_by_stow_rs_into_orthanc_dicomweb(tmp_path: Path, dicom_dir: Path) -> None:
    sources = chest_files(dicom_dir)[:2]
    with web_orthanc(tmp_path / "orthanc") as orthanc:
        url = f"http://127.0.0.1:{orthanc.http_port}/dicom-web"
        sent = []
        for i, src in enumerate(sources):
            paths = send_results(src, scorer_with_map(src), "ab" * 32, tmp_path / "res" / str(i), web_url=url)
            sent += [pydicom.dcmread(p, stop_before_pixels=True) for p in paths]
        held = {i["MainDicomTags"]["SOPInstanceUID"] for i in orthanc.instances()}
        assert held == {str(ds.SOPInstanceUID) for ds in sent}
        # Read back through DICOMweb too (QIDO-RS): the SR is found in the source's study.
        from dicomweb_client.api import DICOMwebClient

        study = str(sent[0].StudyInstanceUID)
        series = DICOMwebClient(url).search_for_series(study_instance_uid=study)
        modalities = {s["00080060"]["Value"][0] for s in series}
        assert {"SR", "OT"} <= modalities or {"SR"} <= modalities, modalities
    with pytest.raises(NodeSendError, match="cannot reach"):
        stow([pydicom.dcmread(tmp_path / "res" / "0" / "sr.dcm")], url)


def test_node_sends_to_dicomweb_only(tmp_path: Path, dicom_dir: Path) -> None:
    src = chest_files(dicom_dir)[0]
    with web_orthanc(tmp_path / "orthanc") as orthanc:
        settings = NodeSettings(port=free_port(), inbox=str(tmp_path / "inbox"),
                                web_destination=f"http://127.0.0.1:{orthanc.http_port}/dicom-web/")
        node = Node(settings, scorer_with_map)
        node.start()
        try:
            assert len(storescu([src], node.address[1])["acked"]) == 1
            assert node.wait_idle(60)
        finally:
            node.stop()
        assert node.inbox.worklist.rows()[0].sent == "sent"
        assert len(orthanc.instances()) == 2  # Parametric Map + SR


def _study(tmp: Path, dicom_dir: Path) -> tuple[list[Path], set[str]]:
    """One study: two chest CR/DX instances, a hand CR, a chest CT-labelled copy, and a CR with
    no body part but a chest study description; returns the files and the chest SOP UIDs."""
    from pydicom.uid import generate_uid

    chest = chest_files(dicom_dir)
    picks = [(chest[0], {}), (chest[1], {"BodyPartExamined": "CHEST"}), (chest[0], {"BodyPartExamined": "HAND"}),
             (chest[2], {"Modality": "CT"}), (chest[2], {"BodyPartExamined": None, "StudyDescription": "XR CHEST PA"})]
    study = generate_uid()
    files, wanted = [], set()
    for i, (path, changes) in enumerate(picks):
        ds = pydicom.dcmread(path)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, generate_uid()
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.PatientID = "ROUTE-TEST"
        for key, value in changes.items():
            if value is None and key in ds:
                delattr(ds, key)
            elif value is not None:
                setattr(ds, key, value)
        out = tmp / f"route_{i}.dcm"
        ds.save_as(out, enforce_file_format=True)
        files.append(out)
        if i in (0, 1, 4):
            wanted.add(str(ds.SOPInstanceUID))
    return files, wanted


def test_lua_routing_forwards_only_chest_cr_dx_of_a_stable_study(tmp_path: Path, dicom_dir: Path) -> None:
    port = free_port()
    files, wanted = _study(tmp_path, dicom_dir)
    orthanc = Orthanc(tmp_path / "orthanc", modalities={"pneumoscope": ["PNEUMOSCOPE", "127.0.0.1", port]})
    orthanc.config["LuaScripts"] = [str(REPO / "resources" / "orthanc" / "route_chest.lua")]
    orthanc.config["StableAge"] = 2
    node = Node(NodeSettings(port=port, inbox=str(tmp_path / "inbox")), scorer_with_map, sender=None)
    node.start()
    try:
        with orthanc:
            sent = storescu(files, orthanc.dicom_port, aec=orthanc.aet)
            assert len(sent["acked"]) == len(files), sent["output"][-2000:]
            end = time.monotonic() + 60
            while time.monotonic() < end and len(node.inbox.worklist.rows()) < len(wanted):
                time.sleep(0.5)
            time.sleep(3)  # anything else the script might (wrongly) send would arrive by now
            assert node.wait_idle(60)
    finally:
        node.stop()
    received = {r.uid for r in node.inbox.worklist.rows()}
    assert received == wanted


def test_lua_routing_forwards_each_instance_once_when_results_come_back(tmp_path: Path, dicom_dir: Path) -> None:
    """The node's results join the study and make it stable again: the X-rays are not forwarded again
    (with OverwriteInstances this used to loop for ever)."""
    import json

    from core.node.worklist import JOURNAL_NAME

    port = free_port()
    files, wanted = _study(tmp_path, dicom_dir)
    orthanc = Orthanc(tmp_path / "orthanc", modalities={"pneumoscope": ["PNEUMOSCOPE", "127.0.0.1", port]})
    orthanc.config["LuaScripts"] = [str(REPO / "resources" / "orthanc" / "route_chest.lua")]
    orthanc.config["StableAge"] = 1
    orthanc.config["OverwriteInstances"] = True
    with orthanc:
        settings = NodeSettings(port=port, inbox=str(tmp_path / "inbox"),
                                destination=f"127.0.0.1:{orthanc.dicom_port}:{orthanc.aet}")
        node = Node(settings, scorer_with_map)
        node.start()
        try:
            sent = storescu(files, orthanc.dicom_port, aec=orthanc.aet)
            assert len(sent["acked"]) == len(files), sent["output"][-2000:]
            end = time.monotonic() + 60
            while time.monotonic() < end and sum(r.sent == "sent" for r in node.inbox.worklist.rows()) < len(wanted):
                time.sleep(0.5)
            time.sleep(6)  # several StableAge periods after the results arrived in the study
            assert node.wait_idle(60)
        finally:
            node.stop()
        held = orthanc.instances()
    journal = [json.loads(line) for line in (tmp_path / "inbox" / JOURNAL_NAME).read_text().splitlines() if line]
    received = [r["uid"] for r in journal if r.get("event") == "received"]
    assert sorted(received) == sorted(wanted)  # each chest X-ray once, nothing else
    assert len(held) == len(files) + 2 * len(wanted)  # the sources and one PM + one SR each


def test_cli_listen_send_to_web_with_a_run_label(tmp_path: Path, dicom_dir: Path) -> None:
    """`pneumoscope-cli listen --send-to-web URL --results-run LABEL` with the shipped model: the
    results reach Orthanc's DICOMweb plugin, in the series of that run."""
    import json
    import signal
    import urllib.request

    from core.node.results import series_uid
    from core.node.worklist import Worklist

    files = chest_files(dicom_dir)[:2]
    inbox, port = tmp_path / "inbox", free_port()
    with web_orthanc(tmp_path / "orthanc") as orthanc:
        cli, lines = start_listen(
            ["--port", str(port), "--inbox", str(inbox), "--interval", "1",
             "--send-to-web", f"http://127.0.0.1:{orthanc.http_port}/dicom-web", "--results-run", "ward3-dec"])
        try:
            assert len(storescu(files, port)["acked"]) == len(files), "".join(lines)
            end = time.monotonic() + 120
            while time.monotonic() < end and not (len(Worklist(inbox).rows()) == len(files)
                                                   and all(r.sent for r in Worklist(inbox).rows())):
                time.sleep(0.5)
            cli.send_signal(signal.SIGINT)
            lines.append(cli.communicate(timeout=60)[0])
        finally:
            if cli.poll() is None:
                cli.kill()
        assert cli.returncode == 0, "".join(lines)[-3000:]
        rows = Worklist(inbox).rows()
        assert all(r.sent == "sent" for r in rows), [(r.uid, r.sent, r.error) for r in rows]
        held = orthanc.instances()
        uids = set()
        for sid in {i["ParentSeries"] for i in held}:
            with urllib.request.urlopen(f"http://127.0.0.1:{orthanc.http_port}/series/{sid}") as resp:
                uids.add(json.load(resp)["MainDicomTags"]["SeriesInstanceUID"])
    assert len(held) == 2 * len(files)  # a PM + SR for each source, by STOW-RS
    ref = pydicom.dcmread(files[0], stop_before_pixels=True)
    assert series_uid(ref, rows[0].model_sha256, "sr", "ward3-dec") in uids  # the run label chose the series
    assert series_uid(ref, rows[0].model_sha256, "sr", "") not in uids

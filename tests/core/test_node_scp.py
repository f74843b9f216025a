"""The Storage SCP against DCMTK's storescu, with a quick real scorer (no TensorFlow).

The scorer here reads each received file with the app's own loader and scores it by mean
brightness: real decoding of what arrived, fast enough for the default suite. The model's own
scoring through the node is tested in test_node_orthanc.py (slow).
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from core.cases import Case
from core.imaging import load_image
from core.node.config import NodeSettings
from core.node.service import Node
from tests.core.node_support import CuttingProxy, chest_files, free_port, need_tool, storescu


def brightness_scorer(path: Path) -> Case:
    xray = load_image(path)
    score = float(np.mean(xray.pixels) / 255.0)
    return Case(path=str(path), xray=xray, score=score, threshold=0.5, threshold_source="test",
                label="PNEUMONIA" if score >= 0.5 else "NORMAL")


@pytest.fixture()
def pynetdicom_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pynetdicom receives each data set into a temp file: point those at a folder we can inspect."""
    folder = tmp_path / "receive_tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def make_node(tmp_path: Path, **overrides: object) -> Node:
    settings = NodeSettings(enabled=True, port=free_port(), inbox=str(tmp_path / "inbox"), **overrides)
    node = Node(settings, brightness_scorer, sender=None)
    node.start()
    return node


def test_every_chest_dicom_is_received_scored_and_listed(tmp_path: Path, dicom_dir: Path) -> None:
    files = chest_files(dicom_dir)
    assert len(files) >= 19
    node = make_node(tmp_path)
    try:
        sent = storescu(files, node.address[1])
        assert sent["failed"] == [], sent["output"][-3000:]
        assert node.wait_idle(60)
        rows = node.inbox.worklist.rows()
        by_uid = {r.uid: r for r in rows}
        for f in files:
            source = pydicom.dcmread(f)
            row = by_uid[str(source.SOPInstanceUID)]
            assert row.status == "scored", row.error
            stored = pydicom.dcmread(node.inbox.folder / row.file)
            assert stored.PixelData == source.PixelData  # whole instance, bit for bit
            expected = float(np.mean(load_image(f).pixels) / 255.0)
            assert row.score == pytest.approx(expected, abs=1e-6)
            assert row.calling_aet == "STORESCU" and row.modality in ("CR", "DX")
        assert node.counts()["received"] == len(files) and node.counts()["scored"] == len(files)
        journal = node.inbox.worklist.path.read_text()
        for f in files:
            assert str(pydicom.dcmread(f, stop_before_pixels=True).PatientID) not in journal
    finally:
        node.stop()


def test_non_images_and_foreign_secondary_capture_are_refused(tmp_path: Path, dicom_dir: Path) -> None:
    node = make_node(tmp_path)
    try:
        edge = dicom_dir / "edge"
        sr_rt = storescu([edge / "fod_test_SR.dcm"], node.address[1])
        sr_rt2 = storescu([edge / "pyd_rtstruct.dcm"], node.address[1])
        for out in (sr_rt, sr_rt2):
            assert out["acked"] == [] and "No presentation context" in out["output"]
        photo = storescu([edge / "pyd_SC_rgb_jpeg_dcmtk.dcm"], node.address[1])  # SC, Modality OT
        assert photo["acked"] == []
        assert "Refused: SOPClassNotSupported" in photo["output"]
        assert "Modality CR/DX" in node.listener.last_refusal
        assert node.counts()["refused"] == 1
        assert not list(node.inbox.instances.iterdir())
        # Still listening and accepting
        ok = storescu([chest_files(dicom_dir)[0]], node.address[1])
        assert len(ok["acked"]) == 1
        echo = subprocess.run([need_tool("echoscu", "dcmtk"), "-aec", "PNEUMOSCOPE", "127.0.0.1",
                               str(node.address[1])], capture_output=True, text=True, timeout=30)
        assert echo.returncode == 0, echo.stderr
    finally:
        node.stop()


def test_unknown_calling_ae_title_is_rejected(tmp_path: Path, dicom_dir: Path) -> None:
    node = make_node(tmp_path, allowed_callers=["PACS"])
    try:
        one = [chest_files(dicom_dir)[0]]
        out = storescu(one, node.address[1], aet="INTRUDER")
        assert out["acked"] == [] and "Association Rejected" in out["output"]
        assert node.counts()["rejected_associations"] == 1
        wrong_called = storescu(one, node.address[1], aec="SOMEONE_ELSE", aet="PACS")
        assert wrong_called["acked"] == []
        assert not list(node.inbox.instances.iterdir())
        assert len(storescu(one, node.address[1], aet="PACS")["acked"]) == 1
    finally:
        node.stop()


def test_sender_dropping_mid_pdu_leaves_nothing_half_written(
    tmp_path: Path, dicom_dir: Path, pynetdicom_tmp: Path
) -> None:
    node = make_node(tmp_path)
    try:
        big = dicom_dir / "chest" / "nih_gcp_110503645592756492463169821050252582267888.dcm"  # ~1 MB raw
        assert big.stat().st_size > 600_000
        proxy = CuttingProxy(node.address[1], cut_after=400_000)
        out = storescu([big], proxy.port)
        assert proxy.cut.wait(10) and out["acked"] == []
        proxy.close()
        assert node.counts()["received"] == 0
        assert not list(node.inbox.instances.iterdir())
        for _ in range(50):  # the listener notices the dropped connection
            if not list(pynetdicom_tmp.iterdir()):
                break
            time.sleep(0.1)
        assert not list(pynetdicom_tmp.iterdir()), "pynetdicom's partial temp file was left behind"
        assert len(storescu([big], node.address[1])["acked"]) == 1  # still running
        assert node.wait_idle(30) and node.counts()["scored"] == 1
    finally:
        node.stop()


def _fake_dx(path: Path, rows: int, cols: int) -> Path:
    """A DX for-presentation instance of rows x cols 16-bit pixels (zeros), written directly."""
    from pydicom.dataset import Dataset, FileMetaDataset

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.PatientID, ds.PatientName = "DX", "FAKE", "FAKE^BIG"
    ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, cols, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = bytes(rows * cols * 2)
    ds.save_as(path, enforce_file_format=True)
    return path


def test_instance_over_the_size_limit_is_refused(tmp_path: Path, pynetdicom_tmp: Path) -> None:
    node = make_node(tmp_path, max_instance_mb=1.0)
    try:
        big = _fake_dx(tmp_path / "big.dcm", 1024, 1024)  # 2 MB
        out = storescu([big], node.address[1])
        assert out["acked"] == [] and "Refused: OutOfResources" in out["output"]
        assert "over the 1 MB limit" in node.listener.last_refusal
        assert not list(node.inbox.instances.iterdir()) and not list(pynetdicom_tmp.iterdir())
        small = _fake_dx(tmp_path / "small.dcm", 256, 256)
        assert len(storescu([small], node.address[1])["acked"]) == 1
    finally:
        node.stop()


@pytest.mark.slow
def test_200_mb_instance_is_refused_cleanly(tmp_path: Path, pynetdicom_tmp: Path) -> None:
    node = make_node(tmp_path)  # default limit: 150 MB
    try:
        big = _fake_dx(tmp_path / "big.dcm", 10240, 10240)  # 200 MiB of pixels
        assert big.stat().st_size > 200 * 2**20
        out = storescu([big], node.address[1], timeout=300)
        assert out["acked"] == [] and "Refused: OutOfResources" in out["output"]
        assert "over the 150 MB limit" in node.listener.last_refusal
        assert not list(node.inbox.instances.iterdir()) and not list(pynetdicom_tmp.iterdir())
        small = _fake_dx(tmp_path / "small.dcm", 256, 256)
        assert len(storescu([small], node.address[1])["acked"]) == 1
    finally:
        node.stop()
        big.unlink(missing_ok=True)

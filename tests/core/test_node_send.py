"""The node keeps one association per peer and reuses it across results; when the peer drops
it (idle timeout, restart), the next send reconnects and nothing is lost. Real Orthanc."""

from __future__ import annotations

import time
from pathlib import Path

import pydicom
import pytest

from core.node.config import Destination
from core.node.errors import NodeSendError
from core.node.send import PeerSender, send_results
from tests.core.node_support import Orthanc, chest_files
from tests.core.test_node_orthanc import scorer_with_map


def _sops(orthanc: Orthanc) -> set[str]:
    return {i["MainDicomTags"]["SOPInstanceUID"] for i in orthanc.instances()}


def _expected(tmp: Path) -> set[str]:
    return {str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in tmp.rglob("*.dcm")}


def test_one_association_serves_every_result(tmp_path: Path, dicom_dir: Path) -> None:
    sources = chest_files(dicom_dir)[:4]
    orthanc = Orthanc(tmp_path / "orthanc")
    orthanc.args = ["--verbose"]
    with orthanc:
        peer = PeerSender(Destination("127.0.0.1", orthanc.dicom_port, orthanc.aet), "PNEUMOSCOPE")
        try:
            for i, src in enumerate(sources):
                send_results(src, scorer_with_map(src), "ab" * 32, tmp_path / "res" / str(i), sender=peer)
        finally:
            peer.close()
        assert peer.associations == 1 and peer.reconnects == 0
        assert _sops(orthanc) == _expected(tmp_path / "res")
        assert len(_sops(orthanc)) >= 2 * len(sources)
        # Orthanc's own log: one association from us for all of them.
        log = (tmp_path / "orthanc" / "orthanc.log").read_text(errors="replace")
        assert log.count("Association Received from AET PNEUMOSCOPE") == 1, log[-3000:]


def test_reconnects_when_the_peer_drops_the_association(tmp_path: Path, dicom_dir: Path) -> None:
    """Orthanc closes idle associations after DicomScpTimeout (1 s here), then restarts on the
    same ports: every result still arrives, over new associations."""
    sources = chest_files(dicom_dir)[:3]
    orthanc = Orthanc(tmp_path / "orthanc")
    orthanc.config["DicomScpTimeout"] = 1
    # idle_close far above Orthanc's timeout: the sender really meets a dead association.
    peer = PeerSender(Destination("127.0.0.1", orthanc.dicom_port, orthanc.aet), "PNEUMOSCOPE", idle_close=3600)
    try:
        with orthanc:
            send_results(sources[0], scorer_with_map(sources[0]), "cd" * 32, tmp_path / "res" / "0", sender=peer)
            time.sleep(2.5)  # Orthanc drops the idle association
            send_results(sources[1], scorer_with_map(sources[1]), "cd" * 32, tmp_path / "res" / "1", sender=peer)
            assert peer.associations == 2
        with pytest.raises(NodeSendError, match=r"cannot reach|association"):  # peer down: a plain error
            send_results(sources[2], scorer_with_map(sources[2]), "cd" * 32, tmp_path / "down", sender=peer)
        orthanc.proc = None
        with orthanc:  # same ports, same storage folder
            send_results(sources[2], scorer_with_map(sources[2]), "cd" * 32, tmp_path / "res" / "2", sender=peer)
            assert _sops(orthanc) == _expected(tmp_path / "res")
    finally:
        peer.close()
    assert peer.associations == 3


def test_two_threads_share_two_kept_associations(tmp_path: Path, dicom_dir: Path) -> None:
    """A PACS answers a store only once it has kept it, one store at a time per association: two
    scoring threads get one association each, kept and reused, never one per result."""
    from concurrent.futures import ThreadPoolExecutor

    sources = chest_files(dicom_dir)[:6]
    orthanc = Orthanc(tmp_path / "orthanc")
    orthanc.args = ["--verbose"]
    with orthanc:
        peer = PeerSender(Destination("127.0.0.1", orthanc.dicom_port, orthanc.aet), "PNEUMOSCOPE", associations=2)
        try:
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(lambda i: send_results(sources[i], scorer_with_map(sources[i]), "ef" * 32,
                                                     tmp_path / "res" / str(i), sender=peer), range(len(sources))))
        finally:
            peer.close()
        assert peer.associations == 2 and peer.reconnects == 0
        assert _sops(orthanc) == _expected(tmp_path / "res")
        log = (tmp_path / "orthanc" / "orthanc.log").read_text(errors="replace")
        assert log.count("Association Received from AET PNEUMOSCOPE") == 2, log[-3000:]

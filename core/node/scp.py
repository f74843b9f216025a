"""The Storage SCP: a pynetdicom listener that accepts chest radiographs into the inbox.

Accepted storage SOP classes (anything else is refused at association negotiation, so the
sender's presentation context is rejected with "abstract syntax not supported"):

- CR Image Storage, Digital X-Ray Image Storage for Presentation and for Processing;
- Secondary Capture Image Storage, **only when Modality is CR or DX**: much real chest data is
  stored that way (all the RSNA Pneumonia Challenge and the NIH ChestX-ray14 DICOMs are SC with
  Modality CR or DX). Any other SC instance (a photo, a screenshot, Pneumoscope's own heat-map
  SC coming back from the PACS) gets status 0x0122 "SOP Class not supported".

Each accepted C-STORE is received into a temporary file by pynetdicom (chunked, so a large
instance does not sit in memory), checked, copied into the inbox with an fsync and an atomic
rename, journalled, and only then answered with 0x0000 "success". Instances over the size limit
get 0xA700 "out of resources", instances without pixel data or with a header that contradicts
the request get 0xA900, unreadable ones 0xC000; none of them reaches the inbox.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.node.config import NodeSettings
from core.node.errors import NodeError
from core.node.inbox import Inbox, read_info

CR_IMAGE = "1.2.840.10008.5.1.4.1.1.1"
DX_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
DX_PROCESSING = "1.2.840.10008.5.1.4.1.1.1.1.1"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
ACCEPTED_SOP_CLASSES = (CR_IMAGE, DX_PRESENTATION, DX_PROCESSING, SECONDARY_CAPTURE)
SC_MODALITIES = frozenset({"CR", "DX"})
VERIFICATION = "1.2.840.10008.1.1"

STATUS_SUCCESS = 0x0000
STATUS_SOP_CLASS_NOT_SUPPORTED = 0x0122
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_DOES_NOT_MATCH = 0xA900
STATUS_CANNOT_UNDERSTAND = 0xC000

log = logging.getLogger("pneumoscope.node")


def _status(code: int, comment: str) -> Any:
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.Status = code
    ds.ErrorComment = comment[:64]  # LO: 64 characters at most
    return ds


class StorageListener:
    """Listens on ``settings.bind_host:settings.port``; calls ``on_stored(uid)`` for each
    instance that is safely in the inbox. Counters in :attr:`stats`."""

    def __init__(
        self, settings: NodeSettings, inbox: Inbox, on_stored: Callable[[str], None] | None = None
    ) -> None:
        self.settings = settings.validated()
        self.inbox = inbox
        self.on_stored = on_stored
        self._server: Any = None
        self._lock = threading.Lock()
        self.stats = {
            "associations": 0,
            "rejected_associations": 0,
            "aborted_associations": 0,
            "received": 0,
            "refused": 0,
        }
        self.last_refusal = ""

    # -- life cycle -------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def address(self) -> tuple[str, int]:
        if self._server is None:
            return (self.settings.bind_host, int(self.settings.port))
        host, port = self._server.server_address[:2]
        return (str(host), int(port))

    def start(self) -> None:
        if self._server is not None:
            return
        from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, _config, evt

        # Receive each dataset into a temporary file rather than memory (large instances).
        _config.STORE_RECV_CHUNKED_DATASET = True
        ae = AE(ae_title=self.settings.ae_title)
        ae.require_called_aet = True
        ae.require_calling_aet = list(self.settings.allowed_callers)
        ae.maximum_associations = 16
        ae.network_timeout = 60
        ae.acse_timeout = 30
        ae.dimse_timeout = 60
        for uid in ACCEPTED_SOP_CLASSES:
            ae.add_supported_context(uid, ALL_TRANSFER_SYNTAXES)
        ae.add_supported_context(VERIFICATION)
        handlers = [
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_ESTABLISHED, self._count("associations")),
            (evt.EVT_REJECTED, self._count("rejected_associations")),
            (evt.EVT_ABORTED, self._count("aborted_associations")),
            (evt.EVT_CONN_CLOSE, self._on_close),
        ]
        try:
            self._server = ae.start_server(
                (self.settings.bind_host, int(self.settings.port)), block=False, evt_handlers=handlers
            )
        except OSError as exc:
            raise NodeError(
                f"cannot listen on {self.settings.bind_host}:{self.settings.port}: {exc.strerror or exc} "
                "(is another DICOM listener using this port?)"
            ) from exc
        log.info("listening as %s on %s:%s", self.settings.ae_title, *self.address)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()

    # -- event handlers (run on pynetdicom's association threads) ------------------------------
    def _count(self, key: str) -> Callable[[Any], None]:
        def handler(event: Any) -> None:
            with self._lock:
                self.stats[key] += 1

        return handler

    def _refuse(self, code: int, comment: str) -> Any:
        with self._lock:
            self.stats["refused"] += 1
            self.last_refusal = comment
        log.warning("refused an instance: %s", comment)
        return _status(code, comment)

    def _on_close(self, event: Any) -> None:
        # A peer that drops the connection mid-instance leaves pynetdicom's temporary file
        # behind: remove it (it was never acknowledged, so nothing is lost).
        message = getattr(getattr(event.assoc, "dimse", None), "message", None)
        tmp = getattr(message, "_data_set_file", None)
        if tmp is not None:
            try:
                tmp.close()
                Path(tmp.name).unlink(missing_ok=True)
            except OSError:
                pass

    def _on_store(self, event: Any) -> Any:
        request = event.request
        sop_class = str(request.AffectedSOPClassUID or "")
        uid = str(request.AffectedSOPInstanceUID or "")
        if sop_class not in ACCEPTED_SOP_CLASSES:
            return self._refuse(STATUS_SOP_CLASS_NOT_SUPPORTED, f"SOP class {sop_class} is not a chest X-ray")
        try:
            received = Path(event.dataset_path)
            size = received.stat().st_size
        except (AttributeError, OSError):
            return self._refuse(STATUS_CANNOT_UNDERSTAND, "the data set could not be received")
        if size > self.settings.max_instance_bytes:
            return self._refuse(
                STATUS_OUT_OF_RESOURCES,
                f"instance of {size / 2**20:.0f} MB is over the {self.settings.max_instance_mb:g} MB limit",
            )
        try:
            info = read_info(received)
        except NodeError:
            return self._refuse(STATUS_CANNOT_UNDERSTAND, "the data set cannot be parsed")
        if info.uid and info.uid != uid:
            return self._refuse(STATUS_DOES_NOT_MATCH, "SOP Instance UID differs from the request")
        if info.sop_class and info.sop_class != sop_class:
            return self._refuse(STATUS_DOES_NOT_MATCH, "SOP Class UID differs from the request")
        if not info.has_pixels:
            return self._refuse(STATUS_DOES_NOT_MATCH, "the instance has no pixel data")
        if sop_class == SECONDARY_CAPTURE and info.modality.upper() not in SC_MODALITIES:
            return self._refuse(
                STATUS_SOP_CLASS_NOT_SUPPORTED,
                f"Secondary Capture accepted only with Modality CR/DX, not {info.modality or 'none'}",
            )
        try:
            stored = self.inbox.store(received, uid)
            self.inbox.record_received(stored, info, calling_aet=str(event.assoc.requestor.ae_title))
        except NodeError as exc:
            log.error("cannot store an instance: %s", exc)
            return self._refuse(STATUS_OUT_OF_RESOURCES, "the inbox cannot be written (disk full?)")
        with self._lock:
            self.stats["received"] += 1
        if self.on_stored is not None:
            self.on_stored(uid)
        return STATUS_SUCCESS

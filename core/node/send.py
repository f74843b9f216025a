"""C-STORE SCU: send result objects to the configured destination (a PACS).

:class:`PeerSender` keeps one association per peer open and reuses it for every result it
sends (a node under load would otherwise open and close an association for each image). When
the peer has dropped it (idle timeout, restart, network cut), the next send reconnects and
sends again the object that did not get a status, so nothing is lost; an object the peer
*refuses* (a failure status) is not retried and raises :class:`NodeSendError`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.node.config import Destination
from core.node.errors import NodeSendError
from core.paths import atomic_open

log = logging.getLogger("pneumoscope.node")

# Warning statuses (coercion, elements discarded, data set does not match) still mean "stored".
_STORED = {0x0000, 0xB000, 0xB006, 0xB007}

# Every kind of result the node may send, so one association serves them all.
RESULT_SOP_CLASSES = (
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture Image
    "1.2.840.10008.5.1.4.1.1.30",  # Parametric Map
    "1.2.840.10008.5.1.4.1.1.88.33",  # Comprehensive SR
    "1.2.840.10008.5.1.4.1.1.88.34",  # Comprehensive 3D SR
    "1.2.840.10008.5.1.4.1.1.88.22",  # Enhanced SR
)
_EXPLICIT, _IMPLICIT = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"
_COMPRESSED = ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.5")  # JPEG baseline, RLE lossless


def _no_delay(assoc: Any) -> None:
    """Send each PDU at once (TCP_NODELAY). pynetdicom writes a C-STORE's command and its data
    set as separate PDUs; with Nagle's algorithm the data waits for the peer's delayed ACK of
    the command, about 40 ms a store, which made results to a PACS 20 times slower than DCMTK."""
    import socket

    raw = getattr(getattr(getattr(assoc, "dul", None), "socket", None), "socket", None)
    if raw is not None:
        with contextlib.suppress(OSError):  # not a TCP socket, or already closed: keep the default
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Lost(Exception):
    """The association broke before the peer answered (no status): reconnect and resend."""


class _Link:
    """One kept association and when it last carried a result."""

    def __init__(self) -> None:
        self.assoc: Any = None
        self.last = 0.0


class PeerSender:
    """Kept associations to ``destination``, reused for every result; thread-safe.

    A PACS answers each C-STORE only once it has stored the object (Orthanc here: about 50 ms,
    its index commit), and an association carries one store at a time. So up to
    ``associations`` of them are kept (one per scoring thread by default), each opened only when
    the others are busy: a sender used from one thread holds one. ``idle_close`` releases an
    association after that many seconds without a send (before a PACS times it out on its side);
    ``close()`` releases them all (the node's stop)."""

    def __init__(
        self, destination: Destination, calling_aet: str, timeout: float = 30.0, idle_close: float = 20.0,
        associations: int = 2,
    ) -> None:
        self.destination = destination
        self.calling_aet = calling_aet
        self.timeout = timeout
        self.idle_close = idle_close
        self.max_associations = max(1, int(associations))
        self.associations = 0  # how many were opened (tests and benchmarks read it)
        self.reconnects = 0
        self._idle: list[_Link] = []
        self._links = 0  # links in existence (idle or in use)
        self._ready = threading.Condition()
        self._closed = False

    def _ae(self, sop_classes: set[str]) -> Any:
        from pynetdicom import AE

        ae = AE(ae_title=self.calling_aet)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.timeout
        for sop_class in sorted(set(RESULT_SOP_CLASSES) | sop_classes):
            ae.add_requested_context(sop_class, [_EXPLICIT, _IMPLICIT])
            if sop_class == RESULT_SOP_CLASSES[0]:
                for ts in _COMPRESSED:  # one context each: the peer may accept one and not the other
                    ae.add_requested_context(sop_class, ts)
        return ae

    def _open(self, sop_classes: set[str]) -> Any:
        dest = self.destination
        try:
            assoc = self._ae(sop_classes).associate(dest.host, dest.port, ae_title=dest.aet)
        except OSError as exc:
            raise NodeSendError(f"cannot reach {dest}: {exc}") from exc
        if not assoc.is_established:
            why = "rejected" if assoc.is_rejected else "aborted" if assoc.is_aborted else "refused or timed out"
            raise NodeSendError(f"the destination {dest} {why} the association (check host, port and AE titles)")
        with self._ready:
            self.associations += 1
        _no_delay(assoc)
        return assoc

    def _usable(self, link: _Link, sop_classes: set[str]) -> bool:
        assoc = link.assoc
        if assoc is None or not assoc.is_established:
            return False
        if time.monotonic() - link.last > self.idle_close:
            return False
        offered = {str(cx.abstract_syntax) for cx in assoc.accepted_contexts}
        return sop_classes <= offered | set(RESULT_SOP_CLASSES)

    @staticmethod
    def _drop(link: _Link, release: bool = True) -> None:
        assoc, link.assoc = link.assoc, None
        if assoc is None:
            return
        try:
            if release and assoc.is_established:
                assoc.release()
            else:
                assoc.abort()
        except Exception:  # a dead socket: nothing to tell the peer
            pass

    def _take(self) -> _Link:
        """An idle link, a new one if fewer than ``max_associations`` exist, else wait for one."""
        with self._ready:
            while True:
                if self._idle:
                    return self._idle.pop()
                if self._links < self.max_associations:
                    self._links += 1
                    return _Link()
                self._ready.wait()

    def _give_back(self, link: _Link) -> None:
        with self._ready:
            if self._closed:
                self._links -= 1
                self._drop(link)
            else:
                self._idle.append(link)
            self._ready.notify()

    def _store(self, link: _Link, ds: Any, payload: Any = None) -> int:
        dest = self.destination
        try:
            status = link.assoc.send_c_store(ds if payload is None else payload)
        except ValueError as exc:  # no accepted context for this SOP class / transfer syntax
            raise NodeSendError(f"{dest} cannot take {ds.SOPClassUID.name}: {exc}") from exc
        except (RuntimeError, OSError) as exc:
            raise _Lost(str(exc)) from exc
        code = int(getattr(status, "Status", -1)) if status else -1
        if code < 0:
            raise _Lost("no status: connection lost")
        if code not in _STORED:
            raise NodeSendError(f"{dest} refused the {ds.SOPClassUID.name} (status 0x{code:04X})")
        return code

    def send(self, datasets: Sequence[Any], files: Sequence[Path] | None = None) -> list[int]:
        """Send each dataset (in order) over one kept association; returns the statuses.

        ``files``: the same datasets already saved (DICOM files, one per dataset); their bytes are
        sent as they are, without encoding the datasets a second time."""
        if not datasets:
            return []
        if files is not None and len(files) != len(datasets):
            raise ValueError("one saved file per dataset")
        if files is not None:
            from pynetdicom import _config

            _config.STORE_SEND_CHUNKED_DATASET = True  # a path is sent from its bytes, not re-encoded
        sop_classes = {str(ds.SOPClassUID) for ds in datasets}
        statuses: list[int] = []
        link = self._take()
        try:
            for i, ds in enumerate(datasets):
                for attempt in (1, 2):
                    if not self._usable(link, sop_classes):
                        self._drop(link)
                        link.assoc = self._open(sop_classes)
                    try:
                        statuses.append(self._store(link, ds, None if files is None else Path(files[i])))
                        link.last = time.monotonic()
                        break
                    except _Lost as exc:
                        self._drop(link, release=False)
                        if attempt == 2:
                            raise NodeSendError(
                                f"{self.destination} dropped the association twice while taking the "
                                f"{ds.SOPClassUID.name} ({exc})"
                            ) from None
                        with self._ready:
                            self.reconnects += 1
                        log.info("association to %s lost (%s): reconnecting", self.destination, exc)
                    except NodeSendError:
                        self._drop(link)
                        raise
        finally:
            self._give_back(link)
        return statuses

    def close(self) -> None:
        """Release every kept association; one in use is released when its send ends."""
        with self._ready:
            self._closed = True
            idle, self._idle = self._idle, []
            self._links -= len(idle)
        for link in idle:
            self._drop(link)


def send_datasets(
    datasets: Sequence[Any], destination: Destination, calling_aet: str, timeout: float = 30.0
) -> list[int]:
    """Send each dataset over one association opened for them and released after; returns
    the statuses. Raises :class:`NodeSendError` when the peer cannot be reached or refuses one."""
    sender = PeerSender(destination, calling_aet, timeout=timeout)
    try:
        return sender.send(datasets)
    finally:
        sender.close()


def _save(ds: Any, folder: Path, name: str) -> Path:
    out = folder / name
    with atomic_open(out, "wb") as fh:
        ds.save_as(fh, enforce_file_format=True)
    return out


def save_results(datasets: Sequence[Any], results_dir: Path) -> list[Path]:
    """Keep a copy of each result object in ``results_dir`` (one file per kind)."""
    names = {"SR": "sr", "OT": "sc"}
    paths = []
    for ds in datasets:
        sop = str(ds.SOPClassUID)
        kind = "pm" if sop == RESULT_SOP_CLASSES[1] else names.get(str(ds.Modality), "obj")
        paths.append(_save(ds, results_dir, f"{kind}.dcm"))
    return paths


def send_results(
    source: Path,
    case: Any,
    model_sha256: str,
    results_dir: Path,
    *,
    destination: Destination | None = None,
    calling_aet: str = "PNEUMOSCOPE",
    with_sc: bool = True,
    with_sr: bool = True,
    sender: PeerSender | None = None,
    web_url: str | None = None,
    **options: Any,
) -> list[Path]:
    """Build the results for one scored case, keep copies in ``results_dir``, send them
    (over ``sender``'s kept association, or a fresh one to ``destination``)."""
    from core.node.results import build_results

    try:
        datasets = build_results(source, case, model_sha256, with_sc=with_sc, with_sr=with_sr, **options)
    except Exception as exc:
        raise NodeSendError(f"cannot build the result objects: {exc}") from exc
    paths = save_results(datasets, results_dir)
    if sender is None and destination is None and not web_url:
        raise NodeSendError("no destination to send the results to")
    if sender is not None:
        sender.send(datasets, files=paths)
    elif destination is not None:
        send_datasets(datasets, destination, calling_aet)
    if web_url:
        from core.node.web import stow

        stow(datasets, web_url)
    return paths

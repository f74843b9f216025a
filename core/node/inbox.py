"""The inbox folder: every acknowledged instance is on disk, whole, before it is acknowledged.

Layout::

    inbox/
      instances/<SOP Instance UID>.dcm   received instances (DICOM file format)
      results/<SOP Instance UID>/        Secondary Capture and SR made for it
      worklist.jsonl                     the journal (:mod:`core.node.worklist`)
      .patient-key                       secret for the hashed patient key

:meth:`Inbox.store` copies a received file to ``instances/.part-*`` in the same folder, fsyncs
it, renames it into place with ``os.replace`` and fsyncs the folder; only then does the SCP
answer "success". A crash before the rename leaves only a ``.part-*`` file, which
:meth:`Inbox.recover` deletes (it was never acknowledged). The instance files themselves are the
truth: an instance whose ``received`` record was lost, or that has no ``scored``/``failed``
record, is found by :meth:`Inbox.recover` and scored again.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.node.errors import NodeError
from core.node.worklist import Worklist

_UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")
PART_PREFIX = ".part-"


def file_stem(uid: str) -> str:
    """File name stem for a SOP Instance UID: the UID itself when it is a well-formed one."""
    uid = str(uid).strip()
    if _UID_RE.match(uid) and len(uid) <= 64:
        return uid
    return "x" + hashlib.sha256(uid.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # Windows cannot open folders; the rename is durable enough there
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class InstanceInfo:
    """What the node reads from a received instance's header (nothing kept in clear)."""

    uid: str
    sop_class: str
    modality: str
    patient_id: str
    has_pixels: bool


def read_info(path: Path) -> InstanceInfo:
    """Header of a received DICOM file (pixel data not read)."""
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=False, defer_size=256, force=True)
    except Exception as exc:
        raise NodeError(f"cannot read the DICOM header: {exc}") from exc
    meta = getattr(ds, "file_meta", None)
    uid = str(ds.get("SOPInstanceUID") or (meta.get("MediaStorageSOPInstanceUID") if meta else "") or "")
    sop_class = str(ds.get("SOPClassUID") or (meta.get("MediaStorageSOPClassUID") if meta else "") or "")
    return InstanceInfo(
        uid=uid,
        sop_class=sop_class,
        modality=str(ds.get("Modality") or ""),
        patient_id=str(ds.get("PatientID") or ""),
        has_pixels="PixelData" in ds,
    )


class Inbox:
    """One inbox folder: stores instances atomically and knows what still needs scoring."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder).expanduser()
        self.instances = self.folder / "instances"
        self.results = self.folder / "results"
        try:
            self.instances.mkdir(parents=True, exist_ok=True)
            self.results.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise NodeError(f"cannot create the inbox folder {self.folder}: {exc.strerror or exc}") from exc
        self.worklist = Worklist(self.folder)
        self._lock = threading.Lock()

    def path_for(self, uid: str) -> Path:
        return self.instances / f"{file_stem(uid)}.dcm"

    def results_dir(self, uid: str) -> Path:
        return self.results / file_stem(uid)

    def store(self, source: str | os.PathLike[str] | bytes, uid: str) -> Path:
        """Put one instance (a file to copy, or its bytes) into the inbox, durably; returns its path."""
        dest = self.path_for(uid)
        tmp = self.instances / f"{PART_PREFIX}{dest.name}.{os.getpid()}.{threading.get_ident()}"
        try:
            with open(tmp, "wb") as out:
                if isinstance(source, bytes | bytearray | memoryview):
                    out.write(source)
                else:
                    with open(source, "rb") as src:
                        shutil.copyfileobj(src, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, dest)
            _fsync_dir(self.instances)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise NodeError(f"cannot write to the inbox {self.instances}: {exc.strerror or exc}") from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return dest

    def record_received(self, path: Path, info: InstanceInfo, **extra: Any) -> None:
        self.worklist.append(
            "received",
            info.uid,
            file=str(path.relative_to(self.folder)),
            patient_key=self.worklist.patient_key(info.patient_id),
            modality=info.modality,
            sop_class=info.sop_class,
            bytes=path.stat().st_size,
            **extra,
        )

    def recover(self) -> list[str]:
        """After a start or a crash: drop half-written files, journal what was on disk but not
        journalled, and return the UIDs still to score (oldest first)."""
        with self._lock:
            for part in self.instances.glob(f"{PART_PREFIX}*"):
                part.unlink(missing_ok=True)  # never acknowledged: the sender saw no success
            received: dict[str, str] = {}
            done: set[str] = set()
            for rec in self.worklist.records():
                if rec["event"] == "received":
                    received[str(rec.get("file"))] = rec["uid"]
                    done.discard(rec["uid"])  # a resent instance is scored again
                elif rec["event"] in ("scored", "failed"):
                    done.add(rec["uid"])
            pending: list[tuple[float, str]] = []
            for path in self.instances.glob("*.dcm"):
                rel = str(path.relative_to(self.folder))
                uid = received.get(rel)
                if uid is None:
                    try:
                        info = read_info(path)
                    except NodeError:
                        info = InstanceInfo(path.stem, "", "", "", False)
                    uid = info.uid or path.stem
                    if self.path_for(uid) != path:
                        uid = path.stem
                        info = InstanceInfo(uid, info.sop_class, info.modality, info.patient_id, info.has_pixels)
                    self.record_received(path, info, recovered=True)
                if uid not in done:
                    pending.append((path.stat().st_mtime, uid))
            return [uid for _, uid in sorted(pending)]

    def counts(self) -> dict[str, int]:
        """Instances on disk and their states (for the CLI and the tests)."""
        rows = self.worklist.rows()
        return {
            "on_disk": sum(1 for _ in self.instances.glob("*.dcm")),
            "received": len(rows),
            "scored": sum(1 for r in rows if r.status == "scored"),
            "failed": sum(1 for r in rows if r.status == "failed"),
            "queued": sum(1 for r in rows if r.status == "queued"),
            "sent": sum(1 for r in rows if r.sent == "sent"),
            "send_failed": sum(1 for r in rows if r.sent.startswith("failed")),
            "partial_files": sum(1 for _ in self.instances.glob(f"{PART_PREFIX}*")),
        }

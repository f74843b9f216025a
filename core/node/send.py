"""C-STORE SCU: send result objects to the configured destination (a PACS)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.node.config import Destination
from core.node.errors import NodeSendError

# Warning statuses (coercion, elements discarded, data set does not match) still mean "stored".
_STORED = {0x0000, 0xB000, 0xB006, 0xB007}


def send_datasets(
    datasets: Sequence[Any], destination: Destination, calling_aet: str, timeout: float = 30.0
) -> list[int]:
    """Send each dataset over one association; returns the statuses. Raises
    :class:`NodeSendError` when the peer cannot be reached or refuses any of them."""
    if not datasets:
        return []
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
    from pynetdicom import AE

    ae = AE(ae_title=calling_aet)
    ae.acse_timeout = timeout
    ae.dimse_timeout = timeout
    ae.network_timeout = timeout
    for sop_class in sorted({str(ds.SOPClassUID) for ds in datasets}):
        ae.add_requested_context(sop_class, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    try:
        assoc = ae.associate(destination.host, destination.port, ae_title=destination.aet)
    except OSError as exc:
        raise NodeSendError(f"cannot reach {destination}: {exc}") from exc
    if not assoc.is_established:
        why = "rejected" if assoc.is_rejected else "aborted" if assoc.is_aborted else "refused or timed out"
        raise NodeSendError(f"the destination {destination} {why} the association (check host, port and AE titles)")
    statuses: list[int] = []
    try:
        for ds in datasets:
            try:
                status = assoc.send_c_store(ds)
            except (ValueError, RuntimeError) as exc:
                raise NodeSendError(f"{destination} cannot take {ds.SOPClassUID.name}: {exc}") from exc
            code = int(getattr(status, "Status", -1)) if status else -1
            statuses.append(code)
            if code not in _STORED:
                raise NodeSendError(
                    f"{destination} refused the {ds.SOPClassUID.name} (status "
                    + ("none: connection lost" if code < 0 else f"0x{code:04X}")
                    + ")"
                )
    finally:
        if assoc.is_established:
            assoc.release()
    return statuses


def _save(ds: Any, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / name
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=folder)
    os.close(fd)
    try:
        ds.save_as(tmp, enforce_file_format=True)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def send_results(
    source: Path,
    case: Any,
    model_sha256: str,
    results_dir: Path,
    *,
    destination: Destination,
    calling_aet: str,
    with_sc: bool = True,
    with_sr: bool = True,
) -> list[Path]:
    """Build the SC/SR for one scored case, keep copies in ``results_dir``, send them."""
    from core.node.results import build_results

    try:
        datasets = build_results(source, case, model_sha256, with_sc=with_sc, with_sr=with_sr)
    except Exception as exc:
        raise NodeSendError(f"cannot build the result objects: {exc}") from exc
    paths = []
    for ds in datasets:
        kind = "sr" if str(ds.Modality) == "SR" else "sc"
        paths.append(_save(ds, results_dir, f"{kind}.dcm"))
    send_datasets(datasets, destination, calling_aet)
    return paths

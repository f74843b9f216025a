"""DICOMweb: send result objects by STOW-RS (dicomweb-client), for ``--send-to-web URL``.

``URL`` is the server's DICOMweb root, e.g. ``http://pacs:8042/dicom-web`` for Orthanc's
DICOMweb plugin. All objects of one case go in one STOW-RS request; the answer is checked for
failed instances, so a partial store is an error, not a silent loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.node.errors import NodeSendError


def stow(datasets: Sequence[Any], url: str, timeout: float = 60.0) -> Any:
    """Store ``datasets`` at the DICOMweb root ``url``; returns the server's response dataset."""
    if not datasets:
        return None
    import requests
    from dicomweb_client.api import DICOMwebClient

    session = requests.Session()
    session.request = _with_timeout(session.request, timeout)  # type: ignore[method-assign]
    client = DICOMwebClient(url=url.rstrip("/"), session=session)
    try:
        answer = client.store_instances(list(datasets))
    except requests.exceptions.HTTPError as exc:
        raise NodeSendError(f"the DICOMweb server {url} refused the results: {exc}") from exc
    except requests.exceptions.RequestException as exc:
        raise NodeSendError(f"cannot reach the DICOMweb server {url}: {exc}") from exc
    failed = answer.get("FailedSOPSequence", []) if answer is not None else []
    if failed:
        uids = ", ".join(str(item.get("ReferencedSOPInstanceUID", "?")) for item in failed)
        raise NodeSendError(f"the DICOMweb server {url} did not store {len(failed)} object(s): {uids}")
    return answer


def _with_timeout(request: Any, timeout: float) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", timeout)
        return request(*args, **kwargs)

    return call

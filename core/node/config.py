"""Settings of the DICOM node, kept as a small JSON file in the user config folder.

The node is off by default and binds to the loopback address unless told otherwise: a
listener that any machine on the network can reach is a choice a site makes on purpose.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.node.errors import NodeConfigError

DEFAULT_AET = "PNEUMOSCOPE"
DEFAULT_PORT = 11112
DEFAULT_MAX_INSTANCE_MB = 150.0

# PS3.5: an AE title is 1-16 characters of the default repertoire, no backslash or control
# characters, and not only spaces.
_AET_RE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")


def check_aet(value: str, what: str = "AE title") -> str:
    """Return ``value`` stripped, or raise :class:`NodeConfigError` saying what is wrong."""
    text = str(value).strip()
    if not text or not _AET_RE.match(text):
        raise NodeConfigError(
            f"{what} {value!r} is not valid: use 1 to 16 plain characters (letters, digits, _ or -), "
            "no backslash"
        )
    return text


def check_port(value: Any, what: str = "port") -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise NodeConfigError(f"{what} {value!r} is not a number") from None
    if not 1 <= port <= 65535:
        raise NodeConfigError(f"{what} {port} is outside 1-65535")
    return port


@dataclass(frozen=True)
class Destination:
    """Where results are sent: a DICOM peer (PACS) at host:port with its AE title."""

    host: str
    port: int
    aet: str

    def __str__(self) -> str:
        return f"{self.host}:{self.port}:{self.aet}"

    @classmethod
    def parse(cls, text: str) -> Destination:
        """Parse ``HOST:PORT:AET`` (an IPv6 host goes in brackets: ``[::1]:104:PACS``)."""
        raw = str(text).strip()
        match = re.fullmatch(r"\[([^\]]+)\]:([^:]+):(.+)", raw) or re.fullmatch(r"([^:]+):([^:]+):(.+)", raw)
        if not match:
            raise NodeConfigError(f"destination {text!r} is not HOST:PORT:AET (for example pacs.local:104:PACS)")
        host, port, aet = match.groups()
        return cls(host=host.strip(), port=check_port(port, "destination port"), aet=check_aet(aet, "destination AE title"))


def default_inbox() -> Path:
    from core.paths import user_data_dir

    return user_data_dir() / "inbox"


@dataclass
class NodeSettings:
    """Everything the listener needs; ``validated()`` checks it all and raises plain errors."""

    enabled: bool = False
    ae_title: str = DEFAULT_AET
    port: int = DEFAULT_PORT
    bind_host: str = "127.0.0.1"
    # Empty means: accept any calling AE title (still only on the bind address).
    allowed_callers: list[str] = field(default_factory=list)
    destination: str = ""  # HOST:PORT:AET, empty = keep results local
    inbox: str = ""  # empty = <user data folder>/inbox
    max_instance_mb: float = DEFAULT_MAX_INSTANCE_MB
    send_secondary_capture: bool = True
    send_sr: bool = True
    sr_style: str = "tid1500"  # tid1500 (Measurement Report) or legacy (free-form Comprehensive SR)
    heat_map: str = "pm"  # pm (Parametric Map), sc (burned-in Secondary Capture) or both
    web_destination: str = ""  # DICOMweb base URL for STOW-RS, empty = none
    results_run: str = ""  # label that keeps result series of different runs apart

    def inbox_path(self) -> Path:
        return Path(self.inbox).expanduser() if self.inbox else default_inbox()

    def destination_parsed(self) -> Destination | None:
        return Destination.parse(self.destination) if self.destination.strip() else None

    def sends_results(self) -> bool:
        """Results go somewhere (a DICOM peer or a DICOMweb server) and at least one kind is on."""
        has_peer = self.destination_parsed() is not None or bool(self.web_destination.strip())
        return has_peer and (self.send_secondary_capture or self.send_sr)

    def needs_heat_map(self) -> bool:
        """Grad-CAM is worked out only when a heat-map object (Parametric Map or SC) is sent:
        the one rule the CLI listener and the Worklist screen both follow."""
        return self.sends_results() and self.send_secondary_capture

    @property
    def max_instance_bytes(self) -> int:
        return int(self.max_instance_mb * 1024 * 1024)

    def validated(self) -> NodeSettings:
        check_aet(self.ae_title)
        check_port(self.port)
        for aet in self.allowed_callers:
            check_aet(aet, "allowed calling AE title")
        if not str(self.bind_host).strip():
            raise NodeConfigError("the bind address is empty (use 127.0.0.1, or 0.0.0.0 for every interface)")
        self.destination_parsed()
        if self.sr_style not in ("tid1500", "legacy"):
            raise NodeConfigError(f"SR style {self.sr_style!r} is not tid1500 or legacy")
        if self.heat_map not in ("pm", "sc", "both"):
            raise NodeConfigError(f"heat map {self.heat_map!r} is not pm, sc or both")
        if self.web_destination and not re.match(r"^https?://", self.web_destination.strip()):
            raise NodeConfigError(f"DICOMweb address {self.web_destination!r} is not an http(s):// URL")
        if not self.max_instance_mb > 0:
            raise NodeConfigError(f"the size limit must be above 0 MB, not {self.max_instance_mb}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeSettings:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "allowed_callers" in values:
            values["allowed_callers"] = [str(a) for a in values["allowed_callers"] or []]
        return cls(**values)


def settings_path() -> Path:
    from core.paths import user_config_dir

    return user_config_dir() / "node.json"


def load_settings(path: str | os.PathLike[str] | None = None) -> NodeSettings:
    """The saved settings, or the defaults when none are saved yet."""
    p = Path(path) if path is not None else settings_path()
    if not p.exists():
        return NodeSettings()
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return NodeSettings.from_dict(data)
    except (OSError, ValueError, TypeError) as exc:
        raise NodeConfigError(f"the node settings file {p} cannot be read ({exc}); fix or delete it") from exc


def save_settings(settings: NodeSettings, path: str | os.PathLike[str] | None = None) -> Path:
    """Validate and write atomically (temp file in the same folder, fsync, rename)."""
    from core.paths import atomic_open

    settings.validated()
    p = Path(path) if path is not None else settings_path()
    with atomic_open(p, "w", fsync=True, encoding="utf-8") as fh:
        json.dump(settings.to_dict(), fh, indent=2)
    return p

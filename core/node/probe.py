"""Is something already answering on the node's port (a headless ``pneumoscope-cli listen``)?

A TCP connect with a short timeout. It can take the whole timeout (a full accept queue, a
firewall that drops packets), so callers with a user interface run it off their GUI thread.
"""

from __future__ import annotations

import socket

from core.node.config import NodeSettings

PROBE_TIMEOUT_S = 0.2


def probe_host(settings: NodeSettings) -> str:
    """The address to connect to: the bind address, or loopback when it binds every interface."""
    return settings.bind_host if settings.bind_host not in ("0.0.0.0", "::", "") else "127.0.0.1"


def listener_answers(settings: NodeSettings, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """True when a TCP connection to the configured port succeeds within ``timeout_s``."""
    try:
        with socket.create_connection((probe_host(settings), int(settings.port)), timeout=timeout_s):
            return True
    except OSError:
        return False

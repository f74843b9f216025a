"""The node as one object: inbox + scoring worker + listener (+ results sender).

    node = Node(settings, scorer)
    node.start()     # recovers the inbox (anything acknowledged but unscored is queued first)
    ...
    node.stop()      # stops listening, finishes the instance being scored

Used by ``pneumoscope-cli listen`` and by the GUI's Worklist view.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.node.config import NodeSettings
from core.node.inbox import Inbox
from core.node.scp import StorageListener
from core.node.worker import ResultSender, Scorer, ScoringWorker


def default_sender(settings: NodeSettings) -> ResultSender | None:
    """Builds the SC/SR and sends them to ``settings.destination`` (``None`` without one)."""
    if not settings.sends_results():
        return None
    dest = settings.destination_parsed()
    web = settings.web_destination.strip()
    from core.node.send import PeerSender, send_results
    from core.node.worker import default_threads

    # Kept associations, reused for every result: one per scoring thread, so each can wait for
    # the PACS's answer while the other sends.
    peer = PeerSender(dest, settings.ae_title, associations=default_threads()) if dest is not None else None
    sender = functools.partial(
        send_results,
        sender=peer,
        web_url=web or None,
        with_sc=settings.send_secondary_capture,
        with_sr=settings.send_sr,
        sr_style=settings.sr_style,
        heat_map=settings.heat_map,
        run=settings.results_run,
    )
    sender.close = peer.close if peer is not None else (lambda: None)  # type: ignore[attr-defined]
    return sender


class Node:
    def __init__(
        self,
        settings: NodeSettings,
        scorer: Scorer,
        sender: ResultSender | bool | None = True,
        on_event: Callable[[str, str], None] | None = None,
    ) -> None:
        """``sender=True`` means "send to the configured destination, if any"; ``None`` or
        ``False`` keeps results local; a callable replaces the sender."""
        self.settings = settings.validated()
        self.inbox = Inbox(settings.inbox_path())
        if sender is True:
            sender = default_sender(settings)
        self.worker = ScoringWorker(self.inbox, scorer, sender or None, on_done=on_event)
        self.on_event = on_event
        self.listener = StorageListener(settings, self.inbox, on_stored=self._stored)
        self.recovered = 0

    def _stored(self, uid: str) -> None:
        self.worker.put(uid)
        if self.on_event is not None:
            self.on_event(uid, "received")

    @property
    def running(self) -> bool:
        return self.listener.running

    @property
    def address(self) -> tuple[str, int]:
        return self.listener.address

    def start(self) -> None:
        pending = self.inbox.recover()
        self.recovered = len(pending)
        self.worker.start()
        for uid in pending:
            self.worker.put(uid)
        if self.worker.sender is not None:
            queued = set(pending)
            for row in self.inbox.worklist.rows():
                if row.status == "scored" and row.sent != "sent" and row.uid not in queued:
                    self.worker.put_send(row.uid)
        try:
            self.listener.start()
        except Exception:
            self.worker.stop()
            raise

    def stop(self, timeout: float | None = 120.0) -> None:
        self.listener.stop()
        self.worker.stop(timeout)
        close = getattr(self.worker.sender, "close", None)
        if callable(close):
            close()  # release the kept association to the destination

    def wait_idle(self, timeout: float) -> bool:
        return self.worker.join_idle(timeout)

    def counts(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.listener.stats)
        out.update(self.worker.stats)
        out["queued"] = self.worker.pending()
        out["recovered"] = self.recovered
        return out

    def inbox_folder(self) -> Path:
        return self.inbox.folder

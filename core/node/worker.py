"""The scoring queue: one thread that scores received instances and sends the results on.

A *scorer* is any callable ``scorer(path) -> case`` whose result has the attributes of
:class:`core.cases.Case` (``score``, ``threshold``, ``threshold_source``, ``label``,
``ood_flag``, ``ood_distance``, ``chest_warning``, ``heatmap``, ``xray``, ``error``); it may carry
``model_sha256``. :class:`BundleScorer` is the real one. A scorer that raises, or returns a case
with an ``error``, gives a ``failed`` row; the worker carries on with the next instance.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.node.errors import NodeError
from core.node.inbox import Inbox

log = logging.getLogger("pneumoscope.node")
_RECENT = 4096  # records kept for the terminal's per-instance lines

Scorer = Callable[[Path], Any]
# send(source_path, case, model_sha256, results_dir) -> None; raises NodeError on failure.
ResultSender = Callable[[Path, Any, str, Path], None]


class BundleScorer:
    """Scores with a model bundle through :func:`core.cases.score_case` (audited, with the
    adopted threshold), computing the heat map only when results are sent."""

    def __init__(self, bundle: Any, want_heatmap: bool = True) -> None:
        self.bundle = bundle
        self.want_heatmap = want_heatmap
        self.model_sha256 = str(bundle.sha256)
        # LiteRT gives each thread its own interpreter; the Keras fallback scores on one thread.
        self.parallel = getattr(bundle, "runtime", None) is not None

    def __call__(self, path: Path) -> Any:
        from core.cases import score_case

        case = score_case(self.bundle, path, want_heatmap=self.want_heatmap, audit=True)
        case.model_name = str(getattr(self.bundle, "name", "") or "")  # the SR's observer device names it
        return case


def default_threads() -> int:
    """Scoring threads: two where there are two cores or more (decoding, resizing and LiteRT's
    ``invoke`` release the GIL, so two threads score nearly twice as fast), else one."""
    return max(1, min(2, os.cpu_count() or 1))


class ScoringWorker:
    """Scores UIDs put on its queue on ``threads`` background threads, taken in the order they
    came; each instance's records are written by the thread that scored it."""

    def __init__(
        self,
        inbox: Inbox,
        scorer: Scorer,
        sender: ResultSender | None = None,
        on_done: Callable[[str, str], None] | None = None,
        threads: int | None = None,
    ) -> None:
        self.inbox = inbox
        self.scorer = scorer
        self.sender = sender
        self.on_done = on_done
        if threads is None:  # a scorer that says it is safe on several threads gets them
            threads = default_threads() if getattr(scorer, "parallel", False) else 1
        self.threads = max(1, int(threads))
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._pool: list[threading.Thread] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.stats = {"scored": 0, "failed": 0, "sent": 0, "send_failed": 0}
        self._busy: set[str] = set()
        self._recent: OrderedDict[str, dict[str, Any]] = OrderedDict()

    @property
    def busy(self) -> str:
        """A UID being scored now ('' when idle)."""
        with self._lock:
            return next(iter(self._busy), "")

    @property
    def model_sha256(self) -> str:
        return str(getattr(self.scorer, "model_sha256", "") or "")

    def put(self, uid: str) -> None:
        self._queue.put(("score", uid))

    def put_send(self, uid: str) -> None:
        self._queue.put(("send", uid))

    def pending(self) -> int:
        with self._lock:
            return self._queue.qsize() + len(self._busy)

    def start(self) -> None:
        if self._pool:
            return
        self._stop.clear()
        # Drop the stop markers a previous stop may have left; keep what was queued.
        kept: queue.Queue[tuple[str, str] | None] = queue.Queue()
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            self._queue.task_done()
            if item is not None:
                kept.put(item)
        self._queue = kept
        self._pool = [threading.Thread(target=self._run, name=f"pneumoscope-node-scoring-{i}", daemon=True)
                      for i in range(self.threads)]
        for thread in self._pool:
            thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the instances being scored now; what is still queued stays in the inbox
        and is scored on the next start."""
        pool, self._pool = self._pool, []
        if not pool:
            return
        self._stop.set()
        for _ in pool:
            self._queue.put(None)
        end = None if timeout is None else time.monotonic() + timeout
        for thread in pool:
            thread.join(None if end is None else max(0.0, end - time.monotonic()))

    def join_idle(self, timeout: float) -> bool:
        """Wait until the queue is empty and nothing is being scored (for tests and benchmarks)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.02)
        return False

    def _run(self) -> None:
        while not self._stop.is_set():
            item = self._queue.get()
            try:
                if item is None:
                    return
                kind, uid = item
                with self._lock:
                    self._busy.add(uid)
                if kind == "score":
                    self._score(uid)
                else:
                    self._send(uid, None)
            except Exception:  # never let one instance kill the queue
                log.exception("node worker: unexpected error")
            finally:
                if item is not None:
                    with self._lock:
                        self._busy.discard(item[1])
                self._queue.task_done()

    def _bump(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1

    def _score(self, uid: str) -> None:
        path = self.inbox.path_for(uid)
        if not path.exists():
            self._record("failed", uid, error="the received file is missing from the inbox")
            self._bump("failed")
            return
        try:
            case = self.scorer(path)
        except Exception as exc:
            message = str(exc) or type(exc).__name__
            log.warning("scoring %s failed: %s", path.name, message)
            self._record("failed", uid, error=message[:500])
            self._bump("failed")
            self._notify(uid, "failed")
            return
        error = getattr(case, "error", None)
        if error:
            self._record("failed", uid, error=str(error)[:500])
            self._bump("failed")
            self._notify(uid, "failed")
            return
        self._record(
            "scored",
            uid,
            score=_float(getattr(case, "score", None)),
            threshold=_float(getattr(case, "threshold", None)),
            threshold_source=str(getattr(case, "threshold_source", "") or ""),
            label=getattr(case, "label", None),
            ood_flag=bool(getattr(case, "ood_flag", False)),
            ood_distance=_float(getattr(case, "ood_distance", None)),
            chest_warning=getattr(case, "chest_warning", None),
            no_call_reason=getattr(case, "no_call_reason", None),
            model_sha256=self.model_sha256,
        )
        self._bump("scored")
        self._notify(uid, "scored")
        if self.sender is not None:
            self._send(uid, case)

    def _send(self, uid: str, case: Any) -> None:
        if self.sender is None:
            return
        path = self.inbox.path_for(uid)
        if case is None:  # a resend after a restart: score again to rebuild the results
            try:
                case = self.scorer(path)
            except Exception as exc:
                self._record("send_failed", uid, error=f"cannot rescore: {exc}"[:500])
                self._bump("send_failed")
                return
        try:
            self.sender(path, case, self.model_sha256, self.inbox.results_dir(uid))
        except NodeError as exc:
            log.warning("sending results for %s failed: %s", path.name, exc)
            self._record("send_failed", uid, error=str(exc)[:500])
            self._bump("send_failed")
            self._notify(uid, "send_failed")
            return
        self._record("sent", uid)
        self._bump("sent")
        self._notify(uid, "sent")

    def _record(self, event: str, uid: str, **fields: Any) -> dict[str, Any]:
        """Journal one event, and keep it at hand for :meth:`recent` (no re-reading the journal)."""
        record = self.inbox.worklist.append(event, uid, **fields)
        with self._lock:
            self._recent[uid] = record
            self._recent.move_to_end(uid)
            while len(self._recent) > _RECENT:
                self._recent.popitem(last=False)
        return record

    def recent(self, uid: str) -> dict[str, Any] | None:
        """The last record this worker wrote for ``uid`` (of its last few thousand), or ``None``."""
        with self._lock:
            return self._recent.get(uid)

    def _notify(self, uid: str, what: str) -> None:
        if self.on_done is not None:
            try:
                self.on_done(uid, what)
            except Exception:
                log.exception("node worker: on_done callback failed")


def _float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None

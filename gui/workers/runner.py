"""Background work for the GUI.

Core functions take plain ``progress`` and ``should_stop`` callables and never see Qt
(Orange3 style); a :class:`Worker` wraps such a function in a ``QRunnable`` and turns
those callbacks into Qt signals. Signals are delivered to receivers living on the GUI
thread through queued connections, so widgets are only ever touched there.
"""

from __future__ import annotations

import inspect
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

BACKGROUND_NICE = 5
_thread_state = threading.local()


def lower_thread_priority(nice: int = BACKGROUND_NICE) -> None:
    """Give the calling (worker) thread a higher nice value, once; Linux only.

    Threads that TensorFlow and tf.data start from a worker inherit it, so on a busy machine
    the scheduler runs the GUI thread first and the window keeps painting while a model
    trains. On Linux nice is per thread; elsewhere it would apply to the whole process
    (macOS) or does not exist (Windows), so nothing is done there.
    """
    if getattr(_thread_state, "lowered", False) or not sys.platform.startswith("linux"):
        return
    _thread_state.lowered = True
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
    except (OSError, AttributeError):
        pass


class WorkerSignals(QObject):
    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(object)  # the exception; ``worker.traceback`` holds the text for logs
    done = Signal()  # after finished or failed, whichever came


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


class Worker(QRunnable):
    """Run ``fn(*args, **kwargs)`` on a thread pool.

    If ``fn`` takes ``progress`` or ``should_stop`` keyword arguments they are supplied:
    ``progress`` emits :attr:`signals.progress`, ``should_stop`` returns True once
    :meth:`cancel` was called. The return value arrives by ``signals.finished``, an
    exception by ``signals.failed``.
    """

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        super().__init__()
        # The pool must not delete the runnable while Python still holds the signals.
        self.setAutoDelete(False)
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.signals = WorkerSignals()
        self._stop = threading.Event()
        self._finished = threading.Event()
        self.traceback = ""
        if _accepts(fn, "progress") and "progress" not in kwargs:
            self.kwargs["progress"] = self.signals.progress.emit
        if _accepts(fn, "should_stop") and "should_stop" not in kwargs:
            self.kwargs["should_stop"] = self._stop.is_set

    def cancel(self) -> None:
        self._stop.set()

    @property
    def cancelled(self) -> bool:
        return self._stop.is_set()

    def is_done(self) -> bool:
        return self._finished.is_set()

    def wait(self, timeout_s: float | None = None) -> bool:
        return self._finished.wait(timeout_s)

    def run(self) -> None:
        lower_thread_priority()
        fn, args, kwargs = self.fn, self.args, self.kwargs
        # The worker may outlive its job (a caller keeps it to wait or cancel): it must not keep
        # the job's inputs (an image, a model) alive after it.
        self.args, self.kwargs = (), {}
        result = None
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            self.traceback = traceback.format_exc()
            self._finished.set()
            self.signals.failed.emit(exc)
        else:
            self._finished.set()
            self.signals.finished.emit(result)
        del fn, args, kwargs, result
        self.signals.done.emit()


class WorkerRunner(QObject):
    """Owns a thread pool and keeps running workers alive until they are done."""

    def __init__(self, max_threads: int | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        if max_threads:
            self.pool.setMaxThreadCount(max_threads)
        self._running: set[Worker] = set()
        self._retired: set[Worker] = set()

    def start(self, worker: Worker) -> Worker:
        self._running.add(worker)
        # A bound method, not a lambda holding the worker: a slot that refers to the worker
        # whose signal it is connected to is a cycle through Qt that Python never frees.
        worker.signals.done.connect(self._prune)
        self.pool.start(worker)
        return worker

    def _prune(self) -> None:
        done = {w for w in self._running if w.is_done()}
        self._running -= done
        # Let go of them one prune later: the pool thread may still be returning from run().
        self._retired, done = done, self._retired
        done.clear()

    def busy(self) -> bool:
        return any(not w.is_done() for w in self._running)

    def cancel_all(self) -> None:
        for worker in list(self._running):
            worker.cancel()

    def wait(self, timeout_ms: int = -1) -> bool:
        return self.pool.waitForDone(timeout_ms)


def throttled(progress: Callable[[Any], None] | None, min_interval_s: float = 0.1) -> Callable[[Any], None] | None:
    """Pass on at most one progress report per ``min_interval_s`` within a stage.

    Training reports every batch (hundreds a second with small batches); each report is a
    queued signal the GUI thread must take the GIL to handle, while it only needs ~10 a
    second to move a bar. A change of stage and every epoch end always pass.
    """
    if progress is None:
        return None
    last = {"t": float("-inf"), "stage": None}

    def report(p: Any) -> None:
        stage = getattr(p, "stage", None)
        now = time.monotonic()
        if (stage is None or stage != last["stage"] or stage == "epoch_end"
                or getattr(p, "fraction", 0.0) >= 1.0 or now - last["t"] >= min_interval_s):
            last["t"], last["stage"] = now, stage
            progress(p)

    return report


def user_message(exc: BaseException) -> str:
    """Plain-language text for an exception: core's own messages as they are, others summarised."""
    from core.errors import PneumoscopeError

    if isinstance(exc, PneumoscopeError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "The computer ran out of memory for this task."
    if isinstance(exc, OSError):
        return f"The file could not be read or written: {exc.strerror or exc}"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"Something went wrong ({type(exc).__name__}): {text[:300]}"

"""The application's own log file: where problems that must not stop the work are written down.

Grad-CAM, the out-of-distribution gate and the audit log may fail without stopping a score;
such a failure is written here (``pneumoscope.log`` in :func:`core.paths.user_log_dir`) and
onto the case, never swallowed. No patient identifier goes into a message: callers pass the
exception, not the case's path or tags.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from core.paths import user_log_dir

LOGGER_NAME = "pneumoscope"
_lock = threading.Lock()


def app_log_path() -> Path:
    """The application log file (in the user log folder, beside the audit log)."""
    return user_log_dir() / "pneumoscope.log"


def app_logger() -> logging.Logger:
    """The ``pneumoscope`` logger, writing to :func:`app_log_path` (re-pointed when the folder changes)."""
    logger = logging.getLogger(LOGGER_NAME)
    path = str(app_log_path())
    with _lock:
        mine = [h for h in logger.handlers if getattr(h, "_pneumoscope_file", False)]
        if not any(h.baseFilename == path for h in mine):  # type: ignore[attr-defined]
            for h in mine:
                logger.removeHandler(h)
                h.close()
            handler = logging.FileHandler(path, encoding="utf-8", delay=True)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            handler._pneumoscope_file = True  # type: ignore[attr-defined]
            logger.addHandler(handler)
        if logger.level == logging.NOTSET or logger.level > logging.WARNING:
            logger.setLevel(logging.WARNING)
    return logger


def log_failure(what: str, exc: BaseException) -> str:
    """Log that ``what`` failed with ``exc`` (with its traceback) and return the plain sentence for a case."""
    message = f"{what} failed: {type(exc).__name__}: {exc}"
    try:
        app_logger().warning(message, exc_info=(type(exc), exc, exc.__traceback__))
    except OSError:  # an unwritable log folder must not stop the work either
        logging.getLogger(LOGGER_NAME).warning(message)
    return message

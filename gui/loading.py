"""Functions run on workers at start-up: imports that would stall the GUI thread, then the model."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

# Seconds per start-up stage of this process (read by the launch benchmark).
STARTUP_TIMINGS: dict[str, float] = {}


def import_plotting() -> None:
    """Import matplotlib's Qt canvas off the GUI thread so building the plot screens is quick."""
    import matplotlib.backends.backend_qtagg
    import matplotlib.figure  # noqa: F401


def import_tensorflow(progress=None) -> float:
    """Import TensorFlow and Keras off the GUI thread; returns the seconds it took."""
    t0 = time.perf_counter()
    if progress is not None:
        progress("Loading TensorFlow...")
    import keras  # noqa: F401
    import tensorflow  # noqa: F401

    return time.perf_counter() - t0


def startup_load(progress=None) -> tuple[Any, str | None]:
    """TensorFlow, then the active model (the one last made active, else the shipped one).

    Returns (bundle or None, a note when the saved active model could not be used and the shipped
    one was opened instead).
    """
    t0 = time.perf_counter()
    import_tensorflow(progress)
    STARTUP_TIMINGS["import_tensorflow"] = time.perf_counter() - t0
    from core.learning.bundle import active_bundle_path, default_bundle_path
    from core.learning.registry import load_and_warm

    t1 = time.perf_counter()
    path, note = active_bundle_path()
    if path is None:
        return None, note
    try:
        bundle = load_and_warm(path, progress)
    except Exception as exc:
        shipped = default_bundle_path()
        if shipped is None or Path(path) == shipped:
            raise
        bundle, note = load_and_warm(shipped, progress), f"the active model {path} could not be opened ({exc})"
    STARTUP_TIMINGS["load_and_warm"] = time.perf_counter() - t1
    return bundle, note

"""Functions run on workers at start-up: imports that would stall the GUI thread, then the model."""

from __future__ import annotations

import time
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


def startup_load(progress=None) -> Any:
    """The model in use (the one last chosen, else the shipped one; None if neither).

    Scoring runs the bundle's LiteRT model, so TensorFlow is not imported here; only a bundle
    without LiteRT (or a machine without it) makes the first score import TensorFlow.
    """
    import sys

    from core.learning.bundle import active_bundle_path
    from core.learning.registry import load_and_warm

    path = active_bundle_path()
    if path is None:
        return None
    t1 = time.perf_counter()
    bundle = load_and_warm(path, progress)
    STARTUP_TIMINGS["load_and_warm"] = time.perf_counter() - t1
    STARTUP_TIMINGS["tensorflow_loaded"] = float("tensorflow" in sys.modules)
    return bundle

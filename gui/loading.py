"""Functions run on workers at start-up: imports that would stall the GUI thread, then the model."""

from __future__ import annotations

import time
from typing import Any


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
    """TensorFlow, then the shipped default bundle if there is one (None otherwise)."""
    import_tensorflow(progress)
    from core.learning.bundle import default_bundle_path
    from core.learning.registry import load_and_warm

    path = default_bundle_path()
    if path is None:
        return None
    return load_and_warm(path, progress)

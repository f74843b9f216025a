"""Scoring without TensorFlow: a bundle's ``model.tflite`` run by LiteRT (``ai_edge_litert``).

One call gives the three things a case needs: the raw score, the features the OOD gate compares
and the Grad-CAM map (see ``core.learning.litert`` for how the graph is built). This module never
imports TensorFlow; where ``ai_edge_litert`` is not installed (no wheel for the platform) or the
bundle has no LiteRT file, :func:`open_runtime` returns ``None`` and the caller falls back to the
Keras model, and :func:`fallback_reason` says why.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

LITERT_FILE = "model.tflite"


def litert_available() -> bool:
    try:
        import ai_edge_litert.interpreter  # noqa: F401
    except Exception:  # no wheel for this platform, or a broken install
        return False
    return True


def fallback_reason(bundle_dir: str | Path) -> str | None:
    """Why scoring would use TensorFlow for this bundle; ``None`` when LiteRT is used."""
    if not litert_available():
        return "LiteRT (ai-edge-litert) is not installed for this platform, so TensorFlow scores"
    if not (Path(bundle_dir) / LITERT_FILE).is_file():
        return "this model has no LiteRT file yet, so TensorFlow scores it"
    return None


@contextlib.contextmanager
def held_stderr():
    """Hold back what C++ libraries (LiteRT, TensorFlow) write to fd 2 while they start: Python's
    logging settings do not reach it. Shown on an error, or always with ``--verbose``
    (PNEUMOSCOPE_VERBOSE=1)."""
    if os.environ.get("PNEUMOSCOPE_VERBOSE") == "1":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class LiteRuntime:
    """A bundle's LiteRT model, one interpreter per thread (an interpreter is not thread-safe,
    and LiteRT's ``invoke`` lets other threads run, so threads that score at once do not wait
    on each other)."""

    def __init__(self, model_file: str | Path, num_threads: int | None = None) -> None:
        self.path = Path(model_file)
        self._content = self.path.read_bytes()  # every thread's interpreter reads the same model
        self._num_threads = num_threads
        self._local = threading.local()
        it = self._interpreter()
        by_rank = {len(d["shape"]): d["index"] for d in it.get_output_details()}
        if sorted(by_rank) != [1, 2, 3]:
            raise ValueError(f"{self.path} is not a Pneumoscope LiteRT model (outputs {sorted(by_rank)})")
        self._score, self._features, self._cam = by_rank[1], by_rank[2], by_rank[3]
        self._input = it.get_input_details()[0]
        self.input_shape = tuple(int(d) for d in self._input["shape"][1:])

    def _interpreter(self) -> Any:
        it = getattr(self._local, "interpreter", None)
        if it is None:
            from ai_edge_litert.interpreter import Interpreter

            with held_stderr():  # "INFO: Created TensorFlow Lite XNNPACK delegate" from C++
                it = Interpreter(model_content=self._content, num_threads=self._num_threads)
                it.allocate_tensors()
            self._local.interpreter = it
        return it

    def run(self, x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """(raw score, features (F,), cam (h, w)) for one preprocessed image (S, S, C)."""
        x = np.asarray(x, dtype=np.float32).reshape((1, *self.input_shape))
        it = self._interpreter()
        it.set_tensor(self._input["index"], x)
        it.invoke()
        score = float(it.get_tensor(self._score)[0])
        feats = np.array(it.get_tensor(self._features)[0], dtype=np.float64)
        cam = np.array(it.get_tensor(self._cam)[0], dtype=np.float32)
        return score, feats, cam

    def raw_scores(self, x: np.ndarray) -> np.ndarray:
        return np.array([self.run(xi)[0] for xi in np.asarray(x, dtype=np.float32)], dtype=np.float32)

    def features(self, x: np.ndarray) -> np.ndarray:
        rows = [self.run(xi)[1] for xi in np.asarray(x, dtype=np.float32)]
        return np.stack(rows) if rows else np.zeros((0, 0))


def open_runtime(bundle_dir: str | Path) -> LiteRuntime | None:
    """The bundle's LiteRT runtime, or ``None`` (then TensorFlow scores; the reason is logged)."""
    reason = fallback_reason(bundle_dir)
    if reason is not None:
        log.info("%s: %s", bundle_dir, reason)
        return None
    return LiteRuntime(Path(bundle_dir) / LITERT_FILE)


def require_tensorflow(progress: Any = None) -> None:
    """Import TensorFlow for training, tuning or fine-tuning, saying so first (it takes seconds).

    Raises a plain-language error where it is not installed (the lite app scores, sets
    thresholds, reads and listens without it, but cannot train).
    """
    import sys

    if sys.modules.get("tensorflow") is not None:
        return
    from core.errors import PneumoscopeError
    from core.progress import Progress

    if progress is not None:
        progress(Progress("loading TensorFlow", message="Loading TensorFlow (needed to train; a few seconds)..."))
    try:
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
    except ImportError as exc:
        raise PneumoscopeError(
            "Training needs TensorFlow, which this copy of Pneumoscope does not include. Use the full "
            "app, or install it into this environment (pip install tensorflow-cpu)."
        ) from exc

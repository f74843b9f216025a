"""Keras callbacks for training: per-batch progress with ETA and cancel, and a wall-clock budget."""

from __future__ import annotations

import time

from core.progress import Cancelled, Progress, ProgressFn, StopFn


def make_progress_callback(progress: ProgressFn, should_stop: StopFn, epochs: int, batches: int,
                           stage: str = "training"):
    import keras

    class _ProgressCallback(keras.callbacks.Callback):
        """Per-batch progress with ETA; cancels within one batch."""

        def __init__(self) -> None:
            super().__init__()
            self.train_seconds = 0.0
            self.images_seen = 0
            self._epoch = 0
            self._t_batch = 0.0
            self._batches_done = 0

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch = epoch
            self._t_batch = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            now = time.perf_counter()
            self.train_seconds += now - self._t_batch
            self._t_batch = now
            self._batches_done += 1
            if should_stop is not None and should_stop():
                self.model.stop_training = True
                raise Cancelled()
            if progress is not None:
                per_batch = self.train_seconds / self._batches_done
                left = (epochs - self._epoch - 1) * batches + (batches - batch - 1)
                done = self._epoch * batches + batch + 1
                progress(Progress(stage, epoch=self._epoch + 1, epochs=epochs, batch=batch + 1, batches=batches,
                                  logs={k: float(v) for k, v in (logs or {}).items()},
                                  eta_s=per_batch * left, fraction=done / max(1, epochs * batches)))

        def on_epoch_end(self, epoch, logs=None):
            if progress is not None:
                logs = {k: float(v) for k, v in (logs or {}).items()}
                text = "  ".join(f"{k} {v:.4f}" for k, v in logs.items())
                progress(Progress("epoch_end", epoch=epoch + 1, epochs=epochs, batch=batches, batches=batches,
                                  logs=logs, message=f"epoch {epoch + 1}/{epochs}: {text}",
                                  fraction=(epoch + 1) / epochs))

    return _ProgressCallback()


def _time_budget_callback_class():
    import keras

    class TimeBudget(keras.callbacks.Callback):
        """Stops after the epoch during which the wall-clock budget ran out (fair baselines)."""

        def __init__(self, seconds: float) -> None:
            super().__init__()
            self.seconds = float(seconds)
            self._t0 = 0.0

        def on_train_begin(self, logs=None):
            self._t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if time.perf_counter() - self._t0 >= self.seconds:
                self.model.stop_training = True

    return TimeBudget


def time_budget(seconds: float):
    return _time_budget_callback_class()(seconds)

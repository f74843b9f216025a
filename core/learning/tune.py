"""Hyperparameter search with Keras Tuner (Bayesian optimisation) over ``core.learning.models.build_from_hp``.

Objective: ``val_auc`` by default. AUC is threshold-free, which fits the workflow: the
decision threshold is chosen afterwards on validation (and may be re-set by each site), so the
search should rank models by how well they separate the classes, not by their behaviour at an
arbitrary 0.5 cut-off. ``val_recall`` alone is a poor objective: a model that calls everything
PNEUMONIA scores a perfect recall. Any logged metric can be chosen (``val_loss`` is minimised,
everything else maximised); custom names get an explicit ``kt.Objective`` direction.

Everything is decided on validation; test is scored once for the chosen model's card. The
tuner's working folder is a temporary folder (never next to the data) and is removed after.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from core.learning.data import Cancelled, Progress, ProgressFn, StopFn, class_weights
from core.learning.models import input_shape
from core.learning.pipeline import make_tf_dataset
from core.learning.train import TrainConfig, finish_bundle, load_dataset

__all__ = ["TuneResult", "format_table", "tune"]


@dataclass
class TuneResult:
    table: list[dict[str, Any]]   # one row per trial: trial, hparams, score, status; best first
    best_bundle: Path
    objective: str
    best_hparams: dict[str, Any]


def objective_direction(name: str) -> str:
    return "min" if "loss" in name else "max"


def format_table(table: list[dict[str, Any]], objective: str) -> str:
    if not table:
        return "no trials ran"
    keys = sorted({k for row in table for k in row["hparams"]})
    header = ["trial", *keys, objective]
    lines = ["  ".join(f"{h:>10}" for h in header)]
    for row in table:
        score = row["score"]
        cells = [str(row["trial"]), *[_fmt(row["hparams"].get(k)) for k in keys],
                 "failed" if score is None else f"{score:.4f}"]
        lines.append("  ".join(f"{c:>10}" for c in cells))
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def require_tuning_support() -> None:
    from core.sysinfo import tuning_available

    if not tuning_available():
        from core.learning.data import DatasetError

        raise DatasetError("Bayesian tuning needs scikit-learn and scipy, which this installation lacks: "
                           "install them with  pip install 'pneumoscope[tuning]'  (the double-click app "
                           "leaves them out to stay small; training without tuning works as usual)")


def tune(
    config: TrainConfig,
    max_trials: int = 10,
    objective: str = "val_auc",
    progress: ProgressFn = None,
    should_stop: StopFn = None,
    tuner_dir: str | None = None,
) -> TuneResult:
    """Search ``config.model``'s space for ``max_trials`` trials of up to ``config.epochs`` epochs
    (early stopping on the objective), then save the best trial's model as a bundle at
    ``config.out`` whose card records the whole results table."""
    require_tuning_support()
    import keras
    import keras_tuner as kt

    from core.learning.models import build_from_hp, resolve_hparams

    if config.seed is not None:
        keras.utils.set_random_seed(config.seed)
    base_hp = resolve_hparams(config.model, **config.hparams)
    size, _, channels = input_shape(config.model, **base_hp)
    data = load_dataset(config, size, progress, should_stop)
    x_tr, y_tr, _ = data.arrays["train"]
    x_va, y_va, _ = data.arrays["val"]
    train_ds = make_tf_dataset(x_tr, y_tr, config.batch_size, channels, config.augment_config(), True, config.seed)
    val_ds = make_tf_dataset(x_va, y_va, config.batch_size, channels, None, False)
    batches = math.ceil(len(x_tr) / config.batch_size)
    direction = objective_direction(objective)

    class _Stop(kt.errors.FatalError):
        """Keras Tuner swallows ordinary errors as failed trials; a FatalError gets through."""

    state = {"trial": 0, "train_seconds": 0.0, "images": 0}

    class _TrialProgress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            state["trial"] += 1
            self._epochs = 0
            if progress is not None:
                progress(Progress("trial", message=f"trial {state['trial']}/{max_trials}",
                                  fraction=(state["trial"] - 1) / max_trials))

        def on_epoch_begin(self, epoch, logs=None):
            self._t = time.perf_counter()
            self._epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if should_stop is not None and should_stop():
                self.model.stop_training = True
                raise _Stop("cancelled")
            if progress is not None:
                done = (state["trial"] - 1) + (self._epoch + (batch + 1) / batches) / config.epochs
                progress(Progress("training", epoch=self._epoch + 1, epochs=config.epochs, batch=batch + 1,
                                  batches=batches, logs={k: float(v) for k, v in (logs or {}).items()},
                                  message=f"trial {state['trial']}/{max_trials}", fraction=done / max_trials))

        def on_epoch_end(self, epoch, logs=None):
            state["train_seconds"] += time.perf_counter() - self._t
            state["images"] += len(x_tr)
            if progress is not None:
                logs = {k: float(v) for k, v in (logs or {}).items()}
                value = logs.get(objective)
                shown = f"{objective} {value:.4f}" if value is not None else ""
                progress(Progress("epoch_end", epoch=epoch + 1, epochs=config.epochs, logs=logs,
                                  message=f"trial {state['trial']}/{max_trials} epoch {epoch + 1}: {shown}"))

    def hypermodel(hp):
        return build_from_hp(config.model, hp, image_size=size, loss=config.loss, focal_gamma=config.focal_gamma)

    class _Tuner(kt.BayesianOptimization):
        # keras-tuner 1.4 imports tensorboard for every trial under the TF backend, only to patch
        # TensorBoard callbacks; we pass none, and tensorboard is not a dependency of the app.
        def _configure_tensorboard_dir(self, callbacks, trial, execution=0):
            return None

    workdir = Path(tempfile.mkdtemp(prefix="pneumoscope-tune-", dir=tuner_dir))
    t0 = time.perf_counter()
    try:
        tuner = _Tuner(
            hypermodel, objective=kt.Objective(objective, direction=direction), max_trials=max_trials,
            seed=config.seed, directory=str(workdir), project_name="search", overwrite=True,
        )
        callbacks = [
            _TrialProgress(),
            keras.callbacks.EarlyStopping(monitor=objective, mode=direction, patience=config.patience,
                                          restore_best_weights=True),
        ]
        cw = class_weights(y_tr) if config.class_weight else None
        try:
            tuner.search(train_ds, validation_data=val_ds, epochs=config.epochs, callbacks=callbacks,
                         class_weight=cw, shuffle=False, verbose=0)
        except _Stop as exc:
            raise Cancelled() from exc
        table = _results_table(tuner, objective)
        done = [row for row in table if row["score"] is not None]
        if not done:
            from core.learning.data import DatasetError

            raise DatasetError("every tuning trial failed; try fewer epochs or a smaller batch size")
        best_trial = tuner.oracle.get_best_trials(1)[0]
        best_model = tuner.get_best_models(1)[0]
        best_hp = dict(best_trial.hyperparameters.values)
        history = {}
        for name in best_trial.metrics.metrics:
            values = [float(obs.value[0]) for obs in best_trial.metrics.get_history(name)]
            if values:
                history[name] = values
        seconds = time.perf_counter() - t0
        images_per_s = state["images"] / max(state["train_seconds"], 1e-9)
        final_config = replace(
            config,
            hparams={**config.hparams, **best_hp, "image_size": size},
            extra_card={**config.extra_card, "tuning": {
                "objective": objective, "direction": direction, "max_trials": max_trials,
                "trials_run": len(table), "epochs_per_trial": config.epochs, "table": table,
                "method": "keras_tuner.BayesianOptimization", "chosen_on": "val"}},
            monitor=objective,
        )
        if should_stop is not None and should_stop():
            raise Cancelled()
        out = finish_bundle(final_config, data, best_model, history, seconds, images_per_s, cw, progress)
        return TuneResult(table=table, best_bundle=out, objective=objective, best_hparams=best_hp)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _results_table(tuner, objective: str) -> list[dict[str, Any]]:
    rows = []
    for trial_id, trial in tuner.oracle.trials.items():
        score = trial.score
        rows.append({"trial": trial_id, "hparams": dict(trial.hyperparameters.values),
                     "score": None if score is None else float(score), "status": str(trial.status)})
    reverse = objective_direction(objective) == "max"
    rows.sort(key=lambda r: (r["score"] is None, -(r["score"] or 0) if reverse else (r["score"] or 0)))
    return rows

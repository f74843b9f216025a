"""Train a model on a folder dataset and save it as a bundle (model + card + scores).

Methodology (DESIGN.md): validation, drawn from train and grouped by patient unless a big
enough val folder exists, chooses the epochs (early stopping on val AUC) and the threshold.
The test split, if present, is scored once at the end, for the record; nothing looks at it.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.learning.callbacks import make_progress_callback, time_budget
from core.learning.data import FolderDataset, class_weights, load_arrays, scan_dataset
from core.learning.finish import (
    LIMITATIONS,
    choose_threshold_on_val,
    fit_calibration,
    relative_name,
    score_arrays,
    split_metrics,
)
from core.learning.models import DEFAULT_MODEL, input_shape, resolve_hparams
from core.learning.pipeline import AugmentConfig, make_tf_dataset
from core.progress import Cancelled, Progress, ProgressFn, StopFn

# Cancelled and Progress are re-exported: callers of train() catch and receive them.
__all__ = ["Cancelled", "Progress", "TrainConfig", "train"]


@dataclass
class TrainConfig:
    data_root: str
    out: str
    model: str = DEFAULT_MODEL
    epochs: int = 30
    batch_size: int = 32
    hparams: dict[str, Any] = field(default_factory=dict)
    loss: str = "bce"
    focal_gamma: float = 2.0
    class_weight: bool = True
    augment: bool = True
    hflip: bool = False
    brightness: float = 0.0
    contrast: float = 0.0
    seed: int | None = None
    val_fraction: float = 0.2
    split_seed: int = 1337
    min_val: int = 100
    positive_class: str = "PNEUMONIA"
    patience: int = 5
    reduce_lr_patience: int = 2        # lower the learning rate after this many flat epochs; 0 = off
    reduce_lr_factor: float = 0.5      # ... multiplying it by this factor
    monitor: str = "val_auc"
    threshold_method: str = "youden"   # youden | maxf1 | cost[:FN:FP] | sens:0.95 | spec:0.9
    strategy: str | None = None        # None | "mirrored" | "multiworker"
    name: str | None = None
    work_dir: str | None = None        # where the best-weights checkpoint lives during training
    extra_card: dict[str, Any] = field(default_factory=dict)
    # Who the model is for (ages, views): stated in the card and checked in Review. It comes from the
    # data: ``dataset_card`` (a built-in name such as "kermany", a JSON file), else dataset.json in
    # the data folder; ``intended_population`` (population flags) and ``intended_use`` override it.
    # With none of them the card says the population is not stated.
    dataset_card: str | None = None
    intended_population: dict[str, Any] | None = None
    intended_use: str | None = None
    max_seconds: float | None = None   # wall-clock training budget: stop after the epoch that passes it
    calibration: str | None = None     # None | "temperature" | "platt": fitted on validation scores
    hash_names: bool = False           # store short hashes of file names, not the names (site data)

    def augment_config(self) -> AugmentConfig | None:
        if not self.augment:
            return None
        return AugmentConfig(hflip=self.hflip, brightness=self.brightness, contrast=self.contrast)

    def model_hparams(self) -> dict[str, Any]:
        return resolve_hparams(self.model, **self.hparams)


def _emit(progress: ProgressFn, **kw: Any) -> None:
    if progress is not None:
        progress(Progress(**kw))


@dataclass
class LoadedData:
    dataset: FolderDataset
    arrays: dict[str, tuple[np.ndarray, np.ndarray, list[str]]]  # split -> (x_uint8, y, paths)
    skipped: list[tuple[str, str]]
    seconds: float


def load_dataset(config: TrainConfig, size: int, progress: ProgressFn = None,
                 should_stop: StopFn = None) -> LoadedData:
    """Scan the folder and decode every split once (shared by train and tune)."""
    t0 = time.perf_counter()
    _emit(progress, stage="scanning", message=f"listing images in {config.data_root}")
    ds = scan_dataset(config.data_root, config.positive_class, config.val_fraction, config.split_seed,
                      config.min_val)
    return decode_splits(ds, size, progress, should_stop, t0=t0)


def decode_splits(ds: FolderDataset, size: int, progress: ProgressFn = None, should_stop: StopFn = None,
                  t0: float | None = None, what: str = "the {split} split") -> LoadedData:
    """Decode every image of every split once; train and val must keep both classes."""
    from core.learning.data import DatasetError

    t0 = time.perf_counter() if t0 is None else t0
    samples = [s for split in ds.splits.values() for s in split]
    x, y, paths, skipped = load_arrays(samples, size, progress, should_stop)
    split_of = {s.path: s.split for s in samples}
    arrays = {}
    for split in ds.splits:
        idx = np.array([i for i, p in enumerate(paths) if split_of[p] == split], dtype=np.int64)
        arrays[split] = (x[idx], y[idx], [paths[i] for i in idx])
    for split in ("train", "val"):
        if len(np.unique(arrays[split][1])) < 2:
            raise DatasetError(f"after skipping unreadable files {what.format(split=split)} lacks one class")
    return LoadedData(ds, arrays, skipped, time.perf_counter() - t0)


def fit_model(model, data: LoadedData, config: TrainConfig, epochs: int, channels: int,
              progress: ProgressFn, should_stop: StopFn, work_dir: Path, strategy=None,
              extra_callbacks: list | None = None):
    """model.fit with early stopping on ``config.monitor`` and a best-weights checkpoint.

    Returns (history dict of float lists, progress callback with timing).
    """
    import keras

    from core.learning.distribute import patch_symbolic_build, shard_by_data

    x_tr, y_tr, _ = data.arrays["train"]
    x_va, y_va, _ = data.arrays["val"]
    train_ds = shard_by_data(make_tf_dataset(x_tr, y_tr, config.batch_size, channels,
                                             config.augment_config(), shuffle=True, seed=config.seed), strategy)
    val_ds = shard_by_data(make_tf_dataset(x_va, y_va, config.batch_size, channels, None, False), strategy)
    patch_symbolic_build(model, strategy, next(iter(make_tf_dataset(
        x_tr[: config.batch_size], y_tr[: config.batch_size], config.batch_size, channels, None, False))))
    batches = math.ceil(len(x_tr) / config.batch_size)
    mode = "min" if "loss" in config.monitor else "max"
    ckpt = work_dir / "best.weights.h5"
    callback = make_progress_callback(progress, should_stop, epochs, batches)
    callbacks = [
        callback,
        keras.callbacks.EarlyStopping(monitor=config.monitor, mode=mode, patience=config.patience,
                                      restore_best_weights=True),
        keras.callbacks.ModelCheckpoint(str(ckpt), monitor=config.monitor, mode=mode, save_best_only=True,
                                        save_weights_only=True),
        *(extra_callbacks or []),
    ]
    if config.reduce_lr_patience > 0:
        # Val AUC swings between epochs at a fixed lr 1e-3 on this data; a smaller step settles it
        # (in probes a lower rate after a stall lifted validation AUC from ~0.994 to ~0.997).
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor=config.monitor, mode=mode,
                                                           factor=config.reduce_lr_factor,
                                                           patience=config.reduce_lr_patience, min_lr=1e-5))
    if config.max_seconds:
        callbacks.append(time_budget(config.max_seconds))
    cw = class_weights(y_tr) if config.class_weight else None
    hist = model.fit(train_ds, validation_data=val_ds, epochs=epochs, callbacks=callbacks,
                     class_weight=cw, shuffle=False, verbose=0)  # shuffled in tf.data
    if ckpt.exists():  # explicit: the best epoch's weights, whatever EarlyStopping did
        model.load_weights(str(ckpt))
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    return history, callback, cw


def stored_name(config: TrainConfig, path: str | os.PathLike, root: str | os.PathLike) -> str:
    """The name a bundle keeps for a file: its relative name, or a hash of it (``config.hash_names``)."""
    from core.trust.audit import identifier_hash

    name = relative_name(path, root)
    return identifier_hash(name) if config.hash_names else name


def _fit_ood(model, data: LoadedData, channels: int) -> dict[str, Any] | None:
    """Fit the out-of-distribution gate (core.trust.ood) on training features; None if unavailable."""
    try:
        from core.trust.ood import fit_ood_for_model
    except ImportError:
        return None
    x_tr, y_tr, _ = data.arrays["train"]
    return fit_ood_for_model(model, x_tr, data.arrays["val"][0], channels, y_train=y_tr)


def intended_fields(config: TrainConfig, data_root: str | Path) -> dict[str, Any]:
    """intended_use / intended_population / intended_origin / limitations, from the data's card and
    the flags (core.trust.population.resolve_intended)."""
    from core.trust.population import read_dataset_card, resolve_intended

    card, origin = read_dataset_card(config.dataset_card, data_root)
    fields = resolve_intended(card, origin, config.intended_population, config.intended_use)
    fields["limitations"] = LIMITATIONS + fields.pop("dataset_limitations")
    return fields


def build_card(config: TrainConfig, data: LoadedData, model, history: dict[str, list[float]],
               threshold: dict[str, Any], metrics: dict[str, Any], seconds: float, images_per_s: float,
               cw: dict[int, float] | None, ood: dict[str, Any] | None,
               calibration: dict[str, Any] | None = None) -> dict[str, Any]:
    from core.learning.bundle import FORMAT_VERSION, library_versions

    ds = data.dataset
    hp = config.model_hparams()
    monitor_values = history.get(config.monitor, [])
    mode_max = "loss" not in config.monitor
    best_epoch = (int(np.argmax(monitor_values) if mode_max else np.argmin(monitor_values)) + 1
                  if monitor_values else None)
    aug = config.augment_config()
    return {
        "format_version": FORMAT_VERSION,
        "name": config.name or Path(config.out).name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model": {"name": config.model, "hparams": hp, "input_shape": list(input_shape(config.model, **hp)),
                  "params": int(model.count_params()), "features_layer": "features",
                  "last_conv_layer": "last_conv"},
        "data": {"root_name": Path(ds.root).name, "manifest_hash": ds.manifest_hash(), "counts": ds.counts(),
                 "split_seed": ds.split_seed, "val_fraction": ds.val_fraction, "val_source": ds.val_source,
                 "positive_class": ds.positive_class, "classes": ds.classes, "notes": ds.notes,
                 "skipped": [{"file": stored_name(config, p, ds.root), "reason": r} for p, r in data.skipped]},
        "training": {"epochs_run": len(history.get("loss", [])), "epochs_max": config.epochs,
                     "best_epoch": best_epoch, "monitor": config.monitor, "patience": config.patience,
                     "reduce_lr_patience": config.reduce_lr_patience,
                     "reduce_lr_factor": config.reduce_lr_factor,
                     "history": history, "seconds": round(seconds, 1), "images_per_s": round(images_per_s, 1),
                     "batch_size": config.batch_size, "loss": config.loss,
                     "focal_gamma": config.focal_gamma if config.loss == "focal" else None,
                     "class_weight": {str(k): v for k, v in cw.items()} if cw else None,
                     "augmentation": aug.to_dict() if aug else None, "seed": config.seed,
                     "strategy": config.strategy, "load_seconds": round(data.seconds, 1)},
        "threshold": threshold,
        "calibration": calibration,
        "metrics": metrics,
        "ood": ood,
        "versions": library_versions(),
        **intended_fields(config, ds.root),
        **config.extra_card,
    }


def finish_bundle(config: TrainConfig, data: LoadedData, model, history, seconds: float, images_per_s: float,
                  cw, progress: ProgressFn, save: bool = True) -> Path:
    """Score val (and test once), choose the threshold on val, fill the card, save atomically."""
    from core.learning.bundle import save_bundle

    channels = input_shape(config.model, **config.model_hparams())[2]
    _emit(progress, stage="scoring", message="scoring the validation and test images")
    scores: dict[str, np.ndarray] = {}
    raw: dict[str, np.ndarray] = {}
    for split in ("val", "test"):
        if split not in data.arrays:
            continue
        x, y, paths = data.arrays[split]
        raw[split] = score_arrays(model, x, channels)
        scores[f"{split}_y_true"] = y.astype(np.int8)
        scores[f"{split}_y_score"] = raw[split].astype(np.float32)
        # Relative to the data folder: a shipped bundle must not carry the trainer's absolute paths.
        scores[f"{split}_files"] = np.array([stored_name(config, p, config.data_root) for p in paths])
    y_val = data.arrays["val"][1]
    calibration = fit_calibration(y_val, raw["val"], config.calibration)
    if calibration is not None:
        from core.evaluation.calibration import apply_calibration

        for split in list(raw):
            scores[f"{split}_y_raw"] = raw[split].astype(np.float32)
            raw[split] = apply_calibration(raw[split], calibration).astype(np.float32)
            scores[f"{split}_y_score"] = raw[split]
    threshold = choose_threshold_on_val(y_val, raw["val"], config.threshold_method)
    metrics = {split: split_metrics(data.arrays[split][1], raw[split], threshold["value"]) for split in raw}
    ood, ood_error = None, None
    try:
        ood = _fit_ood(model, data, channels)
    except Exception as exc:  # OOD is an extra; a failure there must not lose a trained model
        ood_error = f"{type(exc).__name__}: {exc}"
    card = build_card(config, data, model, history, threshold, metrics, seconds, images_per_s, cw, ood,
                      calibration)
    if ood_error:
        card["ood_error"] = ood_error
    if not save:
        return Path(config.out)
    _emit(progress, stage="saving", message=f"saving the model to {config.out}")
    return save_bundle(config.out, model, card, scores)


def train(config: TrainConfig, progress: ProgressFn = None, should_stop: StopFn = None) -> Path:
    """Train per ``config`` and write a bundle to ``config.out``; returns its path.

    Raises Cancelled (nothing written, temp folder removed) when ``should_stop()`` turns True.
    """
    from core.learning.distribute import get_strategy, is_chief, scope

    intended_fields(config, config.data_root)  # a broken dataset card fails now, not after the epochs
    strategy = get_strategy(config.strategy)  # first: multi-worker collectives need early set-up
    import keras

    from core.learning.models import build_model

    if config.seed is not None:
        keras.utils.set_random_seed(config.seed)
    hp = config.model_hparams()
    size, _, channels = input_shape(config.model, **hp)
    data = load_dataset(config, size, progress, should_stop)
    work_dir = Path(tempfile.mkdtemp(prefix="pneumoscope-train-", dir=config.work_dir))
    try:
        _emit(progress, stage="building", message=f"building {config.model}")
        with scope(strategy):
            model = build_model(config.model, loss=config.loss, focal_gamma=config.focal_gamma, **hp)
        t0 = time.perf_counter()
        history, callback, cw = fit_model(model, data, config, config.epochs, channels, progress, should_stop,
                                          work_dir, strategy)
        seconds = time.perf_counter() - t0
        if should_stop is not None and should_stop():
            raise Cancelled()
        epochs_run = len(history.get("loss", []))
        images_per_s = epochs_run * len(data.arrays["train"][0]) / max(callback.train_seconds, 1e-9)
        out = finish_bundle(config, data, model, history, seconds, images_per_s, cw, progress, save=is_chief())
        _emit(progress, stage="done", message=f"saved {out}", fraction=1.0)
        return out
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


ProgressCallback = Callable[[Progress], None]

"""Fine-tune a bundle on a site's labelled cases: a child bundle that names its parent.

The site set is split by patient (stratified, seeded) into three parts: **train** (the weights
move), **validation** (early stopping, calibration and the threshold) and a **held-out** part that
neither sees; it is scored once and stored as the child's "test" scores, and
``pneumoscope-cli evaluate CHILD SITE --split site`` compares parent and child on it (paired
DeLong test). Training starts from the parent's weights with a small learning rate; batch
normalisation statistics stay frozen (a few dozen site images cannot re-estimate them) and
``freeze`` keeps the first N convolution layers fixed as well.

The card records the parent (sha256, name, where it was found) and, for the site, the set's
sha256 and short hashes of the relative names of every case used to train or validate, so that
evaluation can leave them out without the card holding any file name; the stored scores carry the
same hashes instead of file names.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import fraction_problem
from core.learning.bundle import BundleError, open_bundle
from core.learning.data import DatasetError, FolderDataset, Sample, grouped_mask
from core.learning.train import TrainConfig, decode_splits, finish_bundle, fit_model
from core.progress import Cancelled, Progress, ProgressFn, StopFn
from core.site.sets import CLASS_NAMES, SiteSet, case_key, read_site_set


@dataclass
class FinetuneConfig:
    site: str  # site folder or CSV
    init_from: str  # parent bundle folder ("default" = the installed model)
    out: str
    epochs: int = 10
    lr: float = 1e-4
    freeze: int = 0  # first N convolution layers kept fixed
    batch_size: int = 16
    val_fraction: float = 0.25  # of all site cases, patient-grouped
    holdout: float = 0.25  # of all site cases, never trained or validated on
    split_seed: int = 1337
    seed: int | None = None
    patience: int = 3
    threshold_method: str = "sens:0.95"
    augment: bool = True
    name: str | None = None
    max_seconds: float | None = None
    # Whom the child model is for: the site's, never the parent's. From --dataset-card or the site
    # folder's dataset.json, else the population flags, else the DICOM tags of the site's cases.
    dataset_card: str | None = None
    intended_population: dict[str, Any] | None = None
    intended_use: str | None = None


def site_intended(config: FinetuneConfig, cases: list[Any] | None) -> dict[str, Any]:
    """The child card's intended_use / intended_population / intended_origin (``cases``: the site
    cases it is fine-tuned on, whose DICOM tags say their ages and views; ``None`` to check only)."""
    from core.imaging.dicom_tags import population_tags
    from core.trust.population import observed_population, read_dataset_card, resolve_intended

    site_path = Path(config.site)
    card, origin = read_dataset_card(config.dataset_card, site_path if site_path.is_dir() else site_path.parent)
    if card is None and not config.intended_population and cases is not None:
        observed = observed_population([population_tags(c.path) for c in cases],
                                       f"the {len(cases)} site cases it was fine-tuned on")
        if observed is not None:
            card, origin = {"intended_population": observed}, "the DICOM tags of the site's cases"
    fields = resolve_intended(card, origin, config.intended_population, config.intended_use)
    fields.pop("dataset_limitations")
    if fields["intended_population"] is None:
        fields["intended_use"] = ("not stated for this site: its images carry no age or view tags and no "
                                  "dataset card or population flags were given; research use only")
    else:
        fields["intended_use"] = f"{fields['intended_use']}; adapted to one site's images"
    return fields


def _emit(progress: ProgressFn, **kw: Any) -> None:
    if progress is not None:
        progress(Progress(**kw))


def site_splits(site: SiteSet, val_fraction: float, holdout: float, seed: int) -> np.ndarray:
    """Array of "train" / "val" / "holdout" per case (patient-grouped, stratified)."""
    for what, value in (("validation", val_fraction), ("held-out", holdout)):
        problem = fraction_problem(value, what)
        if problem:
            raise DatasetError(problem)
    if val_fraction <= 0.0:
        raise DatasetError("fine-tuning needs a validation part (a fraction above 0)")
    if val_fraction + holdout >= 0.9:
        raise DatasetError("the validation and held-out parts together must leave at least 10% to train on")
    labels, groups = site.labels, site.groups
    part = np.full(len(labels), "train", dtype=object)
    if holdout > 0:
        part[grouped_mask(labels, groups, holdout, seed)] = "holdout"
    rest = np.flatnonzero(part == "train")
    share = val_fraction / (1.0 - holdout)
    val = grouped_mask(labels[rest], [groups[i] for i in rest], share, seed + 1)
    part[rest[val]] = "val"
    for name in ("train", "val"):
        got = set(labels[part == name].tolist())
        if got != {0, 1}:
            raise DatasetError(
                f"the site's {name} part ({int((part == name).sum())} cases) lacks "
                f"{'NORMAL' if 0 not in got else 'PNEUMONIA'} cases: fine-tuning needs more labelled cases of "
                "both kinds (at least a few dozen)"
            )
    return part


def _dataset(site: SiteSet, part: np.ndarray, seed: int, val_fraction: float) -> FolderDataset:
    splits: dict[str, list[Sample]] = {"train": [], "val": [], "test": []}
    for c, p in zip(site.cases, part, strict=True):
        split = "test" if p == "holdout" else str(p)
        splits[split].append(Sample(c.path, c.label, CLASS_NAMES[c.label], c.group, split))
    if not splits["test"]:
        del splits["test"]
    notes = ["site fine-tuning: the test split holds the site's held-out cases (never trained or validated on)"]
    return FolderDataset(site.root, list(CLASS_NAMES), CLASS_NAMES[1], splits, "site-grouped", seed,
                         val_fraction, notes)


def _freeze(model: Any, n: int) -> int:
    """Freeze batch norms and the first ``n`` convolutions (with their batch norms); returns convs frozen."""
    import keras

    frozen = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
        elif isinstance(layer, keras.layers.Conv2D) and frozen < n:
            layer.trainable = False
            frozen += 1
    return frozen


def _clone(parent: Any) -> Any:
    import keras

    model = keras.models.clone_model(parent.model)
    model.set_weights(parent.model.get_weights())
    return model


def finetune(config: FinetuneConfig, progress: ProgressFn = None, should_stop: StopFn = None) -> Path:
    """Fine-tune ``config.init_from`` on ``config.site``; write the child bundle to ``config.out``."""
    import keras

    from core.learning.losses import make_loss
    from core.learning.models import metrics

    parent = open_bundle(config.init_from)
    out = Path(config.out)
    if out.resolve() == parent.path.resolve():
        raise BundleError("the fine-tuned model must go to a new folder, not over the model it starts from")
    if not (0.0 < config.lr < 0.1):
        raise DatasetError(f"the fine-tuning learning rate must be small and positive (e.g. 1e-4), not {config.lr}")
    if config.freeze < 0:
        raise DatasetError("--freeze counts convolution layers and cannot be negative")
    _emit(progress, stage="scanning", message=f"reading the site cases in {config.site}")
    site = read_site_set(config.site)
    part = site_splits(site, config.val_fraction, config.holdout, config.split_seed)
    ds = _dataset(site, part, config.split_seed, config.val_fraction)
    card = parent.card
    model_name = str((card.get("model") or {}).get("name") or "pneumonet")
    hparams = dict((card.get("model") or {}).get("hparams") or {})
    size, _, channels = parent.input_shape
    data_root = str(Path(site.root).parent if site.source == "csv" else site.root)

    data = decode_splits(ds, size, progress, should_stop, what="the site's {split} part")

    if config.seed is not None:
        keras.utils.set_random_seed(config.seed)
    model = _clone(parent)
    frozen = _freeze(model, config.freeze)
    loss = str((card.get("training") or {}).get("loss") or "bce")
    model.compile(optimizer=keras.optimizers.Adam(config.lr), loss=make_loss(loss), metrics=metrics())

    used = [c for c, p in zip(site.cases, part, strict=True) if p != "holdout"]
    held = [c for c, p in zip(site.cases, part, strict=True) if p == "holdout"]
    parent_ref = {"sha256": parent.sha256, "name": parent.name, "created": card.get("created"),
                  "path": str(parent.path.resolve())}
    cal = card.get("calibration") or {}
    lineage = list(card.get("limitations") or [])
    lineage.append(f"Fine-tuned from {parent.name} (sha256 {parent.sha256[:12]}) on {len(used)} cases of one site; "
                   "its figures on other sites are unknown.")
    train_config = TrainConfig(
        data_root=data_root, out=str(out), model=model_name, epochs=config.epochs, batch_size=config.batch_size,
        hparams=hparams, loss=loss, augment=config.augment, seed=config.seed, val_fraction=config.val_fraction,
        split_seed=config.split_seed, patience=config.patience, reduce_lr_patience=2,
        threshold_method=config.threshold_method, name=config.name or out.name, max_seconds=config.max_seconds,
        calibration=cal.get("method") if cal.get("method") in ("temperature", "platt") else None,
        hash_names=True,  # hospital file names may name patients: the bundle keeps hashes only
        extra_card={
            "parent": parent_ref,
            "site": {
                "site_set_sha256": site.sha256,
                "counts": site.counts(),
                "split_seed": config.split_seed,
                "val_fraction": config.val_fraction,
                "holdout": config.holdout,
                "parts": {k: int((part == k).sum()) for k in ("train", "val", "holdout")},
                "used_case_keys": sorted(case_key(c.name) for c in used),
                "holdout_case_keys": sorted(case_key(c.name) for c in held),
            },
            "finetune": {"lr": config.lr, "frozen_convolutions": frozen, "batchnorm": "frozen",
                         "epochs_max": config.epochs},
            **site_intended(config, used),
            "limitations": lineage,
        },
    )
    work_dir = Path(tempfile.mkdtemp(prefix="pneumoscope-finetune-"))
    try:
        _emit(progress, stage="building", message=f"starting from {parent.name} ({frozen} convolutions frozen)")
        t1 = time.perf_counter()
        history, callback, cw = fit_model(model, data, train_config, config.epochs, channels, progress,
                                          should_stop, work_dir)
        seconds = time.perf_counter() - t1
        if should_stop is not None and should_stop():
            raise Cancelled()
        epochs_run = len(history.get("loss", []))
        ips = epochs_run * len(data.arrays["train"][0]) / max(callback.train_seconds, 1e-9)
        result = finish_bundle(train_config, data, model, history, seconds, ips, cw, progress)
        _emit(progress, stage="done", message=f"saved {result}", fraction=1.0)
        return result
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)

"""Score one split of a folder dataset with a model bundle, for an evaluation report.

The split is re-derived with the seed and fraction stored in the model card, so "val" means the
same images it meant at training time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from core.evaluation.evaluate import SPLIT_NAMES, Scores
from core.learning.data import DatasetError, scan_dataset


def evaluate_bundle(
    bundle: Any,
    data_root: str | Path,
    split: str,
    progress: Callable[[Any], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Scores:
    """Score every image of ``split`` in the folder dataset at ``data_root`` with ``bundle``."""
    card_data = (getattr(bundle, "card", None) or {}).get("data") or {}
    dataset = scan_dataset(
        data_root,
        positive_class=card_data.get("positive_class", "PNEUMONIA"),
        val_fraction=float(card_data.get("val_fraction", 0.2)),
        seed=int(card_data.get("split_seed", 1337)),
    )
    if split not in dataset.splits:
        found = ", ".join(sorted(dataset.splits)) or "none"
        raise DatasetError(f"{data_root} has no {SPLIT_NAMES.get(split, split)} split (it has: {found}).")
    samples = dataset.splits[split]
    if not samples:
        raise DatasetError(f"The {SPLIT_NAMES.get(split, split)} split of {data_root} has no images.")
    notes: list[str] = []
    trained_hash = card_data.get("manifest_hash")
    if trained_hash and trained_hash != dataset.manifest_hash():
        notes.append(
            "This data folder is not the one the model was trained on (its file list differs)."
            + (
                " The validation split is drawn from train/, so it may now hold images the model was trained on."
                if split == "val" and dataset.val_source == "made-from-train"
                else ""
            )
        )
    errors: dict[str, str] = {}
    paths = [s.path for s in samples]
    raw = np.asarray(bundle.score_paths(paths, progress=progress, should_stop=should_stop, errors=errors))
    ok = np.isfinite(raw)
    labels = np.array([s.label for s in samples], dtype=np.int8)
    skipped = [(p, errors.get(p, "could not be read or scored")) for p, good in zip(paths, ok, strict=True) if not good]
    return Scores(
        y_true=labels[ok],
        y_score=raw[ok].astype(np.float64),
        files=[p for p, good in zip(paths, ok, strict=True) if good],
        split=split,
        skipped=skipped,
        source=f"scored now from {Path(data_root).name}/ ({dataset.val_source} validation split)"
        if split == "val"
        else f"scored now from {Path(data_root).name}/",
        notes=notes,
        same_as_training=None if not trained_hash else trained_hash == dataset.manifest_hash(),
    )

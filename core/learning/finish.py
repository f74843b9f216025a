"""Ingredients of a finished bundle that need no training config: scoring cached arrays, the
threshold chosen on validation, recalibration, per-split metrics, stored file names, card wording."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from core.imaging.preprocess import batch_to_model_input

# General limitations of every trained card; the dataset card adds what its data implies.
LIMITATIONS = [
    "Research software, not a diagnostic device.",
    "The threshold was chosen on a validation split drawn from the training source. On the Kermany test "
    "set such thresholds landed too low (many NORMAL images flagged): each site should check and set "
    "its own operating point on its own labelled cases.",
    "Labels are image-level (pneumonia yes/no); the model does not localise findings.",
]


def score_arrays(model, x_uint8: np.ndarray, channels: int, batch: int = 64) -> np.ndarray:
    """Raw model scores for a cached uint8 (N, S, S) array: same numbers as ModelBundle.score_*."""
    from core.learning.bundle import predict_scores

    outs = []
    for start in range(0, len(x_uint8), 256):  # convert in slices to bound float32 memory
        outs.append(predict_scores(model, batch_to_model_input(x_uint8[start:start + 256], channels), batch))
    return np.concatenate(outs) if outs else np.zeros(0, dtype=np.float32)

def _fallback_youden(y: np.ndarray, s: np.ndarray) -> tuple[float, str]:
    best, t_best = -2.0, 0.5
    for t in np.unique(s):
        pred = s >= t
        sens = (pred & (y == 1)).sum() / max(1, (y == 1).sum())
        spec = (~pred & (y == 0)).sum() / max(1, (y == 0).sum())
        if sens + spec - 1 >= best:
            best, t_best = sens + spec - 1, float(t)
    return t_best, f"Youden's J = {best:.3f} on validation"


def choose_threshold_on_val(y: np.ndarray, s: np.ndarray, method: str) -> dict[str, Any]:
    try:
        from core.evaluation.choosers import choose_threshold, parse_chooser
    except ImportError:
        t, reason = _fallback_youden(y, s)
        return {"value": t, "method": "youden", "reason": reason, "chosen_on": "val"}
    name, kw = parse_chooser(method)
    choice = choose_threshold(y, s, name, on="validation", **kw)
    return {"value": float(choice.threshold), "method": method, "reason": choice.reason, "chosen_on": "val"}


def relative_name(path: str | os.PathLike, root: str | os.PathLike) -> str:
    """``split/CLASS/file`` for a file under the data folder (else its base name), POSIX separators."""
    try:  # absolute, not resolved: a data folder reached through a symlink keeps its own names
        return Path(os.path.abspath(path)).relative_to(os.path.abspath(root)).as_posix()
    except ValueError:
        return Path(path).name


def fit_calibration(y_val: np.ndarray, raw_val: np.ndarray, method: str | None) -> dict[str, Any] | None:
    """Recalibration fitted on validation scores (monotone: ranking and AUC unchanged)."""
    if not method:
        return None
    from core.evaluation.calibration import (
        brier_score,
        expected_calibration_error,
        fit_platt,
        fit_temperature,
    )

    fitters = {"temperature": fit_temperature, "platt": fit_platt}
    if method not in fitters:
        from core.learning.data import DatasetError

        raise DatasetError(f"unknown calibration {method!r} (use 'temperature' or 'platt')")
    spec = dict(fitters[method](y_val, raw_val))
    from core.evaluation.calibration import apply_calibration

    cal = apply_calibration(raw_val, spec)
    spec["fitted_on"] = "val"
    spec["val_before"] = {"brier": float(brier_score(y_val, raw_val)),
                          "ece": float(expected_calibration_error(y_val, raw_val))}
    spec["val_after"] = {"brier": float(brier_score(y_val, cal)), "ece": float(expected_calibration_error(y_val, cal))}
    return spec


def split_metrics(y: np.ndarray, s: np.ndarray, threshold: float) -> dict[str, Any]:
    """AUC with its interval and the operating point at ``threshold`` (and at 0.5 for comparison)."""
    out: dict[str, Any] = {"n": len(y), "n_pos": int((y == 1).sum()), "n_neg": int((y == 0).sum())}
    try:
        from core.evaluation.curves import roc_auc
        from core.evaluation.operating import OperatingCurve
    except ImportError:
        return out
    if len(np.unique(y)) == 2:
        out["auc"] = list(roc_auc(y, s))
    curve = OperatingCurve(y, s)
    out["at_threshold"] = curve.at(threshold).metrics_dict()
    out["at_0.5"] = curve.at(0.5).metrics_dict()
    return out

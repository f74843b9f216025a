"""Evaluation: gather every number a report shows from labels and scores.

``build_report`` turns scores plus a threshold into a :class:`Report`: a plain
dataclass of numbers that :mod:`core.evaluation.report` renders to PDF/HTML/text and the GUI can show.

Methodology rule: thresholds are chosen on validation scores. A report on the test split
applies a threshold chosen elsewhere and says so; nothing here chooses anything on test.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.evaluation.calibration import brier_score, expected_calibration_error, reliability_curve
from core.evaluation.choosers import ThresholdChoice
from core.evaluation.curves import average_precision, roc_auc
from core.evaluation.operating import (
    MetricsError,
    OperatingCurve,
    OperatingPoint,
    classification_report,
    format_classification_report,
    subgroup_sensitivity,
    validate_scores,
)
from core.evaluation.wording import card_summary, threshold_origin

SPLIT_NAMES = {"val": "validation", "test": "test", "train": "training", "site": "site"}
SPLIT_NOTES = {
    "val": "validation split: thresholds and other choices are made here",
    "test": "TEST split - report only: never used to choose anything",
    "train": "TRAINING split: the model has seen these images; numbers are optimistic",
    "site": "SITE data: every labelled case of the site set, scored now",
}


@dataclass
class Scores:
    """Labels and scores of one split (images that could not be scored are left out)."""

    y_true: np.ndarray
    y_score: np.ndarray
    files: list[str]
    split: str
    skipped: list[tuple[str, str]] = field(default_factory=list)
    source: str = ""  # where the scores came from, in words
    notes: list[str] = field(default_factory=list)
    # Are these the images the model was trained/validated with? True for the bundle's stored
    # scores, False when the data folder's file list differs from the card's, None when unknown.
    same_as_training: bool | None = None

    def __len__(self) -> int:
        return len(self.y_true)


def stored_scores(bundle: Any, split: str) -> Scores:
    """The scores saved in the bundle at training time for ``split`` ("val" or "test")."""
    y, s, files = bundle.scores(split)
    y = np.asarray(y, dtype=np.int8)
    s = np.asarray(s, dtype=np.float64)
    ok = np.isfinite(s)
    files = list(files) if len(files) == len(y) else [""] * len(y)
    skipped = [(f, "no score stored") for f, good in zip(files, ok, strict=True) if not good]
    return Scores(
        y_true=y[ok],
        y_score=s[ok],
        files=[f for f, good in zip(files, ok, strict=True) if good],
        split=split,
        skipped=skipped,
        source="scores stored in the model bundle at training time",
        same_as_training=True,
    )


@dataclass
class Report:
    """Everything an evaluation report shows, as plain numbers and strings."""

    title: str
    created: str
    model_name: str
    card_summary: list[tuple[str, str]]
    split: str
    split_note: str
    source: str
    n: int
    n_pos: int
    n_neg: int
    skipped: list[tuple[str, str]]
    threshold: float
    threshold_method: str
    threshold_reason: str
    threshold_chosen_on: str
    point: OperatingPoint
    classification: dict[str, Any]
    classification_text: str
    auc: tuple[float, float, float] | None
    average_precision: float | None
    brier: float
    ece: float
    reliability: tuple[list[float], list[float], list[int]]
    subgroups: dict[str, dict[str, Any]]
    prevalence: float | None
    ppv_npv_at_prevalence: tuple[tuple[float, float, float], tuple[float, float, float]] | None
    history: dict[str, list[float]]
    notes: list[str]
    y_true: np.ndarray = field(repr=False)
    y_score: np.ndarray = field(repr=False)
    disclaimer: str = "Research use only - not for diagnostic use."
    # Who or what set the threshold, as one sentence for a reader (see threshold_origin()).
    threshold_origin: str = ""

    def metrics_dict(self) -> dict[str, Any]:
        """JSON-ready numbers (no arrays), e.g. to store in the model card."""

        def clean(v: Any) -> Any:
            if isinstance(v, tuple | list):
                return [clean(x) for x in v]
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            if isinstance(v, float | np.floating):
                return None if math.isnan(float(v)) else float(v)
            if isinstance(v, np.integer):
                return int(v)
            return v

        return clean(
            {
                "split": self.split,
                "n": self.n,
                "n_pos": self.n_pos,
                "n_neg": self.n_neg,
                "skipped": len(self.skipped),
                "threshold": {
                    "value": self.threshold,
                    "method": self.threshold_method,
                    "reason": self.threshold_reason,
                    "chosen_on": self.threshold_chosen_on,
                    "origin": self.threshold_origin,
                },
                "auc": self.auc,
                "average_precision": self.average_precision,
                "at_threshold": self.point.metrics_dict(self.prevalence),
                "brier": self.brier,
                "ece": self.ece,
                "subgroups": self.subgroups,
                "classification_report": self.classification,
            }
        )


def _card_of(source: Any) -> dict[str, Any]:
    if isinstance(source, dict):
        return source
    return dict(getattr(source, "card", None) or {})


def _resolve_threshold(
    threshold: ThresholdChoice | float | None, card: dict[str, Any], chosen_on: str | None, set_by: str | None
) -> tuple[float, str, str, str, str]:
    if isinstance(threshold, ThresholdChoice):
        on = chosen_on or "val"
        return (threshold.threshold, threshold.method, threshold.reason, on, threshold_origin(threshold.method, on))
    if threshold is None:
        stored = card.get("threshold") or {}
        if stored.get("value") is None:
            return (0.5, "default", "No threshold stored with the model; 0.5 used.", "none",
                    threshold_origin("default", "none", {}))
        method = str(stored.get("method") or "stored")
        on = str(stored.get("chosen_on") or chosen_on or "unknown")
        return (
            float(stored["value"]),
            method,
            str(stored.get("reason") or "Threshold stored with the model."),
            on,
            threshold_origin(method, on, stored),
        )
    try:
        value = float(threshold)
    except (TypeError, ValueError) as exc:
        raise MetricsError(f"The threshold must be a number between 0 and 1, not {threshold!r}.") from exc
    if not 0.0 <= value <= 1.0 or math.isnan(value):
        raise MetricsError(f"The threshold must be between 0 and 1, not {value}.")
    on = chosen_on or "user"
    return (value, "manual", f"Threshold {value:g} set by the user.", on,
            threshold_origin("manual", on, set_by=set_by))


def _threshold_notes(threshold: Any, method: str, on: str, scores: Scores) -> list[str]:
    """What the reader must know about where the threshold was chosen relative to these images."""
    if scores.split == "test":
        return [
            "Test scores are for this report only. The threshold was not chosen on them."
            if on != "test"
            else "Warning: the threshold was chosen on the test split, so these numbers are biased."
        ]
    if scores.split != "val" or on not in ("val", "validation"):
        return []
    if isinstance(threshold, ThresholdChoice):
        return [
            "The threshold was chosen on these same validation images, so the numbers at the threshold "
            "are optimistic; the test split gives the honest estimate."
        ]
    if threshold is not None or method in ("manual", "stored", "default"):
        return []
    # The threshold came from the bundle: it was chosen on the validation split of the training data.
    if scores.same_as_training:
        return [
            "The model's stored threshold was chosen on this validation split when the model was trained, so "
            "the numbers at the threshold are optimistic; the test split gives the honest estimate."
        ]
    if scores.same_as_training is False:
        return [
            "The threshold came from the model bundle: it was chosen on the validation split of the data the "
            "model was trained on, not on these images."
        ]
    return [
        "The threshold came from the model bundle, chosen on the validation split of its training data; if "
        "these are the same images, the numbers at the threshold are optimistic."
    ]


def build_report(
    source: Any,
    scores: Scores | None = None,
    threshold: ThresholdChoice | float | None = None,
    history: dict[str, list[float]] | None = None,
    *,
    split: str | None = None,
    prevalence: float | None = None,
    chosen_on: str | None = None,
    set_by: str | None = None,
    origin: str | None = None,
    n_bins: int = 10,
    progress: Callable[[Any], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Report:
    """Gather the numbers of one evaluation.

    ``source`` is a model bundle or its card dict. Without ``scores``, the bundle's stored scores
    of ``split`` are used (default "val"); score a folder with :func:`core.learning.scoring.evaluate_bundle`.
    ``threshold``: a :class:`ThresholdChoice` (made on validation scores), a number, or None for
    the threshold stored in the card. ``history`` defaults to the card's training history.
    ``set_by`` says where a hand-set number came from (e.g. "the --threshold option"); ``origin``
    replaces the whole who-set-it sentence (e.g. for a threshold from a site or adopted profile).
    """
    card = _card_of(source)
    if scores is None:
        if isinstance(source, dict):
            raise MetricsError("A report from a model card alone needs scores.")
        split = split or "val"
        scores = stored_scores(source, split)
    y, s = validate_scores(scores.y_true, scores.y_score)
    t, method, reason, on, default_origin = _resolve_threshold(threshold, card, chosen_on, set_by)
    origin = origin or default_origin
    curve = OperatingCurve(y, s)
    point = curve.at(t)
    notes = list(scores.notes)
    both = 0 < curve.n_pos < curve.n
    auc = roc_auc(y, s) if both else None
    ap = average_precision(y, s) if both else None
    if not both:
        notes.append("Only one class is present, so AUC and average precision are undefined.")
    elif auc is not None and auc[1] == auc[2]:
        notes.append(
            "The classes do not overlap at all in this sample, so the AUC interval collapses to a point; "
            "with few images that is not evidence of perfection."
        )
    notes += _threshold_notes(threshold, method, on, scores)
    if scores.skipped:
        n_skip = len(scores.skipped)
        notes.append(f"{n_skip:,} image{'s' if n_skip != 1 else ''} could not be scored and {'are' if n_skip != 1 else 'is'} left out.")
    rep = classification_report(y, s, t)
    mean_pred, frac_pos, counts = reliability_curve(y, np.clip(s, 0, 1), n_bins)
    files = list(scores.files)
    subgroups = subgroup_sensitivity(y, s, files, t) if len(files) == len(y) and any(files) else {}
    ppv_npv = point.ppv_npv_at(prevalence) if prevalence is not None else None
    if history is None:
        history = (card.get("training") or {}).get("history") or {}
    split_name = SPLIT_NAMES.get(scores.split, scores.split)
    return Report(
        title=f"Pneumoscope evaluation: {card.get('name') or 'model'} on the {split_name} split",
        created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        model_name=str(card.get("name") or "model"),
        card_summary=card_summary(card),
        split=scores.split,
        split_note=SPLIT_NOTES.get(scores.split, scores.split),
        source=scores.source,
        n=curve.n,
        n_pos=curve.n_pos,
        n_neg=curve.n_neg,
        skipped=list(scores.skipped),
        threshold=float(t),
        threshold_method=method,
        threshold_reason=reason,
        threshold_chosen_on=on,
        threshold_origin=origin,
        point=point,
        classification=rep,
        classification_text=format_classification_report(rep, digits=3),
        auc=auc,
        average_precision=ap,
        brier=brier_score(y, np.clip(s, 0, 1)),
        ece=expected_calibration_error(y, np.clip(s, 0, 1), n_bins),
        reliability=(mean_pred.tolist(), frac_pos.tolist(), counts.astype(int).tolist()),
        subgroups=subgroups,
        prevalence=None if prevalence is None else float(prevalence),
        ppv_npv_at_prevalence=ppv_npv,
        history={k: [float(v) for v in vals] for k, vals in dict(history).items() if isinstance(vals, list | tuple)},
        notes=notes,
        y_true=y,
        y_score=s,
    )

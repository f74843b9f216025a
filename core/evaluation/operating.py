"""Operating points: what a threshold on P(pneumonia) means in counts and rates.

Conventions (the same everywhere in Pneumoscope):

- Labels are 0 = NORMAL and 1 = PNEUMONIA (the positive class).
- A score is P(pneumonia) in [0, 1]; **score >= threshold means PNEUMONIA** (never ``>``).
  Thresholds proposed by the choosers are actual score values, so the case that carries
  the threshold score is called PNEUMONIA.
- Proportions are ``(value, low, high)`` tuples with 95% Wilson score intervals.
  A proportion whose denominator is zero is ``nan`` with interval ``(nan, nan)``.
- F1 gets an interval through the Jaccard index J = TP / (TP + FP + FN): conditional on the
  cases that are positive or called positive, TP is binomial, so J gets a Wilson interval and
  F1 = 2J / (1 + J) (monotone) maps its ends. Balanced accuracy (sens + spec) / 2 gets a
  MOVER interval (Zou & Donner) built from the two independent Wilson intervals.

An :class:`OperatingCurve` sorts the scores once and keeps cumulative class counts, so every
threshold query afterwards is one ``np.searchsorted`` (O(log n)); the threshold explorer relies
on that. Nothing here imports scikit-learn; the tests use it as an oracle.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import numpy as np

from core.evaluation.intervals import (
    CLASS_NAMES,
    NAN_CI,
    Z95,
    Interval,
    MetricsError,
    _balanced_interval,
    _check_prevalence,
    _f1_interval,
    ppv_npv_at_prevalence,
    proportion,
    validate_scores,
    wilson_interval,
)

__all__ = [
    "CLASS_NAMES", "NAN_CI", "SUBGROUP_LABELS", "Z95", "Interval", "MetricsError", "OperatingCurve",
    "OperatingPoint", "classification_report", "format_classification_report",
    "pneumonia_subtype", "point_from_counts", "ppv_npv_at_prevalence", "proportion",
    "subgroup_sensitivity", "validate_scores", "wilson_interval",
]


# ----------------------------------------------------------------------------- operating point


@dataclass(frozen=True)
class OperatingPoint:
    """Counts and rates at one threshold (score >= threshold means PNEUMONIA)."""

    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int
    sensitivity: Interval  # pneumonia recall, TP / (TP + FN)
    specificity: Interval  # normal recall, TN / (TN + FP)
    precision: Interval  # PPV at the sample's own prevalence
    npv: Interval
    accuracy: Interval
    f1: Interval  # Wilson on the Jaccard index, mapped to F1
    balanced_accuracy: Interval  # MOVER from the sens/spec Wilson intervals

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.tn + self.fn

    @property
    def ppv(self) -> Interval:
        return self.precision

    def ppv_npv_at(self, prevalence: float) -> tuple[Interval, Interval]:
        """PPV and NPV at another prevalence, by Bayes from this point's sensitivity/specificity.

        Both are increasing in sensitivity and in specificity, so the interval ends come from
        the matching ends of the sens/spec intervals (conservative: it treats both at their
        bounds at once).
        """
        p = _check_prevalence(prevalence)
        (s, s_lo, s_hi), (c, c_lo, c_hi) = self.sensitivity, self.specificity
        ppv, npv = ppv_npv_at_prevalence(s, c, p)
        ppv_lo, npv_lo = ppv_npv_at_prevalence(s_lo, c_lo, p)
        ppv_hi, npv_hi = ppv_npv_at_prevalence(s_hi, c_hi, p)
        return (ppv, ppv_lo, ppv_hi), (npv, npv_lo, npv_hi)

    def metrics_dict(self, prevalence: float | None = None) -> dict[str, Any]:
        """JSON-ready dict (nan becomes None); adds PPV/NPV at ``prevalence`` when given."""

        def clean(v: Any) -> Any:
            if isinstance(v, tuple):
                return [clean(x) for x in v]
            if isinstance(v, float) and math.isnan(v):
                return None
            return v

        out: dict[str, Any] = {
            "threshold": float(self.threshold),
            "tp": self.tp,
            "fp": self.fp,
            "tn": self.tn,
            "fn": self.fn,
            "n": self.n,
        }
        for name in ("sensitivity", "specificity", "precision", "npv", "accuracy", "f1", "balanced_accuracy"):
            out[name] = clean(getattr(self, name))
        if prevalence is not None:
            ppv, npv = self.ppv_npv_at(prevalence)
            out["prevalence"] = float(prevalence)
            out["ppv_at_prevalence"] = clean(ppv)
            out["npv_at_prevalence"] = clean(npv)
        return out


def point_from_counts(threshold: float, tp: int, fp: int, tn: int, fn: int) -> OperatingPoint:
    sens = proportion(tp, tp + fn)
    spec = proportion(tn, tn + fp)
    return OperatingPoint(
        threshold=float(threshold),
        tp=int(tp),
        fp=int(fp),
        tn=int(tn),
        fn=int(fn),
        sensitivity=sens,
        specificity=spec,
        precision=proportion(tp, tp + fp),
        npv=proportion(tn, tn + fn),
        accuracy=proportion(tp + tn, tp + fp + tn + fn),
        f1=_f1_interval(tp, fp, fn),
        balanced_accuracy=_balanced_interval(sens, spec),
    )


class OperatingCurve:
    """All operating points of one set of scores; built once, queried in O(log n)."""

    def __init__(self, y_true: Any, y_score: Any) -> None:
        labels, scores = validate_scores(y_true, y_score)
        order = np.argsort(scores, kind="stable")
        self._sorted = scores[order]
        sorted_labels = labels[order].astype(np.int64)
        # _cum_pos[i] = positives among the i lowest scores, so "below threshold" is one lookup.
        self._cum_pos = np.concatenate(([0], np.cumsum(sorted_labels)))
        self.n = int(scores.shape[0])
        self.n_pos = int(self._cum_pos[-1])
        self.n_neg = self.n - self.n_pos
        self._thresholds: np.ndarray | None = None

    @property
    def thresholds(self) -> np.ndarray:
        """Distinct scores, ascending: every threshold that gives a different operating point."""
        if self._thresholds is None:
            self._thresholds = np.unique(self._sorted)
        return self._thresholds

    def counts_at(self, threshold: float) -> tuple[int, int, int, int]:
        """(tp, fp, tn, fn) with score >= threshold called PNEUMONIA."""
        below = int(self._sorted.searchsorted(float(threshold), side="left"))
        fn = int(self._cum_pos[below])
        tn = below - fn
        return (self.n_pos - fn, self.n_neg - tn, tn, fn)

    def counts_many(self, thresholds: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Vectorised :meth:`counts_at` for an array of thresholds."""
        below = np.searchsorted(self._sorted, np.asarray(thresholds, dtype=np.float64), side="left")
        fn = self._cum_pos[below]
        tn = below - fn
        return (self.n_pos - fn, self.n_neg - tn, tn, fn)

    def at(self, threshold: float) -> OperatingPoint:
        return point_from_counts(float(threshold), *self.counts_at(threshold))

    def rates(self, thresholds: Any | None = None) -> dict[str, np.ndarray]:
        """Sensitivity/specificity/precision arrays at ``thresholds`` (default: all distinct scores)."""
        t = self.thresholds if thresholds is None else np.asarray(thresholds, dtype=np.float64)
        tp, fp, tn, fn = self.counts_many(t)
        with np.errstate(invalid="ignore", divide="ignore"):
            return {
                "threshold": t,
                "tp": tp,
                "fp": fp,
                "tn": tn,
                "fn": fn,
                "sensitivity": tp / (tp + fn),
                "specificity": tn / (tn + fp),
                "precision": tp / (tp + fp),
                "f1": 2 * tp / (2 * tp + fp + fn),
            }



# ----------------------------------------------------------------------------- reports


def _safe_div(a: float, b: float) -> float:
    # scikit-learn's zero_division default reports 0.0 for 0/0; the report matches it.
    return a / b if b else 0.0


def classification_report(y_true: Any, y_score: Any, threshold: float) -> dict[str, Any]:
    """Per-class precision/recall/f1/support, accuracy, macro and weighted averages.

    Same keys and numbers as ``sklearn.metrics.classification_report(output_dict=True,
    labels=[0, 1], target_names=["NORMAL", "PNEUMONIA"])``; 0/0 is reported as 0.0 there and
    here (unlike :class:`OperatingPoint`, which says nan).
    """
    labels, scores = validate_scores(y_true, y_score)
    tp, fp, tn, fn = OperatingCurve(labels, scores).counts_at(threshold)
    n = tp + fp + tn + fn
    rows: dict[str, Any] = {}
    # NORMAL is "positive" when reporting its own row: its TP is our TN, and so on.
    for name, (t_p, f_p, f_n) in (("NORMAL", (tn, fn, fp)), ("PNEUMONIA", (tp, fp, fn))):
        p = _safe_div(t_p, t_p + f_p)
        r = _safe_div(t_p, t_p + f_n)
        f = _safe_div(2 * t_p, 2 * t_p + f_p + f_n)
        rows[name] = {"precision": p, "recall": r, "f1-score": f, "support": int(t_p + f_n)}
    report: dict[str, Any] = dict(rows)
    report["accuracy"] = _safe_div(tp + tn, n)
    for avg in ("macro avg", "weighted avg"):
        entry: dict[str, Any] = {}
        for key in ("precision", "recall", "f1-score"):
            vals = [rows[c][key] for c in CLASS_NAMES]
            if avg == "macro avg":
                entry[key] = float(np.mean(vals))
            else:
                sup = [rows[c]["support"] for c in CLASS_NAMES]
                entry[key] = _safe_div(sum(v * s for v, s in zip(vals, sup, strict=True)), sum(sup))
        entry["support"] = int(n)
        report[avg] = entry
    return report


def format_classification_report(report: dict[str, Any], digits: int = 2) -> str:
    """Text table laid out like scikit-learn's ``classification_report``."""
    classes = [k for k in report if k not in ("accuracy", "macro avg", "weighted avg")]
    width = max(len(c) for c in [*classes, "weighted avg"])
    headers = ("precision", "recall", "f1-score", "support")
    lines = [f"{'':>{width}s} " + "".join(f" {h:>9}" for h in headers), ""]

    def row(name: str, entry: dict[str, Any]) -> str:
        vals = "".join(f" {entry[k]:>9.{digits}f}" for k in headers[:3])
        return f"{name:>{width}s} {vals} {entry['support']:>9}"

    lines += [row(c, report[c]) for c in classes]
    lines.append("")
    if "accuracy" in report:
        support = report["macro avg"]["support"]
        lines.append(f"{'accuracy':>{width}s}  {'':>9} {'':>9} {report['accuracy']:>9.{digits}f} {support:>9}")
    lines += [row(avg, report[avg]) for avg in ("macro avg", "weighted avg") if avg in report]
    return "\n".join(lines) + "\n"



# ----------------------------------------------------------------------------- subgroups

_SUBTYPE = re.compile(r"_(bacteria|virus)_", re.IGNORECASE)
SUBGROUP_LABELS = {
    "bacteria": "Bacterial pneumonia",
    "virus": "Viral pneumonia",
    "other": "Pneumonia (no subtype in name)",
    "normal": "NORMAL",
}


def pneumonia_subtype(filename: str) -> str | None:
    """'bacteria' / 'virus' from Kermany names (person12_bacteria_3.jpeg), else None."""
    m = _SUBTYPE.search(PurePath(str(filename)).name)
    return m.group(1).lower() if m else None


def subgroup_sensitivity(
    y_true: Any, y_score: Any, files: Sequence[str], threshold: float
) -> dict[str, dict[str, Any]]:
    """Sensitivity for bacterial and viral pneumonia separately, specificity for NORMAL.

    Returns ``{group: {"label", "metric", "n", "k", "value": (v, lo, hi)}}`` for groups among
    "bacteria", "virus", "other" (pneumonia without a subtype in the name; only when present)
    and "normal".
    """
    labels, scores = validate_scores(y_true, y_score)
    if len(files) != labels.shape[0]:
        raise MetricsError(f"There are {labels.shape[0]:,} scores but {len(files):,} file names.")
    called = scores >= threshold
    groups = np.array(
        ["normal" if lab == 0 else (pneumonia_subtype(f) or "other") for lab, f in zip(labels, files, strict=True)]
    )
    out: dict[str, dict[str, Any]] = {}
    for g in ("bacteria", "virus", "other", "normal"):
        mask = groups == g
        n = int(mask.sum())
        if g == "other" and n == 0:
            continue
        if g == "normal":
            k, metric = int((~called[mask]).sum()), "specificity"
        else:
            k, metric = int(called[mask].sum()), "sensitivity"
        out[g] = {"label": SUBGROUP_LABELS[g], "metric": metric, "n": n, "k": k, "value": proportion(k, n)}
    return out


"""ROC and precision-recall curves, AUC with its DeLong interval, average precision."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from core.evaluation.intervals import Z95, Interval, validate_scores
from core.evaluation.operating import OperatingCurve


def roc_curve(y_true: Any, y_score: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) from (0, 0) at threshold +inf down through every distinct score."""
    labels, scores = validate_scores(y_true, y_score, need_both=True)
    curve = OperatingCurve(labels, scores)
    t = curve.thresholds[::-1]
    tp, fp, _, _ = curve.counts_many(t)
    fpr = np.concatenate(([0.0], fp / curve.n_neg))
    tpr = np.concatenate(([0.0], tp / curve.n_pos))
    return fpr, tpr, np.concatenate(([np.inf], t))


def _midranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks where tied values share the mean of their ranks."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    n = xs.shape[0]
    # Boundaries of runs of equal values; every member of a run gets the run's mean rank.
    starts = np.flatnonzero(np.concatenate(([True], xs[1:] != xs[:-1])))
    ends = np.concatenate((starts[1:], [n]))
    run_rank = (starts + ends + 1) / 2.0
    ranks_sorted = np.repeat(run_rank, ends - starts)
    out = np.empty(n, dtype=np.float64)
    out[order] = ranks_sorted
    return out


def roc_auc(y_true: Any, y_score: Any, z: float = Z95) -> Interval:
    """AUC with a 95% DeLong interval (fast midrank algorithm of Sun & Xu 2014; ties count 1/2).

    The interval is Wald on the AUC scale, clipped to [0, 1] (as pROC does). When the classes
    are perfectly separated (AUC 0 or 1) the DeLong variance is zero and the interval collapses
    onto the estimate: read it as "no overlap seen in this sample", not as certainty.
    """
    labels, scores = validate_scores(y_true, y_score, need_both=True)
    pos = scores[labels == 1]
    neg = scores[labels == 0]
    m, n = pos.shape[0], neg.shape[0]
    tz = _midranks(np.concatenate((pos, neg)))
    tx = _midranks(pos)
    ty = _midranks(neg)
    auc = float((tz[:m].sum() - m * (m + 1) / 2.0) / (m * n))
    # Structural components: per-case share of pairs won (positives) or lost (negatives).
    v10 = (tz[:m] - tx) / n
    v01 = 1.0 - (tz[m:] - ty) / m
    var = 0.0
    if m > 1:
        var += float(np.var(v10, ddof=1)) / m
    if n > 1:
        var += float(np.var(v01, ddof=1)) / n
    se = math.sqrt(max(var, 0.0))
    return (auc, max(0.0, auc - z * se), min(1.0, auc + z * se))


def pr_curve(y_true: Any, y_score: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, thresholds): thresholds ascending over distinct scores; precision and
    recall have one more element, the end point (1, 0), as in scikit-learn."""
    labels, scores = validate_scores(y_true, y_score, need_both=True)
    curve = OperatingCurve(labels, scores)
    t = curve.thresholds
    tp, fp, _, _ = curve.counts_many(t)
    # Every threshold is an actual score, so at least one case is called positive: tp + fp > 0.
    precision = tp / (tp + fp)
    recall = tp / curve.n_pos
    return np.concatenate((precision, [1.0])), np.concatenate((recall, [0.0])), t


def average_precision(y_true: Any, y_score: Any) -> float:
    """Step-wise area under the PR curve: sum over thresholds of (R_k - R_k+1) * P_k
    (no interpolation; the definition of scikit-learn's ``average_precision_score``)."""
    precision, recall, _ = pr_curve(y_true, y_score)
    return float(-np.sum(np.diff(recall) * precision[:-1]))


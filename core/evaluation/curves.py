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


def _delong_components(pos: np.ndarray, neg: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUC and DeLong's structural components (fast midrank algorithm of Sun & Xu 2014; ties count 1/2).

    ``v10[i]``: share of negatives that positive ``i`` outscores; ``v01[j]``: share of positives
    that outscore negative ``j``. Their means are the AUC; their (co)variances give its (co)variance.
    """
    m, n = pos.shape[0], neg.shape[0]
    tz = _midranks(np.concatenate((pos, neg)))
    tx = _midranks(pos)
    ty = _midranks(neg)
    auc = float((tz[:m].sum() - m * (m + 1) / 2.0) / (m * n))
    v10 = (tz[:m] - tx) / n
    v01 = 1.0 - (tz[m:] - ty) / m
    return auc, v10, v01


def _cov(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.cov(a, b, ddof=1)[0, 1]) if a.shape[0] > 1 else 0.0


def roc_auc(y_true: Any, y_score: Any, z: float = Z95) -> Interval:
    """AUC with a 95% DeLong interval (see :func:`_delong_components`).

    The interval is Wald on the AUC scale, clipped to [0, 1] (as pROC does). When the classes
    are perfectly separated (AUC 0 or 1) the DeLong variance is zero and the interval collapses
    onto the estimate: read it as "no overlap seen in this sample", not as certainty.
    """
    labels, scores = validate_scores(y_true, y_score, need_both=True)
    pos = scores[labels == 1]
    neg = scores[labels == 0]
    auc, v10, v01 = _delong_components(pos, neg)
    var = _cov(v10, v10) / v10.shape[0] + _cov(v01, v01) / v01.shape[0]
    se = math.sqrt(max(var, 0.0))
    return (auc, max(0.0, auc - z * se), min(1.0, auc + z * se))


def paired_auc_test(y_true: Any, score_a: Any, score_b: Any, z: float = Z95) -> dict[str, Any]:
    """DeLong's test for two models' AUCs on the same cases (DeLong, DeLong & Clarke-Pearson 1988).

    Returns ``auc_a``, ``auc_b``, ``difference`` (b - a), its 95% ``ci``, the ``z`` statistic and
    the two-sided ``p`` value. The paired variance uses the covariance of the two models'
    structural components, so a shared hard case does not count twice.
    """
    labels, a = validate_scores(y_true, score_a, need_both=True)
    _, b = validate_scores(labels, score_b, what="second model's scores")
    pos, neg = labels == 1, labels == 0
    auc_a, a10, a01 = _delong_components(a[pos], a[neg])
    auc_b, b10, b01 = _delong_components(b[pos], b[neg])
    m, n = a10.shape[0], a01.shape[0]
    var = ((_cov(a10, a10) + _cov(b10, b10) - 2 * _cov(a10, b10)) / m
           + (_cov(a01, a01) + _cov(b01, b01) - 2 * _cov(a01, b01)) / n)
    se = math.sqrt(max(var, 0.0))
    diff = auc_b - auc_a
    if se > 0:
        stat = diff / se
        p = math.erfc(abs(stat) / math.sqrt(2.0))
    else:  # identical rankings (or perfect separation by both): no evidence of a difference
        stat, p = 0.0 if diff == 0 else math.copysign(math.inf, diff), 1.0 if diff == 0 else 0.0
    return {"auc_a": auc_a, "auc_b": auc_b, "difference": diff, "ci": (diff - z * se, diff + z * se),
            "se": se, "z": stat, "p": p, "n_pos": m, "n_neg": n}


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


"""Labels and scores checked once, and 95% intervals for proportions, F1 and balanced accuracy.

Proportions are ``(value, low, high)`` tuples with Wilson score intervals; a proportion whose
denominator is zero is ``nan`` with interval ``(nan, nan)``. F1 gets an interval through the Jaccard
index J = TP / (TP + FP + FN) (Wilson on J, mapped by F1 = 2J / (1 + J)); balanced accuracy a MOVER
interval (Zou & Donner) from the two independent Wilson intervals.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from core.errors import PneumoscopeError

Z95 = 1.959963984540054
NAN_CI: tuple[float, float, float] = (math.nan, math.nan, math.nan)
CLASS_NAMES = ("NORMAL", "PNEUMONIA")

Interval = tuple[float, float, float]


class MetricsError(PneumoscopeError):
    """Labels or scores that cannot give a meaningful metric; the message says why."""


# ----------------------------------------------------------------------------- validation


def validate_scores(
    y_true: Any, y_score: Any, *, need_both: bool = False, what: str = "scores"
) -> tuple[np.ndarray, np.ndarray]:
    """Check labels/scores once for every public function; returns (int8 labels, float64 scores).

    ``need_both`` asks for at least one NORMAL and one PNEUMONIA case (AUC, choosers...).
    """
    try:
        y = np.asarray(y_true)
        s = np.asarray(y_score, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MetricsError(f"The {what} are not numbers: {exc}") from exc
    if y.ndim != 1 or s.ndim != 1:
        y, s = y.reshape(-1), s.reshape(-1)
    if y.shape[0] != s.shape[0]:
        raise MetricsError(
            f"There are {y.shape[0]:,} labels but {s.shape[0]:,} {what}; they must match one to one."
        )
    if y.shape[0] == 0:
        raise MetricsError(f"There are no {what} to evaluate (empty input).")
    if y.dtype == bool:
        y = y.astype(np.int8)
    try:
        yf = y.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise MetricsError("Labels must be 0 (NORMAL) or 1 (PNEUMONIA).") from exc
    if not np.all((yf == 0) | (yf == 1)):
        bad = np.unique(y[~((yf == 0) | (yf == 1))])[:5]
        raise MetricsError(f"Labels must be 0 (NORMAL) or 1 (PNEUMONIA); found {', '.join(map(str, bad))}.")
    n_bad = int(np.count_nonzero(~np.isfinite(s)))
    if n_bad:
        raise MetricsError(
            f"{n_bad:,} of {s.shape[0]:,} {what} are missing or not finite (NaN/inf), "
            "for example images that could not be read. Remove them before computing metrics."
        )
    labels = yf.astype(np.int8)
    if need_both:
        n_pos = int(labels.sum())
        if n_pos == 0 or n_pos == labels.shape[0]:
            only = CLASS_NAMES[int(labels[0])]
            raise MetricsError(
                f"All {labels.shape[0]:,} cases are {only}; this needs both NORMAL and PNEUMONIA cases."
            )
    return labels, s


# ----------------------------------------------------------------------------- intervals


def wilson_interval(k: float, n: float, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval for k successes out of n; (nan, nan) when n == 0."""
    if n <= 0:
        return (math.nan, math.nan)
    p = k / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # Exact 0 and n must give bounds of exactly 0 and 1, not 1e-17 rounding noise.
    low = 0.0 if k <= 0 else max(0.0, centre - half)
    high = 1.0 if k >= n else min(1.0, centre + half)
    return (low, high)


def proportion(k: float, n: float, z: float = Z95) -> Interval:
    """(k/n, low, high) with the Wilson interval; all nan when n == 0."""
    if n <= 0:
        return NAN_CI
    low, high = wilson_interval(k, n, z)
    return (k / n, low, high)


def _f1_interval(tp: int, fp: int, fn: int) -> Interval:
    n = tp + fp + fn
    if n == 0:
        return NAN_CI
    j, lo, hi = proportion(tp, n)

    def to_f1(x: float) -> float:
        return 2 * x / (1 + x)

    return (to_f1(j), to_f1(lo), to_f1(hi))


def _balanced_interval(sens: Interval, spec: Interval) -> Interval:
    if any(math.isnan(v) for v in sens + spec):
        return NAN_CI
    centre = (sens[0] + spec[0]) / 2
    low = centre - math.hypot(sens[0] - sens[1], spec[0] - spec[1]) / 2
    high = centre + math.hypot(sens[2] - sens[0], spec[2] - spec[0]) / 2
    return (centre, max(0.0, low), min(1.0, high))


def ppv_npv_at_prevalence(sens: float, spec: float, prevalence: float) -> tuple[float, float]:
    """PPV and NPV by Bayes' rule for a population with the given prevalence of pneumonia."""
    p = _check_prevalence(prevalence)
    if math.isnan(sens) or math.isnan(spec):
        return (math.nan, math.nan)
    tp, fp = sens * p, (1 - spec) * (1 - p)
    tn, fn = spec * (1 - p), (1 - sens) * p
    ppv = tp / (tp + fp) if tp + fp > 0 else math.nan
    npv = tn / (tn + fn) if tn + fn > 0 else math.nan
    return (ppv, npv)


def _check_prevalence(prevalence: float) -> float:
    try:
        p = float(prevalence)
    except (TypeError, ValueError) as exc:
        raise MetricsError(f"Prevalence must be a number between 0 and 1, not {prevalence!r}.") from exc
    if not 0.0 < p < 1.0:
        raise MetricsError(
            f"Prevalence must be strictly between 0 and 1 (e.g. 0.1 for 10%), not {prevalence!r}."
        )
    return p


"""Calibration: does a score of 0.8 mean pneumonia four times out of five?

Measures (reliability curve, Brier score, expected calibration error) and two monotone
recalibrations fitted on validation scores:

- temperature scaling: p' = sigmoid(logit(p) / T), T > 0 fitted by minimising the negative
  log-likelihood with a golden-section search over log T (one parameter, no scipy);
- Platt scaling: p' = sigmoid(a * logit(p) + b), fitted by Newton's method on Platt's (1999)
  smoothed targets, which keep the fit finite when the classes are separable.

Both maps are strictly increasing (T > 0, a > 0), so ranking and AUC are unchanged; only
thresholds and the meaning of a score move. A calibration is stored in the model card as a
JSON-able spec: ``{"method": "temperature", "T": ...}``, ``{"method": "platt", "a": ..., "b": ...}``
or ``None`` (identity). ``apply_calibration`` also reads ``{"method": ..., "params": {...}}``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from core.evaluation.operating import MetricsError, validate_scores

# Scores of exactly 0 or 1 would give infinite logits; clip to float32's resolution near 1.
_EPS = 1e-7
_LOG_T_RANGE = (math.log(0.02), math.log(50.0))


def _probs(y_prob: Any) -> np.ndarray:
    p = np.asarray(y_prob, dtype=np.float64).reshape(-1)
    if p.size and (np.nanmin(p) < 0 or np.nanmax(p) > 1):
        raise MetricsError("Scores must be probabilities between 0 and 1.")
    return p


def _checked(y_true: Any, y_prob: Any, need_both: bool = False) -> tuple[np.ndarray, np.ndarray]:
    y, p = validate_scores(y_true, y_prob, need_both=need_both)
    return y.astype(np.float64), _probs(p)


def logit(p: Any) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return np.log(q) - np.log1p(-q)


def sigmoid(z: Any) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    # exp of a negative magnitude never overflows.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def reliability_curve(
    y_true: Any, y_prob: Any, n_bins: int = 10, strategy: str = "uniform"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean predicted, fraction positive, count) for each non-empty bin, ascending.

    ``uniform`` bins split [0, 1] evenly; ``quantile`` bins hold about equal numbers of cases.
    A score on a bin edge falls in the lower bin (as in scikit-learn's ``calibration_curve``).
    """
    y, p = _checked(y_true, y_prob)
    if int(n_bins) < 1:
        raise MetricsError("The reliability curve needs at least one bin.")
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, int(n_bins) + 1)
    elif strategy == "quantile":
        edges = np.percentile(p, np.linspace(0, 1, int(n_bins) + 1) * 100)
    else:
        raise MetricsError(f"Unknown binning {strategy!r}; use 'uniform' or 'quantile'.")
    ids = np.searchsorted(edges[1:-1], p)
    counts = np.bincount(ids, minlength=n_bins)
    sums = np.bincount(ids, weights=p, minlength=n_bins)
    pos = np.bincount(ids, weights=y, minlength=n_bins)
    keep = counts > 0
    return sums[keep] / counts[keep], pos[keep] / counts[keep], counts[keep]


def brier_score(y_true: Any, y_prob: Any) -> float:
    """Mean squared difference between score and outcome (0 is perfect, 0.25 is a coin)."""
    y, p = _checked(y_true, y_prob)
    return float(np.mean((p - y) ** 2))


def expected_calibration_error(y_true: Any, y_prob: Any, n_bins: int = 10, strategy: str = "uniform") -> float:
    """Case-weighted mean gap |fraction positive - mean score| over the reliability bins."""
    mean_pred, frac_pos, counts = reliability_curve(y_true, y_prob, n_bins, strategy)
    return float(np.sum(counts * np.abs(frac_pos - mean_pred)) / np.sum(counts))


def log_loss(y_true: Any, y_prob: Any) -> float:
    y, p = _checked(y_true, y_prob)
    q = np.clip(p, _EPS, 1 - _EPS)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log1p(-q)))


def _nll_from_logits(y: np.ndarray, z: np.ndarray) -> float:
    # log(1 + exp(-z)) for positives, log(1 + exp(z)) for negatives, computed stably.
    return float(np.mean(np.logaddexp(0.0, np.where(y == 1, -z, z))))


def fit_temperature(y_true: Any, raw_prob: Any, tol: float = 1e-6) -> dict[str, Any]:
    """Temperature T minimising validation NLL of sigmoid(logit(p) / T); returns the spec."""
    y, p = _checked(y_true, raw_prob, need_both=True)
    z = logit(p)

    def nll(log_t: float) -> float:
        return _nll_from_logits(y, z / math.exp(log_t))

    # NLL is unimodal in log T for a fixed set of logits, so golden-section finds the minimum.
    lo, hi = _LOG_T_RANGE
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(a), nll(b)
    while hi - lo > tol:
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(b)
    t = math.exp((lo + hi) / 2)
    return {"method": "temperature", "T": float(t)}


def fit_platt(y_true: Any, raw_prob: Any, max_iter: int = 100) -> dict[str, Any]:
    """Platt scaling sigmoid(a * logit(p) + b) by Newton's method; returns the spec."""
    y, p = _checked(y_true, raw_prob, need_both=True)
    z = logit(p)
    n_pos = float(y.sum())
    n_neg = float(y.size - n_pos)
    target = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    a, b = 1.0, 0.0

    def loss(a: float, b: float) -> float:
        f = a * z + b
        return float(np.sum(np.logaddexp(0.0, f) - target * f))

    current = loss(a, b)
    for _ in range(max_iter):
        q = sigmoid(a * z + b)
        r = q - target
        w = q * (1 - q) + 1e-12
        grad = np.array([np.sum(r * z), np.sum(r)])
        hess = np.array([[np.sum(w * z * z), np.sum(w * z)], [np.sum(w * z), np.sum(w)]])
        hess += 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        # Step halving keeps Newton from overshooting on badly scaled logits.
        scale = 1.0
        while scale > 1e-8:
            na, nb = a - scale * step[0], b - scale * step[1]
            new = loss(na, nb)
            if new <= current + 1e-12:
                break
            scale /= 2
        else:
            break
        converged = abs(current - new) < 1e-10 * max(1.0, abs(current))
        a, b, current = na, nb, new
        if converged:
            break
    if not a > 0:
        raise MetricsError(
            "Platt scaling found that higher scores do not mean more pneumonia on these cases; "
            "the model's scores carry no usable signal here, so no calibration was fitted."
        )
    return {"method": "platt", "a": float(a), "b": float(b)}


def _params(spec: dict[str, Any]) -> dict[str, Any]:
    params = spec.get("params")
    return params if isinstance(params, dict) else spec


def apply_calibration(raw_prob: Any, spec: dict[str, Any] | None) -> np.ndarray:
    """Map raw scores through a stored calibration spec (None: unchanged). Strictly increasing."""
    p = _probs(raw_prob)
    if spec is None:
        return p.copy()
    if not isinstance(spec, dict):
        raise MetricsError(f"Calibration settings must be a dict, not {type(spec).__name__}.")
    method = str(spec.get("method", "")).lower()
    params = _params(spec)
    try:
        if method in ("none", "identity"):
            return p.copy()
        if method == "temperature":
            t = float(params["T"])
            if not (t > 0 and math.isfinite(t)):
                raise MetricsError(f"Temperature must be a positive number, not {t}.")
            out = sigmoid(logit(p) / t)
        elif method == "platt":
            a, b = float(params["a"]), float(params["b"])
            if not (a > 0 and math.isfinite(a) and math.isfinite(b)):
                raise MetricsError(f"Platt slope must be positive and finite, not a={a}, b={b}.")
            out = sigmoid(a * logit(p) + b)
        else:
            raise MetricsError(f"Unknown calibration method {spec.get('method')!r} (temperature or platt).")
    except KeyError as exc:
        raise MetricsError(f"The calibration settings lack the parameter {exc.args[0]!r}.") from exc
    # Unreadable images stay NaN rather than being given a made-up score.
    return np.where(np.isnan(p), np.nan, out)



"""Small-sample quantiles: the Harrell-Davis estimator and the regularised incomplete beta it needs.

A sensitivity target is a quantile of the PNEUMONIA scores: "sensitivity >= 0.95" is the 5th
percentile of their distribution. The usual chooser takes one order statistic of the sample
(the highest threshold that keeps the sample's sensitivity at the target); with a few dozen
positive cases that single value jumps from draw to draw, and on average it sits a little too
high (the r-th lowest of m scores covers only (m + 1 - r) / (m + 1) of new cases in expectation).
The Harrell-Davis estimator (Harrell & Davis 1982) averages every order statistic with Beta
weights instead, which is much steadier in small samples. No scipy at run time: the incomplete
beta function is computed with its continued fraction (modified Lentz method).
"""

from __future__ import annotations

import math

import numpy as np

_EPS = 1e-14
_TINY = 1e-300
_MAX_ITER = 500


def _beta_cf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (converges for x < (a + 1) / (a + b + 2))."""
    c = 1.0
    d = 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _MAX_ITER + 1):
        m2 = 2 * m
        for num in (m * (b - m) * x / ((a + m2 - 1.0) * (a + m2)),
                    -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + num / c
            c = c if abs(c) > _TINY else _TINY
            step = c * d
            h *= step
        if abs(step - 1.0) < _EPS:
            break
    return h


def beta_cdf(x: float, a: float, b: float) -> float:
    """Regularised incomplete beta I_x(a, b): the CDF of Beta(a, b) at ``x``."""
    if a <= 0 or b <= 0:
        raise ValueError("beta parameters must be positive")
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_cf(a, b, x) / a
    return 1.0 - front * _beta_cf(b, a, 1.0 - x) / b


def harrell_davis(values: np.ndarray, q: float) -> float:
    """Harrell-Davis estimate of the ``q`` quantile of ``values`` (0 < q < 1)."""
    x = np.sort(np.asarray(values, dtype=np.float64).reshape(-1))
    n = len(x)
    if n == 0:
        raise ValueError("no values")
    if not 0.0 < q < 1.0:
        raise ValueError("q must be strictly between 0 and 1")
    if n == 1:
        return float(x[0])
    a, b = (n + 1) * q, (n + 1) * (1.0 - q)
    cdf = np.array([beta_cdf(i / n, a, b) for i in range(n + 1)])
    return float(np.diff(cdf) @ x)

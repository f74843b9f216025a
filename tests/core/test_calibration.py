"""core.evaluation.calibration: measures against scikit-learn, recalibration fits and monotonicity."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.calibration import calibration_curve
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score

from core.evaluation import calibration as cal
from core.evaluation.operating import MetricsError


def _overconfident(n=2000, seed=0, temperature=3.0):
    """Well-calibrated scores pushed through logit * temperature: too sure of themselves."""
    rng = np.random.default_rng(seed)
    true_p = rng.uniform(0.02, 0.98, n)
    y = (rng.random(n) < true_p).astype(int)
    raw = cal.sigmoid(cal.logit(true_p) * temperature)
    return y, raw, true_p


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    y=st.lists(st.integers(0, 1), min_size=1, max_size=60),
    levels=st.lists(st.sampled_from([0.0, 0.1, 0.15, 0.2, 0.5, 0.55, 0.9, 1.0]), min_size=60, max_size=60),
    n_bins=st.integers(1, 12),
    strategy=st.sampled_from(["uniform", "quantile"]),
)
def test_reliability_curve_matches_sklearn(y, levels, n_bins, strategy):
    y = np.array(y)
    p = np.array(levels[: len(y)])
    mean_pred, frac_pos, counts = cal.reliability_curve(y, p, n_bins, strategy)
    if len(np.unique(y)) == 2 or strategy == "uniform":
        sk_true, sk_pred = calibration_curve(y, p, n_bins=n_bins, strategy=strategy, pos_label=1)
        np.testing.assert_allclose(mean_pred, sk_pred)
        np.testing.assert_allclose(frac_pos, sk_true)
    assert counts.sum() == len(y) and np.all(counts > 0)


def test_brier_and_ece():
    y, raw, true_p = _overconfident()
    assert cal.brier_score(y, raw) == pytest.approx(brier_score_loss(y, raw))
    # The true probabilities are calibrated; the overconfident ones are not.
    assert cal.expected_calibration_error(y, true_p) < 0.04
    assert cal.expected_calibration_error(y, raw) > 0.08
    mean_pred, frac_pos, counts = cal.reliability_curve(y, raw)
    manual = np.sum(counts * np.abs(frac_pos - mean_pred)) / counts.sum()
    assert cal.expected_calibration_error(y, raw) == pytest.approx(manual)
    assert cal.brier_score([1, 0], [1.0, 0.0]) == 0.0


def test_temperature_recovers_known_temperature_and_improves_calibration():
    y, raw, _ = _overconfident(n=4000, temperature=3.0)
    spec = cal.fit_temperature(y, raw)
    assert spec["method"] == "temperature"
    assert spec["T"] == pytest.approx(3.0, rel=0.15)
    fixed = cal.apply_calibration(raw, spec)
    assert cal.log_loss(y, fixed) < cal.log_loss(y, raw)
    assert cal.expected_calibration_error(y, fixed) < cal.expected_calibration_error(y, raw) / 2
    json.dumps(spec)


def test_platt_matches_logistic_regression_on_logits():
    y, raw, _ = _overconfident(n=3000, temperature=2.0, seed=4)
    spec = cal.fit_platt(y, raw)
    # Platt's smoothed targets differ from 0/1 by ~1/n, so an unpenalised logistic fit is close.
    lr = LogisticRegression(C=1e6, max_iter=1000).fit(cal.logit(raw)[:, None], y)
    assert spec["a"] == pytest.approx(lr.coef_[0, 0], rel=0.02)
    assert spec["b"] == pytest.approx(lr.intercept_[0], abs=0.03)
    assert spec["a"] == pytest.approx(0.5, rel=0.15)
    assert cal.log_loss(y, cal.apply_calibration(raw, spec)) < cal.log_loss(y, raw)


def test_platt_stays_finite_when_classes_are_separable():
    y = np.r_[np.zeros(20), np.ones(20)]
    raw = np.r_[np.linspace(0.01, 0.4, 20), np.linspace(0.6, 0.99, 20)]
    spec = cal.fit_platt(y, raw)
    assert np.isfinite(spec["a"]) and spec["a"] > 0 and np.isfinite(spec["b"])


@pytest.mark.parametrize(
    "spec",
    [
        None,
        {"method": "temperature", "T": 0.3},
        {"method": "temperature", "T": 4.0},
        {"method": "platt", "a": 0.7, "b": -1.2},
        {"method": "platt", "params": {"a": 2.0, "b": 0.5}},
        {"method": "temperature", "params": {"T": 2.0}},
    ],
)
def test_calibration_is_increasing_and_keeps_auc(spec):
    rng = np.random.default_rng(11)
    y = rng.integers(0, 2, 500)
    raw = np.clip(rng.beta(2, 2, 500) * 0.6 + y * 0.3, 0, 1)
    raw[:50] = np.round(raw[:50], 1)  # ties must stay ties
    out = cal.apply_calibration(raw, spec)
    order = np.argsort(raw, kind="stable")
    assert np.all(np.diff(out[order]) >= 0)
    strictly = np.diff(raw[order]) > 1e-6
    assert np.all(np.diff(out[order])[strictly] > 0)
    assert roc_auc_score(y, out) == pytest.approx(roc_auc_score(y, raw), abs=1e-12)
    assert np.all((out >= 0) & (out <= 1))


def test_apply_keeps_nan_and_rejects_bad_specs():
    out = cal.apply_calibration([0.2, np.nan, 0.9], {"method": "temperature", "T": 2.0})
    assert np.isnan(out[1]) and np.isfinite(out[[0, 2]]).all()
    for bad in (
        {"method": "magic"},
        {"method": "temperature"},
        {"method": "temperature", "T": -1},
        {"method": "platt", "a": -1, "b": 0},
        "temperature",
    ):
        with pytest.raises(MetricsError):
            cal.apply_calibration([0.5], bad)
    with pytest.raises(MetricsError):
        cal.apply_calibration([1.5], None)


def test_fits_refuse_degenerate_input():
    for fit in (cal.fit_temperature, cal.fit_platt):
        with pytest.raises(MetricsError):
            fit([1, 1, 1], [0.2, 0.3, 0.9])
        with pytest.raises(MetricsError):
            fit([], [])
        with pytest.raises(MetricsError):
            fit([0, 1], [0.2, np.nan])
    with pytest.raises(MetricsError, match="no usable signal"):
        cal.fit_platt(np.r_[np.zeros(50), np.ones(50)], np.r_[np.linspace(0.5, 0.9, 50), np.linspace(0.1, 0.5, 50)])

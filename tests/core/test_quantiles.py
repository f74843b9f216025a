"""Harrell-Davis quantiles and the sens-smooth chooser (scipy is the oracle; run time has no scipy)."""

from __future__ import annotations

import numpy as np
import pytest

from core.evaluation.choosers import choose_threshold, parse_chooser
from core.evaluation.operating import MetricsError
from core.evaluation.quantiles import beta_cdf, harrell_davis

scipy_stats = pytest.importorskip("scipy.stats")
mstats = pytest.importorskip("scipy.stats.mstats")


@pytest.mark.parametrize(("a", "b"), [(0.3, 5.0), (2.55, 48.45), (20.0, 381.0), (5.0, 5.0), (100.0, 0.5)])
def test_beta_cdf_matches_scipy(a, b):
    for x in np.linspace(0.0, 1.0, 41):
        assert beta_cdf(float(x), a, b) == pytest.approx(scipy_stats.beta.cdf(x, a, b), abs=1e-10)


def test_harrell_davis_matches_scipy():
    rng = np.random.default_rng(0)
    for n in (2, 7, 31, 250):
        values = rng.normal(size=n)
        for q in (0.05, 0.5, 0.9):
            assert harrell_davis(values, q) == pytest.approx(mstats.hdquantiles(values, [q])[0], rel=1e-9)
    with pytest.raises(ValueError):
        harrell_davis(np.array([]), 0.5)


def test_sens_smooth_chooser_is_steadier_than_one_order_statistic():
    rng = np.random.default_rng(1)
    plain, smooth = [], []
    for _ in range(200):  # 30 PNEUMONIA and 20 NORMAL cases, as at a site with 50 local cases
        y = np.r_[np.ones(30, int), np.zeros(20, int)]
        s = 1 / (1 + np.exp(-np.r_[rng.normal(2.5, 1.2, 30), rng.normal(-1.5, 1.2, 20)]))
        plain.append(choose_threshold(y, s, "sens", target=0.95).threshold)
        smooth.append(choose_threshold(y, s, "sens-smooth", target=0.95).threshold)
    z = lambda t: np.log(np.asarray(t) / (1 - np.asarray(t)))  # noqa: E731
    true_q = 2.5 + 1.2 * scipy_stats.norm.ppf(0.05)  # the logit score that keeps sensitivity at 0.95
    assert np.std(z(smooth)) < np.std(z(plain))
    assert abs(np.mean(z(smooth)) - true_q) < abs(np.mean(z(plain)) - true_q)
    assert parse_chooser("sens-smooth:0.9") == ("sens-smooth", {"target": 0.9})
    with pytest.raises(MetricsError, match="below 1"):
        choose_threshold(y, s, "sens-smooth", target=1.0)
    assert "rough" in choose_threshold(y[-25:], s[-25:], "sens-smooth", target=0.95).reason

"""Reader-vs-model statistics, checked against scipy/sklearn on SIMULATED readings (test input only)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import cohen_kappa_score, roc_auc_score

from core.evaluation.choosers import parse_chooser
from core.evaluation.intervals import MetricsError
from core.evaluation.readers import cohen_kappa, matched_threshold, mcnemar, pooled_readers, reader_figures


def simulated(n: int = 120, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Simulated labels, model scores and one reader's calls/ratings (NOT real readers)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.5).astype(np.int8)
    model = 1 / (1 + np.exp(-(2.0 * (y - 0.5) * 2 + rng.normal(0, 1.2, n))))
    latent = 1.6 * y + rng.normal(0, 1, n)
    ratings = np.clip(np.round(latent * 1.2 + 2.0), 1, 5)
    calls = (ratings >= 3).astype(np.int8)
    return y, model, calls, ratings


def test_reader_figures_match_independent_implementations() -> None:
    y, model, calls, ratings = simulated()
    calls = calls.copy()
    calls[[0, 5]] = -1  # cannot read
    f = reader_figures(y, calls, ratings, model, threshold=0.5)
    read = calls != -1
    sens = np.mean(calls[read & (y == 1)] == 1)
    spec = np.mean(calls[read & (y == 0)] == 0)
    assert f["sensitivity"][0] == pytest.approx(sens)
    assert f["specificity"][0] == pytest.approx(spec)
    assert f["sensitivity"][1] < sens < f["sensitivity"][2]
    assert f["cannot_read"] == 2
    # Ratings AUC: Mann-Whitney with ties = sklearn's AUC and scipy's U / (m n).
    assert f["auc"][0] == pytest.approx(roc_auc_score(y, ratings))
    u = stats.mannwhitneyu(ratings[y == 1], ratings[y == 0]).statistic
    assert f["auc"][0] == pytest.approx(u / ((y == 1).sum() * (y == 0).sum()))
    assert f["auc_vs_model"]["difference"] == pytest.approx(roc_auc_score(y, ratings) - roc_auc_score(y, model))
    mc = (model >= 0.5).astype(int)
    assert f["kappa_vs_model"][0] == pytest.approx(cohen_kappa_score(calls[read], mc[read]))


def test_kappa_interval_and_no_call_counted_apart() -> None:
    y, model, calls, ratings = simulated(200, seed=9)
    mc = (model >= 0.5).astype(int)
    k, lo, hi = cohen_kappa(calls, mc)
    assert k == pytest.approx(cohen_kappa_score(calls, mc))
    assert lo < k < hi and hi - lo < 0.4
    no_call = np.zeros(y.size, bool)
    no_call[:30] = True
    f = reader_figures(y, calls, ratings, model, 0.5, model_no_call=no_call)
    assert f["model_no_call"] == 30
    assert f["kappa_vs_model"][0] == pytest.approx(cohen_kappa_score(calls[30:], mc[30:]))


def test_mcnemar_exact_matches_scipy_binomtest() -> None:
    y, model, calls, _ = simulated(150, seed=4)
    mc = (model >= 0.6).astype(int)
    res = mcnemar(y, calls, mc)
    b, c = res["reader_only_right"], res["model_only_right"]
    assert b + c > 0
    assert res["p"] == pytest.approx(stats.binomtest(b, b + c, 0.5).pvalue)


def test_matched_threshold_reaches_reader_specificity() -> None:
    y, model, calls, ratings = simulated(150, seed=5)
    f = reader_figures(y, calls, ratings, model, 0.5)
    spec = f["specificity"][0]
    t = f["mcnemar_matched_spec"]["threshold"]
    assert np.mean(model[y == 0] < t) >= spec - 1e-12
    assert t == matched_threshold(y, model, spec)
    # the next lower score would fall short of the reader's specificity
    lower = np.max(model[model < t]) if np.any(model < t) else None
    if lower is not None:
        assert np.mean(model[y == 0] < lower) < spec


def test_pooled_bootstrap_is_seeded_and_covers_the_mean() -> None:
    rng = np.random.default_rng(0)
    y, _, _, _ = simulated(80, seed=1)
    calls, ratings = [], []
    for _ in range(3):  # three simulated readers
        r = np.clip(np.round(1.5 * y + rng.normal(0, 1, y.size) * 1.2 + 2.0), 1, 5)
        ratings.append(r)
        calls.append((r >= 3).astype(np.int8))
    a = pooled_readers(y, calls, ratings, n_boot=200, seed=7)
    b = pooled_readers(y, calls, ratings, n_boot=200, seed=7)
    assert a == b
    mean_auc = np.mean([roc_auc_score(y, r) for r in ratings])
    assert a["auc"][0] == pytest.approx(mean_auc)
    assert a["auc"][1] < mean_auc < a["auc"][2]
    assert a["sensitivity"][0] == pytest.approx(np.mean([np.mean(c[y == 1]) for c in calls]))
    assert a["auc_minus_model"] is None  # no model given
    model = y * 0.8 + rng.normal(0, 0.5, y.size)
    c = pooled_readers(y, calls, ratings, n_boot=200, seed=7, model_scores=model)
    diff = mean_auc - roc_auc_score(y, model)
    assert c["auc_minus_model"][0] == pytest.approx(diff)
    assert c["auc_minus_model"][1] < diff < c["auc_minus_model"][2]
    assert c["auc"] == a["auc"]  # the same replicates


def test_bad_ratings_and_reader_chooser_parse() -> None:
    y, model, calls, ratings = simulated(20)
    bad = ratings.copy()
    bad[0] = 6
    with pytest.raises(MetricsError, match="1"):
        reader_figures(y, calls, bad, model, 0.5)
    assert parse_chooser("reader-sens:Dr_Lee") == ("reader-sens", {"reader": "Dr_Lee"})
    with pytest.raises(MetricsError, match="name"):
        parse_chooser("reader-spec:")
    assert not math.isnan(reader_figures(y, calls, None, model, 0.5)["sensitivity"][0])

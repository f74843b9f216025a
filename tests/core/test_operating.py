"""core.evaluation.operating against scikit-learn (the oracle), interval coverage, choosers, bad input."""

from __future__ import annotations

import math
import re
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from core.errors import PneumoscopeError
from core.evaluation import choosers, curves
from core.evaluation import operating as op
from core.evaluation.operating import MetricsError, OperatingCurve

NAMES = ["NORMAL", "PNEUMONIA"]


@st.composite
def labelled_scores(draw, min_size=1, max_size=80, both=False):
    """Labels and scores drawn from a small set of values, so ties are everywhere."""
    n = draw(st.integers(min_size, max_size))
    levels = draw(st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=6, unique=True))
    y = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)), dtype=np.int64)
    s = np.array(draw(st.lists(st.sampled_from(levels), min_size=n, max_size=n)), dtype=np.float64)
    if both:
        assume(0 < y.sum() < n)
    return y, s, levels


def _threshold(draw, levels):
    # Half the time an exact score value (the >= boundary matters), else anything in [-0.1, 1.1].
    return draw(st.one_of(st.sampled_from(levels), st.floats(-0.1, 1.1, allow_nan=False)))


# ----------------------------------------------------------------------------- sklearn oracle


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=labelled_scores(), draw=st.data())
def test_counts_match_sklearn_confusion_matrix(data, draw):
    y, s, levels = data
    t = _threshold(draw.draw, levels)
    curve = OperatingCurve(y, s)
    tn, fp, fn, tp = skm.confusion_matrix(y, (s >= t).astype(int), labels=[0, 1]).ravel()
    assert curve.counts_at(t) == (tp, fp, tn, fn)
    point = curve.at(t)
    assert (point.tp, point.fp, point.tn, point.fn) == (tp, fp, tn, fn)
    assert curve.n_pos == y.sum() and curve.n_neg == len(y) - y.sum()
    np.testing.assert_array_equal(curve.thresholds, np.unique(s))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=labelled_scores(), draw=st.data())
def test_point_rates_match_sklearn(data, draw):
    y, s, levels = data
    t = _threshold(draw.draw, levels)
    pred = (s >= t).astype(int)
    p = OperatingCurve(y, s).at(t)
    nan = np.nan
    sens = skm.recall_score(y, pred, zero_division=nan)
    spec = skm.recall_score(1 - y, 1 - pred, zero_division=nan)
    np.testing.assert_allclose(p.sensitivity[0], sens)
    np.testing.assert_allclose(p.specificity[0], spec)
    np.testing.assert_allclose(p.precision[0], skm.precision_score(y, pred, zero_division=nan))
    np.testing.assert_allclose(p.npv[0], skm.precision_score(1 - y, 1 - pred, zero_division=nan))
    np.testing.assert_allclose(p.accuracy[0], skm.accuracy_score(y, pred))
    np.testing.assert_allclose(p.f1[0], skm.f1_score(y, pred, zero_division=nan))
    if not (math.isnan(sens) or math.isnan(spec)):
        np.testing.assert_allclose(p.balanced_accuracy[0], skm.balanced_accuracy_score(y, pred))
    for name in ("sensitivity", "specificity", "precision", "npv", "accuracy", "f1", "balanced_accuracy"):
        v, lo, hi = getattr(p, name)
        if math.isnan(v):
            assert math.isnan(lo) and math.isnan(hi), name
        else:
            assert 0 <= lo <= v <= hi <= 1, (name, lo, v, hi)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=labelled_scores(min_size=2, both=True))
def test_auc_roc_pr_ap_match_sklearn(data):
    y, s, _ = data
    auc, lo, hi = curves.roc_auc(y, s)
    assert auc == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert 0 <= lo <= auc <= hi <= 1
    fpr, tpr, thr = curves.roc_curve(y, s)
    assert np.trapezoid(tpr, fpr) == pytest.approx(auc, abs=1e-12)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert thr[0] == np.inf and (fpr[-1], tpr[-1]) == (1.0, 1.0)
    precision, recall, pthr = curves.pr_curve(y, s)
    sp, sr, st_ = skm.precision_recall_curve(y, s)
    np.testing.assert_allclose(precision, sp)
    np.testing.assert_allclose(recall, sr)
    np.testing.assert_allclose(pthr, st_)
    assert curves.average_precision(y, s) == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=labelled_scores(), draw=st.data())
def test_classification_report_matches_sklearn(data, draw):
    y, s, levels = data
    t = _threshold(draw.draw, levels)
    pred = (s >= t).astype(int)
    ours = op.classification_report(y, s, t)
    theirs = skm.classification_report(y, pred, labels=[0, 1], target_names=NAMES, output_dict=True, zero_division=0)
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        if isinstance(value, dict):
            for k, v in value.items():
                assert ours[key][k] == pytest.approx(v, abs=1e-12), (key, k)
        else:
            assert ours[key] == pytest.approx(value, abs=1e-12), key
    text = skm.classification_report(y, pred, labels=[0, 1], target_names=NAMES, zero_division=0)
    # sklearn sometimes prints supports as floats ("4.0") when a 0/0 occurred; we always print ints.
    text = re.sub(r" (\d+)\.0$", lambda m: m.group(1).rjust(len(m.group(0))), text, flags=re.M)
    assert op.format_classification_report(ours) == text


# ----------------------------------------------------------------------------- intervals


def test_wilson_known_values_and_edges():
    # Reference: Newcombe (1998), 81/263 -> 0.2553 to 0.3662.
    lo, hi = op.wilson_interval(81, 263)
    assert (round(lo, 4), round(hi, 4)) == (0.2553, 0.3662)
    assert op.wilson_interval(0, 10)[0] == 0.0 and op.wilson_interval(10, 10)[1] == 1.0
    assert all(math.isnan(v) for v in op.wilson_interval(0, 0))
    assert all(math.isnan(v) for v in op.proportion(0, 0))


def test_wilson_coverage_is_about_95_percent():
    rng = np.random.default_rng(20261125)
    sims = 2000
    ps = rng.uniform(0.05, 0.95, sims)
    ns = rng.integers(20, 300, sims)
    ks = rng.binomial(ns, ps)
    hits = 0
    for k, n, p in zip(ks, ns, ps, strict=True):
        lo, hi = op.wilson_interval(int(k), int(n))
        hits += lo <= p <= hi
    assert 0.93 <= hits / sims <= 0.97


def test_f1_and_balanced_accuracy_interval_coverage():
    rng = np.random.default_rng(11)
    sens, spec, prev, n, sims = 0.9, 0.75, 0.6, 150, 1500
    precision = sens * prev / (sens * prev + (1 - spec) * (1 - prev))
    true_f1 = 2 * precision * sens / (precision + sens)
    true_bal = (sens + spec) / 2
    y = rng.random((sims, n)) < prev
    called = np.where(y, rng.random((sims, n)) < sens, rng.random((sims, n)) >= spec)
    hits_f1 = hits_bal = 0
    for yi, ci in zip(y, called, strict=True):
        tp, fp, fn = int((yi & ci).sum()), int((~yi & ci).sum()), int((yi & ~ci).sum())
        p = op.point_from_counts(0.5, tp, fp, n - tp - fp - fn, fn)
        hits_f1 += p.f1[1] <= true_f1 <= p.f1[2]
        hits_bal += p.balanced_accuracy[1] <= true_bal <= p.balanced_accuracy[2]
    assert 0.93 <= hits_f1 / sims <= 0.97
    assert 0.93 <= hits_bal / sims <= 0.97


def test_delong_interval_coverage_on_binormal_data():
    rng = np.random.default_rng(7)
    true_auc = 0.8
    shift = math.sqrt(2) * NormalDist().inv_cdf(true_auc)  # AUC = Phi(d / sqrt 2)
    runs, m, n = 300, 60, 80
    y = np.r_[np.ones(m), np.zeros(n)]
    hits = 0
    for _ in range(runs):
        s = np.r_[rng.normal(shift, 1, m), rng.normal(0, 1, n)]
        _, lo, hi = curves.roc_auc(y, s)
        hits += lo <= true_auc <= hi
    assert 0.90 <= hits / runs <= 0.98


def test_delong_variance_matches_slow_pairwise_definition():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 70)
    y[:2] = [0, 1]
    s = rng.integers(0, 5, 70) / 4.0  # heavy ties
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    se = math.sqrt(v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg))
    auc, lo, hi = curves.roc_auc(y, s)
    assert auc == pytest.approx(psi.mean())
    assert hi - auc == pytest.approx(min(1 - auc, op.Z95 * se))
    assert auc - lo == pytest.approx(min(auc, op.Z95 * se))


def test_ppv_npv_at_prevalence_by_bayes():
    ppv, npv = op.ppv_npv_at_prevalence(0.9, 0.8, 0.1)
    assert ppv == pytest.approx(0.09 / (0.09 + 0.18))
    assert npv == pytest.approx(0.72 / (0.72 + 0.01))
    # At the sample's own prevalence, Bayes gives back the sample PPV/NPV.
    y = np.r_[np.ones(30), np.zeros(70)]
    s = np.r_[np.linspace(0.3, 1, 30), np.linspace(0, 0.6, 70)]
    point = OperatingCurve(y, s).at(0.5)
    (ppv, ppv_lo, ppv_hi), (npv, npv_lo, npv_hi) = point.ppv_npv_at(0.3)
    assert ppv == pytest.approx(point.precision[0]) and npv == pytest.approx(point.npv[0])
    assert ppv_lo <= ppv <= ppv_hi and npv_lo <= npv <= npv_hi
    # Rarer disease: lower PPV, higher NPV.
    (ppv_rare, _, _), (npv_rare, _, _) = point.ppv_npv_at(0.02)
    assert ppv_rare < ppv and npv_rare > npv
    for bad in (0, 1, -0.1, 1.5, "x"):
        with pytest.raises(MetricsError):
            point.ppv_npv_at(bad)


def test_metrics_dict_is_json_ready_and_undefined_is_none():
    import json

    curve = OperatingCurve([1, 1, 1], [0.2, 0.5, 0.9])  # no NORMAL cases
    point = curve.at(0.5)
    assert math.isnan(point.specificity[0]) and math.isnan(point.specificity[1])
    d = point.metrics_dict(prevalence=0.1)
    json.dumps(d, allow_nan=False)
    assert d["specificity"] == [None, None, None]
    assert d["tp"] == 2 and d["fn"] == 1


# ----------------------------------------------------------------------------- choosers


def _separated():
    # 10 NORMAL at 0.05..0.50, 10 PNEUMONIA at 0.40..0.95: overlap in the middle.
    y = np.r_[np.zeros(10), np.ones(10)].astype(int)
    s = np.r_[np.linspace(0.05, 0.5, 10), np.linspace(0.4, 0.95, 10)]
    return y, s


def _brute(y, s, score):
    best_t, best = None, -np.inf
    for t in np.unique(s):  # ascending, so ">=" keeps the highest among ties
        value = score(OperatingCurve(y, s).at(t))
        if value >= best - 1e-12:
            best_t, best = t, value
    return best_t


def test_youden_maxf1_cost_match_brute_force():
    y, s = _separated()
    youden = choosers.choose_threshold(y, s, "youden")
    assert youden.threshold == _brute(y, s, lambda p: p.sensitivity[0] + p.specificity[0] - 1)
    assert youden.reason.startswith("Youden's J = ") and "20 validation images" in youden.reason
    assert "\n" not in youden.reason
    f1 = choosers.choose_threshold(y, s, "maxf1")
    assert f1.threshold == _brute(y, s, lambda p: p.f1[0])
    cost = choosers.choose_threshold(y, s, "cost", cost_fn=5, cost_fp=1, prevalence=0.2)
    brute = _brute(y, s, lambda p: -(5 * 0.2 * (1 - p.sensitivity[0]) + 0.8 * (1 - p.specificity[0])))
    assert cost.threshold == brute
    # Missing pneumonia made expensive: never a higher threshold than with equal costs.
    cheap = choosers.choose_threshold(y, s, "cost", cost_fn=1, cost_fp=1, prevalence=0.2)
    assert cost.threshold <= cheap.threshold


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=labelled_scores(min_size=2, both=True), target=st.floats(0.05, 1.0))
def test_sens_chooser_is_highest_threshold_meeting_target(data, target):
    y, s, _ = data
    choice = choosers.choose_threshold(y, s, "sens", target=target)
    curve = OperatingCurve(y, s)
    assert choice.threshold in set(s)
    assert curve.at(choice.threshold).sensitivity[0] >= target - 1e-12
    higher = curve.thresholds[curve.thresholds > choice.threshold]
    if higher.size:  # the next score up must miss the target
        assert curve.at(higher[0]).sensitivity[0] < target


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=labelled_scores(min_size=2, both=True), target=st.floats(0.05, 1.0))
def test_spec_chooser_is_lowest_threshold_meeting_target(data, target):
    y, s, _ = data
    curve = OperatingCurve(y, s)
    reachable = [t for t in curve.thresholds if curve.at(t).specificity[0] >= target - 1e-12]
    if not reachable:
        with pytest.raises(MetricsError, match="No threshold reaches specificity"):
            choosers.choose_threshold(y, s, "spec", target=target)
        return
    choice = choosers.choose_threshold(y, s, "spec", target=target)
    assert choice.threshold == reachable[0]
    lower = curve.thresholds[curve.thresholds < choice.threshold]
    if lower.size:
        assert curve.at(lower[-1]).specificity[0] < target


def test_parse_chooser():
    assert choosers.parse_chooser("sens:0.95") == ("sens", {"target": 0.95})
    assert choosers.parse_chooser("SPEC:0.9") == ("spec", {"target": 0.9})
    assert choosers.parse_chooser("cost:5:1") == ("cost", {"cost_fn": 5.0, "cost_fp": 1.0})
    assert choosers.parse_chooser("cost:5:1:0.1") == ("cost", {"cost_fn": 5.0, "cost_fp": 1.0, "prevalence": 0.1})
    assert choosers.parse_chooser("cost") == ("cost", {})
    assert choosers.parse_chooser("youden") == ("youden", {})
    for bad in ("sens", "sens:1.5", "sens:x", "youden:1", "cost:5", "magic", "cost:-1:1", "spec:0"):
        with pytest.raises(MetricsError):
            choosers.parse_chooser(bad)


# ----------------------------------------------------------------------------- subgroups


def test_subgroup_sensitivity_kermany_names():
    files = [
        "test/PNEUMONIA/person1_bacteria_1.jpeg",
        "person2_bacteria_7.jpeg",
        "person3_virus_6.jpeg",
        "person4_virus_9.jpeg",
        "person5_virus_10.jpeg",
        "IM-0001-0001.jpeg",
        "NORMAL2-IM-0002-0001.jpeg",
    ]
    y = [1, 1, 1, 1, 1, 0, 0]
    s = [0.9, 0.4, 0.8, 0.5, 0.2, 0.1, 0.6]
    out = op.subgroup_sensitivity(y, s, files, threshold=0.5)
    assert out["bacteria"]["n"] == 2 and out["bacteria"]["k"] == 1
    assert out["virus"]["n"] == 3 and out["virus"]["k"] == 2  # 0.5 >= 0.5 counts
    assert out["virus"]["value"][0] == pytest.approx(2 / 3)
    assert out["normal"]["metric"] == "specificity" and out["normal"]["value"][0] == 0.5
    assert "other" not in out
    lo, hi = op.wilson_interval(2, 3)
    assert out["virus"]["value"][1:] == (lo, hi)
    with pytest.raises(MetricsError):
        op.subgroup_sensitivity(y, s, files[:3], 0.5)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("y", "s", "match"),
    [
        ([], [], "empty"),
        ([0, 1], [0.2], "must match"),
        ([0, 1, 1], [0.2, np.nan, 0.3], "not finite"),
        ([0, 2], [0.2, 0.3], "Labels must be 0"),
        ([1, 1, 1], [0.2, 0.5, 0.9], "All 3 cases are PNEUMONIA"),
        ([0, 0], [0.2, 0.5], "All 2 cases are NORMAL"),
    ],
)
def test_bad_input_gives_metrics_error(y, s, match):
    for call in (
        lambda: curves.roc_auc(y, s),
        lambda: curves.average_precision(y, s),
        lambda: choosers.choose_threshold(y, s, "youden"),
        lambda: choosers.choose_threshold(y, s, "sens", target=0.9),
    ):
        with pytest.raises(MetricsError, match=match) as info:
            call()
        assert isinstance(info.value, PneumoscopeError)


def test_curve_accepts_one_class_but_not_empty_or_nan():
    point = OperatingCurve([0, 0, 0], [0.1, 0.6, 0.7]).at(0.5)
    assert math.isnan(point.sensitivity[0]) and point.specificity[0] == pytest.approx(1 / 3)
    with pytest.raises(MetricsError):
        OperatingCurve([], [])
    with pytest.raises(MetricsError):
        OperatingCurve([0, 1], [0.1, float("nan")])
    with pytest.raises(MetricsError):
        choosers.choose_threshold([0, 1], [0.1, 0.9], "nonsense")

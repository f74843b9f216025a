"""Site calibration (patient-grouped split, honest held-out figures) and drift, on synthetic scores."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from core.evaluation.choosers import choose_threshold
from core.evaluation.operating import MetricsError, OperatingCurve
from core.site.calibrate import calibrate_scores, format_calibration, make_profile, split_for_calibration
from core.site.drift import PSI_WATCH, DriftError, bundle_drift, drift_of_cases, drift_report, psi, psi_level
from core.trust.profile import active_threshold, load_profile, save_profile


def _site(n_patients: int = 120, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels, scores, groups = [], [], []
    for p in range(n_patients):
        lab = int(rng.random() < 0.6)
        for _ in range(int(rng.integers(1, 4))):  # 1-3 images per patient
            labels.append(lab)
            scores.append(float(np.clip(rng.normal(0.35 + 0.35 * lab, 0.15), 0, 1)))
            groups.append(f"p{p}")
    return np.array(labels), np.array(scores), groups


def test_split_keeps_patients_together_and_is_stratified():
    y, _s, g = _site()
    mask = split_for_calibration(y, g, 0.5, seed=3)
    chosen = {gg for gg, m in zip(g, mask, strict=True) if m}
    held = {gg for gg, m in zip(g, mask, strict=True) if not m}
    assert not chosen & held
    assert 0.4 < (~mask).mean() < 0.6
    assert abs(y[mask].mean() - y[~mask].mean()) < 0.1
    assert np.array_equal(mask, split_for_calibration(y, g, 0.5, seed=3))  # seeded
    assert not np.array_equal(mask, split_for_calibration(y, g, 0.5, seed=4))
    assert split_for_calibration(y, g, 0.0).all()
    with pytest.raises(MetricsError, match="held-out fraction"):
        split_for_calibration(y, g, 1.0)


def test_threshold_chosen_on_choose_part_only_and_rest_reported():
    y, s, g = _site()
    cal = calibrate_scores(y, s, g, "sens:0.9", holdout=0.5, seed=1, reference_threshold=0.5)
    m = cal.choose_mask
    # the same threshold as the existing chooser on the choosing part alone
    assert cal.threshold == choose_threshold(y[m], s[m], "sens", target=0.9).threshold
    # changing only held-out scores cannot change the threshold
    s2 = s.copy()
    s2[~m] = 1 - s2[~m]
    assert calibrate_scores(y, s2, g, "sens:0.9", holdout=0.5, seed=1).threshold == cal.threshold
    held = cal.figures["holdout"]
    assert cal.honest and held["n"] == int((~m).sum()) == cal.n_holdout
    point = OperatingCurve(y[~m], s[~m]).at(cal.threshold)
    assert held["at_threshold"]["sensitivity"] == pytest.approx(list(point.sensitivity))
    lo, hi = held["at_threshold"]["accuracy"][1:]
    assert lo < held["at_threshold"]["accuracy"][0] < hi  # a 95% interval, not a bare number
    assert held["auc"][1] < held["auc"][0] < held["auc"][2]
    assert cal.figures["reference"]["threshold"] == 0.5
    text = format_calibration(cal)
    assert "held-out" in text and "never used to choose" in text


def test_holdout_zero_says_no_honest_estimate():
    y, s, g = _site()
    cal = calibrate_scores(y, s, g, "youden", holdout=0.0)
    assert not cal.honest and cal.n_holdout == 0
    assert "No honest estimate remains" in cal.figures["note"]
    assert "No honest estimate remains" in format_calibration(cal)
    assert cal.figures["in_sample"]["n"] == len(y)


def test_one_class_in_choose_part_is_a_plain_error():
    y = np.zeros(20, dtype=int)
    with pytest.raises(MetricsError, match="both NORMAL and PNEUMONIA"):
        calibrate_scores(y, np.linspace(0, 1, 20), [str(i) for i in range(20)], "sens:0.95", 0.5)


def test_profile_from_calibration_round_trip(tmp_path):
    y, s, g = _site()
    cal = calibrate_scores(y, s, g, "sens:0.95", holdout=0.5)
    bundle = SimpleNamespace(sha256="d" * 64, threshold=0.56, path=tmp_path / "b",
                             card={"threshold": {"value": 0.56, "method": "sens:0.95", "chosen_on": "val"}})
    site = SimpleNamespace(sha256="e" * 64, counts=lambda: {"cases": len(y), "normal": int((y == 0).sum()),
                                                             "pneumonia": int(y.sum())})
    profile = make_profile(bundle, site, cal, user="tester", name="ward 3")
    save_profile(profile, bundle=bundle)
    loaded = load_profile(bundle)
    assert loaded.threshold == cal.threshold and loaded.counts["choose"] == cal.n_choose
    assert loaded.figures["estimate"] == "held-out" and loaded.site_set_sha256 == "e" * 64
    value, text = active_threshold(bundle)
    assert value == cal.threshold
    assert text.startswith(f"site threshold {cal.threshold:.3f}, set ") and f"on {cal.n_choose} cases" in text


def test_psi_and_levels():
    rng = np.random.default_rng(0)
    ref = rng.beta(2, 2, 5000)
    assert psi(ref, rng.beta(2, 2, 5000)) < 0.02
    shifted = psi(ref, rng.beta(5, 2, 5000))
    assert shifted > 0.25 and psi_level(shifted) == "drift"
    assert psi_level(0.15) == "watch" and psi_level(0.01) == "stable"
    # hand check: two bins, half/half against 0.8/0.2
    ref2 = np.array([0.1] * 50 + [0.9] * 50)
    cur2 = np.array([0.1] * 80 + [0.9] * 20)
    expected = (0.8 - 0.5) * np.log(0.8 / 0.5) + (0.2 - 0.5) * np.log(0.2 / 0.5)
    assert psi(ref2, cur2, bins=2) == pytest.approx(expected)


def test_drift_report_warns_on_ood_and_shift():
    rng = np.random.default_rng(1)
    ref = rng.beta(2, 2, 1000)
    calm = drift_report(ref, rng.beta(2, 2, 300), np.zeros(300, bool) | (rng.random(300) < 0.01), 0.01)
    assert calm.level == "stable" and not calm.warn
    flags = rng.random(300) < 0.2
    odd = drift_report(ref, rng.beta(2, 2, 300), flags, 0.01)
    assert odd.ood_level == "drift" and odd.warn
    assert any("WARNING" in line for line in odd.lines)
    few = drift_report(ref, rng.beta(6, 1, 10), flags[:10], 0.01)
    assert few.too_few and not few.warn and "too few" in few.status


def test_drift_allows_for_a_different_share_of_pneumonia():
    rng = np.random.default_rng(2)

    def cases(n, share):  # calibrated-looking scores: NORMAL low, PNEUMONIA high
        y = (rng.random(n) < share).astype(int)
        return y, np.where(y == 1, rng.beta(8, 2, n), rng.beta(2, 8, n))

    y_val, s_val = cases(1000, 0.74)
    bundle = SimpleNamespace(card={"ood": {"val_flag_rate_heldout": 0.01}}, has_scores=lambda split: True,
                             scores=lambda split: (y_val, s_val, []))
    _, same_images_fewer_cases = cases(400, 0.3)  # same images, another case mix
    rep = bundle_drift(bundle, same_images_fewer_cases, np.zeros(400, bool))
    assert rep.psi_raw > 0.25  # the raw figure alone would cry wolf
    assert rep.psi < PSI_WATCH and rep.level == "stable"
    assert rep.prevalence == pytest.approx(0.3, abs=0.07)
    assert rep.reference_ood_rate == 0.01 and rep.n_reference == 1000
    shifted = np.clip(same_images_fewer_cases * 0.5 + 0.25, 0, 1)  # the images themselves changed
    assert bundle_drift(bundle, shifted, np.zeros(400, bool)).psi_level == "drift"

    cases = [SimpleNamespace(score=float(v), ood_distance=0.5, ood_flag=False) for v in shifted]
    cases.append(SimpleNamespace(score=None, ood_distance=None, ood_flag=False))  # unreadable: left out
    from_cases = drift_of_cases(bundle, cases)
    assert from_cases.n == 400 and from_cases.psi_level == "drift" and from_cases.ood_k == 0
    assert from_cases.status.startswith("Site drift on 400 cases")
    with pytest.raises(DriftError, match="no scored cases"):
        drift_of_cases(bundle, cases[-1:])

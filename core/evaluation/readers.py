"""Readers beside the model on the same cases: each reader's point, AUC, agreement and tests.

Inputs are plain arrays in the cases' order: true labels (0/1), the reader's calls (0 NORMAL,
1 PNEUMONIA, -1 "cannot read"), the reader's 1-5 ratings (nan where none) and the model's scores.

- sensitivity / specificity of the calls on the cases the reader could read (Wilson 95% CIs);
- AUC of the ratings (Mann-Whitney with ties counted 1/2, DeLong 95% CI) and the paired DeLong
  difference reader - model on the same cases;
- Cohen's kappa between the reader's calls and the model's calls at the threshold in force
  (cases where the model gives no call, e.g. out-of-distribution, are counted apart);
- McNemar's exact test of correct/incorrect, reader vs model at the model threshold whose
  specificity matches the reader's (the lowest threshold with specificity >= the reader's);
- several readers: the mean over readers with a seeded bootstrap over readers and cases.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from core.evaluation.curves import paired_auc_test, roc_auc
from core.evaluation.intervals import NAN_CI, Z95, MetricsError, proportion
from core.evaluation.operating import OperatingCurve

CANNOT_READ = -1


def _arrays(y: Any, calls: Any, ratings: Any | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    yy = np.asarray(y, dtype=np.int8).reshape(-1)
    cc = np.asarray(calls, dtype=np.int8).reshape(-1)
    rr = np.full(yy.shape, np.nan) if ratings is None else np.asarray(ratings, dtype=np.float64).reshape(-1)
    if not (yy.shape == cc.shape == rr.shape):
        raise MetricsError(f"{yy.size} labels, {cc.size} calls and {rr.size} ratings: they must match one to one.")
    if yy.size == 0:
        raise MetricsError("There are no readings to evaluate.")
    if not np.all(np.isin(cc, (-1, 0, 1))):
        raise MetricsError("Calls must be NORMAL, PNEUMONIA or 'cannot read'.")
    ok = ~np.isnan(rr)
    if np.any((rr[ok] < 1) | (rr[ok] > 5)):
        raise MetricsError("Ratings must be between 1 (definitely normal) and 5 (definitely pneumonia).")
    return yy, cc, rr


def call_point(y: Any, calls: Any) -> dict[str, Any]:
    """Sensitivity and specificity (value, low, high) of the calls, "cannot read" left out."""
    yy, cc, _ = _arrays(y, calls, None)
    read = cc != CANNOT_READ
    tp = int(np.sum(read & (yy == 1) & (cc == 1)))
    fn = int(np.sum(read & (yy == 1) & (cc == 0)))
    tn = int(np.sum(read & (yy == 0) & (cc == 0)))
    fp = int(np.sum(read & (yy == 0) & (cc == 1)))
    return {"tp": tp, "fp": fp, "tn": tn, "fn": fn,
            "sensitivity": proportion(tp, tp + fn), "specificity": proportion(tn, tn + fp)}


def cohen_kappa(a: Any, b: Any, z: float = Z95) -> tuple[float, float, float]:
    """Cohen's kappa of two binary raters with its asymptotic 95% interval (Fleiss, Cohen & Everitt 1969)."""
    x = np.asarray(a, dtype=np.int64)
    w = np.asarray(b, dtype=np.int64)
    n = x.size
    if n == 0:
        return NAN_CI
    table = np.zeros((2, 2))
    np.add.at(table, (x, w), 1)
    p = table / n
    po = float(np.trace(p))
    rows, cols = p.sum(axis=1), p.sum(axis=0)
    pe = float(np.sum(rows * cols))
    if pe >= 1.0:  # both raters gave one and the same answer throughout
        return (math.nan, math.nan, math.nan)
    k = (po - pe) / (1 - pe)
    # Large-sample variance of kappa (Fleiss, Cohen & Everitt 1969).
    diag = sum(p[i, i] * (1 - (rows[i] + cols[i]) * (1 - k)) ** 2 for i in range(2))
    off = (1 - k) ** 2 * sum(p[i, j] * (cols[i] + rows[j]) ** 2 for i in range(2) for j in range(2) if i != j)
    var = max(diag + off - (k - pe * (1 - k)) ** 2, 0.0) / (n * (1 - pe) ** 2)
    se = math.sqrt(var)
    return (k, max(-1.0, k - z * se), min(1.0, k + z * se))


def _binom_two_sided(b: int, c: int) -> float:
    """Exact two-sided McNemar p: 2 * P(X <= min(b, c)), X ~ Binomial(b + c, 1/2), capped at 1."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0 ** n
    return min(1.0, 2.0 * tail)


def matched_threshold(y: Any, scores: Any, specificity: float) -> float:
    """The lowest model threshold whose specificity on these cases is >= ``specificity``."""
    curve = OperatingCurve(y, scores)
    r = curve.rates()
    ok = np.flatnonzero(r["specificity"] >= specificity - 1e-12)
    if ok.size == 0:
        return float(np.nextafter(np.max(scores), np.inf))  # call nothing PNEUMONIA: specificity 1
    return float(r["threshold"][int(ok[0])])


def mcnemar(y: Any, calls: Any, model_calls: Any) -> dict[str, Any]:
    """Exact McNemar test of correctness, reader vs model, on the same (read) cases."""
    yy = np.asarray(y)
    r_ok = np.asarray(calls) == yy
    m_ok = np.asarray(model_calls) == yy
    b = int(np.sum(r_ok & ~m_ok))  # reader right, model wrong
    c = int(np.sum(~r_ok & m_ok))
    return {"reader_only_right": b, "model_only_right": c, "p": _binom_two_sided(b, c)}


def reader_figures(y: Any, calls: Any, ratings: Any | None, model_scores: Any, threshold: float,
                   model_no_call: Any | None = None) -> dict[str, Any]:
    """Everything for one reader against the model on the same cases (see the module docstring)."""
    yy, cc, rr = _arrays(y, calls, ratings)
    s = np.asarray(model_scores, dtype=np.float64).reshape(-1)
    if s.shape != yy.shape:
        raise MetricsError(f"{yy.size} readings but {s.size} model scores.")
    no_call = np.zeros(yy.shape, bool) if model_no_call is None else np.asarray(model_no_call, bool).reshape(-1)
    read = cc != CANNOT_READ
    out: dict[str, Any] = {"n": int(yy.size), "n_pos": int(yy.sum()), "n_neg": int((yy == 0).sum()),
                           "cannot_read": int((~read).sum())}
    point = call_point(yy, cc)
    out["sensitivity"], out["specificity"] = point["sensitivity"], point["specificity"]
    out["counts"] = {k: point[k] for k in ("tp", "fp", "tn", "fn")}
    rated = ~np.isnan(rr)
    out["n_rated"] = int(rated.sum())
    yr = yy[rated]
    if rated.any() and 0 < yr.sum() < yr.size:
        out["auc"] = roc_auc(yr, rr[rated])
        paired = paired_auc_test(yr, s[rated], rr[rated])
        out["auc_vs_model"] = {"model_auc": paired["auc_a"], "difference": paired["difference"],
                               "ci": paired["ci"], "p": paired["p"]}
    else:
        out["auc"] = None
        out["auc_vs_model"] = None
    agree = agreement_at(cc, s, threshold, no_call)
    out["kappa_vs_model"], out["agreement_vs_model"] = agree["kappa"], agree["agreement"]
    out["model_no_call"] = int((read & no_call).sum())
    spec = point["specificity"][0]
    if read.any() and not math.isnan(spec) and 0 < yy[read].sum() < read.sum():
        t = matched_threshold(yy[read], s[read], spec)
        matched = (s[read] >= t).astype(np.int8)
        mp = OperatingCurve(yy[read], s[read]).at(t)
        out["mcnemar_matched_spec"] = {"threshold": t, "model_sensitivity": mp.sensitivity,
                                       "model_specificity": mp.specificity,
                                       **mcnemar(yy[read], cc[read], matched)}
    else:
        out["mcnemar_matched_spec"] = None
    return out


def model_figures(y: Any, model_scores: Any, threshold: float) -> dict[str, Any]:
    """The model on the same cases: AUC (DeLong) and its point at ``threshold``."""
    yy = np.asarray(y, dtype=np.int8)
    s = np.asarray(model_scores, dtype=np.float64)
    at = OperatingCurve(yy, s).at(threshold)
    both = 0 < yy.sum() < yy.size
    return {"n": int(yy.size), "threshold": float(threshold), "auc": roc_auc(yy, s) if both else None,
            "sensitivity": at.sensitivity, "specificity": at.specificity}


def _mean_point(y: np.ndarray, calls: np.ndarray, ratings: np.ndarray) -> tuple[float, float, float]:
    """Mean over readers (rows) of sensitivity, specificity and ratings AUC on cases y (columns)."""
    sens, spec, aucs = [], [], []
    for c, r in zip(calls, ratings, strict=True):
        read = c != CANNOT_READ
        pos, neg = read & (y == 1), read & (y == 0)
        sens.append(np.mean(c[pos] == 1) if pos.any() else np.nan)
        spec.append(np.mean(c[neg] == 0) if neg.any() else np.nan)
        ok = ~np.isnan(r)
        aucs.append(_auc(y[ok], r[ok]) if ok.any() else np.nan)
    return (float(np.nanmean(sens)), float(np.nanmean(spec)),
            float(np.nanmean(aucs)) if not np.all(np.isnan(aucs)) else math.nan)


def agreement_at(calls: Any, model_scores: Any, threshold: float, model_no_call: Any | None = None) -> dict[str, Any]:
    """A reader's agreement with the model's calls at ``threshold``: Cohen's kappa (95% CI) and the
    share of cases called alike, on the cases both gave a call ("cannot read" and model no-call
    cases counted apart)."""
    cc = np.asarray(calls, dtype=np.int64).reshape(-1)
    s = np.asarray(model_scores, dtype=np.float64).reshape(-1)
    no_call = np.zeros(cc.shape, bool) if model_no_call is None else np.asarray(model_no_call, bool).reshape(-1)
    both = (cc != CANNOT_READ) & ~no_call
    model_calls = (s >= threshold).astype(np.int64)
    return {"kappa": cohen_kappa(cc[both], model_calls[both]) if both.any() else NAN_CI,
            "agreement": proportion(int(np.sum(cc[both] == model_calls[both])), int(both.sum())),
            "n": int(both.sum())}


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    """Mann-Whitney AUC with ties counted 1/2 (nan with one class)."""
    sp, sn = s[y == 1], s[y == 0]
    if sp.size == 0 or sn.size == 0:
        return math.nan
    return float((sp[:, None] > sn[None, :]).mean() + 0.5 * (sp[:, None] == sn[None, :]).mean())


def pooled_readers(y: Any, calls: Any, ratings: Any, n_boot: int = 1000, seed: int = 0,
                   model_scores: Any | None = None) -> dict[str, Any]:
    """Mean reader sensitivity, specificity and AUC with a seeded bootstrap over readers and cases.

    ``calls`` and ``ratings`` are (readers x cases) on the same cases. Each replicate draws readers
    with replacement and cases with replacement within each class; 2.5/97.5 percentiles. With
    ``model_scores`` (the model on the same cases), also the mean readers' AUC minus the model's,
    from the same replicates (the model's AUC on the same resampled cases), as ``auc_minus_model``.
    """
    yy = np.asarray(y, dtype=np.int8)
    cc = np.asarray(calls, dtype=np.int8)
    rr = np.asarray(ratings, dtype=np.float64)
    if cc.ndim != 2 or cc.shape[1] != yy.size or rr.shape != cc.shape:
        raise MetricsError("Pooled readers need calls and ratings of shape (readers, cases).")
    ms = None if model_scores is None else np.asarray(model_scores, dtype=np.float64).reshape(-1)
    if ms is not None and ms.size != yy.size:
        raise MetricsError(f"{yy.size} cases but {ms.size} model scores.")
    point = list(_mean_point(yy, cc, rr))
    point.append(point[2] - _auc(yy, ms) if ms is not None else math.nan)
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(yy == 1), np.flatnonzero(yy == 0)
    reps = np.empty((n_boot, 4))
    for b in range(n_boot):
        who = rng.integers(0, cc.shape[0], cc.shape[0])
        cases = np.concatenate((rng.choice(pos, pos.size), rng.choice(neg, neg.size)))
        mean = _mean_point(yy[cases], cc[who][:, cases], rr[who][:, cases])
        reps[b] = (*mean, mean[2] - _auc(yy[cases], ms[cases]) if ms is not None else math.nan)
    out: dict[str, Any] = {"readers": int(cc.shape[0]), "cases": int(yy.size), "bootstrap": n_boot, "seed": seed}
    for i, key in enumerate(("sensitivity", "specificity", "auc", "auc_minus_model")):
        col = reps[:, i][~np.isnan(reps[:, i])]
        if math.isnan(point[i]) or col.size == 0:
            out[key] = None
        else:
            out[key] = (point[i], float(np.percentile(col, 2.5)), float(np.percentile(col, 97.5)))
    return out

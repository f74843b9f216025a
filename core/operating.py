"""Operating points: what a threshold on P(pneumonia) means in counts and rates.

Conventions (the same everywhere in Pneumoscope):

- Labels are 0 = NORMAL and 1 = PNEUMONIA (the positive class).
- A score is P(pneumonia) in [0, 1]; **score >= threshold means PNEUMONIA** (never ``>``).
  Thresholds proposed by the choosers are actual score values, so the case that carries
  the threshold score is called PNEUMONIA.
- Proportions are ``(value, low, high)`` tuples with 95% Wilson score intervals.
  A proportion whose denominator is zero is ``nan`` with interval ``(nan, nan)``.
- F1 gets an interval through the Jaccard index J = TP / (TP + FP + FN): conditional on the
  cases that are positive or called positive, TP is binomial, so J gets a Wilson interval and
  F1 = 2J / (1 + J) (monotone) maps its ends. Balanced accuracy (sens + spec) / 2 gets a
  MOVER interval (Zou & Donner) built from the two independent Wilson intervals.

An :class:`OperatingCurve` sorts the scores once and keeps cumulative class counts, so every
threshold query afterwards is one ``np.searchsorted`` (O(log n)); the threshold explorer relies
on that. Nothing here imports scikit-learn; the tests use it as an oracle.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath
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


# ----------------------------------------------------------------------------- operating point


@dataclass(frozen=True)
class OperatingPoint:
    """Counts and rates at one threshold (score >= threshold means PNEUMONIA)."""

    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int
    sensitivity: Interval  # pneumonia recall, TP / (TP + FN)
    specificity: Interval  # normal recall, TN / (TN + FP)
    precision: Interval  # PPV at the sample's own prevalence
    npv: Interval
    accuracy: Interval
    f1: Interval  # Wilson on the Jaccard index, mapped to F1
    balanced_accuracy: Interval  # MOVER from the sens/spec Wilson intervals

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.tn + self.fn

    @property
    def ppv(self) -> Interval:
        return self.precision

    def ppv_npv_at(self, prevalence: float) -> tuple[Interval, Interval]:
        """PPV and NPV at another prevalence, by Bayes from this point's sensitivity/specificity.

        Both are increasing in sensitivity and in specificity, so the interval ends come from
        the matching ends of the sens/spec intervals (conservative: it treats both at their
        bounds at once).
        """
        p = _check_prevalence(prevalence)
        (s, s_lo, s_hi), (c, c_lo, c_hi) = self.sensitivity, self.specificity
        ppv, npv = ppv_npv_at_prevalence(s, c, p)
        ppv_lo, npv_lo = ppv_npv_at_prevalence(s_lo, c_lo, p)
        ppv_hi, npv_hi = ppv_npv_at_prevalence(s_hi, c_hi, p)
        return (ppv, ppv_lo, ppv_hi), (npv, npv_lo, npv_hi)

    def metrics_dict(self, prevalence: float | None = None) -> dict[str, Any]:
        """JSON-ready dict (nan becomes None); adds PPV/NPV at ``prevalence`` when given."""

        def clean(v: Any) -> Any:
            if isinstance(v, tuple):
                return [clean(x) for x in v]
            if isinstance(v, float) and math.isnan(v):
                return None
            return v

        out: dict[str, Any] = {
            "threshold": float(self.threshold),
            "tp": self.tp,
            "fp": self.fp,
            "tn": self.tn,
            "fn": self.fn,
            "n": self.n,
        }
        for name in ("sensitivity", "specificity", "precision", "npv", "accuracy", "f1", "balanced_accuracy"):
            out[name] = clean(getattr(self, name))
        if prevalence is not None:
            ppv, npv = self.ppv_npv_at(prevalence)
            out["prevalence"] = float(prevalence)
            out["ppv_at_prevalence"] = clean(ppv)
            out["npv_at_prevalence"] = clean(npv)
        return out


def point_from_counts(threshold: float, tp: int, fp: int, tn: int, fn: int) -> OperatingPoint:
    sens = proportion(tp, tp + fn)
    spec = proportion(tn, tn + fp)
    return OperatingPoint(
        threshold=float(threshold),
        tp=int(tp),
        fp=int(fp),
        tn=int(tn),
        fn=int(fn),
        sensitivity=sens,
        specificity=spec,
        precision=proportion(tp, tp + fp),
        npv=proportion(tn, tn + fn),
        accuracy=proportion(tp + tn, tp + fp + tn + fn),
        f1=_f1_interval(tp, fp, fn),
        balanced_accuracy=_balanced_interval(sens, spec),
    )


class OperatingCurve:
    """All operating points of one set of scores; built once, queried in O(log n)."""

    def __init__(self, y_true: Any, y_score: Any) -> None:
        labels, scores = validate_scores(y_true, y_score)
        order = np.argsort(scores, kind="stable")
        self._sorted = scores[order]
        sorted_labels = labels[order].astype(np.int64)
        # _cum_pos[i] = positives among the i lowest scores, so "below threshold" is one lookup.
        self._cum_pos = np.concatenate(([0], np.cumsum(sorted_labels)))
        self.n = int(scores.shape[0])
        self.n_pos = int(self._cum_pos[-1])
        self.n_neg = self.n - self.n_pos
        self._thresholds: np.ndarray | None = None

    @property
    def thresholds(self) -> np.ndarray:
        """Distinct scores, ascending: every threshold that gives a different operating point."""
        if self._thresholds is None:
            self._thresholds = np.unique(self._sorted)
        return self._thresholds

    @property
    def sorted_scores(self) -> np.ndarray:
        return self._sorted

    def counts_at(self, threshold: float) -> tuple[int, int, int, int]:
        """(tp, fp, tn, fn) with score >= threshold called PNEUMONIA."""
        below = int(self._sorted.searchsorted(float(threshold), side="left"))
        fn = int(self._cum_pos[below])
        tn = below - fn
        return (self.n_pos - fn, self.n_neg - tn, tn, fn)

    def counts_many(self, thresholds: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Vectorised :meth:`counts_at` for an array of thresholds."""
        below = np.searchsorted(self._sorted, np.asarray(thresholds, dtype=np.float64), side="left")
        fn = self._cum_pos[below]
        tn = below - fn
        return (self.n_pos - fn, self.n_neg - tn, tn, fn)

    def at(self, threshold: float) -> OperatingPoint:
        return point_from_counts(float(threshold), *self.counts_at(threshold))

    def rates(self, thresholds: Any | None = None) -> dict[str, np.ndarray]:
        """Sensitivity/specificity/precision arrays at ``thresholds`` (default: all distinct scores)."""
        t = self.thresholds if thresholds is None else np.asarray(thresholds, dtype=np.float64)
        tp, fp, tn, fn = self.counts_many(t)
        with np.errstate(invalid="ignore", divide="ignore"):
            return {
                "threshold": t,
                "tp": tp,
                "fp": fp,
                "tn": tn,
                "fn": fn,
                "sensitivity": tp / (tp + fn),
                "specificity": tn / (tn + fp),
                "precision": tp / (tp + fp),
                "f1": 2 * tp / (2 * tp + fp + fn),
            }


# ----------------------------------------------------------------------------- curves


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


def roc_auc(y_true: Any, y_score: Any, z: float = Z95) -> Interval:
    """AUC with a 95% DeLong interval (fast midrank algorithm of Sun & Xu 2014; ties count 1/2).

    The interval is Wald on the AUC scale, clipped to [0, 1] (as pROC does). When the classes
    are perfectly separated (AUC 0 or 1) the DeLong variance is zero and the interval collapses
    onto the estimate: read it as "no overlap seen in this sample", not as certainty.
    """
    labels, scores = validate_scores(y_true, y_score, need_both=True)
    pos = scores[labels == 1]
    neg = scores[labels == 0]
    m, n = pos.shape[0], neg.shape[0]
    tz = _midranks(np.concatenate((pos, neg)))
    tx = _midranks(pos)
    ty = _midranks(neg)
    auc = float((tz[:m].sum() - m * (m + 1) / 2.0) / (m * n))
    # Structural components: per-case share of pairs won (positives) or lost (negatives).
    v10 = (tz[:m] - tx) / n
    v01 = 1.0 - (tz[m:] - ty) / m
    var = 0.0
    if m > 1:
        var += float(np.var(v10, ddof=1)) / m
    if n > 1:
        var += float(np.var(v01, ddof=1)) / n
    se = math.sqrt(max(var, 0.0))
    return (auc, max(0.0, auc - z * se), min(1.0, auc + z * se))


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


# ----------------------------------------------------------------------------- reports


def _safe_div(a: float, b: float) -> float:
    # scikit-learn's zero_division default reports 0.0 for 0/0; the report matches it.
    return a / b if b else 0.0


def classification_report(y_true: Any, y_score: Any, threshold: float) -> dict[str, Any]:
    """Per-class precision/recall/f1/support, accuracy, macro and weighted averages.

    Same keys and numbers as ``sklearn.metrics.classification_report(output_dict=True,
    labels=[0, 1], target_names=["NORMAL", "PNEUMONIA"])``; 0/0 is reported as 0.0 there and
    here (unlike :class:`OperatingPoint`, which says nan).
    """
    labels, scores = validate_scores(y_true, y_score)
    tp, fp, tn, fn = OperatingCurve(labels, scores).counts_at(threshold)
    n = tp + fp + tn + fn
    rows: dict[str, Any] = {}
    # NORMAL is "positive" when reporting its own row: its TP is our TN, and so on.
    for name, (t_p, f_p, f_n) in (("NORMAL", (tn, fn, fp)), ("PNEUMONIA", (tp, fp, fn))):
        p = _safe_div(t_p, t_p + f_p)
        r = _safe_div(t_p, t_p + f_n)
        f = _safe_div(2 * t_p, 2 * t_p + f_p + f_n)
        rows[name] = {"precision": p, "recall": r, "f1-score": f, "support": int(t_p + f_n)}
    report: dict[str, Any] = dict(rows)
    report["accuracy"] = _safe_div(tp + tn, n)
    for avg in ("macro avg", "weighted avg"):
        entry: dict[str, Any] = {}
        for key in ("precision", "recall", "f1-score"):
            vals = [rows[c][key] for c in CLASS_NAMES]
            if avg == "macro avg":
                entry[key] = float(np.mean(vals))
            else:
                sup = [rows[c]["support"] for c in CLASS_NAMES]
                entry[key] = _safe_div(sum(v * s for v, s in zip(vals, sup, strict=True)), sum(sup))
        entry["support"] = int(n)
        report[avg] = entry
    return report


def format_classification_report(report: dict[str, Any], digits: int = 2) -> str:
    """Text table laid out like scikit-learn's ``classification_report``."""
    classes = [k for k in report if k not in ("accuracy", "macro avg", "weighted avg")]
    width = max(len(c) for c in [*classes, "weighted avg"])
    headers = ("precision", "recall", "f1-score", "support")
    lines = [f"{'':>{width}s} " + "".join(f" {h:>9}" for h in headers), ""]

    def row(name: str, entry: dict[str, Any]) -> str:
        vals = "".join(f" {entry[k]:>9.{digits}f}" for k in headers[:3])
        return f"{name:>{width}s} {vals} {entry['support']:>9}"

    lines += [row(c, report[c]) for c in classes]
    lines.append("")
    if "accuracy" in report:
        support = report["macro avg"]["support"]
        lines.append(f"{'accuracy':>{width}s}  {'':>9} {'':>9} {report['accuracy']:>9.{digits}f} {support:>9}")
    lines += [row(avg, report[avg]) for avg in ("macro avg", "weighted avg") if avg in report]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- threshold choosers


@dataclass(frozen=True)
class ThresholdChoice:
    threshold: float
    method: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"value": float(self.threshold), "method": self.method, "reason": self.reason}


CHOOSERS = ("youden", "maxf1", "cost", "sens", "spec")


def _pick_highest(values: np.ndarray, thresholds: np.ndarray) -> int:
    """Index of the best value; ties go to the highest threshold (fewest PNEUMONIA calls)."""
    best = np.nanmax(values)
    return int(np.flatnonzero(values >= best - 1e-12)[-1])


def _target(kw: dict[str, Any], method: str) -> float:
    if "target" not in kw:
        raise MetricsError(f"The '{method}' chooser needs a target, e.g. '{method}:0.95'.")
    try:
        t = float(kw["target"])
    except (TypeError, ValueError) as exc:
        raise MetricsError(f"The {method} target must be a number, not {kw['target']!r}.") from exc
    if not 0.0 < t <= 1.0:
        raise MetricsError(f"The {method} target must be between 0 and 1 (e.g. 0.95), not {t}.")
    return t


def choose_threshold(
    y_true: Any, y_score: Any, method: str, *, on: str = "validation", **kw: Any
) -> ThresholdChoice:
    """Pick a threshold among the actual scores (run this on VALIDATION scores, never test).

    - ``youden``: maximise sensitivity + specificity - 1.
    - ``maxf1``: maximise F1 for PNEUMONIA.
    - ``cost``: minimise expected cost per case, cost_fn * prev * (1 - sens) +
      cost_fp * (1 - prev) * (1 - spec); ``cost_fn``/``cost_fp`` default to 1, ``prevalence`` to the
      sample's.
    - ``sens``: the highest threshold whose sensitivity >= ``target``.
    - ``spec``: the lowest threshold whose specificity >= ``target``.

    Ties go to the highest threshold. ``on`` names the data in the reason ("validation").
    """
    labels, scores = validate_scores(y_true, y_score, need_both=True)
    method = method.strip().lower()
    if method not in CHOOSERS:
        raise MetricsError(f"Unknown threshold method {method!r}; use one of {', '.join(CHOOSERS)}.")
    curve = OperatingCurve(labels, scores)
    r = curve.rates()
    t, sens, spec, f1 = r["threshold"], r["sensitivity"], r["specificity"], r["f1"]
    where = f"on {curve.n:,} {on} images"

    if method == "youden":
        j = sens + spec - 1
        i = _pick_highest(j, t)
        reason = f"Youden's J = {j[i]:.3f} {where}"
    elif method == "maxf1":
        i = _pick_highest(np.nan_to_num(f1, nan=0.0), t)
        reason = f"Highest F1 = {f1[i]:.3f} {where}"
    elif method == "cost":
        cost_fn = float(kw.get("cost_fn", 1.0))
        cost_fp = float(kw.get("cost_fp", 1.0))
        if cost_fn < 0 or cost_fp < 0 or cost_fn + cost_fp == 0:
            raise MetricsError("Costs must be non-negative and not both zero (e.g. cost:5:1).")
        prev_given = kw.get("prevalence")
        prev = curve.n_pos / curve.n if prev_given is None else _check_prevalence(prev_given)
        cost = cost_fn * prev * (1 - sens) + cost_fp * (1 - prev) * (1 - spec)
        i = _pick_highest(-cost, t)
        source = "sample" if prev_given is None else "given"
        reason = (
            f"Lowest expected cost {cost[i]:.3f} per case (missed pneumonia costs {cost_fn:g}, "
            f"false alarm {cost_fp:g}, {source} prevalence {prev:.1%}) {where}"
        )
    elif method == "sens":
        target = _target(kw, method)
        # Sensitivity falls as the threshold rises; the lowest score always gives 1.0.
        ok = np.flatnonzero(sens >= target - 1e-12)
        i = int(ok[-1])
        reason = f"Highest threshold with sensitivity >= {target:.3f} {where}"
    else:
        target = _target(kw, method)
        ok = np.flatnonzero(spec >= target - 1e-12)
        if ok.size == 0:
            raise MetricsError(
                f"No threshold reaches specificity {target:.3f} {where}: the best possible is "
                f"{np.nanmax(spec):.3f} (the highest-scoring NORMAL cases tie with or beat every "
                "PNEUMONIA case). Choose a lower target."
            )
        i = int(ok[0])
        reason = f"Lowest threshold with specificity >= {target:.3f} {where}"
    reason += f" (sens {sens[i]:.2f}, spec {spec[i]:.2f})"
    return ThresholdChoice(threshold=float(t[i]), method=method, reason=reason)


def parse_chooser(text: str) -> tuple[str, dict[str, float]]:
    """'youden' | 'maxf1' | 'cost[:FN:FP[:PREV]]' | 'sens:0.95' | 'spec:0.9' -> (method, kwargs)."""
    parts = [p.strip() for p in str(text).strip().lower().split(":")]
    method, args = parts[0], parts[1:]
    if method not in CHOOSERS:
        raise MetricsError(
            f"Unknown threshold method {text!r}; use youden, maxf1, cost[:FN:FP], sens:0.95 or spec:0.9."
        )
    try:
        nums = [float(a) for a in args]
    except ValueError as exc:
        raise MetricsError(f"Could not read the numbers in {text!r}.") from exc
    if method in ("youden", "maxf1"):
        if nums:
            raise MetricsError(f"'{method}' takes no numbers (got {text!r}).")
        return method, {}
    if method == "cost":
        if len(nums) not in (0, 2, 3):
            raise MetricsError(f"Write the cost chooser as cost:FN:FP or cost:FN:FP:PREVALENCE, not {text!r}.")
        kw: dict[str, float] = {}
        if nums:
            kw["cost_fn"], kw["cost_fp"] = nums[0], nums[1]
        if len(nums) == 3:
            kw["prevalence"] = _check_prevalence(nums[2])
        if any(v < 0 for v in nums[:2]):
            raise MetricsError("Costs must be non-negative (e.g. cost:5:1).")
        return method, kw
    if len(nums) != 1:
        raise MetricsError(f"Write the {method} chooser with one target, e.g. '{method}:0.95', not {text!r}.")
    return method, {"target": _target({"target": nums[0]}, method)}


# ----------------------------------------------------------------------------- subgroups

_SUBTYPE = re.compile(r"_(bacteria|virus)_", re.IGNORECASE)
SUBGROUP_LABELS = {
    "bacteria": "Bacterial pneumonia",
    "virus": "Viral pneumonia",
    "other": "Pneumonia (no subtype in name)",
    "normal": "NORMAL",
}


def pneumonia_subtype(filename: str) -> str | None:
    """'bacteria' / 'virus' from Kermany names (person12_bacteria_3.jpeg), else None."""
    m = _SUBTYPE.search(PurePath(str(filename)).name)
    return m.group(1).lower() if m else None


def subgroup_sensitivity(
    y_true: Any, y_score: Any, files: Sequence[str], threshold: float
) -> dict[str, dict[str, Any]]:
    """Sensitivity for bacterial and viral pneumonia separately, specificity for NORMAL.

    Returns ``{group: {"label", "metric", "n", "k", "value": (v, lo, hi)}}`` for groups among
    "bacteria", "virus", "other" (pneumonia without a subtype in the name; only when present)
    and "normal".
    """
    labels, scores = validate_scores(y_true, y_score)
    if len(files) != labels.shape[0]:
        raise MetricsError(f"There are {labels.shape[0]:,} scores but {len(files):,} file names.")
    called = scores >= threshold
    groups = np.array(
        ["normal" if lab == 0 else (pneumonia_subtype(f) or "other") for lab, f in zip(labels, files, strict=True)]
    )
    out: dict[str, dict[str, Any]] = {}
    for g in ("bacteria", "virus", "other", "normal"):
        mask = groups == g
        n = int(mask.sum())
        if g == "other" and n == 0:
            continue
        if g == "normal":
            k, metric = int((~called[mask]).sum()), "specificity"
        else:
            k, metric = int(called[mask].sum()), "sensitivity"
        out[g] = {"label": SUBGROUP_LABELS[g], "metric": metric, "n": n, "k": k, "value": proportion(k, n)}
    return out

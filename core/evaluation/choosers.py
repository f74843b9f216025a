"""Threshold choosers (Youden, max F1, cost, target sensitivity or specificity), run on validation scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.evaluation.intervals import MetricsError, _check_prevalence, validate_scores
from core.evaluation.operating import OperatingCurve
from core.evaluation.quantiles import harrell_davis


@dataclass(frozen=True)
class ThresholdChoice:
    threshold: float
    method: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"value": float(self.threshold), "method": self.method, "reason": self.reason}


CHOOSERS = ("youden", "maxf1", "cost", "sens", "spec", "sens-smooth")
# reader-sens:NAME / reader-spec:NAME: the model threshold matching reader NAME's sensitivity or
# specificity, chosen and measured honestly by core.site.calibrate.calibrate_scores (reader_calls).
READER_CHOOSERS = ("reader-sens", "reader-spec")


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
    - ``sens-smooth``: the Harrell-Davis estimate of the (1 - ``target``) quantile of the PNEUMONIA
      scores (on the logit scale): steadier than ``sens`` with a few dozen positive cases, where one
      order statistic decides (see :mod:`core.evaluation.quantiles`). Not necessarily an actual score.

    Ties go to the highest threshold. ``on`` names the data in the reason ("validation").
    """
    labels, scores = validate_scores(y_true, y_score, need_both=True)
    method = method.strip().lower()
    if method in READER_CHOOSERS:
        raise MetricsError(f"The '{method}' chooser needs a reader's readings on the same cases "
                           "(pneumoscope-cli site calibrate BUNDLE SITE --readings READINGS --choose ...).")
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
    elif method == "sens-smooth":
        return _sens_smooth(labels, scores, curve, _target(kw, method), where)
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


def _sens_smooth(labels: np.ndarray, scores: np.ndarray, curve: OperatingCurve, target: float,
                 where: str) -> ThresholdChoice:
    if target >= 1.0:
        raise MetricsError("The sens-smooth chooser needs a target below 1 (e.g. sens-smooth:0.95).")
    pos = np.clip(scores[labels == 1], 1e-7, 1 - 1e-7)
    z = harrell_davis(np.log(pos / (1 - pos)), 1.0 - target)
    threshold = float(1.0 / (1.0 + np.exp(-z)))
    point = curve.at(threshold)
    reason = (f"Smoothed (Harrell-Davis) estimate of the score that keeps sensitivity at {target:.3f}, from "
              f"{pos.size:,} PNEUMONIA cases {where} (sens {point.sensitivity[0]:.2f}, spec {point.specificity[0]:.2f})")
    need = int(np.ceil(1.0 / (1.0 - target)))
    if pos.size < need:
        reason += f"; with fewer than {need} PNEUMONIA cases the tail is extrapolated, so it is rough"
    return ThresholdChoice(threshold=threshold, method="sens-smooth", reason=reason)


def parse_chooser(text: str) -> tuple[str, dict[str, float]]:
    """'youden' | 'maxf1' | 'cost[:FN:FP[:PREV]]' | 'sens:0.95' | 'spec:0.9' | 'sens-smooth:0.95' |
    'reader-sens:NAME' | 'reader-spec:NAME' -> (method, kwargs)."""
    head, _, rest = str(text).strip().partition(":")
    if head.strip().lower() in READER_CHOOSERS:  # matched to an expert's point: needs readings (core.site)
        if not rest.strip():
            raise MetricsError(f"Write the reader chooser with the reader's name, e.g. '{head.strip()}:dr_lee'.")
        return head.strip().lower(), {"reader": rest.strip()}  # type: ignore[dict-item]
    parts = [p.strip() for p in str(text).strip().lower().split(":")]
    method, args = parts[0], parts[1:]
    if method not in CHOOSERS:
        raise MetricsError(
            f"Unknown threshold method {text!r}; use youden, maxf1, cost[:FN:FP], sens:0.95, spec:0.9 "
            "or sens-smooth:0.95."
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



def chooser_text(method: str, **kw: Any) -> str:
    """The chooser as the command line writes it ("sens:0.95", "cost:5:1:0.2"): the inverse of
    :func:`parse_chooser`, exact (``parse_chooser(chooser_text(m, **kw)) == (m, kw)``)."""
    method = str(method).strip().lower()
    if method in ("sens", "spec", "sens-smooth"):
        return f"{method}:{float(kw['target'])!r}"
    if method == "cost" and "cost_fn" in kw:
        text = f"cost:{float(kw['cost_fn'])!r}:{float(kw['cost_fp'])!r}"
        return text + (f":{float(kw['prevalence'])!r}" if kw.get("prevalence") is not None else "")
    return method

"""Is the site still seeing what the threshold was set on? Drift of unlabelled cases.

Two figures, both on cases without labels:

- the **population stability index** (PSI) of the site's scores against the bundle's validation
  scores, over ten bins cut at the validation deciles: sum over bins of
  (site share - validation share) * ln(site share / validation share). By the usual rule of thumb
  below 0.10 is stable, 0.10-0.25 is worth watching and above 0.25 is a real shift. A different
  share of pneumonia cases alone moves the raw figure a lot (validation is 74% pneumonia), so the
  share is first estimated from the site's own scores (adjusted classify-and-count, Forman 2008)
  and the validation cases are re-weighted to it; the level is judged on that adjusted
  PSI, which is left by changes in the images rather than in the case mix. The raw PSI is reported too;
- the **out-of-distribution rate**: the share of cases the bundle's OOD gate flags, against the
  rate the gate had on held-out validation images. It warns when the site's rate is at least
  twice the validation rate and its 95% Wilson interval lies wholly above it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.errors import PneumoscopeError
from core.evaluation.choosers import choose_threshold
from core.evaluation.operating import OperatingCurve, proportion

PSI_WATCH = 0.10
PSI_DRIFT = 0.25
MIN_CASES = 30
_LEVELS = ("stable", "watch", "drift")


class DriftError(PneumoscopeError):
    """Drift cannot be measured (the message says why)."""


def psi(reference: Any, current: Any, bins: int = 10, floor: float = 1e-4, weights: Any = None) -> float:
    """Population stability index of ``current`` against ``reference`` (bins at reference quantiles);
    ``weights`` re-weight the reference cases (e.g. to another class mix)."""
    ref = np.asarray(reference, dtype=np.float64).reshape(-1)
    cur = np.asarray(current, dtype=np.float64).reshape(-1)
    w = np.ones_like(ref) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    keep = np.isfinite(ref)
    ref, w, cur = ref[keep], w[keep], cur[np.isfinite(cur)]
    if len(ref) == 0 or len(cur) == 0:
        raise DriftError("drift needs scores on both sides (the reference or the site has none)")
    if bins < 2:
        raise DriftError("drift needs at least two bins")
    inner = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    # Bin i holds values in [edge_{i-1}, edge_i): searchsorted(side="right") counts ties upwards.
    ref_share = np.bincount(np.searchsorted(inner, ref, side="right"), weights=w, minlength=len(inner) + 1) / w.sum()
    cur_share = np.bincount(np.searchsorted(inner, cur, side="right"), minlength=len(inner) + 1) / len(cur)
    r = np.maximum(ref_share, floor)
    c = np.maximum(cur_share, floor)
    return float(np.sum((c - r) * np.log(c / r)))


def estimate_prevalence(site_scores: Any, reference_scores: Any, reference_labels: Any) -> float:
    """Share of PNEUMONIA among unlabelled cases by adjusted classify-and-count (Forman 2008): the
    share called PNEUMONIA at the validation Youden threshold, corrected with that threshold's
    validation sensitivity and false-positive rate. Needs no calibration, unlike EM."""
    choice = choose_threshold(reference_labels, reference_scores, "youden")
    tp, fp, tn, fn = OperatingCurve(reference_labels, reference_scores).counts_at(choice.threshold)
    tpr, fpr = tp / (tp + fn), fp / (fp + tn)
    called = float(np.mean(np.asarray(site_scores, dtype=np.float64) >= choice.threshold))
    return float(np.clip((called - fpr) / (tpr - fpr), 0.0, 1.0)) if tpr > fpr else called


def psi_level(value: float) -> str:
    if value >= PSI_DRIFT:
        return "drift"
    if value >= PSI_WATCH:
        return "watch"
    return "stable"


@dataclass
class DriftReport:
    n: int
    psi: float
    psi_level: str
    n_reference: int
    psi_raw: float | None = None  # before allowing for the site's share of pneumonia
    prevalence: float | None = None  # the site's estimated share of pneumonia
    ood_k: int | None = None
    ood_n: int | None = None
    ood_rate: tuple[float, float, float] | None = None
    reference_ood_rate: float | None = None
    ood_level: str | None = None
    level: str = "stable"
    lines: list[str] = field(default_factory=list)
    too_few: bool = False

    @property
    def warn(self) -> bool:
        return self.level == "drift"

    @property
    def status(self) -> str:
        """One line for a status bar."""
        if self.too_few:  # a PSI of a handful of scores means nothing: say only how far there is to go
            return f"Site drift: {self.n} case(s) so far - too few cases to judge (need {MIN_CASES})"
        parts = [f"score drift PSI {self.psi:.2f} ({self.psi_level})"]
        if self.ood_rate is not None and self.reference_ood_rate is not None:
            parts.append(f"unlike training {self.ood_rate[0]:.0%} (validation {self.reference_ood_rate:.0%})")
        text = f"Site drift on {self.n} cases: " + "; ".join(parts)
        if self.too_few:
            text += f" - too few cases to judge (need {MIN_CASES})"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n, "psi": self.psi, "psi_level": self.psi_level, "n_reference": self.n_reference,
            "psi_raw": self.psi_raw, "estimated_prevalence": self.prevalence,
            "ood_flagged": self.ood_k, "ood_scored": self.ood_n,
            "ood_rate": list(self.ood_rate) if self.ood_rate else None,
            "reference_ood_rate": self.reference_ood_rate, "ood_level": self.ood_level,
            "level": self.level, "warn": self.warn, "too_few": self.too_few, "text": list(self.lines),
        }


def _ood_level(k: int, n: int, ref_rate: float) -> str:
    rate, low, _ = proportion(k, n)
    if rate >= 2 * ref_rate and low > ref_rate:
        return "drift"
    if rate >= 2 * ref_rate:
        return "watch"
    return "stable"


def drift_report(
    reference_scores: Any,
    site_scores: Any,
    ood_flags: Any = None,
    reference_ood_rate: float | None = None,
    min_cases: int = MIN_CASES,
    reference_labels: Any = None,
) -> DriftReport:
    """Compare site scores (and OOD flags, when the bundle has a gate) with the reference.

    With ``reference_labels`` (the validation labels) the PSI allows for the site's own share of
    pneumonia, estimated from its scores; without them it is the raw PSI.
    """
    cur = np.asarray(site_scores, dtype=np.float64).reshape(-1)
    cur = cur[np.isfinite(cur)]
    ref = np.asarray(reference_scores, dtype=np.float64).reshape(-1)
    raw = psi(ref, cur)
    value, prevalence = raw, None
    if reference_labels is not None:
        labels = np.asarray(reference_labels).reshape(-1)
        n_pos = int((labels == 1).sum())
        if 0 < n_pos < len(labels) and len(cur):
            prevalence = estimate_prevalence(cur, ref, labels)
            weights = np.where(labels == 1, prevalence / n_pos, (1 - prevalence) / (len(labels) - n_pos))
            value = psi(ref, cur, weights=weights)
    rep = DriftReport(n=len(cur), psi=value, psi_level=psi_level(value), n_reference=int(np.isfinite(ref).sum()),
                      psi_raw=raw, prevalence=prevalence)
    rep.too_few = len(cur) < min_cases
    if prevalence is None:
        lines = [f"Score distribution: PSI {value:.3f} against the {rep.n_reference} validation scores stored "
                 f"with the model ({rep.psi_level}; below {PSI_WATCH:.2f} is stable, above {PSI_DRIFT:.2f} is a "
                 "real shift). A different share of pneumonia cases moves this figure too."]
    else:
        lines = [f"Score distribution: PSI {value:.3f} against the {rep.n_reference} validation scores stored "
                 f"with the model, re-weighted to the site's estimated {prevalence:.0%} pneumonia share "
                 f"({rep.psi_level}; below {PSI_WATCH:.2f} is stable, above {PSI_DRIFT:.2f} is a real shift; "
                 f"{raw:.3f} without that allowance)."]
    if rep.psi_level != "stable":
        lines.append("The site's scores are spread differently from validation in a way a different share of "
                     "pneumonia does not explain: the images may differ (device, age group, view) and the "
                     "threshold may no longer mean what it did.")
    levels = [rep.psi_level]
    if ood_flags is not None and reference_ood_rate is not None:
        flags = np.asarray(ood_flags, dtype=bool).reshape(-1)
        k, n = int(flags.sum()), int(flags.size)
        if n:
            rep.ood_k, rep.ood_n = k, n
            rep.ood_rate = proportion(k, n)
            rep.reference_ood_rate = float(reference_ood_rate)
            rep.ood_level = _ood_level(k, n, rep.reference_ood_rate)
            levels.append(rep.ood_level)
            r = rep.ood_rate
            lines.append(
                f"Unlike the training images: {k} of {n} cases ({r[0]:.1%}, 95% interval {r[1]:.1%}-{r[2]:.1%}) "
                f"against {rep.reference_ood_rate:.1%} of held-out validation images ({rep.ood_level})."
            )
            if rep.ood_level == "drift":
                lines.append("Many more of the site's images look unlike the training X-rays than expected: "
                             "check the source of the images before trusting the scores.")
    elif ood_flags is None:
        lines.append("No out-of-distribution figure: this model has no gate.")
    rep.level = max(levels, key=_LEVELS.index)
    if rep.too_few:
        lines.append(f"Only {rep.n} cases: with fewer than {min_cases} these figures are too noisy to act on.")
        rep.level = "stable" if rep.level == "stable" else "watch"
    elif rep.level == "drift":
        lines.append("WARNING: the site's images no longer look like what the threshold was set on. "
                     "Re-check the threshold on recent labelled cases (pneumoscope-cli site calibrate).")
    rep.lines = lines
    return rep


def bundle_reference(bundle: Any) -> tuple[np.ndarray, np.ndarray, float | None]:
    """The bundle's validation scores and labels and the held-out validation OOD rate of its gate (or None)."""
    if not bundle.has_scores("val"):
        raise DriftError("this model has no stored validation scores to compare the site with")
    labels, scores, _ = bundle.scores("val")
    spec = (bundle.card or {}).get("ood") or {}
    rate = spec.get("val_flag_rate_heldout", spec.get("val_flag_rate"))
    rate = float(rate) if isinstance(rate, int | float) and math.isfinite(rate) else None
    return np.asarray(scores, dtype=np.float64), np.asarray(labels), rate


def bundle_drift(bundle: Any, site_scores: Any, ood_flags: Any = None) -> DriftReport:
    reference, labels, rate = bundle_reference(bundle)
    return drift_report(reference, site_scores, ood_flags if rate is not None else None, rate,
                        reference_labels=labels)


def drift_of_cases(bundle: Any, cases: Any) -> DriftReport:
    """Drift of cases scored through :mod:`core.cases` (e.g. those reviewed this session); unreadable
    cases are left out. For Review's status line: ``drift_of_cases(bundle, cases).status``."""
    scored = [c for c in cases if getattr(c, "score", None) is not None]
    if not scored:
        raise DriftError("no scored cases yet")
    flags = None if any(getattr(c, "ood_distance", None) is None for c in scored) else [c.ood_flag for c in scored]
    return bundle_drift(bundle, [float(c.score) for c in scored], flags)

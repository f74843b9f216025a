"""Set a site's own threshold on part of its labelled cases and measure it on the untouched rest.

The site's cases are split by patient (stratified by class, seeded): the threshold is chosen with
the usual choosers (:func:`core.evaluation.operating.choose_threshold`) on one part only, and the
other part, never looked at while choosing, gives the honest estimate with 95% intervals (Wilson
for proportions, DeLong for the AUC). With ``holdout=0`` every case chooses and the result says
plainly that no honest estimate remains.
"""

from __future__ import annotations

import getpass
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.errors import fraction_problem
from core.evaluation.choosers import READER_CHOOSERS, ThresholdChoice, choose_threshold, parse_chooser
from core.evaluation.curves import roc_auc
from core.evaluation.operating import MetricsError, OperatingCurve, validate_scores
from core.learning.data import grouped_mask
from core.trust.profile import SiteProfile

DEFAULT_CHOOSER = "sens:0.95"
DEFAULT_HOLDOUT = 0.5


@dataclass
class SiteCalibration:
    choice: ThresholdChoice
    chooser: str
    holdout: float
    seed: int
    choose_mask: np.ndarray = field(repr=False)  # True: used to choose; False: held out
    figures: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    @property
    def threshold(self) -> float:
        return self.choice.threshold

    @property
    def n_choose(self) -> int:
        return int(self.choose_mask.sum())

    @property
    def n_holdout(self) -> int:
        return int((~self.choose_mask).sum())

    @property
    def honest(self) -> bool:
        return self.figures.get("estimate") == "held-out"


def _clean(v: Any) -> Any:
    if isinstance(v, tuple | list):
        return [_clean(x) for x in v]
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _figures_on(y: np.ndarray, s: np.ndarray, threshold: float, groups: list[str]) -> dict[str, Any]:
    curve = OperatingCurve(y, s)
    both = 0 < curve.n_pos < curve.n
    return {
        "n": curve.n,
        "n_pos": curve.n_pos,
        "n_neg": curve.n_neg,
        "patients": len(set(groups)),
        "auc": _clean(roc_auc(y, s)) if both else None,
        "at_threshold": curve.at(threshold).metrics_dict(),
    }


def split_for_calibration(labels: Any, groups: list[str], holdout: float, seed: int = 0) -> np.ndarray:
    """Boolean mask of the cases that choose (True); the rest (about ``holdout`` of them) is held out."""
    problem = fraction_problem(holdout, "held-out")
    if problem:
        raise MetricsError(problem[0].upper() + problem[1:] + ".")
    labels = np.asarray(labels)
    if holdout == 0.0:
        return np.ones(len(labels), dtype=bool)
    return ~grouped_mask(labels, groups, holdout, seed)


def calibrate_scores(
    y_true: Any,
    y_score: Any,
    groups: list[str],
    chooser: str = DEFAULT_CHOOSER,
    holdout: float = DEFAULT_HOLDOUT,
    seed: int = 0,
    reference_threshold: float | None = None,
    reference_name: str = "the model's own threshold",
    reader_calls: Any | None = None,
) -> SiteCalibration:
    """Choose a threshold on the choosing part and report the held-out part.

    ``reference_threshold`` (e.g. the bundle's validation threshold) is measured on the same
    held-out cases for comparison. A reader chooser (``reader-sens:NAME`` / ``reader-spec:NAME``)
    needs ``reader_calls``, that reader's calls on the same cases (1 PNEUMONIA, 0 NORMAL, -1 cannot
    read): the target is the reader's sensitivity (specificity) on the choosing part only, and the
    reader's own point on the held-out part is reported beside the model's.
    """
    y, s = validate_scores(y_true, y_score, what="site scores")
    if len(groups) != len(y):
        raise MetricsError(f"There are {len(y):,} scores but {len(groups):,} patient groups.")
    method, kw = parse_chooser(chooser)
    mask = split_for_calibration(y, groups, holdout, seed)
    notes: list[str] = []
    yc, sc = y[mask], s[mask]
    if len(yc) == 0 or len(np.unique(yc)) < 2:
        raise MetricsError(
            f"The part used to choose ({len(yc)} cases) does not hold both NORMAL and PNEUMONIA cases; "
            "add labelled cases of both kinds or lower --holdout."
        )
    n_pat = len({g for g, m in zip(groups, mask, strict=True) if m})
    calls = None
    prefix = ""
    if method in READER_CHOOSERS:
        from core.evaluation.readers import call_point

        if reader_calls is None:
            raise MetricsError(f"The '{method}' chooser needs the reader's readings on these cases "
                               "(--readings READINGS).")
        calls = np.asarray(reader_calls, dtype=np.int64)
        if calls.shape != y.shape:
            raise MetricsError(f"There are {len(y):,} scores but {calls.size:,} reader calls.")
        kind = "sensitivity" if method == "reader-sens" else "specificity"
        cm = mask & (calls >= 0)
        if len(np.unique(y[cm])) < 2:
            raise MetricsError("The reader's calls on the choosing part do not cover both NORMAL and PNEUMONIA "
                               "cases; lower --holdout.")
        target = float(call_point(y[cm], calls[cm])[kind][0])
        prefix = (f"matches reader {kw['reader']}'s {kind} {target:.3f} (their calls on {int(cm.sum())} "
                  "choosing cases); ")
        method, kw = method.removeprefix("reader-"), {"target": max(target, 1e-9)}
    choice = choose_threshold(yc, sc, method, on="site", **kw)
    choice = ThresholdChoice(choice.threshold, chooser, f"{prefix}{choice.reason}; {n_pat} patients")
    held = ~mask
    figures: dict[str, Any] = {"choose": {"n": int(mask.sum()), "patients": n_pat}}
    if held.any():
        held_groups = [g for g, h in zip(groups, held, strict=True) if h]
        figures["estimate"] = "held-out"
        figures["holdout"] = _figures_on(y[held], s[held], choice.threshold, held_groups)
        if calls is not None:
            from core.evaluation.readers import call_point

            hr = held & (calls >= 0)
            rp = call_point(y[hr], calls[hr])
            figures["reader"] = {"name": chooser.partition(":")[2].strip(), "n": int(hr.sum()),
                                 "sensitivity": rp["sensitivity"], "specificity": rp["specificity"]}
        if reference_threshold is not None:
            figures["reference"] = {
                "name": reference_name,
                "threshold": float(reference_threshold),
                "at_threshold": OperatingCurve(y[held], s[held]).at(reference_threshold).metrics_dict(),
            }
        n_pos = figures["holdout"]["n_pos"]
        if n_pos == 0 or n_pos == figures["holdout"]["n"]:
            notes.append("The held-out part holds only one class, so sensitivity or specificity cannot be measured.")
        elif min(n_pos, figures["holdout"]["n_neg"]) < 20:
            notes.append("The held-out part is small: read the intervals, not the point values.")
    else:
        figures["estimate"] = None
        figures["note"] = (
            f"No honest estimate remains: the threshold was chosen on all {len(y)} cases, so figures "
            "measured on them are optimistic. Keep some cases aside (--holdout 0.5) for an honest estimate."
        )
        figures["in_sample"] = _figures_on(y, s, choice.threshold, groups)
        notes.append(figures["note"])
    return SiteCalibration(choice, chooser, float(holdout), int(seed), mask, figures, notes)


def calibrate_site(bundle: Any, site: Any, scores: Any, chooser: str = DEFAULT_CHOOSER,
                   holdout: float = DEFAULT_HOLDOUT, seed: int = 0,
                   reader_calls: Any | None = None) -> SiteCalibration:
    """:func:`calibrate_scores` for a :class:`~core.site.sets.SiteSet` and its scores (same order)."""
    return calibrate_scores(site.labels, scores, site.groups, chooser, holdout, seed,
                            reference_threshold=float(bundle.threshold),
                            reference_name="validation threshold stored with the model",
                            reader_calls=reader_calls)


def make_profile(bundle: Any, site: Any, cal: SiteCalibration, user: str | None = None,
                 name: str | None = None) -> SiteProfile:
    counts = dict(site.counts())
    counts["choose"] = cal.n_choose
    counts["holdout"] = cal.n_holdout
    figures = dict(cal.figures)
    figures["seed"] = cal.seed
    if cal.notes:
        figures["notes"] = list(cal.notes)
    return SiteProfile(
        threshold=cal.threshold,
        chooser=cal.chooser,
        reason=cal.choice.reason,
        user=user or _user(),
        bundle_sha256=str(bundle.sha256),
        site_set_sha256=site.sha256,
        counts=counts,
        figures=figures,
        holdout=cal.holdout,
        name=name,
        kind="site",
    )


def manual_site_profile(bundle: Any, site: Any, scores: Any, threshold: float, reason: str,
                        user: str | None = None) -> SiteProfile:
    """A site threshold set by hand while looking at all of the site's cases: recorded with the
    figures on those same cases and the plain statement that no honest estimate remains."""
    y, s = validate_scores(site.labels, scores, what="site scores")
    figures = {
        "estimate": None,
        "note": (f"Set by hand while viewing all {len(y)} site cases, so figures measured on them are "
                 "optimistic; no honest estimate remains. Use a chooser with held-out cases for one."),
        "in_sample": _figures_on(y, s, float(threshold), site.groups),
    }
    counts = dict(site.counts())
    counts["choose"] = len(y)
    counts["holdout"] = 0
    return SiteProfile(threshold=float(threshold), chooser="manual", reason=reason, user=user or _user(),
                       bundle_sha256=str(bundle.sha256), site_set_sha256=site.sha256, counts=counts,
                       figures=figures, holdout=0.0, kind="site")


def validation_profile(bundle: Any, threshold: float, chooser: str, reason: str,
                       user: str | None = None) -> SiteProfile:
    """An operating point adopted on the model's own validation scores, kept beside the model
    (never written into it), with the validation figures at that threshold."""
    figures: dict[str, Any] = {"estimate": "validation"}
    counts: dict[str, Any] = {}
    if bundle.has_scores("val"):
        y, s, _ = bundle.scores("val")
        y, s = validate_scores(y, s, what="validation scores")
        figures["validation"] = {"n": len(y), "at_threshold": OperatingCurve(y, s).at(float(threshold)).metrics_dict()}
        counts["cases"] = len(y)
    return SiteProfile(threshold=float(threshold), chooser=chooser, reason=reason, user=user or _user(),
                       bundle_sha256=str(bundle.sha256), counts=counts, figures=figures, kind="adopted")


def adoption_profile(bundle: Any, threshold: float, reason: str, user: str | None = None, *,
                     site: Any = None, site_scores: Any = None, choice: Any = None,
                     cal: SiteCalibration | None = None, cal_site: Any = None) -> SiteProfile:
    """The profile that records adopting ``threshold``, of the kind the way it was reached calls for.

    On a site's cases (``site``, ``site_scores``): the chooser's honest profile when ``threshold``
    is the one ``cal`` chose on part of them, else a hand-set site profile that says no honest
    estimate remains. On validation: the chooser's name when ``threshold`` is what ``choice``
    (a chooser result with ``threshold`` and ``method``) chose, else "manual". ``cal_site`` is the
    set ``cal`` was made on when it is not all of ``site`` (a reader-matched choice: the cases that
    reader read)."""
    chosen = choice is not None and abs(float(choice.threshold) - float(threshold)) < 1e-9
    if site is not None:
        if chosen and cal is not None:
            profile = make_profile(bundle, cal_site if cal_site is not None else site, cal, user=user)
            profile.reason = f"{reason} ({cal.choice.reason})"
            return profile
        return manual_site_profile(bundle, site, site_scores, threshold, reason, user)
    method = choice.method if chosen and cal is None else "manual"
    return validation_profile(bundle, threshold, method, reason, user)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (some containers): still record something
        return "unknown"


def _pct(triple: Any) -> str:
    if not triple or triple[0] is None:
        return "n/a"
    v, lo, hi = triple
    return f"{v:.1%} [{lo:.1%}-{hi:.1%}]"


def format_calibration(cal: SiteCalibration) -> str:
    """Plain text for the terminal."""
    lines = [f"Site threshold {cal.threshold:.4f} ({cal.chooser}): {cal.choice.reason}."]
    f = cal.figures
    if cal.honest:
        h = f["holdout"]
        lines.append(f"Honest estimate on {h['n']} held-out cases ({h['n_pos']} PNEUMONIA, {h['n_neg']} NORMAL, "
                     f"{h['patients']} patients) never used to choose:")
        at = h["at_threshold"]
        for key in ("sensitivity", "specificity", "accuracy", "precision", "npv"):
            lines.append(f"  {key:<12} {_pct(at.get(key))}")
        if h.get("auc"):
            a = h["auc"]
            lines.append(f"  {'AUC':<12} {a[0]:.3f} [{a[1]:.3f}-{a[2]:.3f}]")
        ref = f.get("reference")
        if ref:
            r = ref["at_threshold"]
            lines.append(f"Same held-out cases at the {ref['name']} {ref['threshold']:.4f}: "
                         f"sensitivity {_pct(r.get('sensitivity'))}, specificity {_pct(r.get('specificity'))}, "
                         f"accuracy {_pct(r.get('accuracy'))}")
        rd = f.get("reader")
        if rd:
            lines.append(f"Reader {rd['name']} on the same held-out cases ({rd['n']} called): sensitivity "
                         f"{_pct(rd.get('sensitivity'))}, specificity {_pct(rd.get('specificity'))}")
    lines += [f"Note: {n}" for n in cal.notes]
    return "\n".join(lines)

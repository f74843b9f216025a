"""Readers beside the model on a labelled set: the report, the reader-matched choosers, the expected error rate.

The model's scores on the set come from :mod:`core.site.scoring` (or are given); the figures from
:mod:`core.evaluation.readers`. ``reader-sens:NAME`` / ``reader-spec:NAME`` pick the model threshold
that matches reader NAME's sensitivity (specificity) with the honest rule of
:mod:`core.site.calibrate`: the reader's point and the threshold come from one patient-grouped part
of the cases, the model's figures at that threshold from the untouched rest.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.evaluation.intervals import MetricsError
from core.evaluation.operating import OperatingCurve
from core.evaluation.readers import agreement_at, call_point, model_figures, pooled_readers, reader_figures
from core.site.readings import MatchedReadings, Reading, ReadingsError, changed_calls, match_readings
from core.site.sets import SiteSet


@dataclass
class ReaderReport:
    threshold: float
    threshold_text: str
    readers: dict[str, dict[str, Any]]
    model: dict[str, Any]
    pooled: dict[str, Any] | None = None
    aided: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    case_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    # Per reader: (indices into the scored set, calls) of the cases read, for figures at any threshold.
    reader_cases: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)
    model_no_call: np.ndarray | None = field(default=None, repr=False)

    def agreement_at(self, scores: Any, threshold: float) -> dict[str, dict[str, Any]]:
        """Each reader's kappa and agreement with the model's calls at ``threshold`` (scores of the whole set)."""
        s = np.asarray(scores, dtype=np.float64)
        out = {}
        for name, (idx, calls) in self.reader_cases.items():
            nc = None if self.model_no_call is None else self.model_no_call[idx]
            out[name] = agreement_at(calls, s[idx], threshold, nc)
        return out

    def rows_at(self, labels: Any, scores: Any, threshold: float) -> list[tuple[str, str, str, str]]:
        """The model-vs-reader table at ``threshold`` on the cases read (labels/scores of the whole set):
        the model's point and each reader's kappa with the model's calls both at ``threshold``."""
        from core.evaluation.reader_plots import comparison_rows

        idx = self.case_index
        return comparison_rows(np.asarray(labels)[idx], np.asarray(scores)[idx], threshold, self.readers,
                               self.agreement_at(scores, threshold))

    def table(self, labels: Any, scores: Any) -> list[list[str]]:
        """The model-vs-reader table at the report's threshold (the one in force), as lists."""
        return [list(r) for r in self.rows_at(labels, scores, self.threshold)]

    def pdf(self, path: Any, labels: Any, scores: Any, extra: dict[str, Any] | None = None) -> Any:
        """The readers' PDF (ROC with their points, the figures, the table at the report's threshold);
        ``labels``/``scores`` are the whole set's, ``extra`` more keys for the report (e.g. a choice)."""
        from core.evaluation.reader_plots import write_reader_pdf

        data = {**self.as_dict(), **(extra or {}), "table": self.table(labels, scores)}
        idx = self.case_index
        return write_reader_pdf(path, np.asarray(labels)[idx], np.asarray(scores)[idx], data)

    def as_dict(self) -> dict[str, Any]:
        return _clean({"threshold": self.threshold, "threshold_source": self.threshold_text,
                       "readers": self.readers, "model": self.model, "pooled": self.pooled,
                       "aided": self.aided, "notes": self.notes})


def _clean(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, tuple | list):
        return [_clean(x) for x in v]
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        return None if math.isnan(float(v)) else float(v)
    return v


def unscored_readings(site: SiteSet, readings: list[Reading]) -> tuple[list[Reading], list[str]]:
    """The readings of cases the model scored, and a note on those left out.

    ``site`` is a scored set (:func:`core.site.scoring.score_site`): a case whose image the model
    could not read is in ``site.unreadable``. A reader may well have called it "cannot read" too;
    its readings are left out of the comparison (with a note) rather than failing the report as an
    unknown file. Files in neither list stay unknown and are refused by :func:`match_readings`.
    """
    from core.site.sets import relative_name

    root = os.path.abspath(site.root)
    base = Path(root if os.path.isdir(root) else os.path.dirname(root))
    # Only files that are not among the scored cases: a CSV's second row for a case that was
    # scored (listed as unreadable, "listed twice") must not take that case's readings with it.
    gone = {relative_name(Path(path), base) for path, _why in site.unreadable} - set(site.names)
    keep = [r for r in readings if r.file not in gone]
    dropped = len(readings) - len(keep)
    notes = []
    if dropped:
        n_files = len({r.file for r in readings if r.file in gone})
        notes.append(f"{dropped} reading(s) of {n_files} image(s) the model could not read are left out of the "
                     "comparison.")
    return keep, notes


def reader_report(site: SiteSet, scores: Any, readings: list[Reading], threshold: float, threshold_text: str = "",
                  model_no_call: Any | None = None, n_boot: int = 1000, seed: int = 0) -> ReaderReport:
    """Each reader against the model on the cases that reader read; pooled over readers on shared cases."""
    s_all = np.asarray(scores, dtype=np.float64)
    if s_all.shape[0] != len(site):
        raise MetricsError(f"{len(site)} cases but {s_all.shape[0]} model scores.")
    no_call_all = None if model_no_call is None else np.asarray(model_no_call, bool)
    readings, left_out = unscored_readings(site, readings)
    m = match_readings(readings, site.names, site.labels)
    out: dict[str, dict[str, Any]] = {}
    cases: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in m.readers:
        pos, calls, ratings = m.for_reader(name)
        idx = m.case_index[pos]
        cases[name] = (idx, np.asarray(calls, dtype=np.int64))
        nc = None if no_call_all is None else no_call_all[idx]
        fig = reader_figures(m.labels[pos], calls, ratings, s_all[idx], threshold, nc)
        secs = m.seconds[m.readers.index(name)][pos]
        fig["median_seconds"] = float(np.nanmedian(secs)) if np.isfinite(secs).any() else None
        out[name] = fig
    model = model_figures(m.labels, s_all[m.case_index], threshold)
    report = ReaderReport(float(threshold), threshold_text, out, model, notes=left_out, case_index=m.case_index,
                          reader_cases=cases, model_no_call=no_call_all)
    shared = np.all(m.calls != -2, axis=0)
    if len(m.readers) > 1 and shared.sum() >= 2 and 0 < m.labels[shared].sum() < shared.sum():
        report.pooled = pooled_readers(m.labels[shared], m.calls[:, shared], m.ratings[:, shared], n_boot, seed,
                                       model_scores=s_all[m.case_index[shared]])
    elif len(m.readers) > 1:
        report.notes.append("The readers share too few cases for a pooled figure.")
    if any(r.phase == "aided" for r in readings):
        report.aided = _aided(readings, site, m)
    return report


def _aided(readings: list[Reading], site: SiteSet, unaided: MatchedReadings) -> dict[str, Any]:
    try:
        m = match_readings(readings, site.names, site.labels, phase="aided")
    except ReadingsError as exc:
        return {"error": str(exc)}
    out: dict[str, Any] = {}
    for name in m.readers:
        _, calls, _ = m.for_reader(name)
        pos, _, _ = m.for_reader(name)
        p = call_point(m.labels[pos], calls)
        changed = changed_calls(readings, name)
        out[name] = {"sensitivity": p["sensitivity"], "specificity": p["specificity"],
                     "changed_calls": len(changed),
                     "changed_to_correct": sum(1 for f, _b, a in changed
                                               if a == ("PNEUMONIA" if site.labels[site.names.index(f)] else "NORMAL"))}
    return out


# ----------------------------------------------------------------------------- reader choosers


def parse_reader_chooser(text: str) -> tuple[str, str] | None:
    """'reader-sens:NAME' -> ('sens', NAME); None when the text is not a reader chooser."""
    head, _, name = str(text).strip().partition(":")
    kind = {"reader-sens": "sens", "reader-spec": "spec"}.get(head.strip().lower())
    if kind is None:
        return None
    if not name.strip():
        raise MetricsError(f"Write the reader chooser with the reader's name, e.g. '{head}:dr_lee'.")
    return kind, name.strip()


def reader_cases(site: SiteSet, scores: Any, readings: list[Reading], name: str) -> tuple[SiteSet, np.ndarray, np.ndarray]:
    """The cases reader ``name`` read (unaided), as a set of its own, their scores and the reader's calls."""
    readings, _ = unscored_readings(site, readings)
    m = match_readings(readings, site.names, site.labels)
    if name not in m.readers:
        raise MetricsError(f"There is no reader {name!r} in the readings; readers: {', '.join(m.readers)}.")
    pos, calls, _ = m.for_reader(name)
    idx = m.case_index[pos]
    sub = SiteSet(site.root, site.source, [site.cases[i] for i in idx], list(site.unreadable), list(site.notes))
    return sub, np.asarray(scores, dtype=np.float64)[idx], np.asarray(calls, dtype=np.int64)


def choose_reader_matched(site: SiteSet, scores: Any, readings: list[Reading], chooser: str,
                          holdout: float = 0.5, seed: int = 0, bundle: Any | None = None) -> tuple[Any, SiteSet]:
    """The model threshold matching a reader's sensitivity or specificity, chosen on one part, measured on the rest.

    Returns the :class:`~core.site.calibrate.SiteCalibration` (as ``site calibrate`` makes it, so it
    can become a site profile) and the set of the cases that reader read, which it was made on.
    """
    from core.site.calibrate import calibrate_scores, calibrate_site

    parsed = parse_reader_chooser(chooser)
    if parsed is None:
        raise MetricsError(f"{chooser!r} is not a reader chooser (reader-sens:NAME or reader-spec:NAME).")
    sub, s, calls = reader_cases(site, scores, readings, parsed[1])
    if bundle is not None:
        return calibrate_site(bundle, sub, s, chooser, holdout, seed, reader_calls=calls), sub
    return calibrate_scores(sub.labels, s, sub.groups, chooser, holdout, seed, reader_calls=calls), sub


# ----------------------------------------------------------------------------- expected disagreement


def expected_error_rate(bundle: Any) -> tuple[float | None, str]:
    """1 - accuracy at the threshold in force: from the site profile's held-out figures, else the
    bundle's validation scores at that threshold. (None, why) when neither is known."""
    from core.trust.profile import ProfileError, active_threshold, load_profile

    threshold, _ = active_threshold(bundle)
    try:
        profile = load_profile(bundle)
    except ProfileError:
        profile = None
    figures = (profile.figures or {}) if profile is not None else {}
    for key in ("holdout", "validation"):
        acc = ((figures.get(key) or {}).get("at_threshold") or {}).get("accuracy")
        if acc and acc[0] is not None:
            return 1.0 - float(acc[0]), f"(site profile, {key} figures at {threshold:.3f})"
    if bundle.has_scores("val"):
        y, sc, _ = bundle.scores("val")
        acc = OperatingCurve(y, sc).at(threshold).accuracy[0]
        return 1.0 - float(acc), f"(model validation figures at {threshold:.3f})"
    return None, "no validation figures"


def feedback_status(bundle: Any, window: int = 50, log: Any = None) -> dict[str, Any]:
    """The disagreement watch for ``bundle``'s feedback (same model sha256) against its expected error rate."""
    from core.trust.feedback import disagreement_watch, read_feedback

    sha = str(bundle.sha256) if bundle is not None else None
    records = [r for r in read_feedback(log) if sha is None or r.get("model_sha256") in (sha, None)]
    expected, source = expected_error_rate(bundle) if bundle is not None else (None, "")
    return disagreement_watch(records, expected, window=window, source=source)

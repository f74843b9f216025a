"""Cases: the one place that turns an image file into a scored, explained, audited case.

Review, batch scoring to CSV, the command line and the DICOM node all go through here, so a
case gets the same score, label, out-of-distribution check, view warning and audit record
wherever it is scored. Nothing here knows about Qt.
"""

from __future__ import annotations

import csv
import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.applog import log_failure
from core.errors import PneumoscopeError
from core.imaging import XRay, chest_warning, is_candidate_file, load_image
from core.paths import atomic_open
from core.progress import Cancelled, Progress
from core.trust.audit import AuditLog, case_hash
from core.trust.profile import active_threshold as _active_threshold

POSITIVE, NEGATIVE = "PNEUMONIA", "NORMAL"
# What a case gets instead of a score and a call when the out-of-distribution gate or the
# chest-view check fires: the model's number means nothing for such an image.
NOT_APPLICABLE = "not applicable: not a chest X-ray like the training data"
CSV_COLUMNS = ("file", "score", "label", "threshold", "threshold_source", "ood_distance", "ood_flag",
               "chest_view_warning", "population_warning", "no_call_reason", "error", "warnings")
_BATCH = 32


# What a failed gate is called in a case's warnings ("<OOD_CHECK> failed: ..."); results read it.
OOD_CHECK = "Out-of-distribution check"

@dataclass
class Case:
    """One image and everything the model and its checks say about it."""

    path: str
    xray: XRay | None = None
    score: float | None = None  # calibrated P(pneumonia); None when the file could not be scored
    threshold: float | None = None
    threshold_source: str = ""
    label: str | None = None  # PNEUMONIA / NORMAL at the threshold; None when there is no call
    ood_distance: float | None = None  # distance / cut-off of the bundle's gate; None without a gate
    ood_flag: bool = False
    chest_warning: str | None = None
    population_warning: str | None = None  # age or view outside the card's intended population
    no_call_reason: str | None = None  # set (and label None) when the gate or the view check fires
    heatmap: np.ndarray | None = None  # Grad-CAM, float32 HxW in [0, 1], the image's own size
    error: str | None = None
    # What failed without stopping the score (Grad-CAM, the gate, the audit write), in plain words;
    # each is also in the application log (core.applog).
    warnings: list[str] = field(default_factory=list)
    sha256: str = ""
    model_name: str = ""  # the bundle's name, where the scorer sets it (the node's results name it)
    t_score: float = 0.0  # seconds for the score (and heat map when asked)
    t_total: float = 0.0  # seconds for everything the model did for this case

    @property
    def applicable(self) -> bool:
        """A score that may be read and called: scored, and neither the gate nor the view check fired."""
        return self.score is not None and self.no_call_reason is None

    @property
    def ood_warning(self) -> str | None:
        """Plain-language warning from the out-of-distribution gate, or None for a typical image."""
        if not self.ood_flag or self.ood_distance is None:
            return None
        from core.trust.ood import describe

        return describe(float(self.ood_distance))


def call(score: float, threshold: float) -> str:
    """The label at a threshold: a score at or above it means PNEUMONIA, everywhere."""
    return POSITIVE if float(score) >= float(threshold) else NEGATIVE


def no_call_reason(case: Case) -> str | None:
    """Why ``case`` gets no PNEUMONIA/NORMAL call, or None when it gets one (the rule, in one place)."""
    if case.score is None:
        return None
    checks = [name for name, fired in (("out-of-distribution gate", case.ood_flag),
                                       ("chest-view check", bool(case.chest_warning))) if fired]
    return f"{NOT_APPLICABLE} ({' and '.join(checks)})" if checks else None


def decide(case: Case, threshold: float | None = None) -> Case:
    """Give ``case`` its call at ``threshold`` (default: its own), or none when the rule says so.

    Every consumer (Review, batch CSV, CLI, audit, DICOM node) reads ``label`` and
    ``no_call_reason`` from here rather than comparing the score with a threshold itself.
    """
    if threshold is not None:
        case.threshold = float(threshold)
    case.no_call_reason = no_call_reason(case)
    scored = case.score is not None and case.threshold is not None
    case.label = call(case.score, case.threshold) if scored and case.no_call_reason is None else None
    return case


def describe_case(case: Case) -> str:
    """The one line a reader sees: "Score 0.93 - PNEUMONIA (threshold 0.62)", or why there is none."""
    if case.score is None:
        return "No score" + (f": {case.error}" if case.error else "")
    if not case.applicable:
        return "Score " + NOT_APPLICABLE
    return format_score(case.score, case.threshold if case.threshold is not None else 0.5)


def format_score(score: float, threshold: float) -> str:
    """'Score 0.93 - PNEUMONIA (threshold 0.62)', with more digits when two would look tied."""
    digits = 2
    while digits < 6 and f"{score:.{digits}f}" == f"{threshold:.{digits}f}" and score != threshold:
        digits += 1
    t_digits = digits
    # "1.00" or "0.00" reads as certainty; show the digit that says it is not.
    while digits < 4 and f"{score:.{digits}f}" in (f"{1:.{digits}f}", f"{0:.{digits}f}") and 0.0 < score < 1.0:
        digits += 1
    return f"Score {score:.{digits}f} - {call(score, threshold)} (threshold {threshold:.{t_digits}f})"



def active_threshold(bundle: Any) -> tuple[float, str]:
    """The threshold in force for ``bundle`` and where it comes from: the site profile kept beside
    the model when there is a valid one (:mod:`core.trust.profile`), else the model's own."""
    return _active_threshold(bundle)


def list_images(path: str | os.PathLike[str]) -> list[str]:
    """One image file as itself, or every image under a folder (recursively); a plain error if neither."""
    p = Path(path)
    if p.is_file():
        return [str(p)]
    if not p.is_dir():
        raise PneumoscopeError(f"{p} does not exist (expected an image file or a folder of images)")
    return list_case_files(p)


def list_case_files(folder: str | os.PathLike[str]) -> list[str]:
    """Image files under ``folder`` (searched recursively), sorted by their path within it."""
    root = Path(folder)
    files = [p for p in root.rglob("*") if is_candidate_file(p)]
    return [str(p) for p in sorted(files, key=lambda p: str(p.relative_to(root)).lower())]


def open_case(path: str | os.PathLike[str], audit: bool = True) -> XRay:
    """Load an image for review and record that it was opened (hashes only, never names or IDs)."""
    xray = load_image(path)
    if audit:
        _audit(lambda log: log.case_opened(xray))
    return xray


def score_case(
    bundle: Any,
    xray_or_path: XRay | str | os.PathLike[str],
    threshold: float | None = None,
    threshold_source: str | None = None,
    want_heatmap: bool = False,
    audit: bool = True,
    progress: Callable[[Case], None] | None = None,
) -> Case:
    """Score one image (and explain it when ``want_heatmap``); an unreadable file gives a Case with ``error``.

    ``progress`` receives the case as soon as it has its score and gate result, before the heat map.
    """
    if threshold is None:
        threshold, source = active_threshold(bundle)
        threshold_source = threshold_source or source
    case = Case(path=str(getattr(xray_or_path, "path", xray_or_path)), threshold=float(threshold),
                threshold_source=threshold_source or "")
    if isinstance(xray_or_path, XRay):
        xray = xray_or_path
    else:
        try:
            xray = load_image(xray_or_path)
        except PneumoscopeError as exc:
            case.error = str(exc)
            return case
    case.xray = xray
    case.chest_warning = chest_warning(xray)
    case.population_warning = population_check(bundle, xray)
    t0 = time.perf_counter()
    heat, ood = None, None
    if want_heatmap and getattr(bundle, "runtime", None) is None:
        try:
            from core.trust.explain import gradcam_and_score

            heat, score = gradcam_and_score(bundle, xray.pixels)
        except Exception as exc:  # a model Grad-CAM cannot explain still gets a score, and says why
            case.warnings.append(log_failure("Heat map (Grad-CAM)", exc))
            heat, score = None, float(bundle.score_pixels(xray.pixels))
        features = _keras_gate_features(bundle, [xray.pixels], case.warnings)
    elif want_heatmap:  # LiteRT: score, gate features and Grad-CAM come from one pass
        from core.trust.explain import heat_from_cam

        raw, features, cam = bundle.runtime.run(bundle.preprocess(xray.pixels))
        score = float(bundle.calibrate(np.array([raw], dtype=np.float32))[0])
        try:
            heat = heat_from_cam(cam, xray.pixels.shape)
        except Exception as exc:
            case.warnings.append(log_failure("Heat map (Grad-CAM)", exc))
        features = features[None]
    else:
        scores, features = _score_and_gate(bundle, [xray.pixels], case.warnings)
        score = float(scores[0])
    case.t_score = time.perf_counter() - t0
    case.score = float(score)
    try:
        from core.trust.ood import gate_scores

        gated = gate_scores(bundle, features)
        ood = None if gated is None else float(gated[0])
    except Exception as exc:  # a failing gate must not hide the score, nor be hidden
        case.warnings.append(log_failure(OOD_CHECK, exc))
    if ood is not None:
        case.ood_distance, case.ood_flag = ood, bool(ood > 1.0)
    decide(case)
    case.heatmap = heat
    case.t_total = time.perf_counter() - t0
    if progress is not None:
        progress(case)
    if audit:
        case.sha256 = case_hash(xray)
        _audit(lambda log: log.prediction(case.sha256, case.score, case.threshold, bundle=bundle,
                                          no_call_reason=case.no_call_reason), case)
    return case


def _has_gate(bundle: Any) -> bool:
    from core.trust.ood import bundle_spec

    return bundle_spec(bundle) is not None


def _keras_gate_features(bundle: Any, pixels_list: list[np.ndarray], warnings: list[str]) -> np.ndarray | None:
    """The gate's features by a second Keras pass; ``None`` without a gate, or when it fails (the
    failure is logged and added to ``warnings``: a failing gate must not hide the score)."""
    try:
        from core.trust.ood import gate_features

        return gate_features(bundle, pixels_list)
    except Exception as exc:
        warnings.append(log_failure(OOD_CHECK, exc))
        return None


def _score_and_gate(bundle: Any, pixels_list: list[np.ndarray], warnings: list[str]) -> tuple[np.ndarray, Any]:
    """Scores and the gate's features (``None`` without a gate or when it failed). LiteRT gives
    both from one pass; on the Keras path the features take a second pass."""
    if getattr(bundle, "runtime", None) is not None:
        return bundle.scores_and_features(pixels_list, want_features=_has_gate(bundle))
    scores, _ = bundle.scores_and_features(pixels_list, want_features=False)
    return scores, _keras_gate_features(bundle, pixels_list, warnings)


def population_check(bundle: Any, xray: XRay) -> str | None:
    """Warning when the image's age or view tags fall outside the bundle card's intended population."""
    from core.trust.population import intended_population, population_warning

    return population_warning(xray.meta, intended_population(getattr(bundle, "card", None)))


def _load_or_error(path: str) -> XRay | str:
    try:
        return load_image(path)
    except PneumoscopeError as exc:
        return str(exc)


def score_files(
    bundle: Any,
    paths: Sequence[str | os.PathLike[str]],
    threshold: float | None = None,
    threshold_source: str | None = None,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    audit: bool = True,
) -> list[Case]:
    """Score many files in batches (no heat maps); unreadable files become cases with ``error``.

    Every scored case gets its ``prediction`` audit record (case hash, never the path), as in Review.
    """
    if threshold is None:
        threshold, source = active_threshold(bundle)
        threshold_source = threshold_source or source
    from core.trust.ood import gate_scores

    paths = [str(p) for p in paths]
    cases: list[Case] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for start in range(0, len(paths), _BATCH):
            if should_stop is not None and should_stop():
                raise Cancelled("scoring cancelled; nothing was written")
            part = paths[start:start + _BATCH]
            loaded = list(pool.map(_load_or_error, part))
            good = [x for x in loaded if isinstance(x, XRay)]
            gate_warnings: list[str] = []
            ood = None
            scores = np.zeros(0)
            if good:
                scores, features = _score_and_gate(bundle, [x.pixels for x in good], gate_warnings)
                try:
                    ood = gate_scores(bundle, features)
                except Exception as exc:  # a failing gate must not hide the scores, nor be hidden
                    gate_warnings.append(log_failure(OOD_CHECK, exc))
            gate_warning = gate_warnings[0] if gate_warnings else None
            k = 0
            for path, item in zip(part, loaded, strict=True):
                case = Case(path=path, threshold=float(threshold), threshold_source=threshold_source or "")
                if isinstance(item, str):
                    case.error = item
                else:
                    case.score = float(scores[k])
                    case.chest_warning = chest_warning(item)
                    case.population_warning = population_check(bundle, item)
                    if ood is not None:
                        case.ood_distance = float(ood[k])
                        case.ood_flag = bool(case.ood_distance > 1.0)
                    if gate_warning:
                        case.warnings.append(gate_warning)
                    decide(case)
                    if audit:
                        case.sha256 = case_hash(item)
                    k += 1
                cases.append(case)
            if audit:
                _audit_batch(bundle, cases[start:])
            if progress is not None:
                done = start + len(part)
                progress(Progress("predicting", batch=done, batches=len(paths), fraction=done / len(paths),
                                  message=f"scored {done}/{len(paths)} images"))
    return cases


def case_row(case: Case) -> list[str]:
    """One CSV row in the order of :data:`CSV_COLUMNS`."""
    scored = case.score is not None and math.isfinite(case.score)
    na = scored and not case.applicable
    return [
        case.path,
        "not applicable" if na else (f"{case.score:.6f}" if scored else ""),
        case.label or ("" if scored else "UNREADABLE"),
        f"{case.threshold:.6f}" if case.threshold is not None else "",
        case.threshold_source,
        f"{case.ood_distance:.4f}" if case.ood_distance is not None else "",
        ("yes" if case.ood_flag else "no") if case.ood_distance is not None else "",
        case.chest_warning or "",
        case.population_warning or "",
        case.no_call_reason or "",
        case.error or ("" if scored else "could not be read or scored"),
        "; ".join(case.warnings),
    ]


def write_cases_csv(cases: Sequence[Case], out_csv: str | os.PathLike[str]) -> Path:
    """Write the cases to a CSV (header :data:`CSV_COLUMNS`) atomically: a complete file or none."""
    out = Path(out_csv)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(case_row(c) for c in cases)
    return out


def write_scores(
    bundle: Any,
    paths: Sequence[str | os.PathLike[str]],
    out_csv: str | os.PathLike[str],
    threshold: float | None = None,
    threshold_source: str | None = None,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Batch scoring to CSV (Review's "Score folder" and ``pneumoscope-cli predict``): counts and the path."""
    cases = score_files(bundle, paths, threshold, threshold_source, progress, should_stop)
    out = write_cases_csv(cases, out_csv)
    return {**summarize(cases), "path": str(out)}


def summarize(cases: Sequence[Case]) -> dict[str, int]:
    """Counts for a one-line summary: scored, positive at the threshold, unreadable, flagged."""
    scored = [c for c in cases if c.score is not None]
    return {
        "n": len(cases),
        "scored": len(scored),
        "positive": sum(1 for c in scored if c.label == POSITIVE),
        "not_applicable": sum(1 for c in scored if not c.applicable),
        "unreadable": len(cases) - len(scored),
        "flagged": sum(1 for c in scored if c.ood_flag or c.chest_warning),
    }


def _audit_batch(bundle: Any, cases: Sequence[Case]) -> None:
    """One ``prediction`` record per scored case of a batch, through one log (fewer opens)."""
    scored = [c for c in cases if c.score is not None and c.threshold is not None]
    if not scored:
        return

    def write(log: AuditLog) -> None:
        for c in scored:
            log.prediction(c.sha256, c.score, c.threshold, bundle=bundle, no_call_reason=c.no_call_reason,
                           source="batch")

    _audit(write, *scored)


def _audit(write: Callable[[AuditLog], Any], *cases: Case) -> None:
    """Write to the audit log; a failure never blocks review or scoring, but is logged and told to
    the cases it concerns (``Case.warnings``)."""
    try:
        write(AuditLog())
    except Exception as exc:
        message = log_failure("Audit record", exc)
        for case in cases:
            case.warnings.append(message)

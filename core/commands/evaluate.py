"""``pneumoscope-cli evaluate``: judge a model bundle on one split and write a report."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

DESCRIPTION = """\
Evaluate a model bundle on the validation or test split and print (and optionally save)
a report: confusion matrix, sensitivity/specificity/PPV/NPV with 95% intervals, AUC with
its DeLong interval, calibration, bacterial/viral subgroups, classification report.

DATA is the dataset folder (train/ [val/] [test/] with NORMAL/ and PNEUMONIA/). Without
DATA the scores saved in the bundle at training time are used.

Threshold: the bundle's own threshold unless --threshold T or --choose METHOD is given.
Choosers always run on VALIDATION scores. With --split test and --choose, the threshold is
chosen on the validation split and then applied to test: the test split never chooses anything.
  --choose youden | maxf1 | cost[:FN:FP[:PREVALENCE]] | sens:0.95 | spec:0.9

Site data (--split site): DATA is your own labelled set, scored in full with the threshold in
force (your site profile if you made one, see `pneumoscope-cli site`). For a model fine-tuned on
site data, the cases it was trained or validated on are left out and it is compared with its
parent on the rest (paired DeLong test of the AUC difference).

Research use only - not for diagnostic use.

Examples:
  pneumoscope-cli evaluate my_model DATA --split val --choose youden --report val.pdf
  pneumoscope-cli evaluate my_model DATA --split test --choose sens:0.95 --report test.pdf --html test.html
  pneumoscope-cli evaluate default ~/site_cases --split site --report site.pdf --json
"""


def _progress(quiet: bool) -> Any:
    if quiet:
        return None
    try:
        from core.commands._progress import TerminalProgress
    except ImportError:  # progress is a nicety, not a requirement
        return None
    return TerminalProgress(stream=sys.stderr)


def _validation_scores(bundle: Any, data: str | None, progress: Any) -> Any:
    """Validation scores for choosing: stored ones when the bundle has them, else scored from DATA."""
    from core.evaluation.evaluate import stored_scores
    from core.learning.bundle import BundleError
    from core.learning.scoring import evaluate_bundle

    if bundle.has_scores("val"):
        return stored_scores(bundle, "val")
    if data:
        return evaluate_bundle(bundle, data, "val", progress=progress)
    raise BundleError("choosing a threshold needs validation scores: this bundle has none stored; pass DATA")


def _site_scores(bundle: Any, args: argparse.Namespace, progress: Any) -> tuple[Any, Any, str]:
    """Scores of every case of a site set (a fine-tuned model: only the cases it never used) and,
    for a fine-tuned model, its comparison with the parent on those same cases."""
    from core.site.compare import compare_parent_child, fair_mask, find_parent, format_comparison, is_child
    from core.site.scoring import as_scores, score_site
    from core.site.sets import SiteDataError, read_site_set

    if not args.data:
        raise SiteDataError("--split site needs the SITE folder (NORMAL/ and PNEUMONIA/) or a CSV file,label")
    site = read_site_set(args.data)
    scored = score_site(bundle, site, progress=progress)
    if not is_child(bundle):
        return as_scores(scored), None, scored.site.sha256
    parent = find_parent(bundle, args.parent)
    comparison = compare_parent_child(parent, bundle, score_site(parent, site, progress=progress), scored)
    fair = fair_mask(bundle, scored.site.names)
    scores = as_scores(scored, fair)
    scores.notes.append(f"{int((~fair).sum())} site cases this model was fine-tuned or validated on are left out.")
    scores.notes += format_comparison(comparison).splitlines()
    return scores, comparison, scored.site.sha256


def _site_threshold(bundle: Any, site_sha256: str) -> tuple[Any, str, str | None]:
    """The threshold in force (site profile or the model's own), as a choice for the report."""
    from core.evaluation.choosers import ThresholdChoice
    from core.trust.profile import active_threshold, load_profile

    value, text = active_threshold(bundle)
    try:
        profile = load_profile(bundle)
    except Exception:  # a damaged profile is ignored, as active_threshold did
        profile = None
    if profile is None:
        method = str((bundle.card.get("threshold") or {}).get("method") or "stored")
        return ThresholdChoice(value, method, f"The threshold in force: {text}."), "val", None
    note = None
    if profile.site_set_sha256 == site_sha256:
        note = (f"The site threshold was chosen on {profile.counts.get('choose', '?')} of these same cases, so the "
                "figures here are optimistic; the profile's held-out figures are the honest estimate.")
    return ThresholdChoice(value, profile.chooser, f"The threshold in force: {text}."), "site", note


def run(args: argparse.Namespace) -> int:
    from core.evaluation.choosers import choose_threshold, parse_chooser
    from core.evaluation.evaluate import build_report, stored_scores
    from core.evaluation.operating import MetricsError
    from core.evaluation.report import format_report
    from core.learning.bundle import BundleError, open_bundle
    from core.learning.scoring import evaluate_bundle

    if args.html and not args.report:
        from core.evaluation.report import ReportError

        raise ReportError("--html needs --report OUT.pdf as well")
    bundle = open_bundle(args.bundle)
    progress = _progress(args.quiet)

    comparison, site_sha = None, ""
    if args.split == "site":
        scores, comparison, site_sha = _site_scores(bundle, args, progress)
    elif args.data:
        scores = evaluate_bundle(bundle, args.data, args.split, progress=progress)
    elif bundle.has_scores(args.split):
        scores = stored_scores(bundle, args.split)
    else:
        raise BundleError(f"this bundle has no stored {args.split} scores; pass the DATA folder to score them")

    threshold: Any = None
    chosen_on = None
    header: list[str] = []
    if args.threshold is not None:
        threshold, chosen_on = args.threshold, "user"
    elif args.choose:
        method, kw = parse_chooser(args.choose)
        if args.prevalence is not None and method == "cost" and "prevalence" not in kw:
            kw["prevalence"] = args.prevalence
        val = scores if args.split == "val" else _validation_scores(
            bundle, None if args.split == "site" else args.data, progress)
        if val.split != "val":  # belt and braces: the test split must never choose
            raise MetricsError("thresholds are chosen on validation scores only")
        threshold = choose_threshold(val.y_true, val.y_score, method, on="validation", **kw)
        chosen_on = "val"
        if args.split == "test":
            header.append(
                f"Threshold chosen on the validation split ({len(val):,} images, {val.source}) "
                "and applied to test; the test split was not used to choose it."
            )
        elif args.split == "site":
            header.append(
                f"Threshold chosen on the validation split ({len(val):,} images, {val.source}) "
                "and applied to the site cases; they were not used to choose it."
            )
    elif args.split == "site":
        threshold, chosen_on, note = _site_threshold(bundle, site_sha)
        if note:
            scores.notes.append(note)

    origin = None
    if threshold is None:  # the threshold in force: an adopted or site profile beside the model wins
        from core.cases import active_threshold
        from core.evaluation.wording import report_threshold

        in_force, source = active_threshold(bundle)
        said = report_threshold(bundle.threshold, in_force, source)
        if said["threshold"] is not None:
            threshold, chosen_on, origin = said["threshold"], said["chosen_on"], said["origin"]
            header.append(f"Threshold {in_force:.4f} from the model's profile ({source}); "
                          "pass --threshold or --choose to use another.")
    report = build_report(bundle, scores, threshold, prevalence=args.prevalence, chosen_on=chosen_on,
                          set_by="the --threshold option" if args.threshold is not None else None, origin=origin)
    out = sys.stdout
    for line in header:
        print(line, file=out)
    print(format_report(report), file=out, end="")
    if args.json:
        numbers = report.metrics_dict()
        if comparison is not None:
            numbers["parent_comparison"] = comparison.as_dict()
        print(json.dumps(numbers, indent=2), file=out)
    if args.report:
        from core.reporting import export_report

        pdf = export_report(bundle, report, args.report, args.html, paper=args.paper)
        print(f"Report written to {pdf}" + (f" and {args.html}" if args.html else ""), file=out)
    return 0


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {value}")
    return value


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="judge a model on the validation or test split and write a PDF/HTML report",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("bundle", metavar="BUNDLE", help="model bundle folder ('default' = the model in use in the app, 'shipped' = the shipped model)")
    p.add_argument("data", metavar="DATA", nargs="?", help="dataset folder (default: scores stored in the bundle)")
    p.add_argument("--split", choices=("val", "test", "site"), default="val",
                   help="split to evaluate (default: val); site: every case of a site set DATA (a folder with "
                        "NORMAL/ and PNEUMONIA/ or a CSV file,label[,patient]), at the threshold in force")
    p.add_argument("--parent", metavar="BUNDLE",
                   help="with --split site and a fine-tuned model: its parent's folder (default: found by sha256)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--threshold", type=_fraction, metavar="T", help="use this threshold (score >= T is PNEUMONIA)")
    group.add_argument("--choose", metavar="METHOD", help="choose the threshold on validation scores (see above)")
    p.add_argument("--prevalence", type=_fraction, metavar="P", help="also show PPV/NPV at this pneumonia prevalence")
    p.add_argument("--report", metavar="OUT.pdf", type=Path, help="write a multi-page PDF report")
    p.add_argument("--html", metavar="OUT.html", type=Path, help="also write an HTML report (needs --report)")
    p.add_argument("--paper", choices=("auto", "a4", "letter"), default="auto",
                   help="page size of the PDF (default: auto, Letter where the locale uses it, else A4)")
    p.add_argument("--json", action="store_true", help="also print the numbers as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)

"""``pneumoscope-cli site``: set and keep a site's own threshold, and watch for drift."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from core.errors import fraction_problem

DESCRIPTION = """\
Validate and adapt a model at your site, on your own cases.

  calibrate BUNDLE SITE   choose a threshold on part of your labelled cases (by patient) and
                          report the untouched rest with 95% intervals; writes a site profile
  drift BUNDLE FOLDER     compare recent (unlabelled) cases with what the threshold was set on
  show BUNDLE             the threshold in force and where it comes from
  adopt BUNDLE PROFILE    put a saved site profile in force for this model
  revert BUNDLE           go back to the model's own (shipped) threshold

SITE is a folder with NORMAL/ and PNEUMONIA/ inside (subfolders are fine) or a CSV file with
the columns file,label[,patient]. A site profile is a small file kept beside the model in your
user data folder, never inside the model; a profile made for another model is refused.
Research use only - not for diagnostic use.

Examples:
  pneumoscope-cli site calibrate default ~/site_cases --choose sens:0.95 --holdout 0.5
  pneumoscope-cli site calibrate default ~/site_cases --out ward3.json --user dr_lee
  pneumoscope-cli site drift default ~/this_month
"""


def _progress(quiet: bool) -> Any:
    if quiet:
        return None
    from core.commands._progress import TerminalProgress

    return TerminalProgress(stream=sys.stderr)


def run_calibrate(args: argparse.Namespace) -> int:
    from core.learning.bundle import open_bundle
    from core.site.calibrate import calibrate_site, format_calibration, make_profile
    from core.site.scoring import score_site
    from core.site.sets import read_site_set
    from core.trust.profile import put_in_force, save_profile

    bundle = open_bundle(args.bundle)
    site = read_site_set(args.site)
    from core.site.reader_study import choose_reader_matched, parse_reader_chooser
    from core.site.readings import read_readings_files

    readings = read_readings_files(args.readings) if args.readings else None
    if readings is not None and parse_reader_chooser(args.choose) is None:
        print(f"Note: --readings is used only by the reader-sens:NAME / reader-spec:NAME choosers; "
              f"--choose {args.choose} does not read it.", file=sys.stderr)
    if parse_reader_chooser(args.choose) is not None and readings is None:
        from core.evaluation.intervals import MetricsError

        raise MetricsError(f"--choose {args.choose} matches a reader: give their readings with --readings FILE.")
    scored = score_site(bundle, site, progress=_progress(args.quiet))
    if readings is not None and parse_reader_chooser(args.choose) is not None:
        # Only the cases the reader read: their calls choose (on one part) and are reported beside the model.
        cal, chosen_on = choose_reader_matched(scored.site, scored.scores, readings, args.choose, args.holdout,
                                               args.seed, bundle=bundle)
    else:
        cal = calibrate_site(bundle, scored.site, scored.scores, args.choose, args.holdout, args.seed)
        chosen_on = scored.site
    profile = make_profile(bundle, chosen_on, cal, user=args.user, name=args.name)
    out = sys.stdout
    print(f"Site set: {scored.site.describe()} (sha256 {scored.site.sha256[:12]})", file=out)
    for path, reason in scored.site.unreadable[:20]:
        print(f"  not used: {Path(path).name}: {reason}", file=out)
    print(format_calibration(cal), file=out)
    written = []
    if args.out:
        written.append(save_profile(profile, args.out, bundle=bundle))
    if args.adopt or not args.out:
        written.append(put_in_force(profile, bundle))
        print(f"In force from now on for {bundle.name}: {profile.describe()} "
              f"(revert with: pneumoscope-cli site revert {args.bundle})", file=out)
    for path in written:
        print(f"Site profile written to {path}", file=out)
    if args.out and not args.adopt:
        print(f"Not in force yet; to use it: pneumoscope-cli site adopt {args.bundle} {args.out}", file=out)
    if args.json:
        print(json.dumps(profile.to_dict(), indent=2), file=out)
    return 0


def run_drift(args: argparse.Namespace) -> int:
    from core.cases import list_images
    from core.learning.bundle import open_bundle
    from core.site.drift import bundle_drift
    from core.site.scoring import score_files

    bundle = open_bundle(args.bundle)
    files = list_images(args.folder)
    if not files:
        from core.site.scoring import SiteScoringError

        raise SiteScoringError(f"no images found in {args.folder}")
    scored = score_files(bundle, files, with_ood=True, progress=_progress(args.quiet))
    if len(scored.scores) == 0:
        from core.site.scoring import SiteScoringError

        raise SiteScoringError(f"none of the {len(files)} images in {args.folder} could be read")
    report = bundle_drift(bundle, scored.scores, scored.ood_flags)
    print(report.status)
    for line in report.lines:
        print("  " + line)
    if scored.skipped:
        print(f"  {len(scored.skipped)} file(s) could not be read and are left out.")
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    return 0


def run_show(args: argparse.Namespace) -> int:
    from core.learning.bundle import open_bundle
    from core.trust.profile import active_threshold, load_profile, profile_path

    bundle = open_bundle(args.bundle)
    value, text = active_threshold(bundle)
    print(f"{bundle.name}: threshold {value:.4f} - {text}")
    path = profile_path(bundle)
    if path.exists():
        profile = load_profile(path, bundle)
        if profile is not None:
            print(f"  profile {path}\n  chosen by {profile.user} with {profile.chooser}: {profile.reason}")
            held = (profile.figures or {}).get("holdout")
            if held:
                at = held.get("at_threshold") or {}
                print("  held-out: " + ", ".join(
                    f"{k} {at[k][0]:.1%}" for k in ("sensitivity", "specificity", "accuracy") if at.get(k)))
            elif (profile.figures or {}).get("note"):
                print(f"  {profile.figures['note']}")
    return 0


def run_adopt(args: argparse.Namespace) -> int:
    from core.learning.bundle import open_bundle
    from core.trust.profile import load_profile, put_in_force

    bundle = open_bundle(args.bundle)
    profile = load_profile(args.profile, bundle)  # refuses a profile made for another model
    put_in_force(profile, bundle)
    print(f"In force from now on for {bundle.name}: {profile.describe()}")
    return 0


def run_revert(args: argparse.Namespace) -> int:
    from core.learning.bundle import open_bundle
    from core.trust.profile import revert

    bundle = open_bundle(args.bundle)
    value, text, had = revert(bundle)
    print(f"{bundle.name}: threshold {value:.4f} - {text}" + ("" if had else " (there was no site profile)"))
    return 0


def _holdout(text: str) -> float:
    problem = fraction_problem(text, "held-out")
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return float(text)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("site", help="set your site's own threshold, watch for drift",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="site_command", metavar="ACTION")

    c = sub.add_parser("calibrate", help="choose a threshold on your labelled cases and measure it honestly",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("bundle", metavar="BUNDLE", help="model bundle folder ('default' = the model in use in the app, 'shipped' = the shipped model)")
    c.add_argument("site", metavar="SITE", help="folder with NORMAL/ and PNEUMONIA/, or a CSV file,label[,patient]")
    c.add_argument("--out", metavar="PROFILE", type=Path,
                   help="write the site profile to this file (then it is in force only with --adopt); "
                        "default: put it in force for this model")
    c.add_argument("--adopt", action="store_true", help="with --out: also put the profile in force now")
    c.add_argument("--choose", default="sens:0.95", metavar="METHOD",
                   help="sens:0.95 (default), spec:0.9, youden, maxf1, cost:FN:FP, sens-smooth:0.95, "
                        "reader-sens:NAME, reader-spec:NAME (with --readings)")
    c.add_argument("--readings", metavar="READINGS", type=Path, action="append",
                   help="readings CSV (repeatable) for the reader-sens/reader-spec choosers: the threshold "
                        "matching that reader's calls on the choosing part")
    c.add_argument("--holdout", type=_holdout, default=0.5, metavar="F",
                   help="share of patients kept aside to measure the threshold honestly (default 0.5; "
                        "0 uses all cases and leaves no honest estimate)")
    c.add_argument("--seed", type=int, default=0, help="seed of the patient-grouped split (default 0)")
    c.add_argument("--user", metavar="NAME", help="who sets this threshold (default: your login name)")
    c.add_argument("--name", metavar="TEXT", help="a name for the profile, e.g. the ward")
    c.add_argument("--json", action="store_true", help="also print the profile as JSON")
    c.add_argument("--quiet", action="store_true", help="no progress output")
    c.set_defaults(func=run_calibrate)

    d = sub.add_parser("drift", help="compare recent unlabelled cases with the model's validation cases")
    d.add_argument("bundle", metavar="BUNDLE", help="model bundle folder ('default' = the model in use in the app, 'shipped' = the shipped model)")
    d.add_argument("folder", metavar="FOLDER", help="folder of recent images (searched recursively)")
    d.add_argument("--json", action="store_true", help="also print the figures as JSON")
    d.add_argument("--quiet", action="store_true", help="no progress output")
    d.set_defaults(func=run_drift)

    s = sub.add_parser("show", help="the threshold in force for a model and where it comes from")
    s.add_argument("bundle", metavar="BUNDLE")
    s.set_defaults(func=run_show)

    a = sub.add_parser("adopt", help="put a saved site profile in force (refused if made for another model)")
    a.add_argument("bundle", metavar="BUNDLE")
    a.add_argument("profile", metavar="PROFILE", type=Path)
    a.set_defaults(func=run_adopt)

    r = sub.add_parser("revert", help="go back to the model's own (shipped) threshold")
    r.add_argument("bundle", metavar="BUNDLE")
    r.set_defaults(func=run_revert)

    p.set_defaults(func=lambda _args: (p.print_help(), 2)[1])

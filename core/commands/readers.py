"""``pneumoscope-cli readers``: expert readers beside the model on the same labelled cases."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

DESCRIPTION = """\
Compare expert readers with the model on the same labelled cases.

  report READINGS --set SITE   each reader's sensitivity/specificity (Wilson 95% CI), AUC of the
                               1-5 ratings (DeLong) and paired vs the model, kappa with the model's
                               calls at the threshold in force, McNemar at matched specificity
  import READINGS [--name N]   check a readings file and keep a copy in your user data folder
  list                         the readings kept there (imports and Read-screen sessions)
  export --out FILE [READINGS ...] [--reader NAME ...] [--set SITE]
                               merge readings into one CSV: the files given, else every kept one
                               (only the sessions read on SITE with --set)

READINGS in report and export may be several files or folders of *.csv files.

READINGS is a CSV file,reader,call[,rating][,seconds][,phase]; file is relative to the set's folder
(or to the set CSV's folder); call NORMAL, PNEUMONIA or CANNOT_READ; rating 1 (definitely normal)
to 5 (definitely pneumonia); phase unaided (default) or aided. Research use only.

Examples:
  pneumoscope-cli readers report readings.csv --set ~/site_cases --json
  pneumoscope-cli readers report readings.csv --set ~/site_cases --choose reader-spec:dr_lee --report r.pdf
"""


def _text(report: dict[str, Any]) -> str:
    def ci(v: Any) -> str:
        return "n/a" if not v else f"{v[0]:.1%} [{v[1]:.1%}-{v[2]:.1%}]"

    def num(v: Any) -> str:
        return "n/a" if not v else f"{v[0]:.3f} [{v[1]:.3f}-{v[2]:.3f}]"

    m = report["model"]
    lines = [f"Threshold in force {report['threshold']:.4f} ({report.get('threshold_source') or ''})",
             f"Model on the same {m['n']} cases: AUC {num(m['auc'])}, sensitivity {ci(m['sensitivity'])}, "
             f"specificity {ci(m['specificity'])}"]
    for name, f in report["readers"].items():
        lines.append(f"Reader {name}: {f['n']} cases ({f['cannot_read']} cannot read): sensitivity "
                     f"{ci(f['sensitivity'])}, specificity {ci(f['specificity'])}, AUC {num(f['auc'])}, "
                     f"kappa vs model {num(f['kappa_vs_model'])}")
        pv = f.get("auc_vs_model")
        if pv:
            lines.append(f"  AUC reader - model {pv['difference']:+.3f} [{pv['ci'][0]:+.3f} to {pv['ci'][1]:+.3f}], "
                         f"p = {pv['p']:.3g} (paired DeLong)")
        mc = f.get("mcnemar_matched_spec")
        if mc:
            lines.append(f"  at the model threshold {mc['threshold']:.3f} matching their specificity: model "
                         f"sensitivity {ci(mc['model_sensitivity'])}; reader alone right {mc['reader_only_right']}, "
                         f"model alone right {mc['model_only_right']}, McNemar p = {mc['p']:.3g}")
    p = report.get("pooled")
    if p:
        lines.append(f"Mean of {p['readers']} readers (bootstrap over readers and cases): sensitivity "
                     f"{ci(p['sensitivity'])}, specificity {ci(p['specificity'])}, AUC {num(p['auc'])}"
                     + ("; readers' mean AUC - model {:+.3f} [{:+.3f} to {:+.3f}]".format(*p["auc_minus_model"])
                        if p.get("auc_minus_model") else ""))
    for name, a in (report.get("aided") or {}).items():
        if isinstance(a, dict) and "changed_calls" in a:
            lines.append(f"Aided phase, {name}: {a['changed_calls']} call(s) changed, {a['changed_to_correct']} "
                         f"to the right answer; sensitivity {ci(a['sensitivity'])}, specificity {ci(a['specificity'])}")
    lines += [f"Note: {n}" for n in report.get("notes") or []]
    return "\n".join(lines)


def run_report(args: argparse.Namespace) -> int:
    from core.learning.bundle import open_bundle
    from core.site.reader_study import _clean, choose_reader_matched, reader_report
    from core.site.readings import read_readings_files
    from core.site.scoring import score_site
    from core.site.sets import read_site_set
    from core.trust.profile import active_threshold

    readings = read_readings_files(args.readings)  # bad input fails before the model is loaded
    site = read_site_set(args.set)
    bundle = open_bundle(args.model)
    progress = None
    if not args.quiet and not args.json:
        from core.commands._progress import TerminalProgress

        progress = TerminalProgress(stream=sys.stderr)
    scored = score_site(bundle, site, with_ood=True, progress=progress)
    threshold, text = active_threshold(bundle)
    no_call = scored.ood > 1.0 if scored.ood is not None else None
    report = reader_report(scored.site, scored.scores, readings, threshold, text, no_call, seed=args.seed)
    data = report.as_dict()
    # The model-vs-reader table at the threshold in force (the Threshold screen shows it at the slider's).
    data["table"] = report.table(scored.site.labels, scored.scores)
    if args.choose:
        cal, _ = choose_reader_matched(scored.site, scored.scores, readings, args.choose, args.holdout, args.seed,
                                       bundle=bundle)
        held = cal.figures.get("holdout")
        data["choice"] = _clean({"threshold": cal.threshold, "chooser": cal.chooser, "reason": cal.choice.reason,
                                 "holdout": None if held is None else {
                                     "n": held["n"], "model": held["at_threshold"],
                                     "reader": cal.figures.get("reader")},
                                 "notes": cal.notes})
    if scored.site.unreadable:
        data["notes"].append(f"{len(scored.site.unreadable)} image(s) of the set could not be read and are left out.")
    if args.report:
        report.pdf(args.report, scored.site.labels, scored.scores, {k: data[k] for k in ("choice", "notes") if k in data})
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(_text(data))
        if args.choose:
            c = data["choice"]
            print(f"Chooser {c['chooser']}: threshold {c['threshold']:.4f}: {c['reason']}")
            if c["holdout"]:
                h = c["holdout"]
                print(f"  on {h['n']} held-out cases the model has sensitivity {h['model']['sensitivity'][0]:.1%}, "
                      f"specificity {h['model']['specificity'][0]:.1%}")
        if args.report:
            print(f"PDF written to {args.report}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from core.site.readings import import_readings

    path = import_readings(args.readings, args.name)
    print(f"Readings checked and kept at {path}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from core.site.readings import readings_dir, stored_readings

    entries = stored_readings()
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    if not entries:
        print(f"No readings are kept in {readings_dir()} yet.")
        return 0
    for e in entries:
        if "error" in e:
            print(f"{e['path']}: cannot be used: {e['error']}")
            continue
        where = f" on {e['set']}" if e.get("set") else ""
        print(f"{e['path']} ({e['kind']}{where}): {', '.join(e['readers'])}; {e['unaided']} unaided, "
              f"{e['aided']} aided")
    return 0


def run_export(args: argparse.Namespace) -> int:
    import os

    from core.site.readings import ReadingsError, export_readings, stored_readings

    sources = list(args.readings)
    if not sources:
        want = os.path.realpath(args.set) if args.set else None
        sources = [e["path"] for e in stored_readings() if "error" not in e
                   and (want is None or (e.get("set") and os.path.realpath(e["set"]) == want))]
        if not sources:
            raise ReadingsError("no kept readings" + (f" were read on {args.set}" if args.set else "")
                                + "; give the readings files to export")
    path, n = export_readings(sources, args.out, args.reader)
    print(f"{n} reading(s) from {len(sources)} file(s) written to {path}")
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("readers", help="expert readers beside the model on the same cases",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="readers_command", metavar="ACTION")
    r = sub.add_parser("report", help="readers vs the model", description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("readings", metavar="READINGS", type=Path, nargs="+",
                   help="readings CSV files or folders of them")
    r.add_argument("--set", required=True, metavar="SITE", help="the labelled set read (folder or CSV)")
    r.add_argument("--model", default="default", metavar="BUNDLE", help="model bundle (default: the one in use)")
    r.add_argument("--report", metavar="PDF", type=Path, help="also write a PDF with the ROC and the readers' points")
    r.add_argument("--json", action="store_true", help="print the figures as JSON")
    r.add_argument("--choose", metavar="CHOOSER", help="reader-sens:NAME or reader-spec:NAME (honest: one part chooses)")
    r.add_argument("--holdout", type=float, default=0.5, help="share of patients held out with --choose (default 0.5)")
    r.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and the split (default 0)")
    r.add_argument("--quiet", action="store_true")
    r.set_defaults(func=run_report)
    i = sub.add_parser("import", help="check a readings file and keep it in your user data folder")
    i.add_argument("readings", metavar="READINGS", type=Path)
    i.add_argument("--name", help="name to keep it under")
    i.set_defaults(func=run_import)
    ls = sub.add_parser("list", help="the readings kept in your user data folder")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=run_list)
    e = sub.add_parser("export", help="merge readings into one CSV")
    e.add_argument("readings", metavar="READINGS", type=Path, nargs="*",
                   help="readings files or folders (default: every kept one)")
    e.add_argument("--out", required=True, type=Path, metavar="FILE")
    e.add_argument("--reader", action="append", metavar="NAME", help="only this reader (repeatable)")
    e.add_argument("--set", metavar="SITE", help="with no READINGS: only the sessions read on this set")
    e.set_defaults(func=run_export)
    p.set_defaults(func=lambda _args: (p.print_help(), 2)[1])

"""``pneumoscope-cli feedback``: the experts' agree/disagree log, exported as a site set."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def run_export(args: argparse.Namespace) -> int:
    from core.trust.feedback import export_site_csv

    path, n, left = export_site_csv(args.out, args.log)
    print(f"{n} case(s) written to {path} (file,label; the latest feedback per case)"
          + (f"; {left} left out (no label implied, or the file is gone)" if left else ""))
    print(f"Use it with: pneumoscope-cli site calibrate default {path}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from core.trust.feedback import read_feedback

    records = read_feedback(args.log, args.last)
    for r in records:
        print(f"{r['time']} {r['user']}: {r['verdict']} with {r.get('call') or 'no call'} "
              f"(score {r.get('score')}, threshold {r.get('threshold')})"
              + (f", true label {r['true_label']}" if r.get("true_label") else ""))
    print(f"{len(records)} record(s)")
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("feedback", help="the experts' agree/disagree log; export it as a site set")
    sub = p.add_subparsers(dest="feedback_command", metavar="ACTION")
    e = sub.add_parser("export", help="write a site CSV (file,label) that 'site calibrate' reads")
    e.add_argument("--out", required=True, type=Path, metavar="CSV")
    e.add_argument("--log", type=Path, help="feedback log (default: yours)")
    e.set_defaults(func=run_export)
    s = sub.add_parser("show", help="list the recent feedback")
    s.add_argument("--last", type=int, default=20)
    s.add_argument("--log", type=Path)
    s.set_defaults(func=run_show)
    p.set_defaults(func=lambda _args: (p.print_help(), 2)[1])

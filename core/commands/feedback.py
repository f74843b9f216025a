"""``pneumoscope-cli feedback``: the experts' agree/disagree log, exported as a site set."""

from __future__ import annotations

import argparse
import sys
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


def run_send(args: argparse.Namespace) -> int:
    """Send the Assessment SRs of the feedback on images the node scored (once each)."""
    from core.node.assessment import send_assessments
    from core.node.config import load_settings
    from core.trust.feedback import read_feedback

    settings = load_settings()
    if args.inbox:
        settings.inbox = args.inbox
    if args.send_to is not None:
        settings.destination = args.send_to
    if args.send_to_web is not None:
        settings.web_destination = args.send_to_web
    settings = settings.validated()
    records = [r for r in read_feedback(args.log, args.last) if r.get("sop_instance_uid")]
    if not records:
        print("No feedback on images the node received: nothing to send.")
        return 0
    try:
        outcomes = send_assessments(records, settings, again=args.again)
    except ValueError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    for o in outcomes:
        why = f": {o['why']}" if o.get("why") else ""
        print(f"{o['status']}: {o['verdict']} by {o['user']} on {o['uid']}{why}")
    counts = {k: sum(o["status"] == k for o in outcomes) for k in ("sent", "already sent", "skipped", "failed")}
    print(", ".join(f"{v} {k}" for k, v in counts.items()))
    return 1 if counts["failed"] else 0


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
    d = sub.add_parser("send", help="send the feedback on node images back to the PACS as Assessment SRs")
    d.add_argument("--last", type=int, default=0, help="only the last N records (default: all)")
    d.add_argument("--log", type=Path, help="feedback log (default: yours)")
    d.add_argument("--inbox", metavar="DIR", help="the node's inbox (default: the node settings')")
    d.add_argument("--send-to", metavar="HOST:PORT:AET", help="DICOM peer (default: the node settings')")
    d.add_argument("--send-to-web", metavar="URL", help="DICOMweb base URL for STOW-RS (default: the node settings')")
    d.add_argument("--again", action="store_true", help="send records already sent once more")
    d.set_defaults(func=run_send)
    p.set_defaults(func=lambda _args: (p.print_help(), 2)[1])

"""``pneumoscope-cli audit``: show the audit log."""

from __future__ import annotations

import argparse
import json

from core.trust.audit import EVENTS, AuditLog, format_record


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "audit",
        help="show the audit log (who opened, scored and decided what, with which model)",
        description="Print the append-only audit log. Cases appear only as hashes of their files.",
    )
    parser.add_argument("--tail", type=int, default=50, metavar="N", help="last N events (0 = all; default 50)")
    parser.add_argument("--event", action="append", metavar="E", help=f"only these events ({', '.join(EVENTS)})")
    parser.add_argument("--json", action="store_true", help="print raw JSON lines")
    parser.add_argument("--log", metavar="PATH", help="read this log file instead of the user's audit log")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    log = AuditLog(args.log) if args.log else AuditLog()
    records = log.read(limit=args.tail or None, event=args.event)
    if not records:
        print(f"no audit events in {log.path}")
        return 0
    for rec in records:
        print(json.dumps(rec, ensure_ascii=False) if args.json else format_record(rec))
    if not args.json:
        print(f"({len(records)} events from {log.path})")
    return 0

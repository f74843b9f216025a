"""``pneumoscope-cli audit``: show the audit log."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Mapping
from typing import Any

from core.trust.audit import EVENTS, AuditLog


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


def format_record(rec: Mapping[str, Any]) -> str:
    """One readable line for a record: time, event, user, then the event's own fields."""
    skip = {"ts", "event", "app_version", "user", "host", "pid"}
    parts = []
    for key, value in rec.items():
        if key in skip or value is None:
            continue
        if isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value):
            value = value[:12] + "..."
        elif isinstance(value, float):
            value = f"{value:.4g}"
        elif isinstance(value, dict | list):
            value = json.dumps(value, separators=(",", ":"))
        parts.append(f"{key}={value}")
    return f"{rec.get('ts', '?'):<24} {rec.get('event', '?'):<18} {rec.get('user', '?'):<10} " + " ".join(parts)

"""``pneumoscope-cli listen``: run the DICOM node headless (receive, score, send results)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from typing import Any, TextIO

DESCRIPTION = """\
Run Pneumoscope as a DICOM node: listen for chest X-rays sent by C-STORE (from a PACS or a
modality), store each one in the inbox before acknowledging it, score it with the model, and,
with --send-to (DICOM C-STORE) and/or --send-to-web (DICOMweb STOW-RS), send the results back:
a TID 1500 Measurement Report SR (the call, the score, the threshold and its source, what the
out-of-distribution gate said) and the Grad-CAM heat map as a Parametric Map (--heat-map sc for a
burned-in Secondary Capture, --sr legacy for the old free-form SR). Accepted: CR, DX (for presentation and for processing), and Secondary
Capture with Modality CR or DX. Anything acknowledged but not yet scored when the node stops
or crashes is scored at the next start. Ctrl-C stops it.

Options not given come from the saved node settings (the GUI's Worklist > Settings, or --save).
Research use only - not for diagnosis.

Example:
  pneumoscope-cli listen --port 11112 --aet PNEUMOSCOPE --send-to pacs.local:4242:ORTHANC
"""


class _Printer:
    """Prints one line per finished instance and a counts line every few seconds."""

    def __init__(self, node: Any, stream: TextIO, quiet: bool) -> None:
        self.node = node
        self.stream = stream
        self.quiet = quiet
        self._lock = threading.Lock()
        self._last_counts = ""

    def event(self, uid: str, what: str) -> None:
        if self.quiet or what == "received":
            return
        # The record the worker just wrote (re-reading the journal for each line grew with it).
        rec = self.node.worker.recent(uid) or {}
        detail = ""
        if what == "scored" and rec:
            score = "n/a" if rec.get("score") is None else f"{rec['score']:.3f}"
            detail = f" score {score} {rec.get('label') or 'no call'}" + (" OOD" if rec.get("ood_flag") else "")
        elif what in ("failed", "send_failed") and rec:
            detail = f" {rec.get('error', '')}"
        self._print(f"{time.strftime('%H:%M:%S')} {what:<11} ...{uid[-16:]}{detail}")

    def counts_line(self) -> str:
        c = self.node.counts()
        return (
            f"received {c['received']}, scored {c['scored']}, failed {c['failed']}, sent {c['sent']}, "
            f"send failed {c['send_failed']}, refused {c['refused']}, rejected associations "
            f"{c['rejected_associations']}, queue {c['queued']}"
        )

    def tick(self) -> None:
        line = self.counts_line()
        if line != self._last_counts:
            self._last_counts = line
            self._print(f"{time.strftime('%H:%M:%S')} {line}")

    def _print(self, text: str) -> None:
        with self._lock:
            self.stream.write(text + "\n")
            self.stream.flush()


def _settings(args: argparse.Namespace) -> Any:
    from core.node.config import load_settings

    settings = load_settings()
    if args.port is not None:
        settings.port = args.port
    if args.aet:
        settings.ae_title = args.aet
    if args.bind:
        settings.bind_host = args.bind
    if args.allow:
        settings.allowed_callers = list(args.allow)
    if args.send_to is not None:
        settings.destination = args.send_to
    if args.inbox:
        settings.inbox = args.inbox
    if args.max_mb is not None:
        settings.max_instance_mb = args.max_mb
    if args.no_sc:
        settings.send_secondary_capture = False
    if args.no_sr:
        settings.send_sr = False
    if args.send_to_web is not None:
        settings.web_destination = args.send_to_web
    if args.sr:
        settings.sr_style = args.sr
    if args.heat_map:
        settings.heat_map = args.heat_map
    if args.results_run is not None:
        settings.results_run = args.results_run
    settings.enabled = True
    return settings.validated()


def run(args: argparse.Namespace) -> int:
    from core.learning.bundle import open_bundle
    from core.node.config import save_settings
    from core.node.service import Node
    from core.node.worker import BundleScorer

    settings = _settings(args)
    # The printer below reports refusals and failures; keep the library's log lines off the terminal.
    logging.getLogger("pneumoscope.node").setLevel(logging.ERROR)
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    if args.save:
        print(f"saved the node settings to {save_settings(settings)}")
    out = sys.stdout
    print("loading the model...", file=out, flush=True)
    bundle = open_bundle(args.bundle)
    _ = bundle.runtime or bundle.model  # load now: fail before listening, not on the first instance
    node = Node(settings, BundleScorer(bundle, want_heatmap=settings.needs_heat_map()))
    printer = _Printer(node, out, args.quiet)
    node.on_event = printer.event
    node.worker.on_done = printer.event
    node.start()
    host, port = node.address
    dest = settings.destination_parsed()
    print(
        f"Pneumoscope DICOM node {settings.ae_title} listening on {host}:{port} "
        f"(callers: {', '.join(settings.allowed_callers) or 'any AE title'}); inbox {node.inbox_folder()}; "
        f"results {'to ' + str(dest) if dest else 'kept local (no --send-to)'}"
        f"{'; by STOW-RS to ' + settings.web_destination if settings.web_destination else ''}; "
        f"model {bundle.name} sha256 {bundle.sha256[:12]}",
        file=out,
        flush=True,
    )
    if node.recovered:
        print(f"{node.recovered} instance(s) received earlier but not scored: scoring them first", file=out, flush=True)
    print("research use only - not for diagnosis; Ctrl-C stops", file=out, flush=True)

    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stop.set()

    old = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(args.interval):
            printer.tick()
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        print("stopping: no new associations; finishing the instance being scored...", file=out, flush=True)
        node.stop()
        printer.tick()
        left = node.inbox.counts()["queued"]
        print(f"stopped. {printer.counts_line()}; {left} left queued for the next start", file=out, flush=True)
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "listen",
        help="run the DICOM node: receive images by C-STORE, score them, send results",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--port", type=int, help="TCP port to listen on (default 11112)")
    p.add_argument("--aet", help="this node's AE title (default PNEUMOSCOPE)")
    p.add_argument("--bind", help="address to listen on (default 127.0.0.1; 0.0.0.0 = every interface)")
    p.add_argument("--allow", action="append", metavar="AET", help="accept only this calling AE title (repeatable)")
    p.add_argument("--send-to", metavar="HOST:PORT:AET", help="send SC and SR results to this DICOM peer")
    p.add_argument("--inbox", metavar="DIR", help="inbox folder (default: in the user data folder)")
    p.add_argument("--max-mb", type=float, help="refuse instances larger than this (default 150 MB)")
    p.add_argument("--send-to-web", metavar="URL",
                   help="also (or only) send the results by DICOMweb STOW-RS to this root, e.g. http://pacs:8042/dicom-web")
    p.add_argument("--sr", choices=("tid1500", "legacy"),
                   help="SR kind: tid1500 = TID 1500 Measurement Report (default), legacy = free-form Comprehensive SR")
    p.add_argument("--heat-map", choices=("pm", "sc", "both"),
                   help="heat map object: pm = Parametric Map (default), sc = burned-in Secondary Capture, both")
    p.add_argument("--results-run", metavar="LABEL",
                   help="run label of the result series (a new label puts this run's results in new series)")
    p.add_argument("--no-sc", action="store_true", help="do not send a heat map object (Parametric Map or SC)")
    p.add_argument("--no-sr", action="store_true", help="do not send the structured report")
    p.add_argument("--bundle", default="default", help="model bundle folder ('default' = the active model)")
    p.add_argument("--save", action="store_true", help="save these options as the node settings")
    p.add_argument("--quiet", action="store_true", help="print only the counts, not one line per instance")
    p.add_argument("--interval", type=float, default=5.0, help=argparse.SUPPRESS)
    p.set_defaults(func=run)

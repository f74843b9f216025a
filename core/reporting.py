"""Exporting a report, audited: the one way the Evaluate screen and ``pneumoscope-cli evaluate
--report`` write a report, so both leave the same ``report_exported`` record (the file's name
hashed, never in clear)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from core.evaluation.report import write_report
from core.trust.audit import AuditLog


def export_report(
    bundle: Any, report: Any, pdf_path: str | os.PathLike[str], html_path: str | os.PathLike[str] | None = None,
    **options: Any,
) -> Path:
    """Write ``report`` as a PDF (and HTML when asked) and audit the export; returns the PDF's path.

    The record is written after the file, so the log never names a report that does not exist;
    an audit failure raises (the caller says so) rather than passing in silence.
    """
    path = Path(write_report(report, pdf_path, html_path, **options))
    AuditLog().report_exported(path, bundle=bundle, split=report.split, threshold=report.threshold,
                               html=html_path is not None)
    return path

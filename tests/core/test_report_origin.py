"""Issue 20 item 5: the report's wording of the threshold's origin lives once in core, and a
report exported from the command line is audited like the Evaluate screen's export."""

from __future__ import annotations

from pathlib import Path

from core.cli import main
from core.evaluation.wording import report_threshold
from core.trust.audit import AuditLog, name_hash

REPO = Path(__file__).resolve().parents[2]


def test_report_threshold_names_card_profile_or_hand():
    assert report_threshold(0.4, 0.4, "model card") == {"threshold": None}
    assert report_threshold(0.4, 0.4, "model card", 0.4, set_by="x") == {"threshold": None}
    profile = report_threshold(0.4, 0.55, "site profile 'ward'")
    assert profile == {"threshold": 0.55, "chosen_on": "profile",
                       "origin": "The threshold in force for this model: site profile 'ward'."}
    assert report_threshold(0.4, 0.55, "p", 0.7, set_by="the slider") == {"threshold": 0.7, "set_by": "the slider"}


def test_cli_report_export_is_audited(tmp_path, capsys):
    pdf = tmp_path / "val.pdf"
    assert main(["evaluate", str(REPO / "models" / "default"), "--split", "val", "--report", str(pdf),
                 "--quiet"]) == 0
    assert pdf.exists()
    records = AuditLog().read(event="report_exported")
    assert len(records) == 1
    rec = records[0]
    assert rec["report_name_hash"] == name_hash(pdf) and rec["split"] == "val" and rec["bundle_sha256"]
    assert str(pdf) not in str(rec) and "val.pdf" not in str(rec)

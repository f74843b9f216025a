"""Build site folders for tests from the shared data (symlinks; the shared data stays read-only)."""

from __future__ import annotations

import csv
import os
from pathlib import Path


def dicom_labels(dicom_dir: Path) -> dict[str, str]:
    with (dicom_dir / "chest" / "labels.csv").open(newline="") as fh:
        return {r["filename"]: r["label"] for r in csv.DictReader(fh) if r["label"] in ("NORMAL", "PNEUMONIA")}


def make_site(root: Path, chest_xray_dir: Path, dicom_dir: Path | None = None, per_class: int = 20,
              start: int = 0, broken: bool = True) -> Path:
    """SITE/{NORMAL,PNEUMONIA}/ with Kermany test images (in a subfolder, to check recursion),
    optionally the labelled chest DICOMs, and one damaged file."""
    site = root
    for cls in ("NORMAL", "PNEUMONIA"):
        dest = site / cls / "batch1"
        dest.mkdir(parents=True, exist_ok=True)
        files = sorted((chest_xray_dir / "test" / cls).iterdir())[start:start + per_class]
        for f in files:
            os.symlink(f, dest / f.name)
    if dicom_dir is not None:
        for name, label in dicom_labels(dicom_dir).items():
            os.symlink(dicom_dir / "chest" / name, site / label / name)
    if broken:
        (site / "NORMAL" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a real png")
    return site

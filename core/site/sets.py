"""A site's own labelled cases, read as one set: never split by the training logic.

Two forms are accepted:

- a folder ``SITE/NORMAL/...`` and ``SITE/PNEUMONIA/...`` (searched recursively, class folder
  names matched case-insensitively);
- a CSV file with a header ``file,label[,patient]`` (paths relative to the CSV's folder; labels
  NORMAL/PNEUMONIA or 0/1).

Each case gets a patient group so that splits keep one patient's images on one side: the CSV's
patient column, else the DICOM PatientID (read from the header only, and hashed: never kept in
clear), else the file-name rule of the training data (``person12_...``). Files that cannot be
used are listed with the reason, never fatal. The set's sha256 covers the sorted (relative name,
label, size) rows, so a profile can say exactly which cases it was set on.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import PneumoscopeError
from core.imaging import DICOM_SUFFIXES, is_candidate_file
from core.learning.data import patient_group
from core.learning.finish import relative_name  # a case is named as a training file is
from core.trust.audit import identifier_hash
from core.trust.integrity import file_list_sha256

CLASS_NAMES = ("NORMAL", "PNEUMONIA")
_LABELS = {"normal": 0, "0": 0, "negative": 0, "pneumonia": 1, "1": 1, "positive": 1}
_TRAINING_LAYOUT = {"train", "training", "val", "valid", "validation", "test", "testing"}


class SiteDataError(PneumoscopeError):
    """The site data cannot be read as a labelled set (the message says what to fix)."""


@dataclass(frozen=True)
class SiteCase:
    path: str
    name: str  # relative to the set's root, POSIX separators
    label: int  # 0 NORMAL, 1 PNEUMONIA
    group: str  # patient group key (hashed when it came from a patient identifier)
    group_source: str  # "csv" | "dicom" | "name"


@dataclass
class SiteSet:
    root: str
    source: str  # "folder" | "csv"
    cases: list[SiteCase]
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.cases)

    @property
    def labels(self) -> np.ndarray:
        return np.array([c.label for c in self.cases], dtype=np.int8)

    @property
    def groups(self) -> list[str]:
        return [c.group for c in self.cases]

    @property
    def paths(self) -> list[str]:
        return [c.path for c in self.cases]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.cases]

    @property
    def sha256(self) -> str:
        return site_set_sha256(self.cases)

    def counts(self) -> dict[str, int]:
        labels = self.labels
        return {
            "cases": len(self.cases),
            "normal": int((labels == 0).sum()),
            "pneumonia": int((labels == 1).sum()),
            "patients": len(set(self.groups)),
            "unreadable": len(self.unreadable),
        }

    def group_sources(self) -> dict[str, int]:
        return dict(Counter(c.group_source for c in self.cases))

    def without(self, bad: dict[str, str]) -> SiteSet:
        """The same set less the cases whose path is in ``bad`` (path -> reason), listed as unreadable."""
        keep = [c for c in self.cases if c.path not in bad]
        gone = [(c.path, bad[c.path]) for c in self.cases if c.path in bad]
        return SiteSet(self.root, self.source, keep, self.unreadable + gone, list(self.notes))

    def describe(self) -> str:
        c = self.counts()
        text = (f"{c['cases']} cases ({c['normal']} NORMAL, {c['pneumonia']} PNEUMONIA) from "
                f"{c['patients']} patients")
        if c["unreadable"]:
            text += f"; {c['unreadable']} file(s) could not be used"
        return text


def case_key(name: str) -> str:
    """Short hash of a case's relative name: identifies it in a model card without its name."""
    return identifier_hash(name)


def site_set_sha256(cases: list[SiteCase]) -> str:
    return file_list_sha256(((c.name, CLASS_NAMES[c.label]), c.path) for c in cases)


def dicom_patient_key(path: str | os.PathLike[str]) -> str | None:
    """Hashed PatientID from a DICOM header (pixels are not read); None if absent or not DICOM."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            head = fh.read(132)
    except OSError:
        return None
    if head[128:132] != b"DICM" and p.suffix.lower() not in DICOM_SUFFIXES:
        return None
    try:
        import pydicom

        ds = pydicom.dcmread(str(p), stop_before_pixels=True, force=True, specific_tags=["PatientID"])
        value = ds.get("PatientID")
    except Exception:  # a damaged header only costs the grouping; the loader reports the file
        return None
    text = str(value or "").strip()
    return f"dicom:{identifier_hash(text)}" if text else None


def _group_for(path: Path, csv_patient: str | None) -> tuple[str, str]:
    if csv_patient:
        return f"csv:{identifier_hash(csv_patient)}", "csv"
    key = dicom_patient_key(path)
    if key:
        return key, "dicom"
    return f"name:{patient_group(path.name)}", "name"


def _read_folder(root: Path) -> SiteSet:
    subdirs = {p.name.lower(): p for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")}
    classes = {name: subdirs[name.lower()] for name in CLASS_NAMES if name.lower() in subdirs}
    if not classes:
        if _TRAINING_LAYOUT & set(subdirs):
            raise SiteDataError(
                f"{root} looks like a training data folder (it has {', '.join(sorted(_TRAINING_LAYOUT & set(subdirs)))}"
                "/ folders). A site set is one folder with NORMAL/ and PNEUMONIA/ inside: point at that folder."
            )
        raise SiteDataError(
            f"{root} has no NORMAL or PNEUMONIA folder. Put the site's cases in SITE/NORMAL/ and "
            "SITE/PNEUMONIA/ (subfolders are fine), or give a CSV file with columns file,label[,patient]."
        )
    notes = []
    for name in CLASS_NAMES:
        if name not in classes:
            notes.append(f"there is no {name} folder, so every case is {CLASS_NAMES[1 - CLASS_NAMES.index(name)]}")
    others = sorted(set(subdirs) - {n.lower() for n in CLASS_NAMES})
    if others:
        notes.append(f"folders other than NORMAL and PNEUMONIA were ignored: {', '.join(others)}")
    cases: list[SiteCase] = []
    for name, folder in classes.items():
        label = CLASS_NAMES.index(name)
        for f in sorted(folder.rglob("*")):
            if f.is_file() and is_candidate_file(f):
                group, source = _group_for(f, None)
                cases.append(SiteCase(str(f), relative_name(f, root), label, group, source))
    return SiteSet(str(root), "folder", cases, [], notes)


def _read_csv(path: Path) -> SiteSet:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SiteDataError(f"cannot read the CSV file {path}: {exc}") from exc
    if not rows:
        raise SiteDataError(f"the CSV file {path} is empty")
    header = [h.strip().lower() for h in rows[0]]
    if "file" not in header or "label" not in header:
        raise SiteDataError(
            f"the CSV file {path} needs a header row with the columns file,label (and optionally patient); "
            f"found: {', '.join(rows[0]) or 'nothing'}"
        )
    i_file, i_label = header.index("file"), header.index("label")
    i_patient = header.index("patient") if "patient" in header else None
    base = path.parent
    cases: list[SiteCase] = []
    bad: list[tuple[str, str]] = []
    seen: set[str] = set()
    for line_no, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        cell = row[i_file].strip() if len(row) > i_file else ""
        where = f"{path.name} line {line_no}"
        if not cell:
            bad.append((where, "no file name"))
            continue
        file = Path(cell) if os.path.isabs(cell) else base / cell
        label_text = row[i_label].strip().lower() if len(row) > i_label else ""
        if label_text not in _LABELS:
            bad.append((str(file), f"{where}: label {label_text or '(empty)'!r} is not NORMAL or PNEUMONIA"))
            continue
        if not file.is_file():
            bad.append((str(file), f"{where}: file not found"))
            continue
        if not is_candidate_file(file):
            bad.append((str(file), f"{where}: not an image file Pneumoscope can read"))
            continue
        name = relative_name(file, base)
        if name in seen:
            bad.append((str(file), f"{where}: listed twice (the first entry is used)"))
            continue
        seen.add(name)
        patient = row[i_patient].strip() if i_patient is not None and len(row) > i_patient else None
        group, source = _group_for(file, patient or None)
        cases.append(SiteCase(str(file), name, _LABELS[label_text], group, source))
    return SiteSet(str(path), "csv", cases, bad, [])


def read_site_set(path: str | os.PathLike[str]) -> SiteSet:
    """Read a site folder or CSV as one labelled set (see the module docstring)."""
    p = Path(path)
    if not p.exists():
        raise SiteDataError(f"{p} does not exist")
    site = _read_csv(p) if p.is_file() else _read_folder(p)
    if not site.cases:
        listed = f" ({len(site.unreadable)} entries could not be used)" if site.unreadable else ""
        raise SiteDataError(f"no usable images found in {p}{listed}")
    return site


def site_summary(site: SiteSet) -> dict[str, Any]:
    """JSON-ready description (counts, hash, grouping sources; no file names)."""
    return {"source": site.source, "sha256": site.sha256, "counts": site.counts(),
            "grouping": site.group_sources(), "notes": list(site.notes)}

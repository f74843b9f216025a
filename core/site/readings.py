"""Readings: what expert readers called on a labelled set, as a CSV ``file,reader,call[,rating][,seconds][,phase]``.

``file`` is the case's name relative to the set's folder (or to the set CSV's folder), as
:class:`core.site.sets.SiteCase` names it, so the file holds no patient identifier beyond what the
set's own file names carry. ``call`` is NORMAL, PNEUMONIA or CANNOT_READ; ``rating`` 1 (definitely
normal) ... 5 (definitely pneumonia); ``seconds`` the reading time; ``phase`` ``unaided`` (default) or
``aided`` (model output shown). Files are written all or nothing (:func:`core.paths.atomic_open`).
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import PneumoscopeError
from core.paths import atomic_open, user_data_dir

CALLS = ("NORMAL", "PNEUMONIA", "CANNOT_READ")
PHASES = ("unaided", "aided")
COLUMNS = ("file", "reader", "call", "rating", "seconds", "phase")
_CALL_ALIASES = {"normal": "NORMAL", "0": "NORMAL", "pneumonia": "PNEUMONIA", "1": "PNEUMONIA",
                 "cannot_read": "CANNOT_READ", "cannot read": "CANNOT_READ", "unreadable": "CANNOT_READ"}


class ReadingsError(PneumoscopeError):
    """A readings file cannot be used as it is (the message says what to fix)."""


@dataclass(frozen=True)
class Reading:
    file: str
    reader: str
    call: str  # one of CALLS
    rating: int | None = None
    seconds: float | None = None
    phase: str = "unaided"

    @property
    def call_code(self) -> int:
        return {"NORMAL": 0, "PNEUMONIA": 1, "CANNOT_READ": -1}[self.call]


def _rating(text: str, where: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError as exc:
        raise ReadingsError(f"{where}: the rating {text!r} is not a number from 1 to 5") from exc
    if value != int(value) or not 1 <= value <= 5:
        raise ReadingsError(f"{where}: the rating {text} is outside 1-5 (1 definitely normal ... 5 definitely pneumonia)")
    return int(value)


def _seconds(text: str, where: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError as exc:
        raise ReadingsError(f"{where}: seconds {text!r} is not a number") from exc
    if not math.isfinite(value) or value < 0:
        raise ReadingsError(f"{where}: seconds must be a non-negative number, not {text}")
    return value


def read_readings(path: str | os.PathLike[str]) -> list[Reading]:
    """Parse and check a readings CSV: bad calls, ratings outside 1-5 and duplicates are errors."""
    p = Path(path)
    try:
        with p.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except FileNotFoundError as exc:
        raise ReadingsError(f"the readings file {p} does not exist") from exc
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ReadingsError(f"cannot read the readings file {p}: {exc}") from exc
    if not rows:
        raise ReadingsError(f"the readings file {p} is empty")
    header = [h.strip().lower() for h in rows[0]]
    missing = [c for c in ("file", "reader", "call") if c not in header]
    if missing:
        raise ReadingsError(f"the readings file {p} needs a header with file,reader,call[,rating][,seconds][,phase]; "
                            f"missing: {', '.join(missing)}")
    col = {c: header.index(c) for c in COLUMNS if c in header}
    out: list[Reading] = []
    seen: dict[tuple[str, str, str], int] = {}
    for line_no, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        where = f"{p.name} line {line_no}"

        def cell(name: str, row: list[str] = row) -> str:
            i = col.get(name)
            return row[i].strip() if i is not None and i < len(row) else ""

        file, reader = cell("file").replace("\\", "/"), cell("reader")
        if not file or not reader:
            raise ReadingsError(f"{where}: every row needs a file and a reader")
        call = _CALL_ALIASES.get(cell("call").lower())
        if call is None:
            raise ReadingsError(f"{where}: the call {cell('call')!r} is not NORMAL, PNEUMONIA or CANNOT_READ")
        phase = (cell("phase") or "unaided").lower()
        if phase not in PHASES:
            raise ReadingsError(f"{where}: the phase {phase!r} is not 'unaided' or 'aided'")
        key = (file, reader, phase)
        if key in seen:
            raise ReadingsError(f"{where}: {reader} read {file} twice in the {phase} phase "
                                f"(first on line {seen[key]}); keep one row")
        seen[key] = line_no
        out.append(Reading(file, reader, call, _rating(cell("rating"), where), _seconds(cell("seconds"), where), phase))
    if not out:
        raise ReadingsError(f"the readings file {p} holds no readings")
    return out


def write_readings(readings: list[Reading], path: str | os.PathLike[str]) -> Path:
    """Write readings atomically (fsynced) as CSV."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(p, "w", newline="", encoding="utf-8", fsync=True) as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for r in readings:
            w.writerow([r.file, r.reader, r.call, "" if r.rating is None else r.rating,
                        "" if r.seconds is None else f"{r.seconds:.1f}", r.phase])
    return p


def readings_dir() -> Path:
    path = user_data_dir() / "readings"
    path.mkdir(parents=True, exist_ok=True)
    return path


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "reader"


def read_readings_files(paths: list[str | os.PathLike[str]]) -> list[Reading]:
    """Readings from several CSV files and/or folders of them (each ``*.csv`` inside, sorted).

    Each file is checked as :func:`read_readings` does; the same reader reading the same file in
    the same phase in two files is a duplicate too, named with both files.
    """
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(q for q in p.glob("*.csv") if q.is_file())
            if not found:
                raise ReadingsError(f"the folder {p} holds no readings files (*.csv)")
            files += found
        else:
            files.append(p)
    if not files:
        raise ReadingsError("no readings files were given")
    out: list[Reading] = []
    first: dict[tuple[str, str, str], Path] = {}
    for f in files:
        for r in read_readings(f):
            key = (r.file, r.reader, r.phase)
            if key in first:
                raise ReadingsError(f"{r.reader} read {r.file} in the {r.phase} phase in both {first[key]} and {f}; "
                                    "keep one of them")
            first[key] = f
            out.append(r)
    return out


def import_readings(path: str | os.PathLike[str], name: str | None = None) -> Path:
    """Check a readings CSV and keep a copy in the user data folder (an existing copy is not overwritten)."""
    readings = read_readings(path)
    target = readings_dir() / f"{safe_name(name or Path(path).stem)}.csv"
    if target.exists() and read_readings(target) != readings:
        raise ReadingsError(f"readings named {target.stem!r} are already kept ({target}); import under another "
                            "name (--name)")
    return write_readings(readings, target)


def keep_readings(paths: list[str | os.PathLike[str]]) -> list[str]:
    """Keep a copy, in the user data folder, of each readings file that is not already there (so it
    can be found again); one line per file: the name kept under, or why it was not kept."""
    home = readings_dir().resolve()
    out = []
    for f in map(Path, paths):
        if home in f.resolve().parents:
            continue
        try:
            out.append(import_readings(f).name)
        except ReadingsError as exc:
            out.append(f"not kept: {exc}")
    return out


def stored_readings() -> list[dict[str, Any]]:
    """Every readings file kept in the user data folder: imports and reading-session files.

    Each entry: path, kind ("import" or "session"), readers, counts per phase, and for a session
    the set it was read on (from the session's side file).
    """
    import json

    base = readings_dir()
    entries: list[dict[str, Any]] = []
    for kind, folder in (("import", base), ("session", base / "sessions")):
        for f in sorted(folder.glob("*.csv")) if folder.is_dir() else []:
            try:
                rows = read_readings(f)
            except ReadingsError as exc:
                entries.append({"path": str(f), "kind": kind, "error": str(exc)})
                continue
            entry: dict[str, Any] = {"path": str(f), "kind": kind, "readers": sorted({r.reader for r in rows}),
                                     "unaided": sum(r.phase == "unaided" for r in rows),
                                     "aided": sum(r.phase == "aided" for r in rows)}
            meta = f.with_suffix(".json")
            if meta.exists():
                with contextlib.suppress(OSError, ValueError):  # a damaged side file only loses the set's name
                    entry["set"] = json.loads(meta.read_text(encoding="utf-8")).get("set")
            entries.append(entry)
    return entries


def export_readings(paths: list[str | os.PathLike[str]], out: str | os.PathLike[str],
                    readers: list[str] | None = None) -> tuple[Path, int]:
    """Merge readings files into one CSV at ``out`` (only ``readers`` when given); (path, rows)."""
    rows = read_readings_files(paths)
    if readers:
        missing = sorted(set(readers) - {r.reader for r in rows})
        if missing:
            raise ReadingsError(f"no readings by {', '.join(missing)} in the files given")
        rows = [r for r in rows if r.reader in set(readers)]
    return write_readings(rows, out), len(rows)


@dataclass
class MatchedReadings:
    """Readings of one phase matched to a labelled set: arrays (readers x cases) in the set's order."""

    readers: list[str]
    case_index: np.ndarray  # indices into the set's cases that every array column refers to
    labels: np.ndarray
    calls: np.ndarray  # (readers, cases), -1 cannot read, -2 not read by that reader
    ratings: np.ndarray  # (readers, cases), nan where none
    seconds: np.ndarray

    def for_reader(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(case positions, calls, ratings) of the cases this reader read."""
        i = self.readers.index(name)
        done = self.calls[i] != -2
        return np.flatnonzero(done), self.calls[i][done], self.ratings[i][done]


def match_readings(readings: list[Reading], names: list[str], labels: Any, phase: str = "unaided") -> MatchedReadings:
    """Put readings of ``phase`` against a set's case names; unknown files and one-class readers are errors."""
    index = {n: i for i, n in enumerate(names)}
    rows = [r for r in readings if r.phase == phase]
    if not rows:
        raise ReadingsError(f"there are no {phase} readings")
    unknown = sorted({r.file for r in rows if r.file not in index})
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise ReadingsError(f"{len(unknown)} file(s) in the readings are not in the set: {shown}. "
                            "File names must be relative to the set's folder (or its CSV's folder).")
    readers = sorted({r.reader for r in rows})
    used = sorted({index[r.file] for r in rows})
    col = {c: j for j, c in enumerate(used)}
    y = np.asarray(labels, dtype=np.int8)[used]
    calls = np.full((len(readers), len(used)), -2, dtype=np.int8)
    ratings = np.full(calls.shape, np.nan)
    seconds = np.full(calls.shape, np.nan)
    for r in rows:
        i, j = readers.index(r.reader), col[index[r.file]]
        calls[i, j] = r.call_code
        ratings[i, j] = np.nan if r.rating is None else r.rating
        seconds[i, j] = np.nan if r.seconds is None else r.seconds
    for i, name in enumerate(readers):
        # The classes of the cases the reader gave a call on ("cannot read" is not a call).
        got = y[calls[i] >= 0]
        if got.size == 0:
            raise ReadingsError(f"reader {name} gave no call (every case is 'cannot read'); there is nothing to "
                                "compare with the model")
        if got.min() == got.max():
            only = "PNEUMONIA" if got[0] else "NORMAL"
            raise ReadingsError(f"reader {name} gave calls on {only} cases only ({got.size}); sensitivity and "
                                "specificity need calls on both NORMAL and PNEUMONIA cases")
    return MatchedReadings(readers, np.asarray(used, dtype=np.int64), y, calls, ratings, seconds)


def call_rating_conflict(call: str, rating: int | None) -> str | None:
    """Why a call and a rating disagree (NORMAL rated 4-5, PNEUMONIA rated 1-2), or None."""
    if rating is None:
        return None
    if call == "NORMAL" and rating >= 4:
        return f"The call is NORMAL but the rating is {rating} (probably or definitely pneumonia)."
    if call == "PNEUMONIA" and rating <= 2:
        return f"The call is PNEUMONIA but the rating is {rating} (probably or definitely normal)."
    return None


def changed_calls(readings: list[Reading], reader: str) -> list[tuple[str, str, str]]:
    """(file, unaided call, aided call) where the aided phase changed this reader's call."""
    before = {r.file: r.call for r in readings if r.reader == reader and r.phase == "unaided"}
    return [(r.file, before[r.file], r.call) for r in readings
            if r.reader == reader and r.phase == "aided" and r.file in before and before[r.file] != r.call]

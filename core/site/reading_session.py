"""A reader-study session: one reader through a labelled set in a seeded shuffled order.

The order comes from the seed and the set's case names, so it is the same on every resume. After
every answer the whole readings CSV of the session is rewritten atomically (fsynced), so a crash or
a kill loses at most the answer being given. With ``aided=True`` the reader goes through the set a
second time with the model's output shown; those rows have ``phase=aided`` and
:func:`core.site.readings.changed_calls` lists the calls that changed.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from core.paths import atomic_open
from core.site.readings import Reading, ReadingsError, read_readings, readings_dir, safe_name, write_readings
from core.site.sets import SiteCase, SiteSet, read_site_set


def shuffled_order(names: list[str], seed: int) -> list[int]:
    """Seeded permutation of the cases, independent of the order the folder listed them in."""
    base = sorted(range(len(names)), key=lambda i: names[i])
    perm = np.random.default_rng(seed).permutation(len(base))
    return [base[int(k)] for k in perm]


class ReadingSession:
    def __init__(self, site: str | os.PathLike[str] | SiteSet, reader: str, seed: int = 0, aided: bool = False,
                 folder: str | os.PathLike[str] | None = None) -> None:
        reader = reader.strip()
        if not reader:
            raise ReadingsError("a reading session needs the reader's name")
        self.site = site if isinstance(site, SiteSet) else read_site_set(site)
        self.reader, self.seed, self.aided = reader, int(seed), bool(aided)
        # The set by its real path (``site`` and ``/abs/site`` are one session) and the reader by a
        # hash of the exact name, so "Dr Lee" and "Dr_Lee" never share (and overwrite) one file.
        key = hashlib.sha256(os.path.realpath(self.site.root).encode()).hexdigest()[:10]
        who = hashlib.sha256(reader.encode()).hexdigest()[:6]
        base = Path(folder) if folder is not None else readings_dir() / "sessions"
        self.path = base / f"{safe_name(reader)}-{who}-{key}-seed{self.seed}.csv"
        self.order = shuffled_order(self.site.names, self.seed)
        known = set(self.site.names)
        stored: list[Reading] = read_readings(self.path) if self.path.exists() else []
        # A session saved before names were hashed into the file name moves to the new file: this
        # reader's rows come over, any other reader's stay in the old file (it is removed when
        # none remain), so no row is lost and none is listed twice.
        legacy = base / f"{safe_name(reader)}-{hashlib.sha256(self.site.root.encode()).hexdigest()[:10]}-seed{self.seed}.csv"
        if not stored and legacy.exists() and legacy != self.path:
            old = read_readings(legacy)
            stored = [r for r in old if r.reader == reader]
            others = [r for r in old if r.reader != reader]
            if stored:
                write_readings(stored, self.path)
                if others:
                    write_readings(others, legacy)
                else:
                    legacy.unlink()
        mine = [r for r in stored if r.reader == reader]
        self.readings = [r for r in mine if r.file in known]
        # Answers on cases since removed from the set move to a side file (``.removed``, same CSV
        # columns): kept, but out of the session file, whose every row must match the set.
        gone = [r for r in mine if r.file not in known]
        if gone:
            side = self.path.with_suffix(".removed")
            before = read_readings(side) if side.exists() else []
            write_readings(before + [r for r in gone if r not in before], side)
            write_readings(self.readings, self.path)
        meta = self.path.with_suffix(".json")
        if not meta.exists():
            meta.parent.mkdir(parents=True, exist_ok=True)
            with atomic_open(meta, "w", encoding="utf-8") as fh:
                json.dump({"set": os.path.realpath(self.site.root), "reader": reader, "seed": self.seed,
                           "aided": self.aided}, fh)

    def note_aid(self, model_sha256: str, threshold: float, threshold_source: str = "") -> None:
        """Record in the session's side file which model and threshold the aided phase showed."""
        meta = self.path.with_suffix(".json")
        try:
            data = json.loads(meta.read_text(encoding="utf-8")) if meta.exists() else {}
        except (OSError, ValueError):
            data = {}
        aid = {"model_sha256": model_sha256, "threshold": float(threshold), "threshold_source": threshold_source}
        shown = data.setdefault("aided_with", [])
        if aid not in shown:
            shown.append(aid)
            with atomic_open(meta, "w", encoding="utf-8") as fh:
                json.dump(data, fh)

    # ---------------------------------------------------------------- where we are
    def _done(self, phase: str) -> set[str]:
        return {r.file for r in self.readings if r.phase == phase}

    @property
    def phase(self) -> str | None:
        """'unaided', then 'aided' (if asked), then None when the session is complete."""
        if len(self._done("unaided")) < len(self.order):
            return "unaided"
        if self.aided and len(self._done("aided")) < len(self.order):
            return "aided"
        return None

    def current(self) -> SiteCase | None:
        phase = self.phase
        if phase is None:
            return None
        done = self._done(phase)
        for i in self.order:
            if self.site.names[i] not in done:
                return self.site.cases[i]
        return None

    def position(self) -> tuple[int, int]:
        """(answered in this phase, cases in the set)."""
        phase = self.phase or ("aided" if self.aided else "unaided")
        return len(self._done(phase)), len(self.order)

    def previous_call(self, case: SiteCase) -> str | None:
        """In the aided phase: the reader's own unaided call on this case."""
        for r in self.readings:
            if r.file == case.name and r.phase == "unaided":
                return r.call
        return None

    # ---------------------------------------------------------------- answering
    def answer(self, call: str, rating: int | None = None, seconds: float | None = None) -> Reading:
        """Record the answer for the current case and save the session at once."""
        case, phase = self.current(), self.phase
        if case is None or phase is None:
            raise ReadingsError("this reading session is complete; nothing left to read")
        call = call.upper()
        if call not in ("NORMAL", "PNEUMONIA", "CANNOT_READ"):
            raise ReadingsError(f"the call {call!r} is not NORMAL, PNEUMONIA or CANNOT_READ")
        if rating is not None and not 1 <= int(rating) <= 5:
            raise ReadingsError(f"the rating {rating} is outside 1-5")
        if call == "CANNOT_READ":
            rating = None
        reading = Reading(case.name, self.reader, call, None if rating is None else int(rating),
                          None if seconds is None else round(float(seconds), 1), phase)
        self.readings.append(reading)
        write_readings(self.readings, self.path)
        return reading

    def export(self, out: str | os.PathLike[str]) -> Path:
        return write_readings(self.readings, out)

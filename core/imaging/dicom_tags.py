"""Reading DICOM attributes defensively (missing, malformed or multi-valued elements)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _is_multi(value: Any) -> bool:
    from pydicom.multival import MultiValue

    # Only real multi-valued elements: PersonName and str are iterable too.
    return isinstance(value, MultiValue | list | tuple)


def _text(ds: Any, keyword: str) -> str | None:
    try:
        value = ds.get(keyword)
        if value is None:
            return None
        if _is_multi(value):
            value = "\\".join(str(v) for v in value)
        text = str(value).strip().rstrip("\x00").strip()
    except Exception:  # undecodable tag values (bad character sets, bad VRs) are simply absent
        return None
    return text or None


def _int(ds: Any, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        if _is_multi(value):
            value = value[0]
        return None if value is None or value == "" else int(value)
    except Exception:
        return None


def _float(ds: Any, keyword: str, default: float) -> float:
    try:
        value = ds.get(keyword)
        if _is_multi(value):
            value = value[0]
        return default if value is None or value == "" else float(value)
    except Exception:
        return default


def _uid_name(value: Any, registered_only: bool = False) -> str | None:
    """Registered name of a UID ("CT Image Storage"), else the UID itself (made printable)."""
    if value is None:
        return None
    try:
        from pydicom.uid import UID

        u = UID(str(value).strip().rstrip("\x00"))
        if u.name != str(u):
            return u.name
    except Exception:
        return None
    return None if registered_only else _printable(value)


def _printable(value: Any, limit: int = 64) -> str:
    # Damaged headers put arbitrary bytes into UIDs; keep messages readable.
    text = "".join(ch if ch.isascii() and ch.isprintable() else "?" for ch in str(value))
    return text[:limit]



_AGE_UNITS = {"D": 1 / 365.25, "W": 7 / 365.25, "M": 1 / 12, "Y": 1.0}


def age_in_years(patient_age: str | None) -> float | None:
    """DICOM Age String ("004Y", "018M", "003W", "010D"; lenient about padding) in years, else None."""
    if not patient_age:
        return None
    text = str(patient_age).strip().upper()
    unit = text[-1:] if text[-1:] in _AGE_UNITS else "Y"
    digits = text[:-1] if text[-1:] in _AGE_UNITS else text
    if not digits.strip().isdigit():
        return None
    years = int(digits) * _AGE_UNITS[unit]
    return years if 0 <= years < 150 else None


def _date(text: str | None) -> Any:
    import datetime as dt

    try:
        return dt.datetime.strptime(str(text or "").strip()[:8], "%Y%m%d").date()
    except ValueError:
        return None


def patient_age(ds: Any) -> tuple[str | None, float | None]:
    """(as written, in years): PatientAge, else worked out from PatientBirthDate and the study date."""
    written = _text(ds, "PatientAge")
    years = age_in_years(written)
    if years is not None:
        return written, years
    born = _date(_text(ds, "PatientBirthDate"))
    seen = _date(_text(ds, "StudyDate")) or _date(_text(ds, "AcquisitionDate")) or _date(_text(ds, "ContentDate"))
    if born is None or seen is None or seen < born:
        return written, None
    return written, (seen - born).days / 365.25


def population_tags(path: str | Path) -> dict[str, Any]:
    """The age and view a file's DICOM header states (``age_years``, ``view_position``), read
    without its pixels; ``{}`` for a PNG/JPEG or a file that is not readable DICOM."""
    import pydicom

    try:
        ds = pydicom.dcmread(str(path), stop_before_pixels=True)
    except Exception:  # not DICOM (JPEG, PNG) or unreadable: it states nothing
        return {}
    return {"age_years": patient_age(ds)[1], "view_position": _text(ds, "ViewPosition")}

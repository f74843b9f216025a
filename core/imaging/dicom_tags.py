"""Reading DICOM attributes defensively (missing, malformed or multi-valued elements)."""

from __future__ import annotations

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


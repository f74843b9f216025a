"""Cheap file-type recognition from the first bytes (no decoding)."""

from __future__ import annotations

import os
from pathlib import Path

from core.imaging.xray import IMAGE_SUFFIXES


def is_candidate_file(path: str | os.PathLike[str]) -> bool:
    """Cheap test for folder listings: does this look like an image file worth offering?"""
    p = Path(os.fspath(path))
    if p.name.startswith(".") or p.name.upper() == "DICOMDIR":
        return False
    suffix = p.suffix.lower()
    # DICOM files are often named by UID ("1.2.840.113619.2.55.3"): a numeric "suffix" is no suffix.
    numeric_suffix = suffix[1:].isdigit()
    if suffix not in IMAGE_SUFFIXES and not numeric_suffix:
        return False
    try:
        if not p.is_file():
            return False
        if suffix and not numeric_suffix:
            return True
        with p.open("rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return _sniff(head) is not None or _looks_like_raw_dicom(head)



def _sniff(head: bytes) -> str | None:
    if head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"BM") and len(head) >= 26:
        return "bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith((b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51")):
        return "jpeg2000"
    return None


def _looks_like_raw_dicom(head: bytes) -> bool:
    """DICOM without the 128-byte preamble (or ACR-NEMA): starts with a group 0002/0008 tag."""
    if len(head) < 8:
        return False
    return head[:2] in (b"\x02\x00", b"\x08\x00") or head[:2] in (b"\x00\x02", b"\x00\x08")


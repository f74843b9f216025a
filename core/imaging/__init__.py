"""Load X-ray images (DICOM, PNG, JPEG, BMP, TIFF) as display-ready 8-bit grey pixels.

Everything that can go wrong while reading a file ends in :class:`ImageLoadError`, whose
message starts with the file name and says in plain words what is wrong. A file that cannot
be shown faithfully is refused rather than shown as a garbage image.

DICOM pipeline (first frame only): pixel data -> modality LUT (Rescale Slope/Intercept or
Modality LUT Sequence) -> VOI LUT Sequence or Window Center/Width (the data's own range, 0.5 to 99.5 percentile,
when there is none or when the stored window does not fit the data) -> 8 bit -> MONOCHROME1
inversion. Colour images become grey by ITU-R 601 luminance.

Other formats go through Pillow: EXIF orientation is applied, 16-bit grey is scaled by its own
min/max, and alpha channels are dropped (the colour channels are used as stored, not
composited), because X-ray exports with alpha carry the image in the colour channels.
"""


from __future__ import annotations

import os
from pathlib import Path

from core.imaging.dicom import _load_dicom
from core.imaging.pillow import _load_pillow
from core.imaging.sniff import _looks_like_raw_dicom, _sniff, is_candidate_file
from core.imaging.view import chest_warning
from core.imaging.xray import (
    _KIND_LABELS,
    DICOM_SUFFIXES,
    IMAGE_SUFFIXES,
    MAX_PIXELS,
    MIN_SIDE,
    ImageLoadError,
    XRay,
    _fail,
    _short,
)

__all__ = [
    "DICOM_SUFFIXES", "IMAGE_SUFFIXES", "MAX_PIXELS", "MIN_SIDE", "ImageLoadError", "XRay", "chest_warning",
    "is_candidate_file", "load_image",
]


def load_image(path: str | os.PathLike[str]) -> XRay:
    """Read a DICOM/PNG/JPEG/BMP/TIFF file into an :class:`XRay` or raise :class:`ImageLoadError`."""
    p = Path(os.fspath(path))
    name = p.name or str(p)
    try:
        return _load(p, name)
    except ImageLoadError:
        raise
    except MemoryError as exc:
        raise ImageLoadError(f"{name}: not enough memory to load this image") from exc
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:
        # Last-resort net: decoders and parsers raise almost any exception type on damaged input,
        # including Rust panics (pyo3 PanicException derives from BaseException).
        raise ImageLoadError(f"{name}: the file is damaged or not a supported image ({_short(exc)})") from exc



def _load(p: Path, name: str) -> XRay:
    try:
        size = p.stat().st_size
        if p.is_dir():
            raise _fail(name, "this is a folder, not an image file")
        with p.open("rb") as fh:
            head = fh.read(132)
    except FileNotFoundError as exc:
        raise _fail(name, "the file does not exist (it may have been moved or deleted)") from exc
    except PermissionError as exc:
        raise _fail(name, "the file cannot be read (permission denied)") from exc
    except IsADirectoryError as exc:
        raise _fail(name, "this is a folder, not an image file") from exc
    except OSError as exc:
        raise _fail(name, f"the file cannot be read ({_short(exc)})") from exc
    if size == 0:
        raise _fail(name, "the file is empty (0 bytes)")

    suffix = p.suffix.lower()
    kind = _sniff(head)
    if kind == "dicom" or (kind is None and _looks_like_raw_dicom(head)):
        return _load_dicom(p, name)
    if kind is not None:
        if suffix in DICOM_SUFFIXES:
            label = _KIND_LABELS[kind]
            raise _fail(
                name,
                f"this is a {label} picture named {suffix}, not a DICOM file; rename it to "
                f".{kind if kind != 'jpeg2000' else 'jp2'} if it is meant to be opened as a picture",
            )
        return _load_pillow(p, name, kind)
    if suffix in DICOM_SUFFIXES or suffix == "" or suffix[1:].isdigit():
        return _load_dicom(p, name)
    if suffix in (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"):
        raise _fail(name, f"the file is named {suffix} but its content is not a {suffix[1:].upper()} image")
    raise _fail(name, "not an image Pneumoscope can read (expected DICOM, PNG, JPEG, BMP or TIFF)")


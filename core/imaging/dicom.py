"""DICOM files: parse, pick a decoder plugin, decode the first frame, describe the tags."""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.imaging import xray as _limits
from core.imaging.dicom_tags import _int, _printable, _text, _uid_name, patient_age
from core.imaging.display import _dicom_colour_to_grey, _dicom_grey_to_8bit
from core.imaging.xray import (
    _COLOUR_PHOTOMETRIC,
    _NON_IMAGE_MODALITIES,
    _WARNINGS_LOCK,
    XRay,
    _fail,
    _short,
    _xray,
)

# --------------------------------------------------------------------------- decoder plugins


@dataclass(frozen=True)
class _Plugin:
    pydicom_name: str  # value for pydicom's ``decoding_plugin``
    modules: tuple[str, ...]  # import names that must be present for it to work
    dist: str  # what to pip install
    install_hint: str
    # Tried only when no other decoder for the syntax is installed: GDCM aborts the whole
    # process (an uncaught C++ exception) on some damaged JPEG 2000 streams, found by fuzzing.
    last_resort: bool = False


_LIBJPEG = _Plugin(
    "pylibjpeg", ("pylibjpeg", "libjpeg"), "pylibjpeg-libjpeg",
    "the optional pylibjpeg-libjpeg plugin (GPL-3.0): pip install pneumoscope[gpl-decoders]",
)
_OPENJPEG = _Plugin(
    "pylibjpeg", ("pylibjpeg", "openjpeg"), "pylibjpeg-openjpeg",
    "the pylibjpeg-openjpeg plugin: pip install pylibjpeg-openjpeg",
)
_PYLIBJPEG_RLE = _Plugin(
    "pylibjpeg", ("pylibjpeg", "rle"), "pylibjpeg-rle", "the pylibjpeg-rle plugin: pip install pylibjpeg-rle"
)
_GDCM = _Plugin(
    "gdcm", ("gdcm",), "python-gdcm", "the python-gdcm plugin: pip install python-gdcm", last_resort=True
)
_PILLOW = _Plugin("pillow", ("PIL",), "Pillow", "Pillow: pip install pillow")
_PYDICOM_RLE = _Plugin("pydicom", (), "pydicom", "pydicom")

# Transfer syntax -> (plain name, decoders to try in order; GDCM only when it is the only one
# installed). Pillow (libjpeg-turbo) goes first for JPEG Baseline: it is the fastest (3 ms for
# 1024x1024) and gives the same pixels as GDCM, while pylibjpeg-libjpeg differs by +-1 grey
# level on a few percent of pixels.
_JPEG_8 = (_PILLOW, _GDCM, _LIBJPEG)
_JPEG_LOSSLESS = (_LIBJPEG, _GDCM)
_J2K = (_OPENJPEG, _GDCM, _PILLOW)
_DECODERS: dict[str, tuple[str, tuple[_Plugin, ...]]] = {
    "1.2.840.10008.1.2.4.50": ("JPEG Baseline", _JPEG_8),
    "1.2.840.10008.1.2.4.51": ("JPEG Extended (12-bit)", _JPEG_8),
    "1.2.840.10008.1.2.4.57": ("JPEG Lossless", _JPEG_LOSSLESS),
    "1.2.840.10008.1.2.4.70": ("JPEG Lossless (SV1)", _JPEG_LOSSLESS),
    "1.2.840.10008.1.2.4.80": ("JPEG-LS Lossless", _JPEG_LOSSLESS),
    "1.2.840.10008.1.2.4.81": ("JPEG-LS Near-Lossless", _JPEG_LOSSLESS),
    "1.2.840.10008.1.2.4.90": ("JPEG 2000 Lossless", _J2K),
    "1.2.840.10008.1.2.4.91": ("JPEG 2000", _J2K),
    "1.2.840.10008.1.2.4.201": ("HTJ2K (High-Throughput JPEG 2000) Lossless", (_OPENJPEG,)),
    "1.2.840.10008.1.2.4.202": ("HTJ2K (High-Throughput JPEG 2000) Lossless RPCL", (_OPENJPEG,)),
    "1.2.840.10008.1.2.4.203": ("HTJ2K (High-Throughput JPEG 2000)", (_OPENJPEG,)),
    "1.2.840.10008.1.2.5": ("RLE Lossless", (_PYDICOM_RLE, _PYLIBJPEG_RLE)),
}
# Codestreams of these syntaxes end with the EOI/EOC marker FFD9; a missing one means the file was cut.
_ENDS_WITH_FFD9 = frozenset(uid for uid in _DECODERS if uid != "1.2.840.10008.1.2.5")


def _plugin_installed(plugin: _Plugin) -> bool:
    try:
        return all(importlib.util.find_spec(mod) is not None for mod in plugin.modules)
    except (ImportError, ValueError):
        return False



_TRUNCATION_HINTS = ("end of file", "truncat", "unexpected end", "expected bytes", "not enough data")


def _load_dicom(p: Path, name: str) -> XRay:
    with _WARNINGS_LOCK:
        return _load_dicom_locked(p, name)


def _load_dicom_locked(p: Path, name: str) -> XRay:
    import pydicom
    from pydicom import uid as dcm_uid

    truncated_msg = "pixel data is shorter than the header says: the file is truncated"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = pydicom.dcmread(p, force=True)
        except MemoryError:
            raise
        except Exception as exc:
            raise _fail(name, _dicom_read_problem(exc)) from exc
        read_warnings = [str(w.message).lower() for w in caught]
    cut_short = any(h in msg for msg in read_warnings for h in _TRUNCATION_HINTS)

    file_meta = getattr(ds, "file_meta", None)
    if len(ds) == 0:
        if cut_short:
            raise _fail(name, truncated_msg)
        raise _fail(name, "not a DICOM file (no DICOM data elements were found)")

    media_class = str(file_meta.get("MediaStorageSOPClassUID", "")) if file_meta is not None else ""
    if "DirectoryRecordSequence" in ds or media_class == "1.2.840.10008.1.3.10":
        raise _fail(name, "this is a DICOMDIR media index, not an image: open the image files it lists")

    markers = ("SOPClassUID", "Modality", "Rows", "PixelData", "StudyInstanceUID", "PatientID")
    has_ts = file_meta is not None and "TransferSyntaxUID" in file_meta
    if not has_ts and not any(m in ds for m in markers):
        raise _fail(name, "not an image Pneumoscope can read (no DICOM image header was found)")

    modality = _text(ds, "Modality")
    pixel_keyword = next((k for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData") if k in ds), None)
    if pixel_keyword is None:
        if cut_short:
            raise _fail(name, truncated_msg)
        what = _NON_IMAGE_MODALITIES.get((modality or "").upper())
        sop = _uid_name(ds.get("SOPClassUID"), registered_only=True)
        if what is None and sop and "Image" not in sop:
            what = f"a DICOM {sop} object"
        if what is not None:
            raise _fail(name, f"no pixel data: this is {what}, not an image")
        if "Rows" in ds or sop:
            raise _fail(
                name, "the file has an image header but no pixel data (the Pixel Data element is "
                "missing: the file may be truncated or damaged)",
            )
        raise _fail(name, "no pixel data: this DICOM file holds no image")
    raw_value = ds[pixel_keyword].value
    if raw_value is None or len(raw_value) == 0:
        raise _fail(name, "the Pixel Data element is empty: the file holds no image")

    # Files without file meta (ACR-NEMA, no-preamble exports): the encoding pydicom detected
    # while reading is the transfer syntax.
    if not has_ts:
        implicit, little = ds.original_encoding
        if implicit:
            ts_value = dcm_uid.ImplicitVRLittleEndian
        else:
            ts_value = dcm_uid.ExplicitVRLittleEndian if little else dcm_uid.ExplicitVRBigEndian
        if file_meta is None:
            ds.file_meta = pydicom.dataset.FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ts_value
    ts = dcm_uid.UID(str(ds.file_meta.TransferSyntaxUID).strip().rstrip("\x00"))
    if not ts.is_transfer_syntax:
        raise _fail(name, f"unknown transfer syntax {_printable(ts)}: Pneumoscope cannot decode this pixel data")

    rows = _int(ds, "Rows")
    cols = _int(ds, "Columns")
    if not rows or not cols or rows <= 0 or cols <= 0:
        raise _fail(name, "the image size (Rows/Columns) is missing or zero in the DICOM header")
    if rows * cols > _limits.MAX_PIXELS:
        raise _fail(name, f"image is too large ({rows * cols / 1e6:.0f} megapixels)")
    samples = _int(ds, "SamplesPerPixel") or 1
    bits_allocated = _int(ds, "BitsAllocated") or 0
    if bits_allocated not in (1, 8, 16, 32, 64):
        raise _fail(name, f"unsupported Bits Allocated value ({bits_allocated}) in the DICOM header")
    frames = max(_int(ds, "NumberOfFrames") or 1, 1)
    photometric = (_text(ds, "PhotometricInterpretation") or "MONOCHROME2").upper()

    if pixel_keyword == "PixelData" and not ts.is_encapsulated:
        per_pixel = samples * bits_allocated
        if photometric == "YBR_FULL_422":
            per_pixel = 2 * bits_allocated
        expected = (rows * cols * per_pixel * frames + 7) // 8
        if len(raw_value) < expected:
            raise _fail(name, truncated_msg)

    arr = _decode_first_frame(ds, ts, name, cut_short, truncated_msg)

    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.shape[:2] != (rows, cols) or arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] != 3):
        raise _fail(
            name, f"the decoded image ({'x'.join(map(str, arr.shape))}) does not match the header "
            f"({rows}x{cols}): the pixel data is damaged",
        )
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise _fail(name, "the pixel data contains invalid (NaN or infinite) values")

    meta = _dicom_meta(ds, ts, rows, cols, frames, photometric, str(p))
    if photometric in _COLOUR_PHOTOMETRIC or arr.ndim == 3:
        pixels = _dicom_colour_to_grey(arr, ds, photometric)
        meta["color"] = True
        meta["window"] = None
    else:
        pixels, window, note = _dicom_grey_to_8bit(arr, ds)
        meta["window"] = window
        if note:
            meta["window_note"] = note
        if photometric == "MONOCHROME1":
            pixels = 255 - pixels
        meta["color"] = False
    if pixels.shape != (rows, cols):
        raise _fail(name, "the decoded image does not match the size in the header")
    return _xray(pixels, "dicom", meta, p)


def _dicom_read_problem(exc: Exception) -> str:
    import struct
    import zlib

    from pydicom.errors import InvalidDicomError

    text = str(exc).lower()
    if isinstance(exc, zlib.error):
        return "the compressed (deflated) DICOM data is damaged or cut short"
    if any(h in text for h in _TRUNCATION_HINTS):
        return "the DICOM file ends too early: the file is truncated"
    if isinstance(exc, struct.error) or "unpack requires" in text:
        return "the DICOM header is damaged or the file is cut short"
    if isinstance(exc, InvalidDicomError):
        return f"not a readable DICOM file ({_short(exc)})"
    return f"the DICOM header is damaged and cannot be read ({_short(exc)})"


def _decode_first_frame(ds: Any, ts: Any, name: str, cut_short: bool, truncated_msg: str) -> np.ndarray:
    from pydicom.pixels import pixel_array

    if not ts.is_encapsulated:
        try:
            return np.asarray(pixel_array(ds, index=0))
        except Exception as exc:
            if "less than expected" in str(exc) or cut_short:
                raise _fail(name, truncated_msg) from exc
            raise _fail(name, f"the pixel data could not be read ({_short(exc)})") from exc

    label, plugins = _DECODERS.get(str(ts), (ts.name or str(ts), ()))
    if not plugins:
        raise _fail(name, f"{label} pixel data ({ts!s}) is a compression Pneumoscope cannot decode")
    installed = [pl for pl in plugins if _plugin_installed(pl)]
    missing = [pl for pl in plugins if pl not in installed]
    if any(not pl.last_resort for pl in installed):
        installed = [pl for pl in installed if not pl.last_resort]
    tried: list[str] = []
    for plugin in installed:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return np.asarray(pixel_array(ds, index=0, decoding_plugin=plugin.pydicom_name))
        except (MemoryError, KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        except BaseException:  # a Rust decoder panics with a BaseException on some damaged data
            tried.append(plugin.dist)

    if not installed:
        hint = " or ".join(pl.install_hint for pl in missing)
        raise _fail(name, f"{label} pixel data ({ts!s}) needs {hint}")
    problem = _encapsulation_problem(ds, ts, label)
    if problem is not None:
        raise _fail(name, problem)
    if cut_short:
        raise _fail(name, truncated_msg)
    message = (
        f"the {label} pixel data ({ts!s}) could not be decoded by the installed decoders "
        f"({', '.join(tried)}): the image data is damaged or uses a variant they do not support"
    )
    if missing:
        message += "; if it is not damaged it may need " + " or ".join(pl.install_hint for pl in missing)
    raise _fail(name, message)


def _encapsulation_problem(ds: Any, ts: Any, label: str) -> str | None:
    """Explain a failed decode from the fragments: not that codec at all, or a cut-off stream."""
    if str(ts) not in _ENDS_WITH_FFD9:
        return None
    from pydicom.encaps import generate_fragments

    try:
        fragments = [bytes(f) for f in generate_fragments(ds.PixelData) if len(f)]
    except Exception:
        return "the compressed pixel data is not properly encapsulated: the file is damaged or truncated"
    if not fragments:
        return "pixel data is shorter than the header says: the file is truncated"
    first = fragments[0]
    is_j2k = "JPEG 2000" in label or "HTJ2K" in label
    starts = (b"\xff\x4f\xff\x51", b"\x00\x00\x00\x0cjP") if is_j2k else (b"\xff\xd8",)
    if not first.startswith(starts):
        return f"the transfer syntax says {label} ({ts!s}) but the pixel data is not a {label} stream"
    # A complete codestream ends with the EOI/EOC marker FFD9, possibly followed by fill bytes.
    if b"\xff\xd9" not in fragments[-1][-16:]:
        return "pixel data is shorter than the header says: the file is truncated"
    return None



def _dicom_meta(
    ds: Any, ts: Any, rows: int, cols: int, frames: int, photometric: str, source: str
) -> dict[str, Any]:
    age = patient_age(ds)
    meta: dict[str, Any] = {
        "modality": _text(ds, "Modality"),
        "body_part": _text(ds, "BodyPartExamined"),
        "view_position": _text(ds, "ViewPosition"),
        "patient_age": age[0],  # as written in PatientAge ("004Y"); None when absent
        "age_years": age[1],  # from PatientAge, else birth date and study date; None when unknown
        "photometric": photometric,
        "bits_stored": _int(ds, "BitsStored"),
        "transfer_syntax": str(ts),
        "transfer_syntax_name": ts.name,
        "window": None,
        "study_date": _text(ds, "StudyDate"),
        "manufacturer": _text(ds, "Manufacturer"),
        "frames": frames,
        "rows": rows,
        "cols": cols,
        "sop_class": _uid_name(ds.get("SOPClassUID")),
        "patient_id": _text(ds, "PatientID"),
        "patient_name": _text(ds, "PatientName"),
        "source_path": source,
    }
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        try:
            spacing = ds.get(keyword)
            if spacing is not None and len(spacing) == 2:
                meta["pixel_spacing"] = (float(spacing[0]), float(spacing[1]))
                break
        except (TypeError, ValueError):
            continue
    if frames > 1:
        meta["frame_note"] = f"this file holds {frames} frames; showing frame 1 of {frames}"
    return meta


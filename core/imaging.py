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

import importlib.util
import os
import re
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import PneumoscopeError

IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".dcm", ".dicom", ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ""}
)
DICOM_SUFFIXES = frozenset({".dcm", ".dicom", ".dic"})

# Decompression-bomb guard for every format (Pillow's own default is ~89 MP, warn-only).
MAX_PIXELS = 100_000_000
# warnings.catch_warnings() swaps process-wide state; the training loader and GUI workers load
# from several threads, so the DICOM path (which must see pydicom's truncation warnings) is
# serialised. Pillow formats need no warnings filter (sizes are checked explicitly).
_WARNINGS_LOCK = threading.RLock()
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
# Below this many pixels a side the image is too coarse to be a chest radiograph for the model.
MIN_SIDE = 128

_CHEST_BODY_PARTS = frozenset({"CHEST", "THORAX", "LUNG", "LUNGS", "TORSO", "CHEST_LAT"})
_LATERAL_VIEWS = frozenset({"LL", "RL", "LATERAL", "LAT", "LLD", "RLD", "LEFT LATERAL", "RIGHT LATERAL"})
_RADIOGRAPH_MODALITIES = frozenset({"CR", "DX", "DR", "RG", "OT"})
_COLOUR_PHOTOMETRIC = frozenset(
    {"RGB", "YBR_FULL", "YBR_FULL_422", "YBR_PARTIAL_420", "YBR_PARTIAL_422", "YBR_ICT", "YBR_RCT",
     "PALETTE COLOR"}
)
_NON_IMAGE_MODALITIES = {
    "SR": "a Structured Report",
    "RTSTRUCT": "an RT Structure Set",
    "RTPLAN": "an RT Plan",
    "RTRECORD": "an RT treatment record",
    "PR": "a Presentation State",
    "KO": "a Key Object Selection",
    "DOC": "an encapsulated document",
    "ECG": "an ECG waveform",
    "REG": "a registration object",
    "PLAN": "a plan",
}
_MODALITY_NAMES = {
    "MR": "MRI", "CT": "CT", "US": "ultrasound", "NM": "nuclear medicine", "PT": "PET",
    "MG": "mammography", "XA": "angiography", "RF": "fluoroscopy", "IO": "intra-oral (dental)",
    "PX": "panoramic dental", "SC": "secondary capture", "ES": "endoscopy", "XC": "photograph",
    "GM": "microscopy", "SM": "slide microscopy", "OP": "ophthalmic photograph",
}

_PIL_KINDS = {
    "PNG": "png", "JPEG": "jpeg", "MPO": "jpeg", "BMP": "bmp", "DIB": "bmp", "TIFF": "tiff",
    "GIF": "gif", "WEBP": "webp", "JPEG2000": "jpeg2000",
}
_KIND_LABELS = {
    "png": "PNG", "jpeg": "JPEG", "bmp": "BMP", "tiff": "TIFF", "gif": "GIF", "webp": "WebP",
    "jpeg2000": "JPEG 2000",
}


class ImageLoadError(PneumoscopeError):
    """A file could not be turned into a faithful image; the message says why, in plain words."""


@dataclass(frozen=True)
class XRay:
    """One loaded image. ``pixels`` is read-only so that a shared XRay cannot be altered."""

    pixels: np.ndarray
    kind: str
    meta: dict[str, Any] = field(default_factory=dict)
    path: str = ""


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


# --------------------------------------------------------------------------- public API


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


def chest_warning(xray: XRay) -> str | None:
    """Plain-language warning when the tags say this is not a frontal chest X-ray, else None."""
    meta = xray.meta
    reasons: list[str] = []
    body = str(meta.get("body_part") or "").strip().upper()
    if body and body not in _CHEST_BODY_PARTS:
        reasons.append(f"the body part is {body.lower()}, not the chest")
    view = str(meta.get("view_position") or "").strip().upper()
    if view in _LATERAL_VIEWS:
        reasons.append(f"it is a lateral view ({view}), not a frontal (PA/AP) view")
    modality = str(meta.get("modality") or "").strip().upper()
    if modality and modality not in _RADIOGRAPH_MODALITIES:
        label = _MODALITY_NAMES.get(modality)
        reasons.append(f"the modality is {modality}{f' ({label})' if label else ''}, not a radiograph")
    photometric = str(meta.get("photometric") or "").upper()
    if meta.get("color") or (xray.kind == "dicom" and photometric in _COLOUR_PHOTOMETRIC):
        reasons.append("it is a colour image, not a greyscale X-ray")
    rows, cols = xray.pixels.shape[:2]
    if min(rows, cols) < MIN_SIDE:
        reasons.append(f"it is very small ({cols} x {rows} pixels)")
    if not reasons:
        return None
    return (
        "This may not be a frontal chest X-ray: " + "; ".join(reasons) + ". The model was trained on "
        "frontal chest X-rays only, so its score for this image may be meaningless."
    )


# --------------------------------------------------------------------------- dispatch


def _fail(name: str, reason: str) -> ImageLoadError:
    return ImageLoadError(f"{name}: {reason}")


def _short(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


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


# --------------------------------------------------------------------------- DICOM


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
    if rows * cols > MAX_PIXELS:
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


def _dicom_grey_to_8bit(arr: np.ndarray, ds: Any) -> tuple[np.ndarray, tuple[float, float] | None, str]:
    """Modality LUT, then VOI LUT / window / data range, to uint8. Returns (pixels, window, note)."""
    from pydicom.pixels import apply_modality_lut, apply_voi

    has_modality = "ModalityLUTSequence" in ds or (
        _float(ds, "RescaleSlope", 1.0) != 1.0 or _float(ds, "RescaleIntercept", 0.0) != 0.0
    )
    values = np.asarray(apply_modality_lut(arr, ds)) if has_modality else arr

    if "VOILUTSequence" in ds and len(ds.VOILUTSequence) > 0:
        try:
            item = ds.VOILUTSequence[0]
            n_entries, first, _bits = (int(v) for v in item.LUTDescriptor)
            n_entries = n_entries or 65536
            lut_values = np.asarray(apply_voi(np.arange(first, first + n_entries), ds))
            lo, hi = float(lut_values.min()), float(lut_values.max())
            if hi > lo:
                out = np.asarray(apply_voi(values, ds), dtype=np.float32)
                return _scale(out, lo, hi), None, ""
        except Exception:  # a malformed LUT: the window or data range below still gives an image
            pass

    window = _window(ds)
    if window is not None:
        centre, width = window
        sample = values[:: max(1, values.shape[0] // 256), :: max(1, values.shape[1] // 256)]
        inside = np.mean((sample > centre - width / 2) & (sample < centre + width / 2))
        if inside >= 0.01:
            function = (_text(ds, "VOILUTFunction") or "LINEAR").upper()
            return _apply_window(values, centre, width, function), window, ""
        note = "the stored window did not fit the pixel values; the data's own range was used"
    else:
        note = ""

    if not has_modality and values.dtype == np.uint8:
        # Plain 8-bit data is shown as stored: stretching it would change a display-ready image.
        return np.array(values, dtype=np.uint8, copy=True), None, note
    return _scale(values, *_data_range(values)), None, note


def _data_range(values: np.ndarray) -> tuple[float, float]:
    """Display range from the data itself, ignoring the extreme 0.5% at each end.

    Plain min/max lets a few saturated or padding pixels (burned-in markers, detector edges)
    squeeze the whole anatomy into a handful of grey levels.
    """
    step = max(1, int(np.sqrt(values.size / 262_144)))
    sample = values[::step, ::step]
    lo, hi = (float(v) for v in np.percentile(sample, (0.5, 99.5)))
    if not hi > lo:
        lo, hi = float(values.min()), float(values.max())
    return lo, hi


def _window(ds: Any) -> tuple[float, float] | None:
    try:
        centre = ds.get("WindowCenter")
        width = ds.get("WindowWidth")
        if centre is None or width is None:
            return None
        centre = float(centre[0] if _is_multi(centre) else centre)
        width = float(width[0] if _is_multi(width) else width)
    except (TypeError, ValueError, IndexError):
        return None
    if not (np.isfinite(centre) and np.isfinite(width)) or width < 1:
        return None
    return centre, width


def _apply_window(values: np.ndarray, centre: float, width: float, function: str) -> np.ndarray:
    x = values.astype(np.float32, copy=False)
    if function == "SIGMOID":
        v = 1.0 / (1.0 + np.exp(-4.0 * (x - centre) / width))
    elif function == "LINEAR_EXACT":
        v = (x - centre) / width + 0.5
    elif width == 1:
        v = (x > centre - 0.5).astype(np.float32)
    else:  # LINEAR, PS3.3 C.11.2.1.2.1
        v = (x - (centre - 0.5)) / (width - 1) + 0.5
    return np.clip(np.rint(v * 255.0), 0, 255).astype(np.uint8)


def _scale(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    if not hi > lo:
        return np.zeros(values.shape, dtype=np.uint8)
    x = (values.astype(np.float32, copy=False) - np.float32(lo)) * np.float32(255.0 / (hi - lo))
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _luminance(rgb: np.ndarray, max_value: float) -> np.ndarray:
    x = rgb.astype(np.float32, copy=False)
    grey = x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114
    return np.clip(np.rint(grey * (255.0 / max_value)), 0, 255).astype(np.uint8)


def _dicom_colour_to_grey(arr: np.ndarray, ds: Any, photometric: str) -> np.ndarray:
    from pydicom.pixels import apply_color_lut

    if photometric == "PALETTE COLOR":
        rgb = np.asarray(apply_color_lut(arr, ds))
        return _luminance(rgb, 255.0 if rgb.dtype == np.uint8 else 65535.0)
    if arr.ndim != 3:
        # Tagged as colour but decoded to one plane: treat it as grey rather than guess.
        return _scale(arr, *_data_range(arr))
    bits = _int(ds, "BitsStored") or 8
    return _luminance(arr, float(2 ** min(max(bits, 1), 32) - 1))


def _dicom_meta(
    ds: Any, ts: Any, rows: int, cols: int, frames: int, photometric: str, source: str
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "modality": _text(ds, "Modality"),
        "body_part": _text(ds, "BodyPartExamined"),
        "view_position": _text(ds, "ViewPosition"),
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


# --------------------------------------------------------------------------- Pillow formats


def _pixel_limit() -> int:
    """The stricter of our limit and Pillow's own decompression-bomb limit."""
    pil_limit = Image.MAX_IMAGE_PIXELS
    return min(MAX_PIXELS, int(pil_limit)) if pil_limit else MAX_PIXELS


def _load_pillow(p: Path, name: str, sniffed: str) -> XRay:
    label = _KIND_LABELS.get(sniffed, sniffed.upper())
    formats = [fmt for fmt, kind in _PIL_KINDS.items() if kind == sniffed] or None
    try:
        with Image.open(p, formats=formats) as im:
            width, height = im.size
            if width * height > _pixel_limit():
                raise _fail(name, f"image is too large ({width * height / 1e6:.0f} megapixels)")
            if width <= 0 or height <= 0:
                raise _fail(name, f"the {label} image has no pixels")
            kind = _PIL_KINDS.get(im.format or "", sniffed)
            frames = int(getattr(im, "n_frames", 1) or 1)
            if frames > 1:
                im.seek(0)
            mode = im.mode
            orientation = 1
            try:
                orientation = int(im.getexif().get(0x0112, 1) or 1)
            except Exception:  # unreadable EXIF only loses the orientation hint
                orientation = 1
            if orientation in range(2, 9):
                im = ImageOps.exif_transpose(im)
            pixels, colour, bits = _pil_to_grey(im)
    except ImageLoadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        numbers = re.findall(r"\d+", str(exc))
        size_text = f"{int(numbers[0]) / 1e6:.0f} megapixels" if numbers else "over the size limit"
        raise _fail(name, f"image is too large ({size_text})") from exc
    except UnidentifiedImageError as exc:
        raise _fail(name, f"the {label} image is damaged or truncated (its header could not be read)") from exc
    except MemoryError:
        raise
    except Exception as exc:
        text = str(exc).lower()
        if "truncat" in text or isinstance(exc, EOFError):
            raise _fail(name, f"the {label} image is truncated: the file ends before the image data does") from exc
        raise _fail(name, f"the {label} image data is damaged and could not be decoded ({_short(exc)})") from exc

    if pixels.ndim != 2 or pixels.size == 0:
        raise _fail(name, f"the {label} image could not be turned into a grey image")
    meta: dict[str, Any] = {
        "modality": None, "body_part": None, "view_position": None, "photometric": mode,
        "bits_stored": bits, "transfer_syntax": None, "transfer_syntax_name": None, "window": None,
        "study_date": None, "manufacturer": None, "frames": frames, "rows": int(pixels.shape[0]),
        "cols": int(pixels.shape[1]), "sop_class": None, "patient_id": None, "patient_name": None,
        "source_path": str(p), "format": kind, "color": colour, "exif_orientation": orientation,
    }
    if frames > 1:
        meta["frame_note"] = f"this file holds {frames} pages; showing page 1 of {frames}"
    return _xray(pixels, kind, meta, p)


def _pil_to_grey(im: Image.Image) -> tuple[np.ndarray, bool, int]:
    """Return (uint8 grey pixels, whether the picture really has colour, source bit depth)."""
    mode = im.mode
    if mode == "L":
        return np.array(im, dtype=np.uint8), False, 8
    if mode.startswith("I") or mode == "F":
        values = np.asarray(im)
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            raise ValueError("the image contains invalid (NaN or infinite) values")
        lo, hi = float(values.min()), float(values.max())
        return _scale(values, lo, hi), False, 16 if mode.startswith("I;16") else 32
    if mode in ("1", "LA", "La", "L;16"):
        return np.array(im.convert("L"), dtype=np.uint8), False, 8
    rgb = im.convert("RGB")
    arr = np.asarray(rgb)
    step = max(1, min(arr.shape[0], arr.shape[1]) // 256)
    sample = arr[::step, ::step].astype(np.int16)
    # JPEG chroma noise leaves grey pictures a grey level or two off between channels.
    spread = max(
        float(np.abs(sample[..., 0] - sample[..., 1]).mean()),
        float(np.abs(sample[..., 1] - sample[..., 2]).mean()),
    )
    return np.array(rgb.convert("L"), dtype=np.uint8), spread > 2.0, 8


def _xray(pixels: np.ndarray, kind: str, meta: dict[str, Any], p: Path) -> XRay:
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    pixels.setflags(write=False)
    return XRay(pixels=pixels, kind=kind, meta=meta, path=str(p))

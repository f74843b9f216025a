"""The loaded-image type, its error, and limits shared by every decoder."""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

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



def _fail(name: str, reason: str) -> ImageLoadError:
    return ImageLoadError(f"{name}: {reason}")


def _short(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."



def _pixel_limit() -> int:
    """The stricter of our limit and Pillow's own decompression-bomb limit."""
    pil_limit = Image.MAX_IMAGE_PIXELS
    return min(MAX_PIXELS, int(pil_limit)) if pil_limit else MAX_PIXELS



def _xray(pixels: np.ndarray, kind: str, meta: dict[str, Any], p: Path) -> XRay:
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    pixels.setflags(write=False)
    return XRay(pixels=pixels, kind=kind, meta=meta, path=str(p))

"""PNG, JPEG, BMP, TIFF and other pictures through Pillow, as 8-bit grey."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.imaging.display import _scale
from core.imaging.xray import (
    _KIND_LABELS,
    _PIL_KINDS,
    ImageLoadError,
    XRay,
    _fail,
    _pixel_limit,
    _short,
    _xray,
)


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



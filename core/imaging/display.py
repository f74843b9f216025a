"""DICOM grey values to display pixels: modality LUT, VOI LUT or window, 8 bit, colour to grey."""

from __future__ import annotations

from typing import Any

import numpy as np

from core.imaging.dicom_tags import _float, _int, _is_multi, _text


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



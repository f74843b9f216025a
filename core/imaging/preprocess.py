"""The one preprocessing function shared by training, evaluation, prediction and the GUI.

Images are squashed (not cropped) to the square model input because the Kermany test
images only exist as squashed 224x224 copies: cropping would treat train and test
differently. Resizing uses Pillow BILINEAR everywhere so that a cached uint8 copy made
by :func:`resize_uint8` and divided by 255 is bit-for-bit what :func:`to_model_input`
returns.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def _as_grey_uint8(pixels: np.ndarray) -> np.ndarray:
    arr = np.asarray(pixels)
    if arr.ndim == 3 and arr.shape[-1] in (1, 3, 4):
        # Callers should pass grey already; tolerate RGB(A) by averaging the colour planes.
        arr = arr[..., :1] if arr.shape[-1] == 1 else arr[..., :3].mean(axis=-1)
        arr = np.squeeze(arr, axis=-1) if arr.ndim == 3 else arr
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D grey image, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr)


def resize_uint8(pixels: np.ndarray, size: int) -> np.ndarray:
    """Squash-resize a grey uint8 image to ``(size, size)`` uint8 (Pillow BILINEAR)."""
    arr = _as_grey_uint8(pixels)
    if arr.shape == (size, size):
        return arr.copy()
    img = Image.fromarray(arr).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.uint8)


def to_model_input(pixels: np.ndarray, size: int, channels: int = 1) -> np.ndarray:
    """uint8 HxW -> float32 ``(size, size, channels)`` in [0, 1].

    ``channels=3`` repeats the grey plane (the notebook model takes RGB input).
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    small = resize_uint8(pixels, size).astype(np.float32) / np.float32(255.0)
    out = small[..., None]
    if channels == 3:
        out = np.repeat(out, 3, axis=-1)
    return out


def batch_to_model_input(x_uint8: np.ndarray, channels: int = 1) -> np.ndarray:
    """A batch already squash-resized by :func:`resize_uint8` (uint8 ``(N, S, S)``, e.g. the
    cached arrays of ``core.learning.data.load_arrays``) as float32 ``(N, S, S, channels)``:
    bit for bit what :func:`to_model_input` gives for each image."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    out = np.asarray(x_uint8).astype(np.float32)[..., None] / np.float32(255.0)
    if channels == 3:
        out = np.repeat(out, 3, axis=-1)
    return out

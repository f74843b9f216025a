"""The one heat map renderer: what Review shows and what the Secondary Capture sends to PACS.

Grad-CAM map (float [0, 1]) -> smoothed, coloured RGBA layer at most ``OVERLAY_MAX_SIDE`` across
(:func:`heat_rgba`) -> stretched bilinearly to the image (:func:`heat_layer`) -> alpha-blended over
the grey image as displayed (:func:`blend`) -> RGB uint8. The viewer and the SC both call
:func:`blend` on the same layer, so the clinician and the PACS see the same pixels.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

OVERLAY_MAX_SIDE = 256
OVERLAY_OPACITY = 0.45  # Review's default; the SC uses the same


def _gaussian_rows(a: np.ndarray, sigma: float) -> np.ndarray:
    radius = max(1, round(3 * sigma))
    x = np.arange(-radius, radius + 1, dtype=np.float32)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(a, ((0, 0), (radius, radius)), mode="edge")
    return np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="valid"), 1, padded)


def smooth_heat(heat: np.ndarray, work: int = 128, sigma_fraction: float = 0.015,
                out_size: tuple[int, int] | None = None) -> np.ndarray:
    """Round off the corners of a Grad-CAM map that was enlarged from a coarse grid.

    Enlargement of an 8x8 map draws straight-edged squares and L shapes once weak values are
    faded out, and readers take such edges for a finding's outline. A Gaussian of 1.5% of the
    image side (worked out on a 128 px copy, a few milliseconds) rounds them off. Values are not
    renormalised and the blur is kept small, because any blur lowers a narrow strong peak more
    than a broad weaker patch. Display only: scores are untouched. ``out_size`` is (width, height).
    """
    if heat.ndim != 2 or min(heat.shape) < 8:
        return heat
    h, w = heat.shape
    small = np.asarray(Image.fromarray(heat, mode="F").resize((work, work), Image.Resampling.BOX), dtype=np.float32)
    sigma = sigma_fraction * work
    small = _gaussian_rows(_gaussian_rows(small, sigma).T, sigma).T.astype(np.float32)
    big = Image.fromarray(small, mode="F").resize(out_size or (w, h), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(big, dtype=np.float32), 0.0, 1.0)


@lru_cache(maxsize=8)
def colormap_lut(name: str = "jet") -> np.ndarray:
    """256x3 uint8 lookup table from matplotlib's colormap registry (no pyplot, no Qt)."""
    from matplotlib import colormaps

    rgba = colormaps[name](np.linspace(0.0, 1.0, 256))
    lut = np.rint(rgba[:, :3] * 255.0).astype(np.uint8)
    lut.setflags(write=False)
    return lut


def heat_rgba(heat: np.ndarray, max_side: int = OVERLAY_MAX_SIDE) -> np.ndarray:
    """Colour a [0, 1] heat map (jet); weak evidence fades out so anatomy stays visible.

    The map holds an 8x8-ish grid's worth of detail, so it is coloured at most ``max_side``
    pixels across; :func:`heat_layer` stretches it over the image.
    """
    heat = np.clip(np.nan_to_num(np.asarray(heat, dtype=np.float32)), 0.0, 1.0)
    out_size = None
    if heat.ndim == 2 and max(heat.shape) > max_side:
        k = max_side / max(heat.shape)
        out_size = (max(1, round(heat.shape[1] * k)), max(1, round(heat.shape[0] * k)))
    h = smooth_heat(heat, out_size=out_size)
    index = (h * 255.0).astype(np.uint8)
    # Below 40% of the peak the map is fully transparent: a diffuse wash of colour over the
    # whole film hides the anatomy and says nothing.
    alpha = (np.clip((np.arange(256, dtype=np.float32) / 255.0 - 0.4) / 0.4, 0.0, 1.0) * 255).astype(np.uint8)
    rgba = np.empty((*h.shape, 4), dtype=np.uint8)
    rgba[..., :3] = colormap_lut("jet")[index]
    rgba[..., 3] = alpha[index]
    return rgba


def heat_layer(rgba: np.ndarray, height: int, width: int) -> np.ndarray:
    """The coloured layer stretched (bilinear) to the image's own size: uint8 HxWx4."""
    if rgba.shape[:2] == (height, width):
        return rgba
    return np.asarray(Image.fromarray(np.ascontiguousarray(rgba), mode="RGBA")
                      .resize((width, height), Image.Resampling.BILINEAR), dtype=np.uint8)


def blend(grey: np.ndarray, layer: np.ndarray, opacity: float = OVERLAY_OPACITY) -> np.ndarray:
    """Alpha-blend a full-size RGBA layer over the grey image as displayed: uint8 HxWx3.

    Each pixel is ``(colour * w + grey * (255 - w)) / 255`` with ``w = alpha * opacity`` (PIL's
    composite, in C: a 1024 px film blends in a few milliseconds)."""
    grey = np.asarray(grey)
    if grey.ndim != 2 or layer.shape[:2] != grey.shape:
        raise ValueError(f"image {grey.shape} and heat layer {layer.shape[:2]} must be the same 2-D size")
    rgba = Image.fromarray(np.ascontiguousarray(layer, dtype=np.uint8), mode="RGBA")
    mask = rgba.getchannel("A").point(_opacity_table(round(float(np.clip(opacity, 0.0, 1.0)) * 1000)))
    base = Image.fromarray(np.ascontiguousarray(grey, dtype=np.uint8), mode="L").convert("RGB")
    return np.asarray(Image.composite(rgba.convert("RGB"), base, mask), dtype=np.uint8)


@lru_cache(maxsize=32)
def _opacity_table(per_mille: int) -> list[int]:
    return [round(a * per_mille / 1000) for a in range(256)]


def render_heat_overlay(grey: np.ndarray, heatmap: np.ndarray, opacity: float = OVERLAY_OPACITY) -> np.ndarray:
    """Heat map over the grey image, RGB uint8 at the image's size (the SC's and Review's pixels)."""
    grey = np.asarray(grey)
    if grey.ndim != 2:
        raise ValueError(f"expected a 2-D grey image, got {grey.shape}")
    return blend(grey, heat_layer(heat_rgba(heatmap), *grey.shape), opacity)

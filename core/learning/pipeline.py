"""tf.data pipeline over cached uint8 arrays, with training-time augmentation (one affine warp per image).

TensorFlow is imported lazily, inside the functions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass
class AugmentConfig:
    """Training-time augmentation, close to the notebook's ImageDataGenerator.

    Horizontal flip is OFF by default: the heart and the stomach bubble sit on the left, so a
    mirrored chest is anatomically implausible and a model could learn laterality cues wrongly.
    Brightness/contrast jitter is off by default (the notebook had none) but is there because the
    Kermany test set is shifted in intensity from train (see DESIGN.md).
    """

    rotation_deg: float = 20.0
    shift: float = 0.2
    zoom: float = 0.2
    hflip: bool = False
    brightness: float = 0.0
    contrast: float = 0.0
    fill_mode: str = "nearest"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)



def _augment_batch(xb, cfg: AugmentConfig, seed: int | None):
    """Random flip/rotation/shift/zoom as ONE affine warp per image, then brightness/contrast.

    Same ranges as Keras' RandomRotation(deg/360) + RandomTranslation(shift) + RandomZoom(zoom)
    (and the notebook's ImageDataGenerator), but composed into a single
    ImageProjectiveTransformV3 call instead of three full-image resamplings: the pipeline shares
    the 2 CPU cores with training, so every pass over the pixels slows training down.
    """
    import math

    import tensorflow as tf

    shape = tf.shape(xb)
    n = shape[0]
    h = tf.cast(shape[1], tf.float32)
    w = tf.cast(shape[2], tf.float32)

    def uniform(lo: float, hi: float, k: int):
        return tf.random.uniform([n], lo, hi, seed=None if seed is None else seed + k)

    if cfg.rotation_deg or cfg.shift or cfg.zoom or cfg.hflip:
        theta = uniform(-1.0, 1.0, 1) * (cfg.rotation_deg * math.pi / 180.0)
        zoom = uniform(1.0 - cfg.zoom, 1.0 + cfg.zoom, 2) if cfg.zoom else tf.ones([n])
        tx = uniform(-cfg.shift, cfg.shift, 3) * w if cfg.shift else tf.zeros([n])
        ty = uniform(-cfg.shift, cfg.shift, 4) * h if cfg.shift else tf.zeros([n])
        flip = tf.where(uniform(0.0, 1.0, 5) < 0.5, -1.0, 1.0) if cfg.hflip else tf.ones([n])
        cos, sin = tf.cos(theta) * zoom, tf.sin(theta) * zoom
        cx, cy = (w - 1.0) / 2.0, (h - 1.0) / 2.0
        # Output pixel (x, y) reads input at R*Z*(F*(x-cx), y-cy) + (cx, cy) - (tx, ty).
        a0, a1 = cos * flip, -sin
        b0, b1 = sin * flip, cos
        a2 = cx - a0 * cx - a1 * cy - tx
        b2 = cy - b0 * cx - b1 * cy - ty
        zeros = tf.zeros([n])
        transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
        xb = tf.raw_ops.ImageProjectiveTransformV3(
            images=xb, transforms=transforms, output_shape=shape[1:3], fill_value=0.0,
            interpolation="BILINEAR", fill_mode=cfg.fill_mode.upper())
    if cfg.brightness:
        xb = xb + tf.reshape(uniform(-cfg.brightness, cfg.brightness, 6), [-1, 1, 1, 1])
    if cfg.contrast:
        mean = tf.reduce_mean(xb, axis=[1, 2, 3], keepdims=True)
        factor = tf.reshape(uniform(1.0 - cfg.contrast, 1.0 + cfg.contrast, 7), [-1, 1, 1, 1])
        xb = (xb - mean) * factor + mean
    return tf.clip_by_value(xb, 0.0, 1.0)


def make_tf_dataset(
    x_uint8: np.ndarray,
    y: np.ndarray | None,
    batch_size: int,
    channels: int,
    augment: AugmentConfig | None = None,
    shuffle: bool = False,
    seed: int | None = None,
):
    """tf.data pipeline over in-memory uint8 arrays: (shuffle) -> batch -> /255 -> (augment) -> prefetch.

    No ``.cache()``: the arrays already sit in memory as compact uint8 (N*S*S bytes), which is
    cheaper than caching float32 copies. Casting and augmenting whole batches is much faster on
    CPU than per image. Without augmentation each element equals ``to_model_input`` exactly.
    """
    import tensorflow as tf

    x = np.asarray(x_uint8, dtype=np.uint8)
    tensors = (x,) if y is None else (x, np.asarray(y, dtype=np.float32))
    ds = tf.data.Dataset.from_tensor_slices(tensors)
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)

    def to_float(xb, *rest):
        xb = tf.cast(xb, tf.float32)[..., None] / 255.0
        if augment is not None:
            xb = _augment_batch(xb, augment, seed)
        if channels == 3:
            xb = tf.repeat(xb, 3, axis=-1)
        return (xb, *rest) if rest else xb

    # Order may only be relaxed when it is random anyway: an unshuffled pipeline (evaluation, the
    # preprocessing equality test) must keep its order.
    ds = ds.map(to_float, num_parallel_calls=tf.data.AUTOTUNE, deterministic=seed is not None or not shuffle)
    return ds.prefetch(tf.data.AUTOTUNE)

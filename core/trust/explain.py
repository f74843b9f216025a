"""Grad-CAM heat maps: which parts of the image pushed the pneumonia score up.

For a model ending in conv -> global pooling -> dense sigmoid, Grad-CAM weights each channel of
the last convolutional feature map by the mean gradient of the score with respect to it, sums
the channels, keeps the positive part and scales it to [0, 1]. The map is computed at the
feature map's resolution (e.g. 8x8 for a 128 px model) and resized to the image's own size, so
it is a coarse "where", not a segmentation.

Speed: the gradient model and a ``tf.function`` with a fixed input signature are built once per
Keras model and cached, so every later call is one traced graph run (no retracing, no
``model.predict`` overhead). :func:`gradcam_and_score` returns the model's score from the same
pass, so the review screen needs one call per image, not two.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import numpy as np
from PIL import Image

from core.imaging.preprocess import to_model_input
from core.trust.heatmap import colormap_lut  # noqa: F401  (one colour table, in the renderer)

_CONV_TYPES = ("Conv2D", "SeparableConv2D", "DepthwiseConv2D", "Conv2DTranspose")
# Layers that keep the feature map's shape and meaning: Grad-CAM on the activated features
# (after BN/ReLU) is what the classifier head actually sees.
_PASS_THROUGH = (
    "BatchNormalization",
    "Activation",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "PReLU",
    "Dropout",
    "SpatialDropout2D",
    "GaussianNoise",
    "LayerNormalization",
)


def _is_4d(layer: Any) -> bool:
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return False
    return len(shape) == 4


def find_target_layer(model: Any) -> str:
    """Name of the layer Grad-CAM should look at: the last conv layer with a 4-D output
    (followed through shape-keeping BN/activation/dropout layers); if the model has no conv
    layer, the last layer with a 4-D output."""
    layers = list(model.layers)
    conv_idx = [i for i, layer in enumerate(layers) if type(layer).__name__ in _CONV_TYPES and _is_4d(layer)]
    if not conv_idx:
        fourd = [layer for layer in layers if _is_4d(layer)]
        if not fourd:
            raise ValueError("this model has no layer with a 2-D feature map; Grad-CAM needs a CNN")
        return fourd[-1].name
    i = conv_idx[-1]
    shape = tuple(layers[i].output.shape)
    while (
        i + 1 < len(layers)
        and type(layers[i + 1]).__name__ in _PASS_THROUGH
        and tuple(layers[i + 1].output.shape) == shape
    ):
        i += 1
    return layers[i].name


class _GradCamRunner:
    """The gradient model and its compiled function for one Keras model and target layer."""

    def __init__(self, model: Any, layer_name: str) -> None:
        import keras
        import tensorflow as tf

        layer = model.get_layer(layer_name)
        self.layer_name = layer_name
        self.input_shape = tuple(int(d) for d in model.inputs[0].shape[1:])
        grad_model = keras.Model(model.inputs[0], [layer.output, model.outputs[0]])
        n_out = int(model.outputs[0].shape[-1]) if len(model.outputs[0].shape) > 1 else 1
        # Two-unit softmax heads: the pneumonia column is the last one (label 1).
        out_index = n_out - 1

        spec = tf.TensorSpec((1, *self.input_shape), tf.float32)

        @tf.function(input_signature=[spec])
        def run(x):  # type: ignore[no-untyped-def]
            with tf.GradientTape() as tape:
                feats, out = grad_model(x, training=False)
                out = tf.reshape(out, (1, -1))
                score = out[:, out_index]
            grads = tape.gradient(score, feats)
            weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
            cam = tf.nn.relu(tf.reduce_sum(feats * weights, axis=-1))
            return cam[0], score[0]

        self._run = run
        self._grad_model = grad_model  # keep alive with the function
        self._lock = threading.Lock()

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        # Keras layers are not documented as thread-safe; the GUI may call from a worker thread.
        with self._lock:
            cam, score = self._run(x[None].astype(np.float32, copy=False))
        return np.asarray(cam, dtype=np.float32), float(score)


_RUNNERS: dict[tuple[int, str | None], tuple[weakref.ref, _GradCamRunner]] = {}
_RUNNERS_LOCK = threading.Lock()


def _runner(model: Any, layer_name: str | None) -> _GradCamRunner:
    key = (id(model), layer_name)
    with _RUNNERS_LOCK:
        hit = _RUNNERS.get(key)
        if hit is not None and hit[0]() is model:
            return hit[1]
        runner = _GradCamRunner(model, layer_name or find_target_layer(model))
        _RUNNERS[key] = (weakref.ref(model), runner)
        # Drop the entry (and its graph) when the model goes, so ids are never reused stale.
        weakref.finalize(model, _RUNNERS.pop, key, None)
        return runner


def _model_and_input(bundle_or_model: Any, pixels_uint8: np.ndarray) -> tuple[Any, np.ndarray]:
    model = getattr(bundle_or_model, "model", None)
    if model is not None and hasattr(bundle_or_model, "preprocess"):
        return model, np.asarray(bundle_or_model.preprocess(pixels_uint8), dtype=np.float32)
    model = bundle_or_model
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    if shape[0] != shape[1]:
        raise ValueError(f"expected a square model input, got {shape}")
    return model, to_model_input(pixels_uint8, shape[0], shape[2])


def _resize_map(cam: np.ndarray, height: int, width: int) -> np.ndarray:
    cam = np.nan_to_num(cam.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    peak = float(cam.max()) if cam.size else 0.0
    if peak <= 0.0:
        return np.zeros((height, width), np.float32)
    # Bicubic: a bilinear stretch of an 8x8 map draws straight-edged blocks on the film.
    big = Image.fromarray(cam / peak, mode="F").resize((width, height), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(big, dtype=np.float32), 0.0, 1.0)


def heat_from_cam(cam: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The model's low-resolution Grad-CAM map as the heat map of an image of ``shape``."""
    return _resize_map(np.asarray(cam), int(shape[0]), int(shape[1]))


def gradcam_and_score(
    bundle_or_model: Any, pixels_uint8: np.ndarray, layer_name: str | None = None
) -> tuple[np.ndarray, float]:
    """Grad-CAM map (float32 HxW in [0, 1], the image's own size) and the score from the same pass.

    With a bundle the score is calibrated like ``bundle.score_pixels``; with a bare model it is
    the model's raw output. An all-zero map (nothing pushed the score up) comes back as zeros.
    """
    pixels = np.asarray(pixels_uint8)
    if pixels.ndim != 2:
        raise ValueError(f"expected a 2-D grey image, got shape {pixels.shape}")
    runtime = getattr(bundle_or_model, "runtime", None) if layer_name is None else None
    if runtime is not None:  # LiteRT: the same Grad-CAM computed inside the converted graph
        score, _, cam = runtime.run(bundle_or_model.preprocess(pixels))
        score = float(np.asarray(bundle_or_model.calibrate(np.array([score], np.float32))).reshape(-1)[0])
        return _resize_map(cam, pixels.shape[0], pixels.shape[1]), score
    model, x = _model_and_input(bundle_or_model, pixels)
    cam, score = _runner(model, layer_name)(x)
    calibrate = getattr(bundle_or_model, "calibrate", None)
    if calibrate is not None and model is not bundle_or_model:
        score = float(np.asarray(calibrate(np.array([score], np.float32))).reshape(-1)[0])
    return _resize_map(cam, pixels.shape[0], pixels.shape[1]), score


def gradcam(bundle_or_model: Any, pixels_uint8: np.ndarray, layer_name: str | None = None) -> np.ndarray:
    """Grad-CAM map for the pneumonia score: float32 HxW in [0, 1] at the image's own size."""
    return gradcam_and_score(bundle_or_model, pixels_uint8, layer_name)[0]




def overlay_rgb(
    pixels_uint8: np.ndarray, heatmap: np.ndarray, opacity: float = 0.45, cmap: str = "jet"
) -> np.ndarray:
    """Blend a heat map over the grey image: uint8 HxWx3, the pixels Review and the Secondary
    Capture show (one renderer, :mod:`core.trust.heatmap`; ``cmap`` is kept for callers, jet only)."""
    from core.trust.heatmap import render_heat_overlay

    grey = np.asarray(pixels_uint8)
    heat = np.asarray(heatmap, dtype=np.float32)
    if grey.ndim != 2 or heat.shape != grey.shape:
        raise ValueError(f"image {grey.shape} and heat map {heat.shape} must be the same 2-D size")
    return render_heat_overlay(grey, heat, opacity)

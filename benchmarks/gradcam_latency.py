"""Warm Grad-CAM + score latency for one image, core.trust.explain vs the naive way.

Naive baseline: ``model.predict`` for the score, then an eager GradientTape through a fresh
gradient model (what tutorials do). core.trust.explain: one cached ``tf.function`` pass giving both.
Model: core.learning.models' default architecture when available, else a 5-conv GAP CNN (128x128x1,
~0.19M parameters, like the shipped model). Image: 1024x1024 uint8 (RSNA DICOM size).

    .venv/bin/python benchmarks/gradcam_latency.py [--repeats 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np


def plain_gap_cnn(size: int = 128):
    import keras

    inp = keras.Input((size, size, 1))
    x = inp
    for filters in (16, 32, 64, 96, 128):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(x))


def build_model():
    try:
        from core.learning.models import DEFAULT_MODEL
        from core.learning.models import build_model as build

        return build(DEFAULT_MODEL), DEFAULT_MODEL
    except Exception:
        return plain_gap_cnn(), "plain 5-conv GAP CNN"


def naive(model, pixels):
    import keras
    import tensorflow as tf

    from core.imaging.preprocess import to_model_input
    from core.trust.explain import _resize_map, find_target_layer

    size, channels = int(model.inputs[0].shape[1]), int(model.inputs[0].shape[3])
    x = to_model_input(pixels, size, channels)[None]
    score = float(model.predict(x, verbose=0)[0, 0])
    layer = model.get_layer(find_target_layer(model))
    grad_model = keras.Model(model.inputs[0], [layer.output, model.outputs[0]])
    with tf.GradientTape() as tape:
        feats, out = grad_model(x)
        s = out[:, 0]
    grads = tape.gradient(s, feats)
    cam = tf.nn.relu(tf.reduce_sum(feats * tf.reduce_mean(grads, axis=(1, 2), keepdims=True), -1))[0]
    return _resize_map(cam.numpy(), *pixels.shape), score


def timed(fn, repeats):
    fn()  # warm-up (tracing)
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    from core.trust.explain import gradcam_and_score, overlay_rgb

    model, name = build_model()
    pixels = np.random.default_rng(0).integers(0, 256, (1024, 1024), dtype=np.uint8)
    print(f"model: {name}, input {tuple(model.inputs[0].shape[1:])}, {model.count_params():,} params; image 1024x1024")
    ours = timed(lambda: gradcam_and_score(model, pixels), args.repeats)
    base = timed(lambda: naive(model, pixels), max(5, args.repeats // 3))
    heat, _ = gradcam_and_score(model, pixels)
    blend = timed(lambda: overlay_rgb(pixels, heat, 0.4), args.repeats)
    print(f"{'':34}{'median ms':>10}{'max ms':>10}")
    print(f"{'naive predict + eager tape':34}{base[0]:>10.1f}{base[1]:>10.1f}")
    print(f"{'core.trust.explain.gradcam_and_score':34}{ours[0]:>10.1f}{ours[1]:>10.1f}")
    print(f"{'core.trust.explain.overlay_rgb':34}{blend[0]:>10.1f}{blend[1]:>10.1f}")


if __name__ == "__main__":
    main()

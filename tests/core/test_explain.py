"""Grad-CAM on tiny Keras CNNs built here (no trained bundle needed)."""

from __future__ import annotations

import gc
from types import SimpleNamespace

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from core.imaging.preprocess import to_model_input  # noqa: E402
from core.trust import explain  # noqa: E402
from core.trust.explain import colormap_lut, find_target_layer, gradcam, gradcam_and_score, overlay_rgb  # noqa: E402


def tiny_cnn(size=32, channels=1, seed=0, bn=False):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, channels))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1")(inp)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation=None if bn else "relu", name="c2")(x)
    if bn:
        x = keras.layers.BatchNormalization(name="bn")(x)
        x = keras.layers.ReLU(name="act")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(inp, out)


def brightness_model(size=32, sign=1.0):
    """Features = pixel brightness; score rises (sign > 0) or falls (sign < 0) with it."""
    inp = keras.Input((size, size, 1))
    feats = keras.layers.Conv2D(1, 1, use_bias=False, name="feat", kernel_initializer="ones")(inp)
    pooled = keras.layers.GlobalAveragePooling2D()(feats)
    init = keras.initializers.Constant(sign)
    out = keras.layers.Dense(1, activation="sigmoid", kernel_initializer=init)(pooled)
    return keras.Model(inp, out)


def test_map_shape_range_and_score_match_the_model():
    model = tiny_cnn()
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (70, 53), dtype=np.uint8)  # odd, non-square: map must come back at 70x53
    heat, score = gradcam_and_score(model, img)
    assert heat.shape == (70, 53) and heat.dtype == np.float32
    assert np.isfinite(heat).all() and heat.min() >= 0.0 and heat.max() <= 1.0
    x = to_model_input(img, 32, 1)[None]
    assert score == pytest.approx(float(model(x, training=False)[0, 0]), abs=1e-5)
    assert np.array_equal(gradcam(model, img), heat)  # deterministic, cached path


@pytest.mark.parametrize("corner", ["top_left", "bottom_right"])
def test_map_follows_the_evidence_in_the_image(corner):
    model = brightness_model()
    assert find_target_layer(model) == "feat"
    img = np.zeros((64, 64), np.uint8)
    patch = (slice(0, 32), slice(0, 32)) if corner == "top_left" else (slice(32, 64), slice(32, 64))
    img[patch] = 255
    heat = gradcam(model, img)
    inside = heat[patch].mean()
    outside = (heat.sum() - heat[patch].sum()) / (heat.size - heat[patch].size)
    assert inside > 0.8 and outside < 0.3


def test_evidence_against_pneumonia_is_not_shown():
    img = np.zeros((64, 64), np.uint8)
    img[:32, :32] = 255
    heat = gradcam(brightness_model(sign=-1.0), img)  # brightness lowers the score
    assert float(heat.max()) == 0.0


def test_finds_last_conv_and_follows_bn_relu():
    assert find_target_layer(tiny_cnn()) == "c2"
    assert find_target_layer(tiny_cnn(bn=True)) == "act"
    dense_only = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="Grad-CAM"):
        find_target_layer(dense_only)


def test_all_zero_map_gives_zeros_not_nan():
    model = tiny_cnn()
    for layer in model.layers:  # all weights zero: every gradient and feature is zero
        layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
    heat = gradcam(model, np.full((40, 40), 128, np.uint8))
    assert heat.shape == (40, 40) and not np.isnan(heat).any() and float(heat.max()) == 0.0


def test_gradient_model_is_built_once_per_model_and_released():
    model = tiny_cnn(seed=1)
    img = np.zeros((32, 32), np.uint8)
    gradcam(model, img)
    runner = explain._runner(model, None)
    gradcam(model, img + 1)
    assert explain._runner(model, None) is runner
    assert runner._run.experimental_get_tracing_count() == 1  # fixed signature: no retracing
    key = (id(model), None)
    del model, runner
    gc.collect()
    assert key not in explain._RUNNERS


def test_three_channel_model_and_bundle_like_object():
    model = tiny_cnn(size=24, channels=3, seed=2)
    img = np.random.default_rng(1).integers(0, 256, (30, 30), dtype=np.uint8)
    bundle = SimpleNamespace(
        model=model,
        preprocess=lambda p: to_model_input(p, 24, 3),
        calibrate=lambda raw: np.clip(np.asarray(raw) * 0 + 0.25, 0, 1),
    )
    heat, score = gradcam_and_score(bundle, img)
    assert heat.shape == (30, 30)
    assert score == 0.25  # the bundle's calibration is applied to the score
    assert np.allclose(heat, gradcam(model, img))


def test_rejects_colour_input():
    with pytest.raises(ValueError):
        gradcam(tiny_cnn(), np.zeros((8, 8, 3), np.uint8))


def test_overlay():
    grey = np.full((40, 48), 100, np.uint8)
    heat = np.zeros((40, 48), np.float32)
    heat[:20, :24] = 1.0
    out = overlay_rgb(grey, heat, opacity=0.5)
    assert out.shape == (40, 48, 3) and out.dtype == np.uint8
    assert (out[35, 40] == 100).all()  # cold pixels stay plain grey
    expected = np.rint(100 + 0.5 * (colormap_lut("jet")[255].astype(float) - 100))
    assert np.abs(out[2, 2].astype(int) - expected).max() <= 2
    assert np.array_equal(overlay_rgb(grey, heat, opacity=0.0)[..., 0], grey)
    assert colormap_lut("inferno").shape == (256, 3)
    with pytest.raises(ValueError):
        overlay_rgb(grey, heat[:5], 0.5)

"""Model architectures: the course notebook's CNN (kept exactly, as the baseline) and PneumoNet.

PneumoNet is built for a 2-core CPU: grey input (one plane instead of three identical ones), a
strided stem so the expensive layers run at 64x64 and below, conv-BN-ReLU stages, global
average pooling instead of a 10M-weight Flatten+Dense head, and an optional per-image
standardisation layer. The standardisation is there because the Kermany test set is shifted in
brightness/contrast from train (DESIGN.md): normalising each image removes global intensity
differences the model could otherwise latch onto.
"""

from __future__ import annotations

from typing import Any

import keras

from core.learning.catalog import DEFAULT_MODEL, DEFAULTS, MODEL_NAMES, resolve_hparams
from core.learning.losses import make_loss

__all__ = ["DEFAULTS", "DEFAULT_MODEL", "MODEL_NAMES", "PerImageStandardize", "build_model", "resolve_hparams"]

@keras.saving.register_keras_serializable(package="pneumoscope")
class PerImageStandardize(keras.layers.Layer):
    """(x - mean) / std over each image; replaces a Lambda layer so models load in safe mode."""

    def __init__(self, epsilon: float = 1e-3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def call(self, inputs):
        ops = keras.ops
        mean = ops.mean(inputs, axis=(1, 2, 3), keepdims=True)
        var = ops.mean(ops.square(inputs - mean), axis=(1, 2, 3), keepdims=True)
        return (inputs - mean) / ops.maximum(ops.sqrt(var), self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "epsilon": self.epsilon}


def input_shape(name: str, **hparams: Any) -> tuple[int, int, int]:
    hp = resolve_hparams(name, **hparams)
    size = int(hp["image_size"])
    return (size, size, 3 if name == "notebook" else 1)


def notebook_param_count(image_size: int = 150, f1: int = 64, f2: int = 64, units: int = 128) -> int:
    """Closed-form parameter count of the notebook CNN (BN counts 4 per channel)."""
    s1 = (image_size - 2) // 2
    s2 = (s1 - 2) // 2
    return ((9 * 3 * f1 + f1) + 4 * f1 + (9 * f1 * f2 + f2) + 4 * f2
            + (s2 * s2 * f2 * units + units) + (units + 1))


def _notebook(hp: dict[str, Any]) -> keras.Model:
    size = int(hp["image_size"])
    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Conv2D(int(hp["f1"]), 3, activation="relu", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Conv2D(int(hp["f2"]), 3, activation="relu", name="last_conv")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(int(hp["units"]), activation="relu", name="features")(x)
    x = keras.layers.Dropout(0.5)(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="score")(x)
    return keras.Model(inputs, outputs, name="notebook")


def _conv_bn(x, filters: int, name: str, strides: int = 1):
    x = keras.layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, name=name)(x)
    # momentum 0.9 (Keras default 0.99): with ~130 steps per epoch the moving statistics used
    # at validation would otherwise still lean on their initial values for the first epochs.
    x = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _pneumonet(hp: dict[str, Any]) -> keras.Model:
    size = int(hp["image_size"])
    width = float(hp["width"])
    filters = [max(8, round(f * width / 8) * 8) for f in (16, 32, 64, 96, 128)]
    inputs = keras.Input((size, size, 1), name="image")
    x = PerImageStandardize(name="standardize")(inputs) if hp["standardize"] else inputs
    # Strided stem: the full-resolution layer is the most expensive one on a CPU.
    x = _conv_bn(x, filters[0], "stem", strides=2)
    for i, f in enumerate(filters[1:], start=1):
        last = i == len(filters) - 1
        x = _conv_bn(x, f, "last_conv" if last and not (hp["double_conv"] and i >= 3) else f"conv{i}a")
        if hp["double_conv"] and i >= 3:
            x = _conv_bn(x, f, "last_conv" if last else f"conv{i}b")
        if not last:
            x = keras.layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="features")(x)
    x = keras.layers.Dropout(float(hp["dropout"]))(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="score")(x)
    return keras.Model(inputs, outputs, name="pneumonet")


def metrics() -> list[keras.metrics.Metric]:
    """Named so that history keys read accuracy, val_auc, ... whatever the model."""
    return [
        keras.metrics.BinaryAccuracy(name="accuracy"),
        keras.metrics.Precision(name="precision"),
        keras.metrics.Recall(name="recall"),
        keras.metrics.AUC(name="auc"),
    ]


def build_model(name: str = DEFAULT_MODEL, **hparams: Any) -> keras.Model:
    """Build and compile (Adam, bce or focal loss, named metrics).

    Training options ``loss`` ("bce"|"focal"), ``focal_gamma``, ``focal_alpha`` may be passed
    next to the architecture's hyperparameters (see ``DEFAULTS``).
    """
    hp = resolve_hparams(name, **hparams)
    model = _notebook(hp) if name == "notebook" else _pneumonet(hp)
    loss = make_loss(hparams.get("loss", "bce"), gamma=float(hparams.get("focal_gamma", 2.0)),
                     alpha=hparams.get("focal_alpha"))
    model.compile(optimizer=keras.optimizers.Adam(float(hp["lr"])), loss=loss, metrics=metrics())
    return model


def hp_space(name: str, hp, fixed: dict[str, Any] | None = None) -> dict[str, Any]:
    """Draw one point of ``name``'s search space from a keras_tuner HyperParameters object.

    ``image_size`` is fixed per search (data are decoded once at one size).
    """
    fixed = dict(fixed or {})
    if name == "notebook":
        values = {
            "f1": hp.Int("f1", 32, 128, step=32),
            "f2": hp.Int("f2", 32, 128, step=32),
            "units": hp.Int("units", 64, 256, step=64),
            "lr": hp.Choice("lr", [1e-2, 1e-3, 1e-4]),
        }
    elif name == "pneumonet":
        values = {
            "width": hp.Choice("width", [0.5, 0.75, 1.0, 1.5]),
            "dropout": hp.Float("dropout", 0.0, 0.5, step=0.1),
            "lr": hp.Choice("lr", [3e-3, 1e-3, 3e-4]),
            "double_conv": hp.Boolean("double_conv", default=True),
            "standardize": hp.Boolean("standardize", default=True),
        }
    else:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    values.update(fixed)
    return values


def build_from_hp(name: str, hp, **fixed: Any) -> keras.Model:
    """Keras Tuner entry point: build a compiled model from a HyperParameters draw."""
    return build_model(name, **hp_space(name, hp, fixed))

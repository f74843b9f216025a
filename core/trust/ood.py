"""Out-of-distribution gate: is this image unlike the chest X-rays the model was trained on?

A classifier gives a pneumonia score to anything, including a knee, an MR slice or a photo.
This gate measures how far an image's penultimate-layer features (the input of the final
Dense layer; for global-average-pooling models the pooled vector) lie from the training
images' features, with a Mahalanobis distance:

* mean and covariance are fitted on the TRAINING features; the covariance is shrunk towards a
  scaled identity with the Ledoit-Wolf formula, because a few hundred images cannot pin down a
  full 128x128 covariance and dead ReLU channels make it singular;
* the cut-off is set on the VALIDATION chest X-rays (default: their 99th percentile), aiming
  at fewer than 5% of new chest X-rays flagged. With a small model and 150 calibration images
  the 97.5th percentile flagged 6.7% of held-out validation images and the 99th 2.7%, while
  both flagged every non-chest test image. The spec records the validation flag rate, in-sample
  and 2-fold held-out (``val_flag_rate_heldout``). Test images never play a part.

Scores are reported as a ratio ``distance / cut-off``: above 1.0 means "flagged". The spec is
a JSON-able dict kept in the bundle's ``card["ood"]``.

The gate only looks at what the model looks at. Models with per-image standardisation are
blind to global brightness and contrast by design, so the gate is too; colour images are turned
grey by the loader before any of this. Measured in tests/core/test_ood.py (slow): extremity,
hip, MR and colour DICOMs were all flagged; about half of the adult RSNA/NIH chest radiographs
were flagged too (the model was trained on children), which is the gate doing its job.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from core.errors import PneumoscopeError
from core.imaging.preprocess import batch_to_model_input

SPEC_VERSION = 1
METHOD = "mahalanobis-ledoit-wolf"
DEFAULT_QUANTILE = 0.99


class OODError(PneumoscopeError):
    """The out-of-distribution gate cannot be fitted or used (plain-language message)."""


# --- features -----------------------------------------------------------------------------------


def _final_dense(model: Any) -> Any:
    for layer in reversed(model.layers):
        if type(layer).__name__ == "Dense":
            return layer
    raise OODError("the model has no final Dense layer, so there are no features to compare")


def feature_layer_name(model: Any) -> str:
    """Name of the layer whose output feeds the final Dense layer (the features)."""
    tensor = _final_dense(model).input
    for _ in range(10):  # Dropout is the identity at inference: name the layer that makes the features
        history = getattr(tensor, "_keras_history", None)
        if history is None:
            return "?"
        layer = history.operation
        if type(layer).__name__ not in ("Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout"):
            return layer.name
        tensor = layer.input
    return "?"


_FEATURE_MODELS: dict[int, tuple[weakref.ref, Any, Any]] = {}
_FEATURE_LOCK = threading.Lock()


def feature_model(model: Any) -> Any:
    """``keras.Model`` from the model's input to the penultimate features (cached per model)."""
    return _feature_entry(model)[0]


def _feature_entry(model: Any) -> tuple[Any, Any]:
    key = id(model)
    with _FEATURE_LOCK:
        hit = _FEATURE_MODELS.get(key)
        if hit is not None and hit[0]() is model:
            return hit[1], hit[2]
        import keras
        import tensorflow as tf

        fmodel = keras.Model(model.inputs[0], _final_dense(model).input)
        shape = tuple(int(d) for d in model.inputs[0].shape[1:])

        # One image at a time (the review screen) through a fixed signature: no retracing.
        @tf.function(input_signature=[tf.TensorSpec((1, *shape), tf.float32)])
        def one(x):  # type: ignore[no-untyped-def]
            return fmodel(x, training=False)

        _FEATURE_MODELS[key] = (weakref.ref(model), fmodel, one)
        weakref.finalize(model, _FEATURE_MODELS.pop, key, None)
        return fmodel, one


def extract_features(model: Any, x_float: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Features for a float batch already preprocessed to the model's input ``(N, S, S, C)``."""
    fmodel, one = _feature_entry(model)
    x = np.asarray(x_float, dtype=np.float32)
    if len(x) == 1:
        return np.asarray(one(x), dtype=np.float64).reshape(1, -1)
    out = [np.asarray(fmodel(x[i : i + batch_size], training=False)) for i in range(0, len(x), batch_size)]
    return np.concatenate(out).astype(np.float64).reshape(len(x), -1)


def features_from_uint8(model: Any, x_uint8: np.ndarray, channels: int, batch_size: int = 64) -> np.ndarray:
    """Features for images already squash-resized to the model's size (``core.learning.data.load_arrays``
    output): divided by 255 and channel-repeated exactly like ``core.imaging.preprocess.to_model_input``."""
    x_uint8 = np.asarray(x_uint8)
    feats = []
    for i in range(0, len(x_uint8), 256):  # bounded float copies, however many images
        feats.append(extract_features(model, batch_to_model_input(x_uint8[i : i + 256], channels), batch_size))
    return np.concatenate(feats) if feats else np.zeros((0, 0))


# --- fitting and scoring -----------------------------------------------------------------------


def ledoit_wolf(x: np.ndarray) -> tuple[np.ndarray, float]:
    """Ledoit-Wolf (2004) shrunk covariance of ``x`` (n, p), already centred; returns (cov, shrinkage)."""
    n, p = x.shape
    s = x.T @ x / n
    mu = float(np.trace(s)) / p
    delta = float(np.sum((s - mu * np.eye(p)) ** 2)) / p
    # sum_k ||x_k x_k^T - S||_F^2 = sum_k ||x_k||^4 - n ||S||_F^2
    beta_bar = (float(np.sum(np.sum(x**2, axis=1) ** 2)) - n * float(np.sum(s**2))) / (n * n * p)
    shrink = 1.0 if delta <= 0 else float(np.clip(beta_bar / delta, 0.0, 1.0))
    return shrink * mu * np.eye(p) + (1.0 - shrink) * s, shrink


def _compact(a: np.ndarray) -> list:
    # 6 significant digits keep distances exact to ~1e-5 and the card a few hundred kB at most.
    return np.vectorize(lambda v: float(f"{v:.6g}"), otypes=[float])(a).tolist()


def fit_ood(
    train_features: np.ndarray,
    val_features: np.ndarray,
    quantile: float = DEFAULT_QUANTILE,
    train_labels: np.ndarray | None = None,
    feature_layer: str | None = None,
) -> dict[str, Any]:
    """Fit the gate: Gaussian on training features, cut-off at ``quantile`` of validation distances.

    With ``train_labels`` each class gets its own mean (shared covariance) and the distance is
    to the nearest class, which suits a classifier whose features split into two clusters.
    """
    tr = np.asarray(train_features, dtype=np.float64)
    va = np.asarray(val_features, dtype=np.float64)
    if tr.ndim != 2 or va.ndim != 2 or tr.shape[1] != va.shape[1]:
        raise OODError(f"feature arrays must be (n, d) with the same d, got {tr.shape} and {va.shape}")
    if len(tr) < 10 or len(va) < 10:
        raise OODError("the out-of-distribution gate needs at least 10 training and 10 validation images")
    if not (0.5 < quantile < 1.0):
        raise OODError(f"quantile must be between 0.5 and 1, got {quantile}")
    if not (np.isfinite(tr).all() and np.isfinite(va).all()):
        raise OODError("the model produced non-finite features; it cannot be used for the gate")
    if train_labels is None:
        means = tr.mean(axis=0, keepdims=True)
        centred = tr - means[0]
    else:
        labels = np.asarray(train_labels).reshape(-1)
        classes = [c for c in np.unique(labels) if np.sum(labels == c) >= 2]
        if not classes:
            raise OODError("need at least two training images per class")
        means = np.stack([tr[labels == c].mean(axis=0) for c in classes])
        keep = np.isin(labels, classes)
        centred = tr[keep] - means[np.searchsorted(classes, labels[keep])]
    cov, shrink = ledoit_wolf(centred)
    precision = np.linalg.inv(cov)
    precision = (precision + precision.T) / 2
    spec: dict[str, Any] = {
        "version": SPEC_VERSION,
        "method": METHOD,
        "class_conditional": train_labels is not None,
        "feature_layer": feature_layer,
        "dim": int(tr.shape[1]),
        "means": _compact(means),
        "precision": _compact(precision),
        "shrinkage": round(shrink, 6),
        "quantile": float(quantile),
        "cutoff": 1.0,  # placeholder so _distances can run on the compacted spec
        "n_train": len(tr),
        "n_val": len(va),
    }
    # Distances from the rounded numbers actually stored, so the recorded rates are the ones users get.
    d_val = _distances(spec, va)
    spec["cutoff"] = float(np.quantile(d_val, quantile))
    spec["val_flag_rate"] = float(np.mean(d_val > spec["cutoff"]))
    spec["train_flag_rate"] = float(np.mean(_distances(spec, tr) > spec["cutoff"]))
    spec["val_distance_median"] = float(np.median(d_val))
    spec["val_flag_rate_heldout"] = _heldout_flag_rate(d_val, quantile)
    return spec


def _heldout_flag_rate(d_val: np.ndarray, quantile: float, seed: int = 0) -> float:
    """Flag rate on validation images NOT used to set the cut-off (2-fold): the in-sample rate is
    1 - quantile by construction, so it says nothing about new chest X-rays."""
    order = np.random.default_rng(seed).permutation(len(d_val))
    halves = (order[: len(order) // 2], order[len(order) // 2 :])
    rates = [np.mean(d_val[b] > np.quantile(d_val[a], quantile)) for a, b in (halves, halves[::-1])]
    return float(np.mean(rates))


def _distances(spec: dict[str, Any], features: np.ndarray) -> np.ndarray:
    f = np.asarray(features, dtype=np.float64)
    if f.ndim == 1:
        f = f[None]
    means = np.asarray(spec["means"], dtype=np.float64)
    precision = np.asarray(spec["precision"], dtype=np.float64)
    if f.shape[1] != means.shape[1]:
        raise OODError(f"the gate was fitted on {means.shape[1]} features, got {f.shape[1]}; wrong model?")
    d2 = np.stack([np.einsum("ij,jk,ik->i", f - m, precision, f - m) for m in means])
    d = np.sqrt(np.clip(d2.min(axis=0), 0.0, None))
    return np.where(np.isfinite(d), d, np.inf)


def ood_score(spec: dict[str, Any], features: np.ndarray) -> np.ndarray:
    """Distance to the training features as a multiple of the cut-off: > 1.0 means flagged."""
    return _distances(spec, features) / float(spec["cutoff"])


def is_ood(spec: dict[str, Any], features: np.ndarray) -> np.ndarray:
    """Boolean per row: True when the image lies further out than the validation cut-off."""
    return ood_score(spec, features) > 1.0


# --- what the training engine and the GUI call -----------------------------------------------------


def fit_ood_for_model(
    model: Any,
    x_train_uint8: np.ndarray,
    x_val_uint8: np.ndarray,
    channels: int,
    y_train: np.ndarray | None = None,
    quantile: float = DEFAULT_QUANTILE,
    max_train: int = 3000,
    seed: int = 0,
) -> dict[str, Any]:
    """Fit the gate for a trained model; store the result in ``card["ood"]``.

    ``x_*_uint8``: ``(N, S, S)`` images at the model's size, as cached by ``core.learning.data.load_arrays``
    (not augmented). At most ``max_train`` training images are used (a random subset) to bound
    the time; every validation image is used for the cut-off.
    """
    x_train_uint8 = np.asarray(x_train_uint8)
    if len(x_train_uint8) > max_train:
        idx = np.sort(np.random.default_rng(seed).choice(len(x_train_uint8), max_train, replace=False))
        x_train_uint8 = x_train_uint8[idx]
        y_train = None if y_train is None else np.asarray(y_train)[idx]
    tr = features_from_uint8(model, x_train_uint8, channels)
    va = features_from_uint8(model, x_val_uint8, channels)
    return fit_ood(tr, va, quantile=quantile, train_labels=y_train, feature_layer=feature_layer_name(model))


def bundle_spec(bundle: Any) -> dict[str, Any] | None:
    """The bundle's fitted gate, or ``None`` (no gate, or the card records that fitting failed)."""
    spec = (getattr(bundle, "card", None) or {}).get("ood")
    if not isinstance(spec, dict) or "means" not in spec or "precision" not in spec:
        return None
    return spec


def bundle_ood_score(bundle: Any, pixels_uint8: np.ndarray) -> tuple[float, bool] | None:
    """(score, flagged) for one image with a bundle's gate; ``None`` if the bundle has no gate.

    ``score`` is distance / cut-off (above 1.0: flagged, the image is unlike the training X-rays).
    """
    scores = batch_ood_scores(bundle, [pixels_uint8])
    if scores is None:
        return None
    return float(scores[0]), bool(scores[0] > 1.0)


def gate_features(bundle: Any, pixels_list: Sequence[np.ndarray]) -> np.ndarray | None:
    """The gate's features for grey images (a model pass of their own); ``None`` without a gate."""
    if bundle_spec(bundle) is None:
        return None
    x = np.stack([np.asarray(bundle.preprocess(p), dtype=np.float32) for p in pixels_list])
    return bundle_features(bundle, x)


def gate_scores(bundle: Any, features: np.ndarray | None) -> np.ndarray | None:
    """Gate scores (distance / cut-off) for features a model pass already gave; ``None``
    without a gate."""
    spec = bundle_spec(bundle)
    if spec is None or features is None:
        return None
    return np.asarray(ood_score(spec, np.asarray(features, dtype=np.float64)), dtype=np.float64)


def batch_ood_scores(bundle: Any, pixels_list: Sequence[np.ndarray]) -> np.ndarray | None:
    """Gate scores for many images (batch prediction); ``None`` if the bundle has no gate."""
    return gate_scores(bundle, gate_features(bundle, pixels_list))


def bundle_features(bundle: Any, x_float: np.ndarray) -> np.ndarray:
    """Gate features for a preprocessed batch: through LiteRT when the bundle has it, else Keras."""
    runtime = getattr(bundle, "runtime", None)
    if runtime is not None:
        return runtime.features(x_float)
    return extract_features(bundle.model, x_float)


def describe(score: float) -> str:
    """Plain-language line for the review screen."""
    if score > 1.0:
        return (
            f"Unusual image for this model (distance {score:.1f}x the cut-off): it may not be a frontal "
            "chest X-ray like those it was trained on. Do not rely on the score."
        )
    return f"Looks like the training X-rays (distance {score:.2f}x the cut-off)."

"""Training losses. Kept to Keras built-ins so saved models load with ``safe_mode=True``.

Bundles are loaded with ``compile=False`` anyway (inference needs no loss), but a model saved
with a built-in loss also reloads compiled anywhere Keras does, with no custom code to trust.
"""

from __future__ import annotations

import keras

LOSS_NAMES = ("bce", "focal")


def make_loss(name: str = "bce", gamma: float = 2.0, alpha: float | None = None) -> keras.losses.Loss:
    """``bce`` = binary cross-entropy; ``focal`` = binary focal loss (Lin et al. 2017).

    Focal loss down-weights easy examples by ``(1 - p_t) ** gamma``. ``alpha`` (weight of the
    positive class) is off by default because training already balances classes with class
    weights; using both would count the imbalance twice.
    """
    if name == "bce":
        return keras.losses.BinaryCrossentropy(name="bce")
    if name == "focal":
        if alpha is None:
            return keras.losses.BinaryFocalCrossentropy(gamma=gamma, name="focal")
        return keras.losses.BinaryFocalCrossentropy(
            apply_class_balancing=True, alpha=alpha, gamma=gamma, name="focal"
        )
    raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSS_NAMES)}")

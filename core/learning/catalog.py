"""The model architectures on offer and their default hyperparameters (no TensorFlow import,
so the command line can list them instantly)."""

from __future__ import annotations

from typing import Any

MODEL_NAMES = ("notebook", "pneumonet")
DEFAULT_MODEL = "pneumonet"

DEFAULTS: dict[str, dict[str, Any]] = {
    "notebook": {"image_size": 150, "f1": 64, "f2": 64, "units": 128, "lr": 1e-3},
    "pneumonet": {"image_size": 128, "width": 1.0, "dropout": 0.3, "lr": 1e-3,
                  "standardize": True, "double_conv": True},
}
# Training-side options accepted by build_model next to the architecture's own hyperparameters.
_COMPILE_KEYS = {"loss", "focal_gamma", "focal_alpha"}


def resolve_hparams(name: str, **hparams: Any) -> dict[str, Any]:
    """Defaults merged with overrides; unknown names are refused (typos would be silent otherwise)."""
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    merged = dict(DEFAULTS[name])
    unknown = set(hparams) - set(merged) - _COMPILE_KEYS
    if unknown:
        raise ValueError(f"unknown hyperparameters for {name}: {', '.join(sorted(unknown))}")
    merged.update({k: v for k, v in hparams.items() if k not in _COMPILE_KEYS})
    return merged

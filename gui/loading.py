"""Functions run on workers at start-up and when a model bundle is opened."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np


def import_plotting() -> None:
    """Import matplotlib's Qt canvas off the GUI thread so building the plot screens is quick."""
    import matplotlib.backends.backend_qtagg
    import matplotlib.figure  # noqa: F401


def import_tensorflow(progress=None) -> float:
    """Import TensorFlow and Keras off the GUI thread; returns the seconds it took."""
    t0 = time.perf_counter()
    if progress is not None:
        progress("Loading TensorFlow...")
    import keras  # noqa: F401
    import tensorflow  # noqa: F401

    return time.perf_counter() - t0


def load_and_warm(path: str | Path, progress=None) -> Any:
    """Load a bundle and run one dummy case, so the first real case is scored at full speed."""
    from core.learning.bundle import load_bundle

    if progress is not None:
        progress(f"Loading model {Path(path).name}...")
    bundle = load_bundle(path)
    size = bundle.input_shape[0]
    dummy = np.full((size * 2, size * 2), 96, dtype=np.uint8)
    bundle.score_pixels(dummy)
    try:
        from core.trust.explain import gradcam_and_score

        gradcam_and_score(bundle, dummy)
    except Exception:
        pass
    try:
        from core.trust.audit import AuditLog

        AuditLog().bundle_loaded(bundle)
    except Exception:
        pass
    return bundle


def startup_load(progress=None) -> Any:
    """TensorFlow, then the shipped default bundle if there is one (None otherwise)."""
    import_tensorflow(progress)
    from core.learning.bundle import default_bundle_path

    path = default_bundle_path()
    if path is None:
        return None
    return load_and_warm(path, progress)


def list_bundles() -> list[dict[str, Any]]:
    """Bundles the user can pick: the shipped default and everything in the user models folder."""
    from core import paths

    found: list[dict[str, Any]] = []
    candidates = [paths.default_bundle_dir()]
    root = paths.user_models_dir()
    candidates += sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                         key=lambda p: p.stat().st_mtime, reverse=True)
    for folder in candidates:
        card_file = folder / "card.json"
        if not card_file.is_file() or not (folder / "model.keras").is_file():
            continue
        try:
            card = json.loads(card_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        auc = ((card.get("metrics") or {}).get("val") or {}).get("auc")
        if isinstance(auc, (list, tuple)):
            auc = auc[0]
        elif isinstance(auc, dict):
            auc = auc.get("value")
        found.append({
            "path": str(folder),
            "name": card.get("name") or folder.name,
            "created": card.get("created", ""),
            "model": (card.get("model") or {}).get("name", ""),
            "threshold": (card.get("threshold") or {}).get("value"),
            "val_auc": auc,
            "shipped": folder == paths.default_bundle_dir(),
        })
    return found

"""The model bundles a user can pick, and opening one ready for its first case."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from core import paths
from core.learning.bundle import ModelBundle, load_bundle, remember_active_bundle
from core.trust.audit import AuditLog
from core.trust.explain import gradcam_and_score


def load_and_warm(path: str | Path, progress=None, remember: bool = False) -> ModelBundle:
    """Load a bundle and run one dummy case, so the first real case is scored at full speed.

    ``remember``: make it the model in use from now on (next launch, ``pneumoscope-cli ... default``).
    """
    if progress is not None:
        progress(f"Loading model {Path(path).name}...")
    bundle = load_bundle(path)
    size = bundle.input_shape[0]
    dummy = np.full((size * 2, size * 2), 96, dtype=np.uint8)
    bundle.score_pixels(dummy)
    with contextlib.suppress(Exception):  # a model Grad-CAM cannot explain still scores
        gradcam_and_score(bundle, dummy)
    with contextlib.suppress(Exception):  # auditing must never block loading
        AuditLog().bundle_loaded(bundle)
    if remember:
        remember_active_bundle(bundle.path)
    return bundle


def list_bundles() -> list[dict[str, Any]]:
    """Bundles the user can pick: the shipped default and everything in the user models folder."""
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
    _add_labels(found)
    return found


def _add_labels(found: list[dict[str, Any]]) -> None:
    """A label that tells entries apart: name, date, threshold (and the folder when names repeat)."""
    names = [b["name"] for b in found]
    for b in found:
        parts = [b["name"]]
        if names.count(b["name"]) > 1 and not b["shipped"]:
            parts[0] += f" ({Path(b['path']).name})"
        if b["created"]:
            parts.append(str(b["created"])[:10])
        if isinstance(b["threshold"], int | float):
            parts.append(f"threshold {b['threshold']:.3f}")
        b["label"] = " · ".join(parts) + (" [shipped]" if b["shipped"] else "")

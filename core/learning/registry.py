"""The model bundles a user can pick, and opening one ready for its first case."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from core import paths
from core.learning.bundle import ModelBundle, load_bundle
from core.trust.audit import AuditLog
from core.trust.explain import gradcam_and_score


def load_and_warm(path: str | Path, progress=None) -> ModelBundle:
    """Load a bundle and run one dummy case, so the first real case is scored at full speed."""
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
            **_threshold_in_force(card),
        })
    return found


def _threshold_in_force(card: dict[str, Any]) -> dict[str, Any]:
    """The threshold Review would use for this card's model (its profile's, else its own), and why."""
    from core.trust.profile import ProfileError, load_profile, profile_path

    own = (card.get("threshold") or {}).get("value")
    method = (card.get("threshold") or {}).get("method")
    result = {"threshold_in_force": own, "threshold_note": f"validation, {method}" if method else "its own"}
    sha = card.get("model_sha256")
    if not isinstance(sha, str):
        return result
    try:
        path = profile_path(sha)
        profile = load_profile(path) if path.is_file() else None
    except ProfileError:
        return result
    if profile is not None and profile.bundle_sha256 == sha:
        result = {"threshold_in_force": profile.threshold,
                  "threshold_note": f"{profile.kind}, set {profile.date}" + (f" by {profile.user}" if profile.user else "")}
    return result


def bundle_label(entry: dict[str, Any], entries: list[dict[str, Any]]) -> str:
    """One line that tells two models apart even when their cards share a name (say two "default"):
    name, shipped or which folder, creation date and the threshold in force with its origin."""
    name = str(entry.get("name") or Path(entry["path"]).name)
    same = [e for e in entries if str(e.get("name") or Path(e["path"]).name) == name]
    where = " (shipped)" if entry.get("shipped") else (f" (folder {Path(entry['path']).name})" if len(same) > 1 else "")
    parts = [f"{name}{where}"]
    if entry.get("model"):
        parts.append(str(entry["model"]))
    if entry.get("created"):
        parts.append(f"created {str(entry['created'])[:10]}")
    thr = entry.get("threshold_in_force", entry.get("threshold"))
    if isinstance(thr, int | float):
        note = entry.get("threshold_note")
        parts.append(f"threshold {thr:.3f}" + (f" ({note})" if note else ""))
    return "  ·  ".join(parts)

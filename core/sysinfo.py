"""What this installation is running: library versions, decoders, platform and the loaded model.

Shown by the About dialog (with copy-to-clipboard) and ``pneumoscope-cli info``. Versions come
from package metadata so that asking never imports TensorFlow or Qt (seconds, and Qt must stay
out of core).
"""

from __future__ import annotations

import importlib.metadata as md
import json
import platform
import sys
from pathlib import Path
from typing import Any

from core import __version__

# (label, distribution names to try in order): the first one installed wins.
_PACKAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("numpy", ("numpy",)),
    ("tensorflow", ("tensorflow-cpu", "tensorflow", "tensorflow-macos")),
    ("keras", ("keras",)),
    ("keras-tuner", ("keras-tuner",)),
    ("pydicom", ("pydicom",)),
    ("pylibjpeg", ("pylibjpeg",)),
    ("pylibjpeg-openjpeg", ("pylibjpeg-openjpeg",)),
    ("pylibjpeg-libjpeg", ("pylibjpeg-libjpeg",)),
    ("pylibjpeg-rle", ("pylibjpeg-rle",)),
    ("python-gdcm", ("python-gdcm",)),
    ("pillow", ("pillow", "Pillow")),
    ("matplotlib", ("matplotlib",)),
    ("PySide6", ("PySide6", "pyside6-essentials", "PySide6-Essentials")),
    ("platformdirs", ("platformdirs",)),
)

# Transfer syntaxes worth reporting: the ones real chest images come in.
_SYNTAXES = (
    ("JPEG Baseline", "1.2.840.10008.1.2.4.50"),
    ("JPEG Extended", "1.2.840.10008.1.2.4.51"),
    ("JPEG Lossless", "1.2.840.10008.1.2.4.70"),
    ("JPEG-LS", "1.2.840.10008.1.2.4.80"),
    ("JPEG 2000", "1.2.840.10008.1.2.4.90"),
    ("HTJ2K", "1.2.840.10008.1.2.4.201"),
    ("RLE", "1.2.840.10008.1.2.5"),
)


def _version(names: tuple[str, ...]) -> str | None:
    for name in names:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            continue
    return None


def decoder_plugins() -> dict[str, list[str]]:
    """Transfer syntax name -> pydicom pixel-decoder plugins usable here (empty list: cannot decode)."""
    try:
        from pydicom.pixels import get_decoder
    except Exception:
        return {}
    out: dict[str, list[str]] = {}
    for label, uid in _SYNTAXES:
        try:
            out[label] = list(get_decoder(uid).available_plugins)
        except Exception:
            out[label] = []
    return out


def _as_bundle_info(bundle: Any) -> dict[str, Any] | None:
    """Summary of a ModelBundle, a bundle folder path, or a card dict, without loading the model."""
    if bundle is None:
        return None
    card: dict[str, Any]
    path: str | None = None
    sha: str | None = None
    if isinstance(bundle, dict):
        card = bundle
    elif isinstance(bundle, str | Path):
        path = str(bundle)
        card_path = Path(bundle) / "card.json"
        try:
            card = json.loads(card_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            return {"path": path, "error": f"cannot read {card_path.name}: {exc}"}
    else:
        card = dict(getattr(bundle, "card", {}) or {})
        path = str(getattr(bundle, "path", "") or "") or None
        try:
            sha = bundle.sha256
        except Exception:
            sha = None
    sha = sha or card.get("model_sha256")
    model = card.get("model") or {}
    thr = card.get("threshold") or {}
    metrics = card.get("metrics") or {}
    data = card.get("data") or {}
    training = card.get("training") or {}

    def _auc(split: str) -> Any:
        auc = (metrics.get(split) or {}).get("auc")
        return auc[0] if isinstance(auc, list | tuple) and auc else auc

    return {
        "path": path,
        "name": card.get("name"),
        "created": card.get("created"),
        "model_sha256": sha,
        "architecture": model.get("name"),
        "input_shape": model.get("input_shape"),
        "params": model.get("params"),
        "threshold": thr.get("value"),
        "threshold_method": thr.get("method"),
        "threshold_chosen_on": thr.get("chosen_on"),
        "threshold_adopted_by": thr.get("adopted_by"),
        "calibration": (card.get("calibration") or {}).get("method"),
        "ood_gate": card.get("ood") is not None,
        "val_auc": _auc("val"),
        "test_auc": _auc("test"),
        "training_data": data.get("root_name"),
        "counts": data.get("counts"),
        "epochs_run": training.get("epochs_run"),
        "trained_with": (card.get("versions") or {}),
    }


def sys_info(bundle: Any = None) -> dict[str, Any]:
    """Everything a bug report needs. ``bundle``: ModelBundle, bundle folder or card dict (optional)."""
    return {
        "pneumoscope": __version__,
        "python": sys.version.split()[0],
        "python_build": platform.python_implementation(),
        "frozen": bool(getattr(sys, "frozen", False)),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": {label: _version(names) for label, names in _PACKAGES},
        "dicom_decoders": decoder_plugins(),
        "bundle": _as_bundle_info(bundle),
    }


def format_sys_info(info: dict[str, Any] | None = None, bundle: Any = None) -> str:
    """Plain text for the About dialog / terminal (``info`` defaults to ``sys_info(bundle)``)."""
    info = info if info is not None else sys_info(bundle)
    lines = [
        f"Pneumoscope {info['pneumoscope']}  (research use only, not for diagnosis)",
        f"Python {info['python']} ({info['python_build']}){'  frozen app' if info['frozen'] else ''}",
        f"Platform: {info['platform']} [{info['machine']}]",
        "",
        "Libraries:",
    ]
    for label, version in info["packages"].items():
        lines.append(f"  {label:<20} {version or 'not installed'}")
    decoders = info.get("dicom_decoders") or {}
    if decoders:
        lines += ["", "DICOM decoders (transfer syntax: plugins):"]
        for label, plugins in decoders.items():
            lines.append(f"  {label:<20} {', '.join(plugins) if plugins else 'NONE - cannot decode'}")
    b = info.get("bundle")
    lines += ["", "Model:"]
    if not b:
        lines.append("  none loaded")
    elif b.get("error"):
        lines.append(f"  {b.get('path')}: {b['error']}")
    else:
        thr = b.get("threshold")
        thr_text = f"{thr:.4f}" if isinstance(thr, int | float) else "not set"
        how = ", ".join(
            str(x)
            for x in (b.get("threshold_method"), b.get("threshold_chosen_on") and f"on {b['threshold_chosen_on']}")
            if x
        )
        rows = [
            ("name", b.get("name")),
            ("path", b.get("path")),
            ("created", b.get("created")),
            ("architecture", b.get("architecture")),
            ("input", b.get("input_shape")),
            ("parameters", b.get("params")),
            ("model sha256", b.get("model_sha256")),
            ("threshold", f"{thr_text}" + (f" ({how})" if how else "")),
            ("adopted by", b.get("threshold_adopted_by")),
            ("calibration", b.get("calibration") or "none"),
            ("OOD gate", "yes" if b.get("ood_gate") else "no"),
            ("val AUC", _fmt_num(b.get("val_auc"))),
            ("test AUC", _fmt_num(b.get("test_auc"))),
            ("training data", b.get("training_data")),
            ("counts", _fmt_counts(b.get("counts"))),
            ("epochs run", b.get("epochs_run")),
        ]
        lines += [f"  {k:<14} {v}" for k, v in rows if v is not None]
    return "\n".join(lines)


def _fmt_num(v: Any) -> str | None:
    return f"{v:.3f}" if isinstance(v, int | float) else None


def _fmt_counts(counts: Any) -> str | None:
    if not isinstance(counts, dict):
        return None
    parts = []
    for split, per_class in counts.items():
        if isinstance(per_class, dict):
            inner = ", ".join(f"{c} {n}" for c, n in per_class.items())
            parts.append(f"{split}: {inner}")
    return "; ".join(parts) or None


def tuning_available() -> bool:
    """Keras Tuner's Bayesian search needs scikit-learn and scipy (the optional "tuning" extra).

    Checked without importing them (or TensorFlow), so the GUI can ask on its own thread.
    """
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("sklearn", "scipy"))

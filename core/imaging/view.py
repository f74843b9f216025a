"""Is this a frontal chest X-ray? Warnings from the tags and the image size."""

from __future__ import annotations

from core.imaging.xray import (
    _CHEST_BODY_PARTS,
    _COLOUR_PHOTOMETRIC,
    _LATERAL_VIEWS,
    _MODALITY_NAMES,
    _RADIOGRAPH_MODALITIES,
    MIN_SIDE,
    XRay,
)


def chest_warning(xray: XRay) -> str | None:
    """Plain-language warning when the tags say this is not a frontal chest X-ray, else None."""
    meta = xray.meta
    reasons: list[str] = []
    body = str(meta.get("body_part") or "").strip().upper()
    if body and body not in _CHEST_BODY_PARTS:
        reasons.append(f"the body part is {body.lower()}, not the chest")
    view = str(meta.get("view_position") or "").strip().upper()
    if view in _LATERAL_VIEWS:
        reasons.append(f"it is a lateral view ({view}), not a frontal (PA/AP) view")
    modality = str(meta.get("modality") or "").strip().upper()
    if modality and modality not in _RADIOGRAPH_MODALITIES:
        label = _MODALITY_NAMES.get(modality)
        reasons.append(f"the modality is {modality}{f' ({label})' if label else ''}, not a radiograph")
    photometric = str(meta.get("photometric") or "").upper()
    if meta.get("color") or (xray.kind == "dicom" and photometric in _COLOUR_PHOTOMETRIC):
        reasons.append("it is a colour image, not a greyscale X-ray")
    rows, cols = xray.pixels.shape[:2]
    if min(rows, cols) < MIN_SIDE:
        reasons.append(f"it is very small ({cols} x {rows} pixels)")
    if not reasons:
        return None
    return (
        "This may not be a frontal chest X-ray: " + "; ".join(reasons) + ". The model was trained on "
        "frontal chest X-rays only, so its score for this image may be meaningless."
    )


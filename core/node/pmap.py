"""The Grad-CAM heat map as a DICOM Parametric Map (highdicom).

Float32 values in [0, 1] at the source image's own resolution (the map is resized bicubically
to the source's Rows x Columns when the model produced it smaller), one frame, referencing the
source image, with a real world value mapping (identity, unit "no units", quantity "Grad-CAM
relevance", LUT label GRADCAM). A viewer that knows Parametric Maps (OHIF's pmap extension) can
show it as an overlay on the source; everything else can read the numbers.

Why full resolution, when Grad-CAM's grid is far coarser (4.2 MB for a 1024 x 1024 image): a map
at 256 pixels a side with its spacing and first-pixel position scaled to cover the same area was
tried, and OHIF 3.13 refuses it ("Parametric map have different geometry dimensions (Rows and
Columns) respect to the source image ... not yet supported") and never shows the overlay.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydicom.sr.coding import Code

from core import __version__

PM_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.30"
RELEVANCE = Code("PNM01", "99PNEUMO", "Grad-CAM relevance")


def _map_class() -> Any:
    import highdicom as hd

    class _OneFrameMap(hd.pm.ParametricMap):  # type: ignore[misc]
        """highdicom 0.28 leaves the frame's Dimension Index Values empty when the source has no
        frame of reference (a radiograph): give the one frame its index and label first."""

        def _build_luts(self) -> None:
            for item in self.get("PerFrameFunctionalGroupsSequence", []):
                content = item.FrameContentSequence[0]
                if not content.get("DimensionIndexValues"):
                    content.DimensionIndexValues = [1]
                    content.FrameLabel = "GRADCAM"
            super()._build_luts()

    return _OneFrameMap


def _with_plane(ref: Any, model_sha256: str) -> Any:
    """A copy of the source with the plane geometry the Parametric Map IOD requires (Frame of
    Reference, plane position and orientation, pixel spacing). A radiograph has none: the map
    gets a frame of reference of its own (derived from the source UID, so only the map and its
    source share it), a nominal plane at the origin, rows along +X and columns along +Y, and the
    imager pixel spacing (1 mm when the source has none). Only the pixel grid is meant: the map
    lies pixel for pixel over the source."""
    import copy

    from pydicom.uid import generate_uid

    out = copy.deepcopy(ref)
    if not out.get("FrameOfReferenceUID"):
        out.FrameOfReferenceUID = generate_uid(entropy_srcs=[str(ref.SOPInstanceUID), model_sha256, "pm-frame"])
        out.PositionReferenceIndicator = None
    if not out.get("ImageOrientationPatient"):
        out.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        out.ImagePositionPatient = [0.0, 0.0, 0.0]
    spacing = [float(v) for v in (out.get("PixelSpacing") or out.get("ImagerPixelSpacing") or [])]
    if len(spacing) != 2 or min(spacing) <= 0:
        spacing = [1.0, 1.0]
    out.PixelSpacing = spacing
    out.SliceThickness = out.get("SliceThickness") or 1.0
    return out


def heatmap_at(heat: Any, rows: int, columns: int) -> np.ndarray:
    """The heat map as float32 [0, 1] at rows x columns."""
    from PIL import Image

    heat = np.asarray(heat, dtype=np.float32)
    if heat.shape != (rows, columns):
        heat = np.asarray(Image.fromarray(heat).resize((columns, rows), Image.Resampling.BICUBIC), dtype=np.float32)
    return np.clip(heat, 0.0, 1.0).astype(np.float32)


def build_parametric_map(
    case: Any, ref: Any, model_sha256: str, *, series_uid: str, sop_uid: str, series_number: int,
    instance_number: int = 1,
) -> Any:
    """One-frame float Parametric Map of ``case.heatmap`` over the source ``ref``."""
    import highdicom as hd

    heat = getattr(case, "heatmap", None)
    if heat is None:
        raise ValueError("the case has no heat map")
    pixels = heatmap_at(heat, int(ref.Rows), int(ref.Columns))
    ref = _with_plane(ref, model_sha256)
    mapping = hd.pm.RealWorldValueMapping(
        lut_label="GRADCAM",
        lut_explanation="Grad-CAM relevance for pneumonia, 0 to 1 (research use only)",
        unit=Code("1", "UCUM", "no units"),
        value_range=(0.0, 1.0),
        slope=1.0,
        intercept=0.0,
        quantity_definition=RELEVANCE,
    )
    pm = _map_class()(
        source_images=[ref],
        pixel_array=pixels,
        series_instance_uid=series_uid,
        series_number=series_number,
        sop_instance_uid=sop_uid,
        instance_number=instance_number,
        manufacturer="Pneumoscope",
        manufacturer_model_name="Pneumoscope pneumonia classifier",
        software_versions=__version__,
        device_serial_number=(model_sha256 or "unknown")[:64],
        contains_recognizable_visual_features=False,
        real_world_value_mappings=[mapping],
        voi_lut_transformations=[hd.VOILUTTransformation(window_center=0.5, window_width=1.0)],
        content_label="GRADCAM",
        content_description="Pneumoscope Grad-CAM heat map (research use only)",
        image_flavor=hd.pm.ImageFlavorValues.STATIC,  # one projection image, no time or volume
    )
    # The body part lets a validator see a chest (unpaired: no Laterality needed); without one,
    # Laterality is present and empty (type 2C: unknown).
    if ref.get("BodyPartExamined"):
        pm.BodyPartExamined = ref.BodyPartExamined
    if ref.get("Laterality"):
        pm.Laterality = ref.Laterality
    elif not ref.get("BodyPartExamined"):
        pm.Laterality = None
    pm.SeriesDescription = "Pneumoscope heat map (Parametric Map, research use only)"
    return pm

"""The AI result as a TID 1500 Measurement Report (Comprehensive 3D SR, highdicom).

What a PACS, a viewer (OHIF) or a validator expects of an AI result:

- **Observer device** (TID 1004): the algorithm. Device Observer UID derived from the model
  SHA-256, name "Pneumoscope", manufacturer "Pneumoscope", model name = the bundle's name (when the
  case carries it) with the software version, serial number = the model's SHA-256 (64 hex
  characters, the LO limit).
- **Procedure reported**: SNOMED CT 363679005 "Imaging procedure" (CID 100 has no chest X-ray code).
- **Image library** (TID 1600): the source image.
- **One measurement group** per image: for a Present call with a heat map, TID 1410 (planar ROI)
  with a POLYLINE rectangle around where the Grad-CAM map is at least half its maximum (viewers
  such as OHIF show a finding only with a spatial coordinate); otherwise TID 1501 (the whole
  image: no region is drawn for an Absent or Not applicable result); with a
  tracking identifier (UID + human-readable id), the source image, finding site lung, and
    - qualitative evaluation SNOMED CT 233604007 "Pneumonia" = 52101004 "Present" / 272519000
      "Absent" at the threshold, or 385432009 "Not applicable" when the out-of-distribution gate or
      the chest-view check blocked the call;
    - the score as a measurement, DCM 122157 "Probability", unit UCUM ``{probability}``, with the
      algorithm (TID 4019: name, version, parameters = threshold and its source) - left out
      when there is no call, so no number can be taken for a result;
    - the threshold as a measurement, DCM 122411 "Threshold Value";
    - what the out-of-distribution gate said, only what was computed: ran and did not flag the
      image, ran and flagged it, not run (no gate in the model bundle), or failed on this image
      (its distance / cut-off is among the algorithm parameters when it ran); and the chest-view
      check when it fired. These two use local codes (scheme 99PNEUMO).

The free-form Comprehensive SR of :mod:`core.node.results` stays available (``sr_style="legacy"``).
"""

from __future__ import annotations

import threading
from typing import Any

from pydicom.sr.coding import Code

from core import __version__

SCHEME = "99PNEUMO"
PNEUMONIA = Code("233604007", "SCT", "Pneumonia")
PRESENT = Code("52101004", "SCT", "Present")
ABSENT = Code("272519000", "SCT", "Absent")
NOT_APPLICABLE = Code("385432009", "SCT", "Not applicable")
PROBABILITY = Code("122157", "DCM", "Probability")
THRESHOLD = Code("122411", "DCM", "Threshold Value")
PROBABILITY_UNIT = Code("{probability}", "UCUM", "probability")
IMAGING_PROCEDURE = Code("363679005", "SCT", "Imaging procedure")  # CID 100 holds no chest X-ray code
QUALITATIVE = Code("C0034375", "UMLS", "Qualitative Evaluations")
RESEARCH_ONLY = "RESEARCH USE ONLY - NOT FOR DIAGNOSTIC USE"
LUNG = Code("39607008", "SCT", "Lung")
OOD_GATE = Code("PNQ01", SCHEME, "Out-of-distribution gate")
# What the gate computes is a distance to the training images' features against a cut-off: it can
# say "not flagged", never that an image is "within the training distribution".
OOD_PASSED = Code("PNV01", SCHEME, "Ran: not flagged (distance within the cut-off)")
OOD_FLAGGED = Code("PNV02", SCHEME, "Ran: flagged (distance beyond the cut-off)")
OOD_NOT_RUN = Code("PNV03", SCHEME, "Not run: no gate in the model bundle")
OOD_FAILED = Code("PNV05", SCHEME, "Not run: the gate failed on this image")
VIEW_CHECK = Code("PNQ02", SCHEME, "Chest-view check")
VIEW_WARNING = Code("PNV04", SCHEME, "Not a frontal chest X-ray like the training images")


def ood_state(case: Any) -> str:
    """``passed``, ``flagged``, ``failed`` or ``not run``: what the gate computed, nothing more."""
    if getattr(case, "ood_flag", False):
        return "flagged"
    if getattr(case, "ood_distance", None) is not None:
        return "passed"
    from core.cases import OOD_CHECK

    failed = any(str(w).startswith(f"{OOD_CHECK} failed") for w in getattr(case, "warnings", None) or [])
    return "failed" if failed else "not run"


def operating_point(case: Any) -> str:
    """The threshold and its source, as a UID part: objects that state a call change with them."""
    t = getattr(case, "threshold", None)
    return f"{'none' if t is None else f'{float(t):.6f}'}|{getattr(case, 'threshold_source', '') or ''}"


def pneumonia_value(case: Any) -> Code:
    if getattr(case, "no_call_reason", None) or not getattr(case, "label", None):
        return NOT_APPLICABLE
    return PRESENT if str(case.label).upper() == "PNEUMONIA" else ABSENT


def _algorithm(case: Any, model_sha256: str) -> Any:
    import highdicom as hd

    source = str(getattr(case, "threshold_source", "") or "bundle")
    # Parameters are TEXT (UT): the whole threshold source is kept (its end says, for instance,
    # why a site profile was ignored).
    params = [f"model sha256 {model_sha256 or 'unknown'}", f"threshold source {source}"]
    if case.threshold is not None:
        params.insert(0, f"threshold {float(case.threshold):.4f}")
    if getattr(case, "ood_distance", None) is not None:
        params.append(f"out-of-distribution distance / cut-off {float(case.ood_distance):.3f}")
    return hd.sr.AlgorithmIdentification(name="Pneumoscope", version=__version__, parameters=params)


def measurement_group(case: Any, ref: Any, model_sha256: str, uid: Any, number: int = 1) -> Any:
    """The TID 1501 group of one image (``uid(*parts)`` makes the deterministic UIDs)."""
    import highdicom as hd

    algorithm = _algorithm(case, model_sha256)
    measurements = []
    if case.score is not None and pneumonia_value(case) != NOT_APPLICABLE:
        measurements.append(hd.sr.Measurement(PROBABILITY, float(case.score), PROBABILITY_UNIT, algorithm_id=algorithm))
    if case.threshold is not None:
        measurements.append(hd.sr.Measurement(THRESHOLD, float(case.threshold), PROBABILITY_UNIT, algorithm_id=algorithm))
    tracking = hd.sr.TrackingIdentifier(
        uid=uid(ref.SOPInstanceUID, model_sha256, "tracking"), identifier=f"Pneumonia finding {number}"
    )
    common = dict(tracking_identifier=tracking, finding_type=PNEUMONIA, algorithm_id=algorithm,
                  finding_sites=[hd.sr.FindingSite(LUNG)], measurements=measurements)
    # A region says "the pneumonia is here": only for a Present call. Absent and Not applicable
    # results are about the whole image (TID 1501); their heat map stays in the Parametric Map.
    present = pneumonia_value(case) == PRESENT
    box = hot_region(getattr(case, "heatmap", None), int(ref.Rows), int(ref.Columns)) if present else None
    if box is not None:  # TID 1410: the finding on the image (viewers such as OHIF draw it)
        region = hd.sr.ImageRegion(
            graphic_type=hd.sr.GraphicTypeValues.POLYLINE, graphic_data=box,
            source_image=hd.sr.SourceImageForRegion.from_source_image(ref),
        )
        return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(referenced_region=region, **common)
    return hd.sr.MeasurementsAndQualitativeEvaluations(  # TID 1501: the whole image
        source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(ref)], **common
    )


def hot_region(heat: Any, rows: int, columns: int, level: float = 0.5) -> Any:
    """Closed rectangle (column, row pixel coordinates) around where the Grad-CAM map is at
    least ``level`` of its maximum, or None without a map (or a flat one)."""
    import numpy as np

    if heat is None:
        return None
    from core.node.pmap import heatmap_at

    h = heatmap_at(heat, rows, columns)
    top = float(h.max())
    if not top > 0 or float(h.min()) >= top:
        return None
    ys, xs = np.nonzero(h >= level * top)
    x0, x1, y0, y1 = float(xs.min()), float(xs.max() + 1), float(ys.min()), float(ys.max() + 1)
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=np.float32)


def qualitative_evaluations(case: Any) -> Any:
    """TID 1500 rows 12-14: the pneumonia call, what the OOD gate said, the view check, and
    the research-use statement. (PixelMed's TID 1501 has no qualitative rows, so they sit at
    the report level; the report holds one image, so they are that image's.)"""
    import highdicom as hd

    rel = hd.sr.RelationshipTypeValues.CONTAINS
    state = ood_state(case)
    items = [
        hd.sr.CodeContentItem(PNEUMONIA, pneumonia_value(case), relationship_type=rel),
        hd.sr.CodeContentItem(
            OOD_GATE, {"passed": OOD_PASSED, "flagged": OOD_FLAGGED, "not run": OOD_NOT_RUN,
                       "failed": OOD_FAILED}[state], relationship_type=rel
        ),
    ]
    if getattr(case, "chest_warning", None):
        items.append(hd.sr.CodeContentItem(VIEW_CHECK, VIEW_WARNING, relationship_type=rel))
    items.append(hd.sr.TextContentItem(Code("121106", "DCM", "Comment"), RESEARCH_ONLY, relationship_type=rel))
    container = hd.sr.ContainerContentItem(QUALITATIVE, relationship_type=rel)
    container.ContentSequence = hd.sr.ContentSequence(items)
    return container


def observer_device(model_sha256: str, uid: Any, model_name: str = "") -> Any:
    """The algorithm as observer: the app and its version, the model bundle by name (when known)
    and by SHA-256 (serial number)."""
    import highdicom as hd

    name = f"{model_name} (Pneumoscope {__version__})" if model_name else f"Pneumoscope pneumonia classifier {__version__}"
    device = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=uid(model_sha256 or "unknown", "device"),
        name="Pneumoscope",
        manufacturer_name="Pneumoscope",
        model_name=name[:64],
        serial_number=(model_sha256 or "unknown")[:64],
    )
    return hd.sr.ObserverContext(observer_type=Code("121007", "DCM", "Device"), observer_identifying_attributes=device)


_LENIENT_LOCK = threading.Lock()


def _lenient_image_library() -> None:
    """highdicom 0.28 reads PatientOrientation and ImagerPixelSpacing of every CR/DX image in
    the Image Library and fails when a source lacks them (many anonymised chest X-rays do). The
    TID 1603 descriptors are optional: leave them out when the source does not know them.

    Installed once for the process (not patched in and out around each report: the node builds
    reports on several threads, and a swap back by one would pull it from under another)."""
    from highdicom.sr import templates

    cls = templates.ImageLibraryEntryDescriptors
    with _LENIENT_LOCK:
        original = cls._generate_projection_radiography_descriptors
        if getattr(original, "_pneumoscope_lenient", False):
            return

        def descriptors(self: Any, dataset: Any) -> Any:
            try:
                return original(self, dataset)
            except (AttributeError, IndexError, TypeError, ValueError):
                return []

        descriptors._pneumoscope_lenient = True  # type: ignore[attr-defined]
        cls._generate_projection_radiography_descriptors = descriptors


_MODALITIES = {"CR": "Computed Radiography", "DX": "Digital Radiography"}


def _fix_library_modality(item: Any, ref: Any) -> None:
    """highdicom names the modality of a Secondary Capture source "OT"; a chest X-ray stored as
    SC (RSNA, NIH) says CR or DX in its Modality, which is what the library entry should say."""
    modality = str(ref.get("Modality", ""))
    for child in item.get("ContentSequence", []):
        name = child.get("ConceptNameCodeSequence")
        if name and name[0].CodeValue == "121139" and child.get("ConceptCodeSequence") and modality in _MODALITIES:
            child.ConceptCodeSequence[0].CodeValue = modality
            child.ConceptCodeSequence[0].CodeMeaning = _MODALITIES[modality]
        _fix_library_modality(child, ref)


def build_tid1500_sr(
    case: Any, ref: Any, model_sha256: str, uid: Any, *, series_uid: str, series_number: int,
    evidence: list[Any] | None = None,
) -> Any:
    """A Comprehensive 3D SR holding the TID 1500 report for one image."""
    import highdicom as hd

    _lenient_image_library()
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(
            observer_device_context=observer_device(model_sha256, uid, str(getattr(case, "model_name", "") or ""))),
        procedure_reported=IMAGING_PROCEDURE,
        imaging_measurements=[measurement_group(case, ref, model_sha256, uid)],
        referenced_images=[ref],
    )
    report[0].ContentSequence.append(qualitative_evaluations(case))
    _fix_library_modality(report[0], ref)
    sr = hd.sr.Comprehensive3DSR(
        evidence=[ref, *(evidence or [])],
        content=report,
        series_instance_uid=series_uid,
        series_number=series_number,
        # The call changes with the operating point: a new threshold is a new SR (same tracking UID).
        sop_instance_uid=uid(ref.SOPInstanceUID, model_sha256, "sr-tid1500", operating_point(case)),
        instance_number=max(1, int(ref.get("InstanceNumber") or 1)),
        manufacturer="Pneumoscope",
        is_complete=True,
        is_final=False,  # nobody has verified it: an algorithm's output
    )
    sr.SeriesDescription = "Pneumoscope AI result (research use only)"
    sr.SoftwareVersions = __version__
    return sr

"""Results that go back to the PACS: a Secondary Capture and a Comprehensive SR (highdicom).

Both join the source instance's study (same Study Instance UID, patient and study attributes
copied by highdicom) in new series. Their UIDs are derived from the source SOP Instance UID, the
model hash and, for the objects that state a call (SR, SC), the operating point (threshold and its
source): sending the same results twice (after a restart) sends the same UIDs, which the PACS keeps
once, while a rescore at another threshold makes new objects beside the old ones, each saying which
threshold it used. (A PACS keeps the first copy of a UID by default, Orthanc included: reusing the
UID for a changed call would leave the old call in place.)

- **Secondary Capture** (RGB): the image as displayed, the Grad-CAM heat map blended over it,
  and a band above the image with the score, the threshold and its source, the call (or why there
  is none) and "RESEARCH USE ONLY". The band is added above the image rather than over it, so no
  anatomy is hidden. Its Modality is OT: the node refuses it if the PACS routes it back.
- **Comprehensive SR**: score and threshold as numbers, the call, threshold source, model
  SHA-256, the out-of-distribution result, the chest-view warning, a research-use statement, and
  references to the source image and the Secondary Capture.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from core import __version__
from core.node.tid1500 import ood_state, operating_point

MANUFACTURER = "Pneumoscope"
SC_SERIES_NUMBER = 9901
SR_SERIES_NUMBER = 9902
PM_SERIES_NUMBER = 9903
RESEARCH_ONLY = "RESEARCH USE ONLY - NOT FOR DIAGNOSTIC USE"
_SCHEME = "99PNEUMO"  # local coding scheme (PS3.16: designators starting with 99 are private)


def _uid(*parts: str) -> str:
    from pydicom.uid import generate_uid

    return str(generate_uid(entropy_srcs=[str(p) for p in parts]))


def series_uid(ref: Any, model_sha256: str, kind: str, run: str = "") -> str:
    """One series per result kind per model run and study: derived from the model SHA-256, the
    Study Instance UID, the kind (sc, pm, sr) and the run label, so every image of a study
    scored by the same model lands in the same series (and a resend in the same place)."""
    return _uid(model_sha256, ref.StudyInstanceUID, kind, run, "series")


def call_text(case: Any) -> str:
    """One line: the call at the threshold, or why there is none."""
    label = getattr(case, "label", None)
    if label:
        return str(label)
    if getattr(case, "ood_flag", False) or getattr(case, "chest_warning", None):
        return "no call: not a chest X-ray like the training data"
    return "no call"


def ood_text(case: Any) -> str:
    """What the out-of-distribution gate computed (a distance against a cut-off), nothing more."""
    distance = getattr(case, "ood_distance", None)
    dist = f" (distance / cut-off {float(distance):.2f})" if distance is not None else ""
    state = ood_state(case)
    if state == "flagged":
        return f"FLAGGED{dist}: unlike the training images"
    if state == "failed":
        return "not run: the out-of-distribution gate failed on this image"
    if state == "not run":
        return "not run: no out-of-distribution gate in the model bundle"
    return f"ran, not flagged{dist}"


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.3f}"


def _score_text(case: Any) -> str:
    """The score as a reader may see it: none when core.cases.decide made no call (not a chest X-ray)."""
    if getattr(case, "no_call_reason", None):
        return "not applicable"
    return _fmt(case.score)


def summary_lines(case: Any, model_sha256: str) -> list[str]:
    return [
        f"Pneumoscope {__version__}   score {_score_text(case)}   threshold {_fmt(case.threshold)}"
        f" ({getattr(case, 'threshold_source', '') or 'bundle'})   call: {call_text(case)}",
        f"OOD check: {ood_text(case)}   model sha256 {model_sha256[:12]}",
        RESEARCH_ONLY,
    ]


def _display_pixels(source: Path, case: Any) -> np.ndarray:
    xray = getattr(case, "xray", None)
    pixels = getattr(xray, "pixels", None)
    if pixels is None:
        from core.imaging import load_image

        pixels = load_image(source).pixels
    return np.asarray(pixels, dtype=np.uint8)


def render_overlay(source: Path, case: Any, model_sha256: str) -> np.ndarray:
    """RGB uint8 image: heat map over the X-ray, with the text band above it."""
    from PIL import Image, ImageDraw, ImageFont

    grey = _display_pixels(source, case)
    heat = getattr(case, "heatmap", None)
    if heat is not None:
        from core.trust.heatmap import render_heat_overlay  # the renderer Review's viewer uses

        rgb = render_heat_overlay(grey, np.asarray(heat, dtype=np.float32))
    else:
        rgb = np.repeat(grey[..., None], 3, axis=2)
    height, width = grey.shape
    font_px = max(12, width // 60)
    font = ImageFont.load_default(size=font_px)
    lines = summary_lines(case, model_sha256)
    if heat is None:
        lines[1] += "   (no heat map)"
    band = int(font_px * 1.35 * len(lines) + font_px)
    canvas = Image.new("RGB", (width, height + band), (0, 0, 0))
    canvas.paste(Image.fromarray(rgb), (0, band))
    draw = ImageDraw.Draw(canvas)
    y = font_px // 2
    for i, line in enumerate(lines):
        colour = (255, 210, 0) if i == len(lines) - 1 else (255, 255, 255)
        draw.text((font_px // 2, y), line, fill=colour, font=font)
        y += int(font_px * 1.35)
    return np.asarray(canvas, dtype=np.uint8)


# Type 2 patient and study attributes highdicom copies from the source: a source that lacks
# one (the NIH ChestX-ray14 DICOMs have no PatientBirthDate) gets it empty, as DICOM allows.
_TYPE2_COPIED = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                 "ReferringPhysicianName", "StudyID", "AccessionNumber")


def read_source(source: Path) -> Any:
    import pydicom

    ds = pydicom.dcmread(source, stop_before_pixels=True)
    for keyword in _TYPE2_COPIED:
        if keyword not in ds:
            setattr(ds, keyword, None)
    _fix_age(ds)
    return ds


def _fix_age(ds: Any) -> None:
    """RSNA and NIH files hold a PatientAge like "32" where DICOM wants "032Y": fix or drop it."""
    age = str(ds.get("PatientAge") or "")
    if age and not re.fullmatch(r"\d{3}[DWMY]", age):
        if re.fullmatch(r"\d{1,3}", age):
            ds.PatientAge = f"{int(age):03d}Y"
        else:
            del ds.PatientAge


def _tidy_copied(ds: Any, ref: Any) -> None:
    """Let a validator see the body part (a chest is unpaired, so no Laterality is needed);
    without one, Laterality is present and empty (type 2C: unknown)."""
    if ref.get("BodyPartExamined"):
        ds.BodyPartExamined = ref.BodyPartExamined
    if ref.get("Laterality"):
        ds.Laterality = ref.Laterality
    elif not ref.get("BodyPartExamined"):
        ds.Laterality = None


def build_secondary_capture(
    source: Path, case: Any, model_sha256: str, ref: Any | None = None, run: str = "", compress: bool = True
) -> Any:
    """RGB SC, JPEG baseline (quality 90, YBR_FULL_422) by default: a picture for the eye, the
    numbers are in the SR and the Parametric Map; ``compress=False`` keeps it uncompressed."""
    import highdicom as hd
    from pydicom.dataset import Dataset
    from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit

    ref = ref if ref is not None else read_source(source)
    pixels = render_overlay(source, case, model_sha256)
    orientation = ref.get("PatientOrientation")
    sc = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=ref,
        pixel_array=pixels,
        photometric_interpretation="YBR_FULL_422" if compress else "RGB",
        bits_allocated=8,
        coordinate_system="PATIENT",
        series_instance_uid=series_uid(ref, model_sha256, "sc", run),
        series_number=SC_SERIES_NUMBER,
        sop_instance_uid=_uid(ref.SOPInstanceUID, model_sha256, "sc", run, operating_point(case)),
        instance_number=_instance_number(ref),
        manufacturer=MANUFACTURER,
        # highdicom wants an orientation for the PATIENT coordinate system; the source's is
        # copied below, or left empty (type 2: unknown) rather than guessed.
        patient_orientation=("L", "F"),
        transfer_syntax_uid=JPEGBaseline8Bit if compress else ExplicitVRLittleEndian,
    )
    sc.PatientOrientation = list(orientation) if orientation and len(orientation) == 2 else None
    _tidy_copied(sc, ref)
    sc.SeriesDescription = "Pneumoscope heat map (research use only)"
    sc.ManufacturerModelName = "Pneumoscope"
    sc.SoftwareVersions = __version__
    sc.BurnedInAnnotation = "YES"
    sc.ImageComments = " | ".join(summary_lines(case, model_sha256))[:10240]
    sc.DerivationDescription = "Grad-CAM heat map of the Pneumoscope model over the source image"
    source_item = Dataset()
    source_item.ReferencedSOPClassUID = ref.SOPClassUID
    source_item.ReferencedSOPInstanceUID = ref.SOPInstanceUID
    sc.SourceImageSequence = [source_item]
    return sc


def _code(value: str, meaning: str) -> Any:
    from pydicom.sr.coding import Code

    return Code(value, _SCHEME, meaning)


def _instance_number(ref: Any) -> int:
    try:
        return max(1, int(ref.get("InstanceNumber") or 1))
    except (TypeError, ValueError):
        return 1


def build_sr(
    source: Path, case: Any, model_sha256: str, sc: Any | None = None, ref: Any | None = None, run: str = ""
) -> Any:
    """The free-form Comprehensive SR (``sr_style="legacy"``)."""
    import highdicom as hd
    from pydicom.sr.coding import Code

    ref = ref if ref is not None else read_source(source)
    rel = hd.sr.RelationshipTypeValues.CONTAINS
    unit = Code("1", "UCUM", "no units")
    items: list[Any] = []
    if case.score is not None and not getattr(case, "no_call_reason", None):  # no number for a non-chest image
        items.append(hd.sr.NumContentItem(_code("PNS01", "Pneumonia score"), float(case.score), unit, relationship_type=rel))
    if case.threshold is not None:
        items.append(
            hd.sr.NumContentItem(_code("PNS02", "Decision threshold"), float(case.threshold), unit, relationship_type=rel)
        )
    items += [
        hd.sr.TextContentItem(_code("PNS03", "Call at threshold"), call_text(case), relationship_type=rel),
        hd.sr.TextContentItem(
            _code("PNS04", "Threshold source"), str(getattr(case, "threshold_source", "") or "bundle"), relationship_type=rel
        ),
        hd.sr.TextContentItem(_code("PNS05", "Model SHA-256"), model_sha256 or "unknown", relationship_type=rel),
        hd.sr.TextContentItem(_code("PNS06", "Out-of-distribution check"), ood_text(case), relationship_type=rel),
    ]
    warning = getattr(case, "chest_warning", None)
    if warning:
        items.append(hd.sr.TextContentItem(_code("PNS07", "Chest view warning"), str(warning)[:1000], relationship_type=rel))
    items.append(hd.sr.TextContentItem(Code("121106", "DCM", "Comment"), RESEARCH_ONLY, relationship_type=rel))
    items.append(
        hd.sr.ImageContentItem(
            Code("121112", "DCM", "Source of Measurement"), ref.SOPClassUID, ref.SOPInstanceUID, relationship_type=rel
        )
    )
    evidence = [ref]
    if sc is not None:
        items.append(
            hd.sr.ImageContentItem(_code("PNS08", "Heat map image"), sc.SOPClassUID, sc.SOPInstanceUID, relationship_type=rel)
        )
        evidence.append(sc)
    root = hd.sr.ContainerContentItem(Code("18748-4", "LN", "Diagnostic imaging report"))
    root.ContentSequence = hd.sr.ContentSequence(items)
    sr = hd.sr.ComprehensiveSR(
        evidence=evidence,
        content=root,
        series_instance_uid=series_uid(ref, model_sha256, "sr-legacy", run),
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=_uid(ref.SOPInstanceUID, model_sha256, "sr", run, operating_point(case)),
        instance_number=_instance_number(ref),
        manufacturer=MANUFACTURER,
        is_complete=True,
    )
    sr.SeriesDescription = "Pneumoscope result (research use only)"
    sr.SoftwareVersions = __version__
    return sr


SR_STYLES = ("tid1500", "legacy")
HEAT_MAPS = ("pm", "sc", "both")


def build_results(
    source: Path,
    case: Any,
    model_sha256: str,
    with_sc: bool = True,
    with_sr: bool = True,
    *,
    sr_style: str = "tid1500",
    heat_map: str = "pm",
    run: str = "",
    compress_sc: bool = True,
) -> list[Any]:
    """The result objects for one scored case, heat map object(s) first (the SR references them).

    ``with_sc`` says whether a heat map object is sent at all; ``heat_map`` which: ``pm``
    (Parametric Map, float Grad-CAM), ``sc`` (the burned-in Secondary Capture) or ``both``.
    ``sr_style``: ``tid1500`` (Measurement Report) or ``legacy`` (free-form Comprehensive SR)."""
    from core.node.pmap import build_parametric_map
    from core.node.tid1500 import build_tid1500_sr

    if sr_style not in SR_STYLES or heat_map not in HEAT_MAPS:
        raise ValueError(f"unknown result style {sr_style!r}/{heat_map!r} (SR: {SR_STYLES}, heat map: {HEAT_MAPS})")
    ref = read_source(source)
    out: list[Any] = []
    with warnings.catch_warnings():
        # Anonymised sources often hold a one-part PatientName; highdicom copies it as it is.
        warnings.filterwarnings("ignore", message=".*intended person name", category=UserWarning)
        sc = pm = None
        if with_sc and heat_map in ("sc", "both"):
            sc = build_secondary_capture(source, case, model_sha256, ref=ref, run=run, compress=compress_sc)
            out.append(sc)
        if with_sc and heat_map in ("pm", "both") and getattr(case, "heatmap", None) is not None:
            pm = build_parametric_map(
                case, ref, model_sha256, series_uid=series_uid(ref, model_sha256, "pm", run),
                sop_uid=_uid(ref.SOPInstanceUID, model_sha256, "pm", run), series_number=PM_SERIES_NUMBER,
                instance_number=_instance_number(ref),
            )
            out.append(pm)
        if with_sr and sr_style == "legacy":
            out.append(build_sr(source, case, model_sha256, sc=sc, ref=ref, run=run))
        elif with_sr:
            uid = lambda *parts: _uid(*parts, run)  # noqa: E731 (the run keeps runs apart)
            out.append(build_tid1500_sr(
                case, ref, model_sha256, uid, series_uid=series_uid(ref, model_sha256, "sr", run),
                series_number=SR_SERIES_NUMBER, evidence=[o for o in (sc, pm) if o is not None],
            ))
    return out

"""The results the way PACS and viewers read them (issue 19): a TID 1500 Measurement Report
and a float Parametric Map, valid by dciodvfy and PixelMed, saying only what was computed."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

from core.node.results import build_results
from tests.core.node_support import chest_files
from tests.core.node_validate import dciodvfy_errors, pixelmed_problems
from tests.core.test_node_orthanc import scorer_with_map

SHA = "0123456789abcdef" * 4
PM_SOP = "1.2.840.10008.5.1.4.1.1.30"
SR3D_SOP = "1.2.840.10008.5.1.4.1.1.88.34"


def _flat(ds: Any) -> list[Any]:
    items = []
    for item in ds.get("ContentSequence", []):
        items.append(item)
        items += _flat(item)
    return items


def _code(items: list[Any], meaning: str) -> str | None:
    for it in items:
        if it.ValueType == "CODE" and it.ConceptNameCodeSequence[0].CodeMeaning == meaning:
            return str(it.ConceptCodeSequence[0].CodeMeaning)
    return None


def _nums(items: list[Any]) -> dict[str, float]:
    return {it.ConceptNameCodeSequence[0].CodeMeaning: float(it.MeasuredValueSequence[0].NumericValue)
            for it in items if it.ValueType == "NUM"}


def _variants(case: Any) -> dict[str, Any]:
    """The same image with the gate passed, flagged, absent, and the view check fired."""
    base = dataclasses.replace(case, label="PNEUMONIA", threshold=0.3, no_call_reason=None)
    return {
        "passed": base,
        "flagged": dataclasses.replace(base, ood_flag=True, ood_distance=3.2, label=None,
                                       no_call_reason="out-of-distribution gate"),
        "no gate": dataclasses.replace(base, ood_distance=None, label="NORMAL", threshold=0.9),
        "view": dataclasses.replace(base, chest_warning="lateral view", label=None, no_call_reason="chest-view check"),
        "gate failed": dataclasses.replace(base, ood_distance=None, label="PNEUMONIA",
                                           warnings=["Out-of-distribution check failed: ValueError: boom"],
                                           threshold_source="site threshold 0.300, set 2026-12-03 by dr_lee on 83 "
                                                            "cases (sens:0.95); site profile ignored: made for "
                                                            "another model", model_name="kermany-cnn v3"),
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, dicom_dir: Path) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("std")
    sources = chest_files(dicom_dir)[:3]  # a CR, a DX stored as SC (NIH), a CR stored as SC (RSNA)
    out: dict[str, Any] = {"sources": sources, "files": [], "by": {}}
    for i, src in enumerate(sources):
        for name, case in _variants(scorer_with_map(src)).items():
            if i and name != "passed":
                continue
            objs = build_results(src, case, SHA)
            paths = []
            for ds in objs:
                p = tmp / f"{i}_{name.replace(' ', '_')}_{ds.Modality}.dcm"
                ds.save_as(p, enforce_file_format=True)
                paths.append(p)
            out["by"][(i, name)] = (objs, paths, case)
            out["files"] += paths
    return out


def test_results_are_a_parametric_map_and_a_tid1500_sr(built: dict[str, Any]) -> None:
    for (i, _name), (objs, _paths, case) in built["by"].items():
        src = pydicom.dcmread(built["sources"][i], stop_before_pixels=True)
        pm, sr = objs
        assert pm.SOPClassUID == PM_SOP and sr.SOPClassUID == SR3D_SOP
        assert pm.StudyInstanceUID == sr.StudyInstanceUID == src.StudyInstanceUID
        frame = pm.pixel_array
        assert frame.dtype == np.float32 and frame.shape == (src.Rows, src.Columns)
        assert frame.min() >= 0.0 and frame.max() <= 1.0 and frame.max() > 0.5  # the test map rises to 1
        derivation = pm.PerFrameFunctionalGroupsSequence[0].DerivationImageSequence[0].SourceImageSequence[0]
        assert derivation.ReferencedSOPInstanceUID == src.SOPInstanceUID
        rwv = pm.SharedFunctionalGroupsSequence[0].RealWorldValueMappingSequence[0]
        assert rwv.LUTLabel == "GRADCAM" and float(rwv.RealWorldValueSlope) == 1.0
        items = _flat(sr)
        assert sr.ConceptNameCodeSequence[0].CodeValue == "126000"  # Imaging Measurement Report
        assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"
        device = {it.ConceptNameCodeSequence[0].CodeMeaning: it for it in items}
        assert device["Device Observer Serial Number"].TextValue == SHA
        assert device["Device Observer Name"].TextValue == "Pneumoscope"
        assert device["Tracking Identifier"].TextValue == "Pneumonia finding 1"
        assert device["Tracking Unique Identifier"].UID
        refs = {it.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for it in items if it.ValueType == "IMAGE"}
        assert src.SOPInstanceUID in refs
        evidence = {r.ReferencedSOPInstanceUID for s in sr.CurrentRequestedProcedureEvidenceSequence
                    for se in s.ReferencedSeriesSequence for r in se.ReferencedSOPSequence}
        assert {src.SOPInstanceUID, pm.SOPInstanceUID} <= evidence
        nums = _nums(items)
        assert nums["Threshold Value"] == pytest.approx(case.threshold)
        if case.label:
            assert nums["Probability"] == pytest.approx(case.score, abs=1e-6)
        else:
            assert "Probability" not in nums


def test_the_sr_states_only_what_was_computed(built: dict[str, Any]) -> None:
    by = built["by"]
    expect = {
        "passed": ("Present", "Ran: not flagged (distance within the cut-off)"),
        "flagged": ("Not applicable", "Ran: flagged (distance beyond the cut-off)"),
        "no gate": ("Absent", "Not run: no gate in the model bundle"),
        "view": ("Not applicable", "Ran: not flagged (distance within the cut-off)"),
        "gate failed": ("Present", "Not run: the gate failed on this image"),
    }
    for name, (call, gate) in expect.items():
        objs, _paths, _case = by[(0, name)]
        items = _flat(objs[-1])
        assert _code(items, "Pneumonia") == call, name
        assert _code(items, "Out-of-distribution gate") == gate, name
        assert (_code(items, "Chest-view check") is not None) == (name == "view")
        text = " ".join(str(it.get("TextValue", "")) + str(_code([it], it.ConceptNameCodeSequence[0].CodeMeaning))
                        for it in items if it.ValueType in ("TEXT", "CODE"))
        assert "within the training distribution" not in text, name  # the gate can only say "not flagged"
        # A region (TID 1410, drawn by viewers as "the finding is here") only for a Present call.
        regions = [it for it in items if it.ValueType == "SCOORD"]
        assert bool(regions) == (call == "Present"), name
    params = [str(it.TextValue) for it in _flat(by[(0, "gate failed")][0][-1]) if it.ValueType == "TEXT"]
    assert any(p.endswith("site profile ignored: made for another model") for p in params), params
    device = {it.ConceptNameCodeSequence[0].CodeMeaning: it for it in _flat(by[(0, "gate failed")][0][-1])}
    assert device["Device Observer Model Name"].TextValue.startswith("kermany-cnn v3 (Pneumoscope")
    passed = [str(it.TextValue) for it in _flat(by[(0, "passed")][0][-1]) if it.ValueType == "TEXT"]
    assert any(p.startswith("out-of-distribution distance / cut-off 0.400") for p in passed), passed


def test_a_new_threshold_makes_a_new_sr_beside_the_old(dicom_dir: Path) -> None:
    """A PACS keeps the first object of a UID: a rescore at another threshold must not reuse it."""
    src = chest_files(dicom_dir)[0]
    case = scorer_with_map(src)
    one = build_results(src, case, SHA, heat_map="both")
    again = build_results(src, case, SHA, heat_map="both")
    other = build_results(src, dataclasses.replace(case, threshold=0.9, label="NORMAL"), SHA, heat_map="both")
    assert [o.SOPInstanceUID for o in one] == [o.SOPInstanceUID for o in again]  # a resend: same UIDs
    sc, pm, sr = one
    sc2, pm2, sr2 = other
    assert pm.SOPInstanceUID == pm2.SOPInstanceUID  # the map does not depend on the threshold
    assert sc.SOPInstanceUID != sc2.SOPInstanceUID and sr.SOPInstanceUID != sr2.SOPInstanceUID
    track = [[it.UID for it in _flat(x) if it.ConceptNameCodeSequence[0].CodeMeaning == "Tracking Unique Identifier"]
             for x in (sr, sr2)]
    assert track[0] == track[1]  # the same finding, tracked across the two reports


def test_legacy_sr_never_claims_the_gate_passed_without_one(dicom_dir: Path) -> None:
    src = chest_files(dicom_dir)[0]
    case = dataclasses.replace(scorer_with_map(src), ood_distance=None)
    sr = build_results(src, case, SHA, with_sc=False, sr_style="legacy")[0]
    ood = next(it.TextValue for it in sr.ContentSequence
               if it.ConceptNameCodeSequence[0].CodeMeaning == "Out-of-distribution check")
    assert ood.startswith("not run") and "within" not in ood


def test_dciodvfy_finds_no_error(built: dict[str, Any]) -> None:
    problems = {str(p): dciodvfy_errors(p) for p in built["files"]}
    assert not any(problems.values()), problems


@pytest.mark.slow
def test_pixelmed_finds_no_error_and_nothing_outside_the_template(built: dict[str, Any]) -> None:
    srs = [p for p in built["files"] if p.name.endswith("_SR.dcm")]
    problems = pixelmed_problems(srs)
    assert not any(problems.values()), problems


def test_one_series_per_kind_per_model_run_and_study(tmp_path: Path, dicom_dir: Path) -> None:
    from tests.core.node_support import copy_with_new_uids

    a, b = copy_with_new_uids(chest_files(dicom_dir)[:2], tmp_path, 2)  # two images of one study
    objs = {f: build_results(f, scorer_with_map(f), SHA, heat_map="both") for f in (a, b)}
    for kind in range(3):  # sc, pm, sr
        assert objs[a][kind].SeriesInstanceUID == objs[b][kind].SeriesInstanceUID
        assert objs[a][kind].SOPInstanceUID != objs[b][kind].SOPInstanceUID
    assert len({o.SeriesInstanceUID for o in objs[a]}) == 3
    again = build_results(a, scorer_with_map(a), SHA, heat_map="both")
    assert [o.SOPInstanceUID for o in again] == [o.SOPInstanceUID for o in objs[a]]  # deterministic
    other_run = build_results(a, scorer_with_map(a), SHA, heat_map="both", run="site-2")
    other_model = build_results(a, scorer_with_map(a), "f" * 64, heat_map="both")
    for o in (other_run, other_model):
        assert not {x.SeriesInstanceUID for x in o} & {x.SeriesInstanceUID for x in objs[a]}


def test_secondary_capture_is_compressed(tmp_path: Path, dicom_dir: Path) -> None:
    src = chest_files(dicom_dir)[0]
    case = scorer_with_map(src)
    sizes = {}
    for compress in (False, True):
        t = time.perf_counter()
        sc = build_results(src, case, SHA, with_sr=False, heat_map="sc", compress_sc=compress)[0]
        path = tmp_path / f"sc_{compress}.dcm"
        sc.save_as(path, enforce_file_format=True)
        sizes[compress] = (path.stat().st_size, time.perf_counter() - t, sc)
        assert not dciodvfy_errors(path)
    assert str(sizes[True][2].file_meta.TransferSyntaxUID) == "1.2.840.10008.1.2.4.50"  # JPEG baseline
    assert sizes[True][0] < 0.25 * sizes[False][0], sizes
    back = pydicom.dcmread(tmp_path / "sc_True.dcm").pixel_array.astype(np.float32)
    plain = pydicom.dcmread(tmp_path / "sc_False.dcm").pixel_array.astype(np.float32)
    assert back.shape == plain.shape and np.abs(back.mean(axis=2) - plain.mean(axis=2)).mean() < 4.0
    print(f"SC {sizes[False][0] / 1e6:.2f} MB -> {sizes[True][0] / 1e6:.2f} MB JPEG "
          f"({sizes[False][1]:.2f} s -> {sizes[True][1]:.2f} s)")

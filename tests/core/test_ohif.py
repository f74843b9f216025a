"""The real viewer (issue 19): the prebuilt OHIF viewer (npm @ohif/app dist/) against Orthanc's
DICOMweb, in headless Chromium driven by playwright-core; the study with the Pneumoscope
results opens, the Parametric Map and the SR are loaded, and screenshots are saved."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pydicom
import pytest

from core.node.send import send_results
from tests.core.node_support import REPO, chest_files, need_tool, storescu
from tests.core.ohif_support import ViewerServer
from tests.core.test_node_orthanc import scorer_with_map
from tests.core.test_node_web import web_orthanc

TOOLS = REPO / "tools" / "ohif"
SHOTS = Path(os.environ.get("PNEUMOSCOPE_SCREENSHOTS", REPO / "screenshots"))


def _viewer() -> Path:
    need_tool("chromium", "chromium")
    if not shutil.which("npm") or not shutil.which("node"):
        if os.environ.get("PNEUMOSCOPE_REQUIRE_DATA") == "1":
            pytest.fail("node/npm are needed for the OHIF test")
        pytest.skip("node/npm are not installed")
    proc = subprocess.run(["bash", str(TOOLS / "fetch_ohif.sh")], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        if os.environ.get("PNEUMOSCOPE_REQUIRE_DATA") == "1":
            pytest.fail(proc.stderr[-2000:])
        pytest.skip(f"cannot fetch the OHIF viewer: {proc.stderr[-500:]}")
    return TOOLS / "viewer"


@pytest.mark.slow
def test_ohif_shows_the_finding_and_the_heat_map(tmp_path: Path, dicom_dir: Path) -> None:
    viewer = _viewer()
    src = chest_files(dicom_dir)[2]  # an RSNA chest CR
    study = str(pydicom.dcmread(src, stop_before_pixels=True).StudyInstanceUID)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with web_orthanc(tmp_path / "orthanc") as orthanc:
        assert len(storescu([src], orthanc.dicom_port, aec=orthanc.aet)["acked"]) == 1
        # A Present call: only then does the SR hold a region (TID 1410) for OHIF to draw.
        case = dataclasses.replace(scorer_with_map(src), threshold=0.3, label="PNEUMONIA")
        send_results(src, case, "ab" * 32, tmp_path / "res", heat_map="both",
                     web_url=f"http://127.0.0.1:{orthanc.http_port}/dicom-web")
        with ViewerServer(viewer, orthanc.http_port) as server:
            proc = subprocess.run(["node", str(TOOLS / "view.mjs"), server.url, study, str(SHOTS)], cwd=TOOLS,
                                  capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    (SHOTS / "ohif_result.json").write_text(json.dumps(result, indent=2))
    assert "error" not in result, result
    assert "study open" in result["steps"], result
    assert (SHOTS / "ohif_study.png").stat().st_size > 10_000
    assert any(s.startswith("opened Parametric Map") for s in result["steps"]), result["steps"]
    assert any(s.startswith("opened SR") for s in result["steps"]), result["steps"]
    # OHIF draws the TID 1410 region and labels it with the group's measurements (its SR viewport
    # shows no qualitative evaluation, so the present/absent call itself is not on screen).
    shown = result["SR"]
    score = float(re.findall(r"Probability: ([0-9.]+)", shown)[0])
    assert score == pytest.approx(case.score, abs=0.006), shown
    assert "Threshold Value: 0.30" in shown, shown
    for name in ("ohif_sr.png", "ohif_pmap.png"):
        assert (SHOTS / name).stat().st_size > 10_000
    # The heat map overlay is on screen: the grey X-ray turns colourful in the viewport once the
    # Parametric Map is loaded (the test map runs from 0 at the top to 1 at the bottom).
    before, after = colourful_share(SHOTS / "ohif_study.png"), colourful_share(SHOTS / "ohif_pmap.png")
    assert after > before + 0.2, (before, after)


def colourful_share(path: Path) -> float:
    """Share of the viewport's pixels (the middle of the window) that are clearly coloured, not grey."""
    import numpy as np
    from PIL import Image

    a = np.asarray(Image.open(path).convert("RGB")).astype(np.int16)
    h, w, _ = a.shape
    mid = a[h // 5: 4 * h // 5, w // 3: 5 * w // 6]
    return float(((mid.max(axis=2) - mid.min(axis=2)) > 60).mean())

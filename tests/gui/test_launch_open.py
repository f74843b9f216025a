"""`pneumoscope FILE` opens FILE at launch and scores it when the model is ready (issue 14, item 5)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_dicom_named_at_launch_is_scored_and_timed(dicom_dir, tmp_path):
    dcm = sorted((dicom_dir / "chest").glob("rsna_*.dcm"))[0]
    env = dict(os.environ, PNEUMOSCOPE_HOME=str(tmp_path), QT_QPA_PLATFORM="offscreen",
               PNEUMOSCOPE_LAUNCHED_AT=repr(time.time()))
    res = subprocess.run([sys.executable, "-m", "gui.app", str(dcm), "--exit-after-first-score"], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    timings = json.loads([line for line in res.stdout.splitlines() if line.startswith("{")][-1])
    assert 0 < timings["to_window"] < timings["to_case_shown"] < timings["to_first_score"] <= timings["to_heatmap"]
    assert timings["to_model_ready"] <= timings["to_first_score"]
    assert timings["stage_load_and_warm"] > 0
    assert timings["stage_tensorflow_loaded"] == 0  # scored by LiteRT: TensorFlow never imported
    # the audit log saw the case opened and scored
    log = (tmp_path / "logs" / "audit.jsonl").read_text().splitlines()
    events = [json.loads(line)["event"] for line in log]
    assert "case_opened" in events and "prediction" in events

"""Issue 20 item 2: batch scoring (the scores CSV, `predict`) is audited like single cases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_predict_then_audit_tail_lists_every_scored_file(chest_xray_dir, tmp_path):
    import shutil

    folder = tmp_path / "cases"
    folder.mkdir()
    images = []
    for src in sorted((chest_xray_dir / "test" / "NORMAL").iterdir())[:3]:
        images.append(Path(shutil.copy(src, folder / src.name)))
    env = dict(os.environ, PNEUMOSCOPE_HOME=str(tmp_path / "home"), PYTHONPATH=str(REPO))
    run = subprocess.run([sys.executable, "-m", "core.cli", "predict", "shipped", str(folder),
                          "--csv", str(tmp_path / "s.csv")], cwd=REPO, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    tail = subprocess.run([sys.executable, "-m", "core.cli", "audit", "--tail", "20"], cwd=REPO, env=env,
                          capture_output=True, text=True)
    assert tail.returncode == 0, tail.stderr
    log = (tmp_path / "home" / "logs" / "audit.jsonl").read_text().splitlines()
    predictions = [r for r in map(json.loads, log) if r["event"] == "prediction"]
    assert len(predictions) == 3 and all(r.get("source") == "batch" and len(r["case_hash"]) == 64 for r in predictions)
    assert len({r["case_hash"] for r in predictions}) == 3
    assert tail.stdout.count("prediction") >= 3
    assert not any(str(images[0].name) in line for line in log)  # no file names in clear

"""Open folder and Score folder search subfolders, as the CLI does (issue 14, item 4)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from .conftest import _synthetic_xray


def _site(root: Path) -> list[Path]:
    files = []
    rng = np.random.default_rng(4)
    for rel in ("NORMAL/a.png", "NORMAL/b.png", "PNEUMONIA/c.png", "PNEUMONIA/bacteria/d.png"):
        f = root / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_synthetic_xray(rng, "PNEUMONIA" in rel)).save(f)
        files.append(f)
    (root / "README.txt").write_text("not an image")
    return files


def test_open_folder_lists_images_in_subfolders(qtbot, window, tmp_path):
    from core.cases import list_images

    files = _site(tmp_path / "SITE")
    review = window.review
    with qtbot.waitSignal(review.caseShown, timeout=30000):
        review.open_paths([str(tmp_path / "SITE")])
    assert sorted(review.paths) == sorted(str(f) for f in files)
    assert review.case_list.count() == 4 and review.error_banner.isHidden()
    assert list_images(tmp_path / "SITE") == review.paths  # the site commands list the same files


def test_score_folder_scores_images_in_subfolders(qtbot, loaded_window, tmp_path):
    files = _site(tmp_path / "SITE")
    out = tmp_path / "scores.csv"
    with qtbot.waitSignal(loaded_window.review.csvWritten, timeout=60000):
        loaded_window.review.score_folder(str(tmp_path / "SITE"), str(out))
    rows = list(csv.DictReader(out.open()))
    assert sorted(r["file"] for r in rows) == sorted(str(f) for f in files)
    assert all(r["score"] and not r["error"] for r in rows)

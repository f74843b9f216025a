"""The CLI's "default" is the model in use and its threshold in force (issue 14, item 1): what the
app adopted is what `pneumoscope-cli predict default` applies, and a revert is one call."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from core.learning.bundle import load_bundle, open_bundle, remember_active_bundle
from core.paths import default_bundle_dir, user_models_dir
from core.trust.profile import SiteProfile, load_profile, put_in_force, revert


def test_default_means_the_model_in_use_and_shipped_means_shipped():
    copy = user_models_dir() / "mine"
    shutil.copytree(default_bundle_dir(), copy)
    assert open_bundle("default").path.resolve() == default_bundle_dir().resolve()
    remember_active_bundle(copy)
    assert open_bundle("default").path.resolve() == copy.resolve()
    assert open_bundle("shipped").path.resolve() == default_bundle_dir().resolve()


def test_threshold_adopted_in_the_app_is_what_cli_predict_default_uses(chest_xray_dir, tmp_path, capsys):
    from core.cli import main

    shipped = load_bundle(default_bundle_dir())
    own = shipped.threshold
    folder = tmp_path / "in"
    folder.mkdir()
    for f in sorted((chest_xray_dir / "test" / "NORMAL").glob("*.jpeg"))[:2]:
        shutil.copy(f, folder / f.name)
    put_in_force(SiteProfile(threshold=0.297, chooser="manual", reason="fewer missed cases", user="dr.lee",
                             bundle_sha256=shipped.sha256, kind="adopted"), shipped)
    assert json.loads((default_bundle_dir() / "card.json").read_text())["threshold"]["value"] == own

    def predicted() -> list[dict[str, str]]:
        out = tmp_path / "p.csv"
        assert main(["predict", "default", str(folder), "--csv", str(out), "--quiet"]) == 0
        return list(csv.DictReader(out.open()))

    rows = predicted()
    assert [float(r["threshold"]) for r in rows] == pytest.approx([0.297, 0.297])
    assert all("adopted threshold 0.297" in r["threshold_source"] for r in rows)
    assert revert(shipped)[2] and load_profile(shipped) is None
    assert [float(r["threshold"]) for r in predicted()] == pytest.approx([own, own])
    capsys.readouterr()


def test_profile_threshold_is_what_cli_evaluate_reports(capsys):
    from core.cli import main

    shipped = load_bundle(default_bundle_dir())
    put_in_force(SiteProfile(threshold=0.297, chooser="manual", reason="fewer missed cases", user="dr.lee",
                             bundle_sha256=shipped.sha256, kind="adopted"), shipped)
    assert main(["evaluate", "default", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Threshold: 0.2970" in out and "adopted threshold 0.297" in out
    assert "Path(" not in out and str(Path.home()) not in out

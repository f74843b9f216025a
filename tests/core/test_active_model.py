"""The active model and the adopted threshold persist, and are what the CLI's "default" means (issue 14, item 1)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from core import settings
from core.learning.bundle import BundleError, load_bundle, open_bundle
from core.learning.registry import bundle_label, list_bundles
from core.paths import default_bundle_dir, user_models_dir
from core.trust.adoption import adopt_threshold, has_own_threshold, revert_threshold
from core.trust.audit import AuditLog

REPO = Path(__file__).resolve().parents[2]


def test_settings_round_trip_and_a_damaged_file_is_ignored(tmp_path):
    assert settings.load_settings() == {} and settings.active_bundle_setting() is None
    settings.set_active_bundle(tmp_path)
    assert settings.active_bundle_setting() == tmp_path.resolve()
    assert json.loads(settings.settings_path().read_text())["active_bundle"] == str(tmp_path.resolve())
    settings.set_active_bundle(None)
    assert settings.active_bundle_setting() is None
    settings.settings_path().write_text("{not json")
    assert settings.load_settings() == {}  # never fatal
    settings.update_settings(x=1)
    assert settings.load_settings() == {"x": 1}
    assert not [p for p in settings.settings_path().parent.iterdir() if p.name.endswith(".tmp")]


def _copy_of_default(dest: Path) -> Path:
    shutil.copytree(default_bundle_dir(), dest, ignore=shutil.ignore_patterns(".*"))
    return dest


def test_default_means_the_active_model_and_shipped_means_shipped(tmp_path):
    copy = _copy_of_default(user_models_dir() / "mine")
    assert open_bundle("default").path.resolve() == default_bundle_dir().resolve()
    settings.set_active_bundle(copy)
    assert open_bundle("default").path.resolve() == copy.resolve()
    assert open_bundle(None).path.resolve() == copy.resolve()
    assert open_bundle("shipped").path.resolve() == default_bundle_dir().resolve()
    shutil.rmtree(copy)
    with pytest.raises(BundleError, match=r"no longer there.*shipped"):
        open_bundle("default")


def test_adopted_threshold_is_what_cli_predict_default_uses_and_revert_is_one_call(chest_xray_dir, tmp_path,
                                                                                    capsys):
    from core.cli import main

    shipped = load_bundle(default_bundle_dir())
    own = shipped.threshold
    folder = tmp_path / "in"
    folder.mkdir()
    for f in sorted((chest_xray_dir / "test" / "NORMAL").glob("*.jpeg"))[:2]:
        shutil.copy(f, folder / f.name)
    value, source = adopt_threshold(shipped, 0.297, "manual", "fewer missed cases", "dr.lee", n_cases=1047)
    assert value == pytest.approx(0.297) and "adopted threshold 0.297" in source and "dr.lee" in source
    assert json.loads((default_bundle_dir() / "card.json").read_text())["threshold"]["value"] == own
    assert has_own_threshold(shipped)

    def predicted() -> list[dict[str, str]]:
        out = tmp_path / "p.csv"
        assert main(["predict", "default", str(folder), "--csv", str(out), "--quiet"]) == 0
        return list(csv.DictReader(out.open()))

    rows = predicted()
    assert [float(r["threshold"]) for r in rows] == pytest.approx([0.297] * len(rows))
    assert all("adopted threshold" in r["threshold_source"] for r in rows)
    assert revert_threshold(shipped, user="dr.lee")[0] == pytest.approx(own)
    assert not has_own_threshold(shipped)
    assert [float(r["threshold"]) for r in predicted()] == pytest.approx([own, own])
    assert AuditLog().read(event="threshold_reverted")[-1]["previous"] == pytest.approx(0.297)
    capsys.readouterr()


def test_two_models_called_default_are_told_apart(tmp_path):
    copy = _copy_of_default(user_models_dir() / "default-adopted-20261202-101500")
    card = json.loads((copy / "card.json").read_text())
    card["threshold"]["value"] = 0.297
    card["created"] = "2026-12-02T10:15:00Z"
    (copy / "card.json").write_text(json.dumps(card))
    entries = list_bundles()
    named_default = [e for e in entries if e["name"] == "default"]
    assert len(named_default) == 2
    labels = [bundle_label(e, entries) for e in named_default]
    assert len(set(labels)) == 2
    shipped_label = next(label for e, label in zip(named_default, labels, strict=True) if e["shipped"])
    copy_label = next(label for e, label in zip(named_default, labels, strict=True) if not e["shipped"])
    assert "(shipped)" in shipped_label and "threshold 0.560" in shipped_label
    assert "(folder default-adopted-20261202-101500)" in copy_label and "created 2026-12-02" in copy_label
    assert "threshold 0.297" in copy_label

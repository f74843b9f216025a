"""`pneumoscope-cli site ...` and `evaluate --split site` with the shipped model on a real site folder."""

from __future__ import annotations

import json

import pytest

from core.cli import main
from core.learning.bundle import open_bundle
from core.trust.audit import default_log
from core.trust.profile import SiteProfile, active_threshold, load_profile, profile_path, save_profile
from tests.core.site_data import make_site


@pytest.fixture(scope="module")
def site(tmp_path_factory, chest_xray_dir, dicom_dir):
    return make_site(tmp_path_factory.mktemp("site") / "SITE", chest_xray_dir, dicom_dir, per_class=20)


def test_calibrate_show_evaluate_revert(site, tmp_path, capsys):
    bundle = open_bundle("default")
    shipped = bundle.threshold
    rc = main(["site", "calibrate", "default", str(site), "--holdout", "0.5", "--user", "dr-test", "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "Honest estimate on" in out and "never used to choose" in out and "not used: broken.png" in out
    profile = load_profile(bundle)
    assert profile is not None and profile.user == "dr-test" and profile.kind == "site"
    assert profile.counts["cases"] == profile.counts["choose"] + profile.counts["holdout"]
    assert profile.counts["unreadable"] == 1 and profile.figures["estimate"] == "held-out"
    held = profile.figures["holdout"]["at_threshold"]
    assert held["n"] == profile.counts["holdout"] and len(held["accuracy"]) == 3
    value, text = active_threshold(bundle)
    assert value == profile.threshold != shipped and text.startswith("site threshold")
    events = default_log().read(event="threshold_adopted")
    assert events and events[-1]["source"] == "site profile" and events[-1]["bundle_sha256"] == bundle.sha256

    assert main(["site", "show", "default"]) == 0
    assert "site threshold" in capsys.readouterr().out

    report = tmp_path / "site.pdf"
    rc = main(["evaluate", "default", str(site), "--split", "site", "--json", "--quiet", "--report", str(report)])
    out = capsys.readouterr().out
    assert rc == 0, out
    numbers = json.loads(out[out.index("\n{") + 1: out.rindex("}") + 1])
    assert numbers["split"] == "site" and numbers["n"] == profile.counts["cases"] and numbers["skipped"] == 1
    assert numbers["threshold"]["value"] == pytest.approx(profile.threshold)
    assert numbers["threshold"]["chosen_on"] == "site"
    assert "chosen on" in out and "of these same cases" in out  # says the figures are optimistic
    assert report.stat().st_size > 10_000

    assert main(["site", "revert", "default"]) == 0
    assert "validation threshold" in capsys.readouterr().out
    assert load_profile(bundle) is None and active_threshold(bundle)[0] == shipped


def test_holdout_zero_out_file_adopt_and_refusal(site, tmp_path, capsys):
    out_file = tmp_path / "ward.json"
    rc = main(["site", "calibrate", "default", str(site), "--holdout", "0", "--out", str(out_file), "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0 and "No honest estimate remains" in out and "Not in force yet" in out
    bundle = open_bundle("default")
    assert load_profile(bundle) is None  # --out alone does not put it in force
    assert main(["site", "adopt", "default", str(out_file)]) == 0
    assert load_profile(bundle).threshold == load_profile(out_file).threshold
    capsys.readouterr()

    other = tmp_path / "other.json"
    save_profile(SiteProfile(threshold=0.3, chooser="manual", reason="x", user="y", bundle_sha256="f" * 64), other)
    assert main(["site", "adopt", "default", str(other)]) == 1
    assert "another model" in capsys.readouterr().err
    with pytest.raises(Exception, match="never inside"):
        save_profile(load_profile(out_file), bundle.path / "p.json", bundle=bundle)
    assert not (bundle.path / "p.json").exists()
    assert profile_path(bundle).exists()
    assert main(["site", "revert", "default"]) == 0


def test_drift_command(site, capsys):
    rc = main(["site", "drift", "default", str(site), "--json", "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0
    numbers = json.loads(out[out.index("\n{") + 1:])
    assert numbers["n"] == 40 + 17  # 20 + 20 Kermany test images and the 17 labelled chest DICOMs
    assert 0.0 <= numbers["estimated_prevalence"] <= 1.0 and numbers["psi"] >= 0
    # the adult chest DICOMs are unlike the children the model was trained on: the gate flags some
    assert numbers["ood_flagged"] >= 3 and numbers["ood_level"] in ("watch", "drift")
    assert "PSI" in out and "unlike training" in out


def test_site_errors_are_plain(tmp_path, capsys):
    (tmp_path / "data" / "train").mkdir(parents=True)
    assert main(["site", "calibrate", "default", str(tmp_path / "data"), "--quiet"]) == 1
    assert "training data folder" in capsys.readouterr().err
    assert main(["evaluate", "default", "--split", "site"]) == 1
    assert "needs the SITE folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["site", "calibrate", "default", str(tmp_path), "--holdout", "1.5"])

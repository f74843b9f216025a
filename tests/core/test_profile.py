"""Site profiles: stored beside the bundle, refused for another model, reverted in one action."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from core.trust.profile import (
    ProfileError,
    SiteProfile,
    active_threshold,
    clear_profile,
    load_profile,
    profile_path,
    save_profile,
)

SHA_A = "a" * 64
SHA_B = "b" * 64


def _bundle(tmp_path: Path, sha: str = SHA_A) -> SimpleNamespace:
    folder = tmp_path / f"bundle-{sha[:4]}"
    folder.mkdir(exist_ok=True)
    card = {"threshold": {"value": 0.5597, "method": "sens:0.95", "chosen_on": "val"}}
    return SimpleNamespace(sha256=sha, threshold=0.5597, card=card, path=folder)


def _profile(sha: str = SHA_A, **kw) -> SiteProfile:
    base = dict(threshold=0.71, chooser="sens:0.95", reason="highest threshold with sens >= 0.95 on 90 cases",
                user="dr-test", created="2026-12-02T09:00:00+00:00", bundle_sha256=sha,
                site_set_sha256="c" * 64, counts={"cases": 180, "choose": 90, "holdout": 90},
                figures={"holdout": {"accuracy": [0.9, 0.85, 0.94]}}, holdout=0.5, name="ward 3")
    base.update(kw)
    return SiteProfile(**base)


def test_profile_lives_in_user_data_not_in_bundle(tmp_path):
    bundle = _bundle(tmp_path)
    path = profile_path(bundle)
    assert path.name == f"{SHA_A}.json"
    assert Path(os.environ["PNEUMOSCOPE_HOME"]) in path.parents
    assert bundle.path not in path.parents


def test_round_trip_and_active_threshold(tmp_path):
    bundle = _bundle(tmp_path)
    assert load_profile(bundle) is None
    value, text = active_threshold(bundle)
    assert value == pytest.approx(0.5597)
    assert text == "validation threshold 0.560 (sens:0.95)"

    written = save_profile(_profile(), bundle=bundle)
    assert written == profile_path(bundle)
    loaded = load_profile(bundle)
    assert loaded == _profile()
    value, text = active_threshold(bundle)
    assert value == pytest.approx(0.71)
    assert text == "site threshold 0.710, set 2026-12-02 on 90 cases"
    # no temporary files left behind by the atomic write
    assert sorted(p.name for p in written.parent.iterdir()) == [written.name]


def test_revert_is_one_action(tmp_path):
    bundle = _bundle(tmp_path)
    save_profile(_profile())
    assert active_threshold(bundle)[0] == pytest.approx(0.71)
    clear_profile(bundle)
    assert active_threshold(bundle)[0] == pytest.approx(0.5597)
    clear_profile(bundle)  # nothing to clear is fine


def test_profile_for_another_model_is_refused(tmp_path):
    bundle_a = _bundle(tmp_path, SHA_A)
    out = tmp_path / "elsewhere" / "site.json"
    save_profile(_profile(SHA_B), out)
    with pytest.raises(ProfileError, match="another model"):
        load_profile(out, bundle_a)
    with pytest.raises(ProfileError, match="another model"):
        save_profile(_profile(SHA_B), bundle=bundle_a)
    # a mismatched file planted at A's location is ignored by active_threshold, and it says so
    profile_path(bundle_a).write_text(json.dumps(_profile(SHA_B).to_dict()))
    value, text = active_threshold(bundle_a)
    assert value == pytest.approx(0.5597)
    assert "ignored" in text and "another model" in text


def test_never_inside_the_bundle(tmp_path):
    bundle = _bundle(tmp_path)
    with pytest.raises(ProfileError, match="never inside"):
        save_profile(_profile(), bundle.path / "profile.json", bundle=bundle)
    assert not (bundle.path / "profile.json").exists()


def test_damaged_and_invalid_profiles(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ProfileError, match="not valid JSON"):
        load_profile(bad)
    bad.write_text(json.dumps({"threshold": 0.5}))
    with pytest.raises(ProfileError, match="lacks"):
        load_profile(bad)
    with pytest.raises(ProfileError, match="no site profile"):
        load_profile(tmp_path / "missing.json")
    with pytest.raises(ProfileError, match="between 0 and 1"):
        _profile(threshold=1.5)
    with pytest.raises(ProfileError, match="kind"):
        _profile(kind="guess")
    with pytest.raises(ProfileError, match="sha256"):
        _profile(sha="short")


def test_adopted_kind_text(tmp_path):
    bundle = _bundle(tmp_path)
    save_profile(_profile(kind="adopted", chooser="manual", counts={}, figures={}, holdout=0.0))
    assert active_threshold(bundle)[1] == "adopted threshold 0.710, set 2026-12-02 by dr-test"

"""Fine-tuning the shipped model on site cases, and the parent/child comparison (paired DeLong)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.cli import main
from core.evaluation.curves import paired_auc_test, roc_auc
from core.learning.bundle import load_bundle, open_bundle
from core.learning.data import DatasetError
from core.site.finetune import site_splits
from core.site.sets import case_key, read_site_set
from tests.core.site_data import make_site


def test_paired_delong_matches_single_model_variance_and_detects_differences():
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.5).astype(int)
    a = y * 0.8 + rng.normal(0, 0.6, 300)
    b = y * 1.6 + rng.normal(0, 0.6, 300)
    t = paired_auc_test(y, a, b)
    assert t["auc_a"] == pytest.approx(roc_auc(y, a)[0]) and t["auc_b"] == pytest.approx(roc_auc(y, b)[0])
    assert t["difference"] > 0 and t["ci"][0] > 0 and t["p"] < 0.001
    same = paired_auc_test(y, a, a)
    assert same["difference"] == 0 and same["p"] == 1.0
    # an independent copy of model a with fresh noise: no real difference, a wide interval around 0
    c = y * 0.8 + rng.normal(0, 0.6, 300)
    t2 = paired_auc_test(y, a, c)
    assert t2["ci"][0] < 0 < t2["ci"][1] and t2["p"] > 0.01
    # pairing matters: b is a plus a bit, so the paired interval is much narrower than unpaired
    d = a + rng.normal(0, 0.05, 300)
    t3 = paired_auc_test(y, a, d)
    unpaired_se = np.hypot(*(np.diff(roc_auc(y, s)[1:])[0] / 2 / 1.96 for s in (a, d)))
    assert t3["se"] < unpaired_se / 3


def test_site_splits_keep_patients_apart(tmp_path, chest_xray_dir):
    site = read_site_set(make_site(tmp_path / "S", chest_xray_dir, per_class=30, broken=False))
    part = site_splits(site, 0.25, 0.25, seed=1)
    groups = {p: {c.group for c, q in zip(site.cases, part, strict=True) if q == p} for p in ("train", "val", "holdout")}
    assert not groups["train"] & groups["val"] and not groups["train"] & groups["holdout"]
    assert not groups["val"] & groups["holdout"]
    assert all((part == p).sum() > 5 for p in ("train", "val", "holdout"))
    with pytest.raises(DatasetError, match="at least 10%"):
        site_splits(site, 0.5, 0.45, seed=1)


@pytest.mark.slow
def test_finetune_then_compare_with_parent(tmp_path, chest_xray_dir, capsys):
    site_dir = make_site(tmp_path / "SITE", chest_xray_dir, per_class=24, start=40, broken=False)
    out = tmp_path / "child"
    rc = main(["train", str(site_dir), "--init-from", "default", "--out", str(out), "--epochs", "1",
               "--freeze", "2", "--holdout", "0.3", "--val-fraction", "0.3", "--batch-size", "8", "--seed", "3",
               "--quiet"])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert "fine-tuned from default" in printed
    child = load_bundle(out)
    parent = open_bundle("default")
    assert child.card["parent"]["sha256"] == parent.sha256 and child.card["parent"]["name"] == "default"
    assert child.sha256 != parent.sha256
    assert child.card["finetune"]["frozen_convolutions"] == 2 and child.card["finetune"]["lr"] == 1e-4
    site = read_site_set(site_dir)
    used = set(child.card["site"]["used_case_keys"])
    held = set(child.card["site"]["holdout_case_keys"])
    assert used and held and not used & held
    assert {case_key(n) for n in site.names} == used | held
    assert child.card["site"]["site_set_sha256"] == site.sha256
    assert child.has_scores("test") and len(child.scores("test")[0]) == len(held)
    assert set(child.scores("test")[2]) == held  # hashes, not the site's file names
    assert "IM-" not in (out / "card.json").read_text() and "person" not in (out / "card.json").read_text()
    # The child is for the site's patients, not the parent's: these JPEGs state no age or view.
    assert child.card["intended_population"] is None and parent.card["intended_population"] is not None
    assert child.card["intended_use"].startswith("not stated for this site")

    rc = main(["evaluate", str(out), str(site_dir), "--split", "site", "--json", "--quiet"])
    text = capsys.readouterr().out
    assert rc == 0, text
    numbers = json.loads(text[text.index("\n{") + 1: text.rindex("}") + 1])
    comp = numbers["parent_comparison"]
    assert numbers["n"] == comp["n"] == len(held)  # only cases the fine-tuning never used
    assert comp["excluded"] == len(used)
    assert comp["parent"]["threshold"] == pytest.approx(parent.threshold)
    d = comp["paired_delong"]
    assert d["difference"] == pytest.approx(d["auc_b"] - d["auc_a"]) and 0.0 <= d["p"] <= 1.0
    assert "paired DeLong" in text

    # the child refuses to be written over its parent
    rc = main(["train", str(site_dir), "--init-from", str(out), "--out", str(out), "--epochs", "1", "--quiet"])
    assert rc == 1 and "new folder" in capsys.readouterr().err

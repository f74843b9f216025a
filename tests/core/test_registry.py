"""core.learning.registry: the bundles a user can pick, and a bundle opened ready for its first case."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from core import paths
from core.learning.registry import list_bundles, load_and_warm
from core.trust.audit import AuditLog

REPO = Path(__file__).resolve().parents[2]


def test_list_bundles_has_the_shipped_model_and_user_models_newest_first(tmp_path):
    user = paths.user_models_dir()
    user.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "models" / "default", user / "mine")
    card = json.loads((user / "mine" / "card.json").read_text())
    card["name"] = "mine"
    (user / "mine" / "card.json").write_text(json.dumps(card))
    (user / "half").mkdir()  # no model file: not offered
    (user / "half" / "card.json").write_text("{}")
    found = list_bundles()
    assert [b["shipped"] for b in found] == [True, False]
    assert found[1]["name"] == "mine" and found[1]["path"] == str(user / "mine")
    shipped = json.loads((REPO / "models" / "default" / "card.json").read_text())
    assert found[0]["threshold"] == shipped["threshold"]["value"] and 0.9 < found[0]["val_auc"] <= 1.0
    assert found[0]["label"].endswith("[shipped]") and "threshold 0.560" in found[0]["label"]


def test_entries_with_the_same_name_are_told_apart():
    user = paths.user_models_dir()
    for folder in ("default-adopted-1", "default-adopted-2"):
        shutil.copytree(REPO / "models" / "default", user / folder)
    labels = [b["label"] for b in list_bundles()]
    assert len(set(labels)) == 3
    assert any("(default-adopted-1)" in t for t in labels) and any("(default-adopted-2)" in t for t in labels)


def test_load_and_warm_audits_the_load():
    messages: list[str] = []
    bundle = load_and_warm(REPO / "models" / "default", progress=messages.append)
    assert messages and "default" in messages[0]
    events = AuditLog().read(event="bundle_loaded")
    assert events and events[-1]["bundle_sha256"] == bundle.sha256

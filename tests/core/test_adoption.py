"""Which profile an adoption writes, and when the node computes a heat map, are decided once in
core (issue 20 item 5), not in the Threshold and Worklist screens."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from core.evaluation.choosers import choose_threshold
from core.node.config import NodeSettings
from core.site.calibrate import adoption_profile, calibrate_scores
from tests.core.test_site_calibrate import _site


def _bundle(tmp_path, y, s):
    return SimpleNamespace(sha256="d" * 64, threshold=0.5, path=tmp_path / "b", has_scores=lambda split: True,
                           scores=lambda split: (y, s, []),
                           card={"threshold": {"value": 0.5, "method": "youden", "chosen_on": "val"}})


def test_validation_adoption_names_the_chooser_only_when_its_threshold_is_kept(tmp_path):
    y, s, _ = _site()
    bundle = _bundle(tmp_path, y, s)
    choice = choose_threshold(y, s, "youden")
    chosen = adoption_profile(bundle, choice.threshold, "ward agreed", "dr a", choice=choice)
    assert chosen.chooser == choice.method and chosen.kind == "adopted" and chosen.figures["estimate"] == "validation"
    moved = adoption_profile(bundle, choice.threshold + 0.01, "nudged", "dr a", choice=choice)
    assert moved.chooser == "manual"
    assert adoption_profile(bundle, 0.3, "by hand", "dr a").chooser == "manual"


def test_site_adoption_is_honest_only_for_the_threshold_chosen_on_part_of_the_cases(tmp_path):
    y, s, g = _site()
    bundle = _bundle(tmp_path, y, s)
    site = SimpleNamespace(sha256="e" * 64, labels=y, groups=g,
                           counts=lambda: {"cases": len(y), "normal": int((y == 0).sum()), "pneumonia": int(y.sum())})
    cal = calibrate_scores(y, s, g, "sens:0.95", holdout=0.5)
    honest = adoption_profile(bundle, cal.threshold, "site meeting", "dr b", site=site, site_scores=s,
                              choice=cal.choice, cal=cal)
    assert honest.figures["estimate"] == "held-out" and honest.reason.startswith("site meeting (")
    by_hand = adoption_profile(bundle, cal.threshold + 0.02, "site meeting", "dr b", site=site, site_scores=s,
                               choice=cal.choice, cal=cal)
    assert by_hand.figures["estimate"] is None and by_hand.threshold == pytest.approx(cal.threshold + 0.02)


@pytest.mark.parametrize("kw, sends, heat", [
    ({}, False, False),
    ({"destination": "127.0.0.1:104:PACS"}, True, True),
    ({"web_destination": "http://127.0.0.1:8042/dicom-web"}, True, True),  # the Worklist screen missed this
    ({"destination": "127.0.0.1:104:PACS", "send_secondary_capture": False}, True, False),
    ({"destination": "127.0.0.1:104:PACS", "send_secondary_capture": False, "send_sr": False}, False, False),
])
def test_the_node_needs_a_heat_map_only_when_it_sends_one(kw, sends, heat):
    settings = NodeSettings(**kw)
    assert settings.sends_results() is sends and settings.needs_heat_map() is heat

"""Each piece of plumbing exists once in core (issue 20 item 6): the locked journal writer, the
all-or-nothing file writer, the labelled-file-list fingerprint, the fraction check and the /255
preprocessing. These tests fail when a copy creeps back in, and check the shared pieces work."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from core.errors import fraction_problem
from core.imaging.preprocess import batch_to_model_input, resize_uint8, to_model_input
from core.paths import append_line, atomic_open, atomic_path
from core.trust.integrity import file_list_sha256, rows_sha256

CORE = Path(__file__).resolve().parents[2] / "core"

# Where a rename by hand is the point, not a copy of atomic_open:
RENAMES_ALLOWED = {
    "paths.py": "atomic_path itself",
    "node/inbox.py": "received files go through .part-* names that recovery sweeps, and the folder is fsynced",
    "trust/integrity.py": "a whole bundle folder is swapped into place",
    "settings.py": "a damaged settings file is moved aside, not written",
}


def _sources() -> dict[str, str]:
    return {str(p.relative_to(CORE)): p.read_text(encoding="utf-8") for p in CORE.rglob("*.py")}


def test_only_core_paths_opens_journals_for_appending():
    users = sorted(name for name, text in _sources().items() if "O_APPEND" in text.replace("``O_APPEND``", ""))
    assert users == ["paths.py"], users


def test_temp_and_rename_writers_go_through_atomic_open():
    found = {name for name, text in _sources().items()
             if re.search(r"os\.(replace|rename)\(|mkstemp\(", text)}
    assert found <= set(RENAMES_ALLOWED), sorted(found - set(RENAMES_ALLOWED))


def test_preprocessing_divides_by_255_in_one_module():
    found = sorted(name for name, text in _sources().items() if re.search(r"/ np\.float32\(255(\.0)?\)", text))
    assert found == ["imaging/preprocess.py"], found


def test_file_lists_are_fingerprinted_in_one_place():
    callers = sorted(name for name, text in _sources().items() if "rows_sha256(" in text)
    assert callers == ["trust/integrity.py"], callers


def test_fraction_checks_share_one_rule_and_wording():
    import argparse

    from core.commands.site import _holdout
    from core.errors import PneumoscopeError
    from core.learning.data import scan_dataset
    from core.site.calibrate import split_for_calibration
    from core.trust.profile import SiteProfile

    for bad in (1.0, -0.1, float("nan"), "half"):
        assert "fraction must be" in fraction_problem(bad, "held-out")
        with pytest.raises(argparse.ArgumentTypeError, match=r"held-out fraction must be (a number )?at least 0"):
            _holdout(str(bad))
    assert fraction_problem(0.0, "held-out") is None and fraction_problem(0.0, "validation", zero_allowed=False)
    y = np.array([0, 1] * 10)
    with pytest.raises(PneumoscopeError, match="held-out fraction must be at least 0 and below 1"):
        split_for_calibration(y, [str(i) for i in range(20)], 1.0, 0)
    with pytest.raises(PneumoscopeError, match="held-out fraction must be at least 0 and below 1"):
        SiteProfile(threshold=0.5, chooser="manual", reason="x", user="u", bundle_sha256="a" * 64, holdout=1.5)
    with pytest.raises(PneumoscopeError, match="validation fraction must be above 0 and below 1"):
        scan_dataset(str(CORE), val_fraction=0.0)


def test_the_shared_pieces_work(tmp_path):
    journal = tmp_path / "j" / "log.jsonl"
    append_line(journal, b'{"a":1}\n')
    journal.write_bytes(journal.read_bytes() + b'{"torn')  # a writer died mid-line
    append_line(journal, b'{"b":2}\n')
    assert journal.read_bytes().splitlines() == [b'{"a":1}', b'{"torn', b'{"b":2}']

    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError), atomic_open(target) as fh:
        fh.write("half")
        raise RuntimeError("cut off")
    assert not target.exists() and os.listdir(tmp_path) == ["j"]
    with atomic_path(target) as tmp:
        tmp.write_text("whole")
    assert target.read_text() == "whole"

    a, b = tmp_path / "a.png", tmp_path / "b.png"
    a.write_bytes(b"12345")
    b.write_bytes(b"1")
    # Same value as the row format stored in cards and profiles before the helper existed.
    assert file_list_sha256([(("train", "NORMAL", "a.png"), a), (("x", "Y", "gone"), tmp_path / "gone")]) == \
        rows_sha256(["train\tNORMAL\ta.png\t5", "x\tY\tgone\t-1"])

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (40, 50), dtype=np.uint8) for _ in range(3)]
    cached = np.stack([resize_uint8(im, 16) for im in images])
    for channels in (1, 3):
        assert np.array_equal(batch_to_model_input(cached, channels),
                              np.stack([to_model_input(im, 16, channels) for im in images]))

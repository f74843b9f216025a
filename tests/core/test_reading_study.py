"""Readings file, reader-study session (killed with SIGKILL and resumed), case feedback and the CLI.

The site set is a few of the shared test images copied to tmp; the readings are SIMULATED (seeded
noise around the true label), test input only, not real readers.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core.site.reading_session import ReadingSession
from core.site.readings import Reading, ReadingsError, match_readings, read_readings, write_readings
from core.site.sets import read_site_set
from core.trust.feedback import (
    disagreement_watch,
    export_site_csv,
    make_record,
    read_feedback,
    record_feedback,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory, chest_xray_dir) -> Path:
    root = tmp_path_factory.mktemp("site")
    for cls in ("NORMAL", "PNEUMONIA"):
        (root / cls).mkdir()
        for f in sorted((chest_xray_dir / "test" / cls).iterdir())[:8]:
            shutil.copy(f, root / cls / f.name)
    return root


def simulated_readings(names: list[str], labels: np.ndarray, seed: int = 1) -> list[Reading]:
    """SIMULATED readers: ratings = 3 + skill * (label - 0.5) * 2 + noise (not real people)."""
    rng = np.random.default_rng(seed)
    out = []
    for reader, skill in (("sim_A", 1.8), ("sim_B", 1.0)):
        for n, y in zip(names, labels, strict=True):
            r = int(np.clip(np.round(3 + skill * (y - 0.5) * 2 + rng.normal(0, 1)), 1, 5))
            out.append(Reading(n, reader, "PNEUMONIA" if r >= 3 else "NORMAL", r, 5.0))
    return out


def test_readings_file_errors_are_plain(tmp_path, site_dir) -> None:
    site = read_site_set(site_dir)
    good = tmp_path / "r.csv"
    write_readings(simulated_readings(site.names, site.labels), good)
    assert len(read_readings(good)) == 2 * len(site)
    lines = good.read_text().splitlines()
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([lines[0], lines[1].replace(",5.0,", ",5.0,").rsplit(",", 3)[0] + ",7,,"]) + "\n")
    with pytest.raises(ReadingsError, match="outside 1-5"):
        read_readings(bad)
    dup = tmp_path / "dup.csv"
    dup.write_text("\n".join([lines[0], lines[1], lines[1]]) + "\n")
    with pytest.raises(ReadingsError, match="twice"):
        read_readings(dup)
    unknown = [Reading("NORMAL/nope.jpeg", "x", "NORMAL", 1)]
    with pytest.raises(ReadingsError, match="not in the set"):
        match_readings(unknown, site.names, site.labels)
    one = [Reading(n, "x", "NORMAL", 1) for n, y in zip(site.names, site.labels, strict=True) if y == 0]
    with pytest.raises(ReadingsError, match="NORMAL cases only"):
        match_readings(one, site.names, site.labels)
    # Both classes read, but every PNEUMONIA case "cannot read": still one class of calls.
    called_one = [Reading(n, "y", "NORMAL" if y == 0 else "CANNOT_READ", 1 if y == 0 else None)
                  for n, y in zip(site.names, site.labels, strict=True)]
    with pytest.raises(ReadingsError, match="NORMAL cases only"):
        match_readings(called_one, site.names, site.labels)
    none = [Reading(n, "z", "CANNOT_READ") for n in site.names]
    with pytest.raises(ReadingsError, match="gave no call"):
        match_readings(none, site.names, site.labels)


def test_readings_from_several_files_and_duplicates_across_them(tmp_path, site_dir) -> None:
    from core.site.readings import read_readings_files

    site = read_site_set(site_dir)
    rows = simulated_readings(site.names, site.labels)
    folder = tmp_path / "many"
    write_readings([r for r in rows if r.reader == "sim_A"], folder / "a.csv")
    write_readings([r for r in rows if r.reader == "sim_B"], folder / "b.csv")
    both = read_readings_files([folder])
    assert sorted(both, key=lambda r: (r.reader, r.file)) == sorted(rows, key=lambda r: (r.reader, r.file))
    write_readings([r for r in rows if r.reader == "sim_A"][:2], tmp_path / "again.csv")
    with pytest.raises(ReadingsError, match="in both"):
        read_readings_files([folder / "a.csv", tmp_path / "again.csv"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReadingsError, match="holds no readings files"):
        read_readings_files([tmp_path / "empty"])


def test_session_names_never_share_a_file_and_nothing_is_dropped(tmp_path, site_dir) -> None:
    a = ReadingSession(site_dir, "Dr Lee", seed=3, folder=tmp_path)
    a.answer("PNEUMONIA", 4, 1.0)
    a.answer("NORMAL", 2, 1.0)
    b = ReadingSession(site_dir, "Dr_Lee", seed=3, folder=tmp_path)  # same safe name, other reader
    assert b.path != a.path and b.readings == []
    b.answer("NORMAL", 1, 1.0)
    again = ReadingSession(site_dir, "Dr Lee", seed=3, folder=tmp_path)
    assert [r.call for r in again.readings] == ["PNEUMONIA", "NORMAL"]
    # The same set by another spelling of its path resumes the same session.
    rel = os.path.relpath(site_dir, Path.cwd())
    assert ReadingSession(rel, "Dr Lee", seed=3, folder=tmp_path).path == a.path
    # An answer on a case since removed from the set moves to the side file, out of the session
    # file (whose rows must all match the set), and is never lost.
    ghost = Reading("NORMAL/removed_since.jpeg", "Dr Lee", "NORMAL", 2, 1.0)
    write_readings([*again.readings, ghost], again.path)
    more = ReadingSession(site_dir, "Dr Lee", seed=3, folder=tmp_path)
    more.answer("PNEUMONIA", 5, 1.0)
    assert ghost not in read_readings(more.path) and len(more.readings) == 3
    assert read_readings(more.path.with_suffix(".removed")) == [ghost]
    # A session file of the old naming (both spellings in one file) moves over without loss.
    import hashlib

    from core.site.readings import safe_name

    key = hashlib.sha256(str(site_dir).encode()).hexdigest()[:10]
    legacy = tmp_path / "old" / f"{safe_name('Dr Old')}-{key}-seed1.csv"
    site = read_site_set(site_dir)
    write_readings([Reading(site.names[0], "Dr Old", "NORMAL", 1), Reading(site.names[0], "Dr_Old", "PNEUMONIA", 5)],
                   legacy)
    moved = ReadingSession(site_dir, "Dr Old", seed=1, folder=tmp_path / "old")
    assert [r.reader for r in moved.readings] == ["Dr Old"] and moved.path.exists()
    assert [r.reader for r in read_readings(legacy)] == ["Dr_Old"]  # the other spelling's row stays
    other = ReadingSession(site_dir, "Dr_Old", seed=1, folder=tmp_path / "old")
    assert [r.call for r in other.readings] == ["PNEUMONIA"] and not legacy.exists()


_CHILD = """
import sys, time
from core.site.reading_session import ReadingSession
s = ReadingSession(sys.argv[1], "dr_kill", seed=5, folder=sys.argv[2])
while s.current() is not None:
    s.answer("PNEUMONIA", 4, 1.0)
    print(s.position()[0], flush=True)
    time.sleep(0.05)
"""


def test_session_survives_sigkill_and_resumes_in_order(tmp_path, site_dir) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(site_dir), str(tmp_path)], stdout=subprocess.PIPE,
                             text=True, env=env)
    seen = 0
    assert child.stdout is not None
    while seen < 5:
        seen = int(child.stdout.readline())
    os.kill(child.pid, signal.SIGKILL)
    child.wait(10)
    assert child.returncode == -signal.SIGKILL
    s = ReadingSession(site_dir, "dr_kill", seed=5, folder=tmp_path)
    done, total = s.position()
    assert seen <= done < total  # nothing answered is lost, and the kill came before the end
    answered = [r.file for r in s.readings]
    assert answered == [s.site.names[i] for i in s.order[:done]]  # same seeded order on resume
    again = ReadingSession(site_dir, "dr_kill", seed=6, folder=tmp_path / "other")
    assert again.order != s.order


def test_aided_phase_records_changed_calls(tmp_path, site_dir) -> None:
    from core.site.readings import changed_calls

    s = ReadingSession(site_dir, "dr_aid", seed=1, aided=True, folder=tmp_path)
    while s.phase == "unaided":
        s.answer("NORMAL", 2, 3.0)
    assert s.phase == "aided"
    first = s.current()
    assert first is not None and s.previous_call(first) == "NORMAL"
    s.answer("PNEUMONIA", 4, 2.0)
    while s.current() is not None:
        s.answer("NORMAL", 2)
    assert s.phase is None
    assert changed_calls(s.readings, "dr_aid") == [(first.name, "NORMAL", "PNEUMONIA")]


def test_feedback_log_watch_and_export_to_site_csv(tmp_path, site_dir) -> None:
    site = read_site_set(site_dir)
    log = tmp_path / "fb.jsonl"
    for i, c in enumerate(site.cases):
        call = "PNEUMONIA" if i % 3 else "NORMAL"
        truth = "PNEUMONIA" if c.label else "NORMAL"
        record_feedback(make_record(file=c.path, verdict="agree" if call == truth else "disagree", call=call,
                                    score=0.7, threshold=0.56, model_sha256="ab" * 32, user="tester"), log)
    with open(log, "ab") as fh:
        fh.write(b'{"torn')  # a torn last line is skipped
    recs = read_feedback(log)
    assert len(recs) == len(site) and recs[0]["user"] == "tester"
    assert set(recs[0]) >= {"time", "file", "verdict", "true_label", "model_sha256", "threshold", "score", "call"}
    out, n, left = export_site_csv(tmp_path / "exp" / "site.csv", log)
    back = read_site_set(out)
    assert n == len(site) and left == 0 and not back.unreadable
    assert sorted(back.labels.tolist()) == sorted(site.labels.tolist())
    k = sum(r["verdict"] == "disagree" for r in recs)
    calm = disagreement_watch(recs, expected=0.6, window=len(recs))
    loud = disagreement_watch(recs, expected=0.05, window=len(recs))
    assert calm["disagree"] == k and not calm["warn"]
    assert loud["warn"] and "STOP" in loud["text"]
    with pytest.raises(Exception, match="contradicts"):
        make_record(file="x", verdict="agree", call="NORMAL", true_label="PNEUMONIA", score=0.1, threshold=0.5,
                    model_sha256=None)


def test_cli_readers_report_json_and_feedback_export_calibrates(tmp_path, site_dir, capsys) -> None:
    from core.cli import main

    site = read_site_set(site_dir)
    readings = tmp_path / "readings.csv"
    write_readings(simulated_readings(site.names, site.labels), readings)
    pdf = tmp_path / "r.pdf"
    t0 = time.time()
    assert main(["readers", "report", str(readings), "--set", str(site_dir), "--json", "--report", str(pdf)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data["readers"]) == {"sim_A", "sim_B"}
    a = data["readers"]["sim_A"]
    assert a["n"] == len(site) and len(a["sensitivity"]) == 3 and a["sensitivity"][1] <= a["sensitivity"][0]
    assert a["auc"] is not None and a["kappa_vs_model"] is not None
    assert data["model"]["n"] == len(site) and data["pooled"]["readers"] == 2
    assert pdf.read_bytes()[:4] == b"%PDF"
    bad = tmp_path / "bad.csv"
    bad.write_text("file,reader,call,rating\nNORMAL/ghost.jpeg,x,NORMAL,2\n")
    assert main(["readers", "report", str(bad), "--set", str(site_dir), "--json"]) == 1
    assert "not in the set" in capsys.readouterr().err
    log = tmp_path / "fb.jsonl"
    for c in site.cases:
        record_feedback(make_record(file=c.path, verdict="disagree", call="NORMAL" if c.label else "PNEUMONIA",
                                    score=0.5, threshold=0.5, model_sha256=None), log)
    out = tmp_path / "site.csv"
    assert main(["feedback", "export", "--out", str(out), "--log", str(log)]) == 0
    capsys.readouterr()
    assert main(["site", "calibrate", "default", str(out), "--out", str(tmp_path / "p.json"), "--quiet"]) == 0
    assert "Honest estimate" in capsys.readouterr().out
    assert time.time() - t0 < 120


def test_reader_chooser_target_comes_from_the_choosing_part_only() -> None:
    from core.site.calibrate import calibrate_scores, split_for_calibration

    rng = np.random.default_rng(4)
    n = 200
    y = (np.arange(n) % 2).astype(np.int8)
    s = np.clip(0.5 + (y - 0.5) * 0.6 + rng.normal(0, 0.2, n), 0, 1)
    groups = [f"p{i}" for i in range(n)]
    mask = split_for_calibration(y, groups, 0.5, 7)
    calls = y.astype(np.int64).copy()
    negatives = np.flatnonzero(mask & (y == 0))
    calls[negatives[: len(negatives) // 4]] = 1  # reader specificity about 0.75 on the choosing part
    calls[np.flatnonzero(~mask & (y == 0))] = 1  # and 0 on the held-out part
    want = 1 - (len(negatives) // 4) / len(negatives)
    cal = calibrate_scores(y, s, groups, "reader-spec:dr_x", 0.5, 7, reader_calls=calls)
    assert f"dr_x's specificity {want:.3f}" in cal.choice.reason
    spec_choose = ((s[mask & (y == 0)] < cal.threshold).mean())
    assert spec_choose >= want - 1e-9
    held = cal.figures["reader"]
    assert held["n"] == int((~mask).sum()) and held["specificity"][0] == 0.0
    # The held-out calls never move the threshold: the same choosing calls give the same threshold.
    other = calls.copy()
    other[~mask] = y[~mask]
    assert calibrate_scores(y, s, groups, "reader-spec:dr_x", 0.5, 7, reader_calls=other).threshold == cal.threshold
    with pytest.raises(Exception, match="needs the reader's readings"):
        calibrate_scores(y, s, groups, "reader-sens:dr_x", 0.5, 7)


def test_cli_reader_chooser_profile_unreadable_case_and_kept_readings(tmp_path, site_dir, capsys) -> None:
    from core.cli import main
    from core.trust.profile import load_profile

    site_root = tmp_path / "site_broken"
    shutil.copytree(site_dir, site_root)
    (site_root / "NORMAL" / "broken.jpeg").write_bytes(b"not a jpeg at all")
    site = read_site_set(site_root)
    rows = simulated_readings([n for n in site.names if "broken" not in n],
                              np.array([c.label for c in site.cases if "broken" not in c.name]))
    rows.append(Reading("NORMAL/broken.jpeg", "sim_A", "CANNOT_READ", None, 2.0))
    readings = tmp_path / "readings.csv"
    write_readings(rows, readings)
    assert main(["readers", "report", str(readings), "--set", str(site_root), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert any("could not read are left out" in n for n in data["notes"])
    assert data["readers"]["sim_A"]["n"] == len(site) - 1
    prof = tmp_path / "reader_profile.json"
    assert main(["site", "calibrate", "default", str(site_root), "--choose", "reader-spec:sim_A", "--readings",
                 str(readings), "--holdout", "0.5", "--out", str(prof), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "matches reader sim_A's specificity" in out and "Reader sim_A on the same held-out cases" in out
    p = load_profile(prof)
    assert p.chooser == "reader-spec:sim_A" and p.figures["reader"]["n"] > 0
    assert main(["site", "calibrate", "default", str(site_root), "--choose", "reader-spec:sim_A", "--quiet"]) == 1
    assert "--readings" in capsys.readouterr().err
    # Kept readings: import, list, export (merged, one reader).
    assert main(["readers", "import", str(readings), "--name", "study1"]) == 0
    assert main(["readers", "list", "--json"]) == 0
    capsys.readouterr()
    assert main(["readers", "list", "--json"]) == 0
    kept = json.loads(capsys.readouterr().out)
    assert [e["readers"] for e in kept if e["kind"] == "import"] == [["sim_A", "sim_B"]]
    out_csv = tmp_path / "only_b.csv"
    assert main(["readers", "export", "--out", str(out_csv), "--reader", "sim_B"]) == 0
    assert {r.reader for r in read_readings(out_csv)} == {"sim_B"}
    other = tmp_path / "other.csv"
    write_readings(rows[:3], other)
    assert main(["readers", "import", str(other), "--name", "study1"]) == 1
    assert "already kept" in capsys.readouterr().err


def test_stop_rule_counts_cases_not_records_and_skips_no_call() -> None:
    recs = []
    for i in range(10):
        recs.append(make_record(file=f"/x/{i}.dcm", verdict="agree", call="NORMAL", score=0.1, threshold=0.5,
                                model_sha256=None, sop_instance_uid=f"1.2.{i}"))
    # Case 0 reassessed five times as a disagreement: it is one case, its latest verdict counts.
    recs += [make_record(file="/x/0.dcm", verdict="disagree", call="NORMAL", score=0.1, threshold=0.5,
                         model_sha256=None, sop_instance_uid="1.2.0") for _ in range(5)]
    # A case the model gave no call on (OOD): nothing to agree with.
    recs.append(make_record(file="/x/ood.dcm", verdict="disagree", call=None, score=0.9, threshold=0.5,
                            model_sha256=None))
    w = disagreement_watch(recs, expected=0.1, window=50)
    assert w["n"] == 10 and w["disagree"] == 1


def test_a_csv_rows_listed_twice_keeps_its_readings(tmp_path, site_dir) -> None:
    """A site CSV that lists a case twice (the second row refused as a duplicate) keeps the
    readings of that case: only images the model could not read are left out."""
    from core.site.reader_study import unscored_readings

    site = read_site_set(site_dir)
    first = site.cases[0]
    csv_path = tmp_path / "site.csv"
    lines = ["file,label"] + [f"{c.path},{'PNEUMONIA' if c.label else 'NORMAL'}" for c in site.cases]
    lines.append(lines[1])  # listed twice
    csv_path.write_text("\n".join(lines) + "\n")
    again = read_site_set(csv_path)
    assert again.unreadable and len(again) == len(site)
    name = again.cases[0].name
    keep, notes = unscored_readings(again, [Reading(name, "x", "NORMAL", 1)])
    assert keep and not notes, (first.name, again.unreadable)

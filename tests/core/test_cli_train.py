import csv

import pytest

from core.cli import main
from tests.core.test_data import write_xray_folder


def test_help_texts_explain_the_commands(capsys):
    for command in ("train", "tune", "predict"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "PNEUMONIA" in text and "threshold" in text and "--max-trials" in text and "--csv" in text


def test_cli_train_then_predict(tmp_path, capsys):
    data = write_xray_folder(tmp_path / "data", n_per_class=24, size=40, splits=("train",))
    new = tmp_path / "new"
    write_xray_folder(new, n_per_class=3, size=40, splits=("cases",), seed=5)
    (new / "cases" / "NORMAL" / "broken.png").write_bytes(b"nope")
    out = tmp_path / "model"
    rc = main(["train", str(data), "--out", str(out), "--epochs", "1", "--image-size", "32",
               "--hparam", "width=0.5", "--seed", "2", "--batch-size", "16", "--threshold", "maxf1"])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert "saved model bundle" in printed and "epoch 1/1" in printed
    assert (out / "model.keras").exists()

    csv_path = tmp_path / "scores.csv"
    assert main(["predict", str(out), str(new), "--csv", str(csv_path), "--quiet"]) == 0
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == 7
    assert list(rows[0]) == ["file", "score", "label", "threshold", "threshold_source", "ood_distance",
                             "ood_flag", "chest_view_warning", "population_warning", "no_call_reason", "error",
                             "warnings"]
    broken = [r for r in rows if r["file"].endswith("broken.png")]
    assert broken and broken[0]["error"] and broken[0]["score"] == ""
    for r in rows:
        if r["no_call_reason"]:
            assert r["score"] == "not applicable" and r["label"] == ""
        elif not r["error"]:
            expected = "PNEUMONIA" if float(r["score"]) >= float(r["threshold"]) else "NORMAL"
            assert r["label"] == expected


def test_cli_errors_are_plain(tmp_path, capsys):
    rc = main(["train", str(tmp_path / "missing"), "--out", str(tmp_path / "m"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("error:") and "Traceback" not in err
    rc = main(["train", str(tmp_path), "--out", str(tmp_path / "m"), "--hparam", "nope=1"])
    assert rc == 1 and "nope" in capsys.readouterr().err
    rc = main(["predict", str(tmp_path / "nobundle"), str(tmp_path)])
    assert rc == 1 and "no model bundle" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_progress_falls_back_to_lines_when_not_a_tty():
    import io

    from core.commands._progress import TerminalProgress, format_eta
    from core.learning.data import Progress

    buf = io.StringIO()
    bar = TerminalProgress(buf, tty=False)
    bar(Progress("scanning", message="listing"))
    for b in range(1, 9):
        bar(Progress("training", epoch=1, epochs=2, batch=b, batches=8, eta_s=70, logs={"loss": 0.5}))
    bar(Progress("epoch_end", epoch=1, epochs=2, message="epoch 1/2: loss 0.5"))
    lines = buf.getvalue().splitlines()
    assert "\r" not in buf.getvalue()
    assert lines[0] == "listing" and lines[-1] == "epoch 1/2: loss 0.5"
    assert 2 <= len(lines) - 2 <= 4 and "ETA 1m10s" in lines[1]
    assert format_eta(3725) == "1h02m" and format_eta(None) == "--"

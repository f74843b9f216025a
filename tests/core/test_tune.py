from pathlib import Path

import pytest

from core.learning.bundle import load_bundle
from core.learning.data import Cancelled
from core.learning.train import TrainConfig
from core.learning.tune import format_table, tune
from tests.core.test_data import write_xray_folder


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_xray_folder(tmp_path_factory.mktemp("xr"), n_per_class=16, size=32, splits=("train",))


def _config(data: Path, out: Path) -> TrainConfig:
    return TrainConfig(str(data), str(out), model="pneumonet", epochs=1, batch_size=16, seed=3,
                       hparams={"image_size": 24})


@pytest.mark.slow  # two trials: ~40 s on a loaded 2-core machine
def test_tune_runs_trials_and_saves_the_best_with_its_table(data, tmp_path):
    events = []
    result = tune(_config(data, tmp_path / "tuned"), max_trials=2, objective="val_auc",
                  progress=events.append, tuner_dir=str(tmp_path))
    assert len(result.table) == 2
    scores = [row["score"] for row in result.table]
    assert scores == sorted(scores, reverse=True)
    card = load_bundle(result.best_bundle).card
    assert card["tuning"]["objective"] == "val_auc" and len(card["tuning"]["table"]) == 2
    for key, value in result.best_hparams.items():
        assert card["model"]["hparams"][key] == value
    assert result.table[0]["hparams"] == result.best_hparams
    assert "val_auc" in format_table(result.table, "val_auc")
    assert [e for e in events if e.stage == "trial"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tuned"]  # tuner folder removed


def test_tune_cancel(data, tmp_path):
    seen = []

    def progress(event):
        seen.append(event.stage)

    with pytest.raises(Cancelled):  # stops at the first training batch of the first trial
        tune(_config(data, tmp_path / "tuned"), max_trials=3, progress=progress,
             should_stop=lambda: "training" in seen, tuner_dir=str(tmp_path))
    assert seen.count("trial") == 1
    assert list(tmp_path.iterdir()) == []

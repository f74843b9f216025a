from pathlib import Path

import numpy as np
import pytest

from core.learning.bundle import load_bundle
from core.learning.finish import score_arrays
from core.learning.train import Cancelled, TrainConfig, train
from tests.core.test_data import write_xray_folder


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    root = write_xray_folder(tmp_path_factory.mktemp("xr"), n_per_class=40, size=48, splits=("train", "test"))
    (root / "train" / "NORMAL" / "IM-9999-0001.jpeg").write_bytes(b"\xff\xd8 truncated jpeg")
    return root


def _config(data: Path, out: Path, **kw) -> TrainConfig:
    base = {"epochs": 3, "batch_size": 16, "hparams": {"image_size": 32, "width": 0.5}, "seed": 1,
            "work_dir": str(out.parent / "work")}
    base.update(kw)
    (out.parent / "work").mkdir(exist_ok=True)
    return TrainConfig(str(data), str(out), **base)


def test_train_end_to_end_writes_a_trustworthy_bundle(tiny_data, tmp_path):
    events = []
    out = train(_config(tiny_data, tmp_path / "bundle"), progress=events.append)
    bundle = load_bundle(out)
    card = bundle.card
    assert card["data"]["val_source"] == "made-from-train"
    assert card["data"]["counts"]["test"] == {"NORMAL": 40, "PNEUMONIA": 40}
    assert [Path(s["file"]).name for s in card["data"]["skipped"]] == ["IM-9999-0001.jpeg"]
    training = card["training"]
    assert training["epochs_run"] == len(training["history"]["val_auc"]) >= 1
    assert 1 <= training["best_epoch"] <= training["epochs_run"]
    assert training["images_per_s"] > 0 and training["class_weight"] is not None
    assert training["augmentation"]["hflip"] is False
    assert card["threshold"]["chosen_on"] == "val" and 0 <= card["threshold"]["value"] <= 1
    assert set(card["metrics"]) == {"val", "test"}
    assert card["metrics"]["val"]["auc"][0] > 0.8  # the synthetic difference is easy to learn
    assert card["model"]["params"] == bundle.model.count_params()
    assert "research use only" in card["intended_use"]
    assert "ood_error" not in card  # the OOD gate (core.trust.ood), when present, was fitted without error
    # Saved val scores are exactly what the bundle computes from the files: one preprocessing.
    y, s, files = bundle.scores("val")
    assert len(y) == card["metrics"]["val"]["n"] == len(files)
    # Stored names are relative to the data folder (no absolute paths leave the trainer's machine).
    assert all(not Path(f).is_absolute() and f.startswith("train/") for f in files)
    again = bundle.score_paths([tiny_data / f for f in files])
    np.testing.assert_allclose(again, s, atol=1e-5)
    assert {e.stage for e in events} >= {"scanning", "loading", "training", "epoch_end", "scoring", "saving"}
    training_events = [e for e in events if e.stage == "training"]
    assert training_events[-1].eta_s is not None and "loss" in training_events[-1].logs
    assert list((tmp_path / "work").iterdir()) == []


def test_cancel_stops_within_a_batch_and_writes_nothing(tiny_data, tmp_path):
    batches = []

    def progress(event):
        if event.stage == "training":
            batches.append(event.batch)

    with pytest.raises(Cancelled):
        train(_config(tiny_data, tmp_path / "bundle", epochs=5), progress=progress,
              should_stop=lambda: len(batches) >= 2)
    assert len(batches) <= 3
    assert not (tmp_path / "bundle").exists()
    assert list((tmp_path / "work").iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]


def test_score_arrays_matches_model_call():
    from core.imaging.preprocess import to_model_input
    from core.learning.models import build_model

    model = build_model("notebook", image_size=24, f1=8, f2=8, units=8)
    x = np.random.default_rng(0).integers(0, 256, (3, 24, 24), dtype=np.uint8)
    want = np.asarray(model(np.stack([to_model_input(i, 24, 3) for i in x]), training=False)).ravel()
    np.testing.assert_allclose(score_arrays(model, x, 3), want, atol=1e-6)

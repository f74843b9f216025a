import json
import os
import stat
from pathlib import Path

import keras
import numpy as np
import pytest

from core.imaging.preprocess import to_model_input
from core.learning.bundle import (
    BundleError,
    ModelBundle,
    adopt_threshold,
    file_sha256,
    load_bundle,
    save_bundle,
    update_card,
)
from core.learning.models import build_model, input_shape


def _card(model_name="pneumonet", **hp):
    return {"model": {"name": model_name, "hparams": hp, "input_shape": list(input_shape(model_name, **hp))},
            "threshold": {"value": 0.4, "method": "youden", "reason": "test", "chosen_on": "val"},
            "calibration": None}


def _scores():
    return {"val_y_true": np.array([0, 1, 1], dtype=np.int8),
            "val_y_score": np.array([0.1, 0.8, 0.6], dtype=np.float32),
            "val_files": np.array(["a.png", "b.png", "c.png"])}


@pytest.fixture(scope="module")
def tiny_model():
    return build_model("pneumonet", image_size=32, width=0.5)


def test_save_load_roundtrip_and_scoring(tmp_path, tiny_model, ):
    dest = save_bundle(tmp_path / "b", tiny_model, _card(image_size=32, width=0.5), _scores())
    bundle = load_bundle(dest)
    assert bundle.threshold == 0.4
    assert bundle.input_shape == (32, 32, 1)
    assert bundle.sha256 == file_sha256(dest / "model.keras")
    y, s, files = bundle.scores("val")
    assert s.dtype == np.float32 and s[1] == pytest.approx(0.8)
    assert list(y) == [0, 1, 1] and files == ["a.png", "b.png", "c.png"]
    assert bundle.has_scores("val") and not bundle.has_scores("test")
    pixels = np.random.default_rng(0).integers(0, 256, (50, 70), dtype=np.uint8)
    want = float(np.asarray(tiny_model(to_model_input(pixels, 32)[None], training=False))[0, 0])
    assert bundle.score_pixels(pixels) == pytest.approx(want, abs=1e-5)
    assert bundle.score_batch([pixels, pixels]).shape == (2,)
    good = tmp_path / "x.png"
    from PIL import Image

    Image.fromarray(pixels).save(good)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"garbage")
    errors = {}
    out = bundle.score_paths([good, bad], errors=errors)
    assert out[0] == pytest.approx(want, abs=1e-5) and np.isnan(out[1])
    assert str(bad) in errors and errors[str(bad)]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_tampered_model_is_refused(tmp_path, tiny_model):
    dest = save_bundle(tmp_path / "b", tiny_model, _card(image_size=32, width=0.5), _scores())
    with open(dest / "model.keras", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(BundleError, match="does not match its card"):
        load_bundle(dest)


def test_missing_files_are_refused(tmp_path, tiny_model):
    with pytest.raises(BundleError, match="no model bundle"):
        load_bundle(tmp_path / "nothing")
    dest = save_bundle(tmp_path / "b", tiny_model, _card(image_size=32, width=0.5), _scores())
    (dest / "card.json").unlink()
    with pytest.raises(BundleError, match=r"card\.json is missing"):
        load_bundle(dest)


def test_lambda_model_is_refused(tmp_path):
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    folder = tmp_path / "evil"
    folder.mkdir()
    model.save(folder / "model.keras")
    card = _card(image_size=8) | {"model_sha256": file_sha256(folder / "model.keras")}
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(BundleError, match="Lambda"):
        load_bundle(folder)
    with pytest.raises(BundleError, match="Lambda"):
        save_bundle(tmp_path / "evil2", model, _card(image_size=8), {})
    assert not (tmp_path / "evil2").exists()


def test_existing_bundle_survives_a_failing_save(tmp_path, tiny_model):
    dest = save_bundle(tmp_path / "b", tiny_model, _card(image_size=32, width=0.5), _scores())
    before = file_sha256(dest / "model.keras")

    class Boom(Exception):
        pass

    bad_scores = _scores()
    with pytest.raises(TypeError):  # the card cannot be written as JSON, after model.keras was
        save_bundle(dest, tiny_model, {"model": _card()["model"], "threshold": {"value": Boom}}, bad_scores)
    bundle = load_bundle(dest)
    assert file_sha256(dest / "model.keras") == before and bundle.threshold == 0.4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


def test_replacing_a_bundle_swaps_it(tmp_path, tiny_model):
    dest = save_bundle(tmp_path / "b", tiny_model, _card(image_size=32, width=0.5), _scores())
    other = build_model("pneumonet", image_size=32, width=0.5)
    save_bundle(dest, other, _card(image_size=32, width=0.5) | {"name": "second"}, _scores())
    assert load_bundle(dest).card["name"] == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


def test_interrupted_two_rename_swap_is_recovered(tmp_path, tiny_model):
    dest = save_bundle(tmp_path / "b", tiny_model, _card(image_size=32, width=0.5), _scores())
    os.rename(dest, tmp_path / ".b.old-deadbeef")  # as if killed between the two renames
    assert load_bundle(dest).threshold == 0.4


def test_adopt_threshold_keeps_history_and_update_card(tmp_path, tiny_model):
    dest = save_bundle(tmp_path / "b", tiny_model, _card(image_size=32, width=0.5), _scores())
    bundle = adopt_threshold(load_bundle(dest), 0.7, "site calibration on 200 local cases", "dr_x")
    assert bundle.threshold == 0.7
    reread = load_bundle(dest)
    t = reread.card["threshold"]
    assert t["adopted_by"] == "dr_x" and t["adopted_at"] and t["method"] == "manual"
    assert t["history"][0]["value"] == 0.4
    adopt_threshold(reread, 0.6, "again", "dr_y")
    assert [h["value"] for h in load_bundle(dest).card["threshold"]["history"]] == [0.4, 0.7]
    with pytest.raises(BundleError):
        adopt_threshold(reread, 1.5, "bad", "dr_y")
    card = update_card(dest, {"calibration": None, "note": "hello"})
    assert card["note"] == "hello" and load_bundle(dest).card["note"] == "hello"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_adopt_threshold_on_read_only_folder_is_plain_error(tmp_path, tiny_model):
    dest = save_bundle(tmp_path / "b", tiny_model, _card(image_size=32, width=0.5), _scores())
    bundle = load_bundle(dest)
    os.chmod(dest, stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(BundleError, match="read-only"):
            adopt_threshold(bundle, 0.5, "x", "y")
    finally:
        os.chmod(dest, stat.S_IRWXU)
    assert load_bundle(dest).threshold == 0.4


def test_default_bundle_path_is_none_or_loadable():
    from core.learning.bundle import default_bundle_path

    path = default_bundle_path()
    assert path is None or (isinstance(path, Path) and (path / "model.keras").exists())


def test_bundle_dataclass_defaults():
    b = ModelBundle(path=Path("/nowhere"), card={"model": {"input_shape": [8, 8, 3]}})
    assert b.threshold == 0.5 and b.input_shape == (8, 8, 3)
    assert list(b.calibrate([0.2, 0.9])) == pytest.approx([0.2, 0.9])


def test_leftovers_of_killed_saves_are_cleared_by_the_next_save(tmp_path, tiny_model):
    dest = tmp_path / "b"
    save_bundle(dest, tiny_model, _card(), _scores())
    stale = [tmp_path / ".b.new-deadbeef", tmp_path / ".b.old-cafebabe"]
    for folder in stale:  # what kill -9 in the middle of a save leaves behind
        folder.mkdir()
        (folder / "model.keras").write_bytes(b"partial")
    other = tmp_path / ".other.new-12345678"  # another bundle's temp folder is not ours to touch
    other.mkdir()
    save_bundle(dest, tiny_model, _card(), _scores())
    assert not any(f.exists() for f in stale)
    assert other.exists()
    assert load_bundle(dest).card["model_sha256"]

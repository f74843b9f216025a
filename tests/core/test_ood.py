"""Out-of-distribution gate: maths on synthetic features, plumbing on a tiny model, and (slow) a
small real training run showing that non-chest images are flagged and few chest X-rays are."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from core.trust import ood
from core.trust.ood import OODError, bundle_ood_score, fit_ood, is_ood, ledoit_wolf, ood_score


def _gauss(n, d, seed, shift=0.0, scale=None):
    rng = np.random.default_rng(seed)
    scale = np.linspace(0.2, 3.0, d) if scale is None else scale
    return rng.normal(size=(n, d)) * scale + shift


def test_cutoff_from_validation_and_far_points_flagged():
    d = 16
    tr, va, new = _gauss(2000, d, 0), _gauss(400, d, 1), _gauss(2000, d, 2)
    spec = fit_ood(tr, va, quantile=0.975)
    assert spec["n_train"] == 2000 and spec["n_val"] == 400 and spec["dim"] == d
    assert abs(spec["val_flag_rate"] - 0.025) < 0.01
    assert spec["val_flag_rate_heldout"] < 0.06
    assert np.mean(is_ood(spec, new)) < 0.05  # fresh in-distribution points: about 2.5% flagged
    # Shifted along the LOW-variance axis: small in Euclidean terms, far in Mahalanobis terms.
    far = _gauss(200, d, 3)
    far[:, 0] += 2.0  # 10 sd on a 0.2-sd axis
    assert np.mean(is_ood(spec, far)) > 0.95
    same_euclid = _gauss(200, d, 3)
    same_euclid[:, -1] += 2.0  # < 1 sd on the 3.0-sd axis
    assert np.mean(is_ood(spec, same_euclid)) < 0.2
    assert json.loads(json.dumps(spec)) == spec  # goes into card.json as is


def test_score_is_ratio_to_cutoff_and_monotone_in_distance():
    tr, va = _gauss(500, 4, 0, scale=np.ones(4)), _gauss(200, 4, 1, scale=np.ones(4))
    spec = fit_ood(tr, va)
    pts = np.zeros((4, 4))
    pts[:, 0] = [0.0, 1.0, 3.0, 10.0]
    s = ood_score(spec, pts)
    assert np.all(np.diff(s) > 0)
    flagged = is_ood(spec, pts)
    assert np.array_equal(flagged, s > 1.0)
    assert not flagged[0] and flagged[-1]
    assert ood_score(spec, pts[0]).shape == (1,)  # a single feature vector works too


def test_ledoit_wolf_matches_sklearn_and_handles_dead_features():
    sk = pytest.importorskip("sklearn.covariance")
    x = _gauss(60, 30, 4)
    x[:, 5] = 0.0  # a dead ReLU channel: singular sample covariance
    xc = x - x.mean(axis=0)
    cov, shrink = ledoit_wolf(xc)
    ref = sk.LedoitWolf(assume_centered=True).fit(xc)
    assert shrink == pytest.approx(ref.shrinkage_, rel=1e-6)
    assert np.allclose(cov, ref.covariance_)
    assert np.all(np.linalg.eigvalsh(cov) > 0)
    spec = fit_ood(x, _gauss(30, 30, 5))
    assert np.isfinite(ood_score(spec, x)).all()


def test_class_conditional_means():
    a, b = _gauss(300, 3, 0, shift=-5, scale=np.ones(3)), _gauss(300, 3, 1, shift=5, scale=np.ones(3))
    tr = np.concatenate([a, b])
    y = np.r_[np.zeros(300), np.ones(300)]
    va = np.concatenate([_gauss(100, 3, 2, shift=-5, scale=np.ones(3)), _gauss(100, 3, 3, shift=5, scale=np.ones(3))])
    plain, cond = fit_ood(tr, va), fit_ood(tr, va, train_labels=y)
    middle = np.zeros((1, 3))  # between the two clusters: nothing like either class
    assert cond["class_conditional"] and len(cond["means"]) == 2
    assert ood_score(cond, middle)[0] > 1.0 > ood_score(plain, middle)[0]


def test_bad_inputs_give_plain_errors():
    tr = _gauss(50, 4, 0)
    with pytest.raises(OODError):
        fit_ood(tr, _gauss(50, 5, 1))
    with pytest.raises(OODError):
        fit_ood(tr[:5], tr)
    with pytest.raises(OODError):
        fit_ood(np.full((50, 4), np.nan), tr)
    spec = fit_ood(tr, _gauss(50, 4, 1))
    with pytest.raises(OODError, match="wrong model"):
        ood_score(spec, np.zeros((1, 7)))


keras = pytest.importorskip("keras")


def tiny_gap_cnn(size=32, channels=1, dropout=True):
    keras.utils.set_random_seed(0)
    inp = keras.Input((size, size, channels))
    x = keras.layers.Conv2D(8, 3, activation="relu", padding="same")(inp)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(12, 3, activation="relu", padding="same")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pooled")(x)
    if dropout:
        x = keras.layers.Dropout(0.5)(x)
    return keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(x))


def test_feature_model_is_the_input_of_the_final_dense():
    model = tiny_gap_cnn()
    fm = ood.feature_model(model)
    assert fm.outputs[0].shape[-1] == 12
    assert ood.feature_model(model) is fm  # cached
    assert ood.feature_layer_name(model) == ood.feature_layer_name(tiny_gap_cnn(dropout=False)) == "pooled"
    x = np.random.default_rng(0).random((3, 32, 32, 1), dtype=np.float32)
    batch = ood.extract_features(model, x)
    one = ood.extract_features(model, x[:1])
    assert batch.shape == (3, 12) and np.allclose(batch[:1], one, atol=1e-5)
    with pytest.raises(OODError):
        ood.feature_model(keras.Sequential([keras.Input((4,)), keras.layers.Activation("relu")]))


def test_fit_for_model_and_bundle_score():
    from core.imaging.preprocess import to_model_input

    rng = np.random.default_rng(0)
    size = 32
    # "Training" images: smooth vertical gradients with noise; the odd one out: a checkerboard.
    ramp = np.linspace(40, 200, size)[:, None] * np.ones((1, size))

    def smooth(n):
        return np.clip(ramp[None] + rng.normal(0, 10, (n, size, size)), 0, 255).astype(np.uint8)

    model = tiny_gap_cnn(size, channels=3)
    spec = ood.fit_ood_for_model(model, smooth(200), smooth(100), channels=3, max_train=150)
    assert spec["n_train"] == 150 and spec["n_val"] == 100
    bundle = SimpleNamespace(model=model, card={"ood": spec}, preprocess=lambda p: to_model_input(p, size, 3))
    in_dist = smooth(1)[0]
    score, flagged = bundle_ood_score(bundle, in_dist)
    assert score < 1.0 and not flagged
    checker = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)
    score, flagged = bundle_ood_score(bundle, checker)
    assert score > 1.0 and flagged
    scores = ood.batch_ood_scores(bundle, [in_dist, checker])
    assert scores.shape == (2,) and scores[1] > 1.0 > scores[0]
    assert "Unusual image" in ood.describe(scores[1])
    for card in ({}, {"ood": None}, {"ood": {"error": "TypeError: ..."}}):
        assert bundle_ood_score(SimpleNamespace(model=model, card=card), in_dist) is None


# --- real data ------------------------------------------------------------------------------------

NON_CHEST = {
    "pdd_RG3_J2KR.dcm": "extremity CR",
    "pljd_RG2_JPLY_fixed.dcm": "hip CR",
    "pdd_MR2_J2KI.dcm": "MR",
    "pdd_OBXXXX1A_rle.dcm": "palette colour",
    "pyd_SC_rgb_jpeg_dcmtk.dcm": "colour JPEG",
    "pdd_HTJ2K_08_RGB.dcm": "colour HTJ2K",
}


@pytest.mark.slow
def test_gate_on_a_small_trained_model_flags_non_chest_images(chest_xray_dir, dicom_dir):
    from core.imaging import load_image
    from core.imaging.preprocess import resize_uint8
    from core.learning.data import class_weights, load_arrays, scan_dataset
    from core.learning.models import build_model

    size = 64
    ds = scan_dataset(chest_xray_dir)
    rng = np.random.default_rng(0)
    tr = [ds.splits["train"][i] for i in rng.choice(len(ds.splits["train"]), 600, replace=False)]
    va = [ds.splits["val"][i] for i in rng.choice(len(ds.splits["val"]), 300, replace=False)]
    x_tr, y_tr, _, _ = load_arrays(tr, size)
    x_va, _, _, _ = load_arrays(va, size)
    keras.utils.set_random_seed(0)
    model = build_model("pneumonet", image_size=size, width=0.5)
    model.fit(x_tr[..., None] / 255.0, y_tr, epochs=8, batch_size=32, class_weight=class_weights(y_tr), verbose=0)

    # The cut-off comes from half of validation; the other half measures the flag rate honestly.
    cal, held = x_va[:150], x_va[150:]
    spec = ood.fit_ood_for_model(model, x_tr, cal, channels=1)
    held_rate = float(np.mean(is_ood(spec, ood.features_from_uint8(model, held, 1))))

    def scores(paths):
        x = np.stack([resize_uint8(load_image(p).pixels, size) for p in paths])
        return ood_score(spec, ood.features_from_uint8(model, x, 1))

    edge = scores([dicom_dir / "edge" / name for name in NON_CHEST])
    chest_files = sorted(p for p in (dicom_dir / "chest").iterdir() if p.suffix == ".dcm")
    chest = scores(chest_files)
    summary = {name: round(float(s), 2) for name, s in zip(NON_CHEST.values(), edge, strict=True)}
    print(f"\nheld-out val flag rate {held_rate:.3f}; spec val rates {spec['val_flag_rate']:.3f} /"
          f" held-out {spec['val_flag_rate_heldout']:.3f}")
    print("non-chest scores (>1 flagged):", summary)
    print("adult/other chest DICOMs flagged:", int(np.sum(chest > 1)), "of", len(chest),
          {p.name[:13]: round(float(s), 2) for p, s in zip(chest_files, chest, strict=True)})
    assert held_rate < 0.05
    assert np.all(edge > 1.0), summary


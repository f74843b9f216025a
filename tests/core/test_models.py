import numpy as np
import pytest

from core.learning.models import (
    MODEL_NAMES,
    PerImageStandardize,
    build_from_hp,
    build_model,
    input_shape,
    notebook_param_count,
)


@pytest.mark.parametrize(("size", "f1", "f2", "units"), [(150, 64, 64, 128), (64, 32, 96, 64), (40, 16, 8, 32)])
def test_notebook_param_count_matches_formula(size, f1, f2, units):
    model = build_model("notebook", image_size=size, f1=f1, f2=f2, units=units)
    assert model.count_params() == notebook_param_count(size, f1, f2, units)
    assert model.input_shape == (None, size, size, 3)


def test_notebook_default_is_the_seed_architecture():
    model = build_model("notebook")
    assert model.count_params() == notebook_param_count(150, 64, 64, 128)
    assert 10_600_000 < model.count_params() < 10_700_000  # DESIGN: 10.7M
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["InputLayer", "Conv2D", "MaxPooling2D", "BatchNormalization", "Conv2D", "MaxPooling2D",
                     "BatchNormalization", "Flatten", "Dense", "Dropout", "Dense"]


def test_pneumonet_is_small_grey_and_compiled_with_named_metrics():
    model = build_model("pneumonet")
    assert model.input_shape == (None, 128, 128, 1)
    assert model.count_params() < 1_000_000
    small = build_model("pneumonet", image_size=32, width=0.5)
    x = np.random.default_rng(0).random((4, 32, 32, 1)).astype("float32")
    logs = small.evaluate(x, np.array([0, 1, 0, 1]), verbose=0, return_dict=True)
    assert {"loss", "accuracy", "precision", "recall", "auc"} <= set(logs)
    assert input_shape("pneumonet", image_size=64) == (64, 64, 1)
    assert input_shape("notebook") == (150, 150, 3)


def test_unknown_model_and_hparam_are_refused():
    with pytest.raises(ValueError):
        build_model("resnet")
    with pytest.raises(ValueError):
        build_model("pneumonet", widht=2)


def test_per_image_standardize_removes_brightness_and_contrast():
    rng = np.random.default_rng(0)
    x = rng.random((2, 16, 16, 1)).astype("float32")
    layer = PerImageStandardize()
    a = np.asarray(layer(x))
    b = np.asarray(layer(0.5 * x + 0.3))
    np.testing.assert_allclose(a, b, atol=1e-4)
    np.testing.assert_allclose(a.mean(axis=(1, 2, 3)), 0, atol=1e-5)


def test_focal_loss_model_builds():
    model = build_model("pneumonet", image_size=32, width=0.5, loss="focal", focal_gamma=2.0)
    assert "focal" in model.loss.name


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_build_from_hp_draws_from_space(name):
    import keras_tuner as kt

    hp = kt.HyperParameters()
    model = build_from_hp(name, hp, image_size=48)
    assert model.input_shape[1] == 48
    assert "lr" in hp.values
    if name == "notebook":
        assert hp.values["f1"] in (32, 64, 96, 128)

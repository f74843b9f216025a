import numpy as np
import pytest

from core.imaging.preprocess import resize_uint8, to_model_input
from core.learning.pipeline import make_tf_dataset


def _image(h=50, w=70, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(h, w), dtype=np.uint8)


def test_to_model_input_shape_range_and_channels():
    img = _image()
    one = to_model_input(img, 32)
    assert one.shape == (32, 32, 1) and one.dtype == np.float32
    assert one.min() >= 0.0 and one.max() <= 1.0
    three = to_model_input(img, 32, channels=3)
    assert three.shape == (32, 32, 3)
    np.testing.assert_array_equal(three[..., 0], three[..., 2])
    np.testing.assert_array_equal(three[..., :1], one)


def test_squash_not_crop():
    # Left half black, right half white on a wide image: a squash keeps both halves.
    img = np.zeros((40, 160), dtype=np.uint8)
    img[:, 80:] = 255
    out = resize_uint8(img, 20)
    assert out[:, :8].max() == 0 and out[:, 12:].min() == 255


def test_rejects_bad_channels():
    with pytest.raises(ValueError):
        to_model_input(_image(), 16, channels=2)


def test_cached_uint8_through_tf_equals_to_model_input():
    imgs = [_image(40 + i, 60 - i, seed=i) for i in range(5)]
    cache = np.stack([resize_uint8(im, 24) for im in imgs])
    for channels in (1, 3):
        ds = make_tf_dataset(cache, np.zeros(5), batch_size=2, channels=channels, augment=None, shuffle=False)
        got = np.concatenate([xb.numpy() for xb, _ in ds])
        want = np.stack([to_model_input(im, 24, channels) for im in imgs])
        np.testing.assert_array_equal(got, want)

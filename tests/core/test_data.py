from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.learning.data import (
    Cancelled,
    DatasetError,
    class_weights,
    load_arrays,
    patient_group,
    scan_dataset,
)
from core.learning.pipeline import AugmentConfig, make_tf_dataset


def write_xray_folder(root: Path, n_per_class: int = 40, size: int = 64, splits=("train",),
                      seed: int = 0, images_per_patient: int = 2) -> Path:
    """Synthetic two-class set with a learnable difference (PNEUMONIA has a bright blob).

    File names follow Kermany: personN_bacteria_K.jpeg for PNEUMONIA, IM-NNNN-000K.png for NORMAL.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    for split in splits:
        for cls in ("NORMAL", "PNEUMONIA"):
            folder = root / split / cls if split else root / cls
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n_per_class):
                base = rng.normal(90, 25, size=(size, size))
                if cls == "PNEUMONIA":
                    cy, cx = rng.integers(size // 4, 3 * size // 4, size=2)
                    base += 110 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (size / 6) ** 2))
                img = np.clip(base, 0, 255).astype(np.uint8)
                patient = i // images_per_patient
                if cls == "PNEUMONIA":
                    name = f"person{patient}_bacteria_{i}.jpeg"
                else:
                    name = f"IM-{patient:04d}-{i:04d}.png"
                Image.fromarray(img).save(folder / name)
    return root


@pytest.mark.parametrize(
    ("name", "group"),
    [
        ("person123_bacteria_45.jpeg", "person123"),
        ("person1_virus_6.jpeg", "person1"),
        ("IM-0011-0001-0002.jpeg", "IM-0011"),
        ("IM-0011-0001.jpeg", "IM-0011"),
        ("NORMAL2-IM-0011-0001.jpeg", "NORMAL2-IM-0011"),
        ("scan_42.png", "scan_42"),
    ],
)
def test_patient_group(name, group):
    assert patient_group(name) == group


def test_scan_makes_grouped_stratified_val(tmp_path):
    write_xray_folder(tmp_path, n_per_class=40, splits=("train", "test"))
    ds = scan_dataset(tmp_path, val_fraction=0.25, seed=3)
    assert ds.val_source == "made-from-train"
    counts = ds.counts()
    assert counts["val"] == {"NORMAL": 10, "PNEUMONIA": 10}
    assert counts["train"] == {"NORMAL": 30, "PNEUMONIA": 30}
    assert counts["test"] == {"NORMAL": 40, "PNEUMONIA": 40}
    train_groups = {s.group for s in ds.splits["train"]}
    val_groups = {s.group for s in ds.splits["val"]}
    assert not train_groups & val_groups
    # Same seed, same split; another seed, another split.
    again = scan_dataset(tmp_path, val_fraction=0.25, seed=3)
    assert [s.path for s in again.splits["val"]] == [s.path for s in ds.splits["val"]]
    other = scan_dataset(tmp_path, val_fraction=0.25, seed=4)
    assert [s.path for s in other.splits["val"]] != [s.path for s in ds.splits["val"]]
    assert ds.manifest_hash() == again.manifest_hash()


def test_flat_layout_has_no_test_and_says_so(tmp_path):
    write_xray_folder(tmp_path, n_per_class=20, splits=("",))
    ds = scan_dataset(tmp_path)
    assert set(ds.splits) == {"train", "val"}
    assert ds.notes and "no test" in ds.notes[0]


def test_case_insensitive_and_validation_folder_kept_when_big_enough(tmp_path):
    write_xray_folder(tmp_path, n_per_class=10, splits=("Train", "Validation"))
    ds = scan_dataset(tmp_path, min_val=5)
    assert ds.val_source == "folder"
    assert ds.counts()["val"] == {"NORMAL": 10, "PNEUMONIA": 10}


def test_tiny_val_is_pooled(tmp_path):
    write_xray_folder(tmp_path, n_per_class=20, splits=("train",))
    write_xray_folder(tmp_path / "x", n_per_class=2, splits=("val",), seed=1)
    (tmp_path / "x" / "val").rename(tmp_path / "val")
    ds = scan_dataset(tmp_path, min_val=100)
    assert ds.val_source == "made-from-train"
    assert sum(len(v) for v in ds.splits.values()) == 44 - 4 + 4  # pooled, nothing lost


def test_manifest_hash_changes_with_data(tmp_path):
    write_xray_folder(tmp_path, n_per_class=6)
    h1 = scan_dataset(tmp_path, min_val=1).manifest_hash()
    (tmp_path / "train" / "NORMAL" / "extra.png").write_bytes(b"x")
    assert scan_dataset(tmp_path, min_val=1).manifest_hash() != h1


@pytest.mark.parametrize("case", ["missing", "no_classes", "empty_class", "no_positive"])
def test_dataset_errors_are_plain(tmp_path, case):
    if case == "missing":
        root = tmp_path / "nope"
    elif case == "no_classes":
        root = tmp_path
        (root / "train").mkdir()
    elif case == "empty_class":
        root = write_xray_folder(tmp_path, n_per_class=4)
        for f in (root / "train" / "NORMAL").iterdir():
            f.unlink()
    else:
        root = tmp_path
        (root / "train" / "CATS").mkdir(parents=True)
        (root / "train" / "DOGS").mkdir(parents=True)
    with pytest.raises(DatasetError) as err:
        scan_dataset(root)
    assert str(err.value) and "Traceback" not in str(err.value)


def test_real_listing_never_splits_a_patient(chest_xray_dir):
    ds = scan_dataset(chest_xray_dir)
    counts = ds.counts()
    n_val = sum(counts["val"].values())
    n_train = sum(counts["train"].values())
    assert n_train + n_val == 5232
    assert 1000 <= n_val <= 1100
    assert not {s.group for s in ds.splits["train"]} & {s.group for s in ds.splits["val"]}
    # stratified: the class ratio is kept within a point
    assert abs(counts["val"]["NORMAL"] / n_val - 1349 / 5232) < 0.01


def test_load_arrays_skips_corrupt_and_reports(tmp_path):
    root = write_xray_folder(tmp_path, n_per_class=4, size=40)
    (root / "train" / "NORMAL" / "broken.png").write_bytes(b"not an image at all")
    ds = scan_dataset(root, min_val=1, val_fraction=0.5)
    samples = ds.splits["train"] + ds.splits["val"]
    events = []
    x, y, paths, skipped = load_arrays(samples, 16, progress=events.append)
    assert x.shape == (8, 16, 16) and x.dtype == np.uint8
    assert len(y) == len(paths) == 8
    assert [Path(p).name for p, _ in skipped] == ["broken.png"] and skipped[0][1]
    assert events and events[-1].batch == events[-1].batches == 9


def test_load_arrays_cancel(tmp_path):
    root = write_xray_folder(tmp_path, n_per_class=20, size=32)
    ds = scan_dataset(root, min_val=1)
    with pytest.raises(Cancelled):
        load_arrays(ds.splits["train"], 16, should_stop=lambda: True)


def test_class_weights():
    w = class_weights(np.array([0] * 10 + [1] * 30))
    assert w == {0: 2.0, 1: 40 / 60}


def test_augmentation_changes_images_but_keeps_range():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(8, 32, 32), dtype=np.uint8)
    plain = next(iter(make_tf_dataset(x, np.zeros(8), 8, 1, None, False, 0)))[0].numpy()
    aug_cfg = AugmentConfig(brightness=0.2, contrast=0.2)
    aug = next(iter(make_tf_dataset(x, np.zeros(8), 8, 1, aug_cfg, False, 0)))[0].numpy()
    assert aug.shape == plain.shape == (8, 32, 32, 1)
    assert not np.allclose(aug, plain)
    assert aug.min() >= 0.0 and aug.max() <= 1.0


def test_augmentation_geometry_identity_and_flip():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, size=(16, 20, 20), dtype=np.uint8)
    plain = x.astype(np.float32) / 255.0
    still = AugmentConfig(rotation_deg=0, shift=0, zoom=0)
    out = next(iter(make_tf_dataset(x, None, 16, 1, still, False, 0))).numpy()[..., 0]
    np.testing.assert_allclose(out, plain, atol=1e-6)
    flip = AugmentConfig(rotation_deg=0, shift=0, zoom=0, hflip=True)
    out = next(iter(make_tf_dataset(x, None, 16, 1, flip, False, 0))).numpy()[..., 0]
    mirrored = [np.allclose(o, p[:, ::-1], atol=1e-6) for o, p in zip(out, plain, strict=True)]
    same = [np.allclose(o, p, atol=1e-6) for o, p in zip(out, plain, strict=True)]
    assert all(m or s for m, s in zip(mirrored, same, strict=True))
    assert any(mirrored) and any(same)

"""Folder datasets: scan, patient-grouped validation split, decode to arrays, tf.data pipeline.

Layouts understood (folder and class names are matched case-insensitively)::

    DATA/train/{NORMAL,PNEUMONIA}/  [DATA/val|validation/...]  [DATA/test/...]
    DATA/{NORMAL,PNEUMONIA}/         (no splits: validation is made, and there is no test split)

When the validation folder is missing or tiny (the Kaggle copy ships 16 images), it is pooled
with train and a new validation split is drawn from that pool: stratified by class and grouped
by patient, so that no child has images on both sides (that leak makes validation look easier
than it is and would bias every choice made on it).

TensorFlow is imported lazily so that scanning a folder stays cheap (GUI, CLI help).
"""

from __future__ import annotations

import os
import random
import re
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import PneumoscopeError
from core.imaging.preprocess import resize_uint8
from core.progress import Cancelled, Progress, ProgressFn, StopFn
from core.trust.integrity import rows_sha256

SPLIT_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val",
                 "validation": "val", "test": "test", "testing": "test"}
_FALLBACK_SUFFIXES = frozenset({".dcm", ".dicom", ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})


class DatasetError(PneumoscopeError):
    """The data folder cannot be used as it is (message says what to fix)."""




@dataclass(frozen=True)
class Sample:
    path: str
    label: int
    class_name: str
    group: str
    split: str


_PERSON = re.compile(r"^(person\d+)_", re.IGNORECASE)
_KERMANY_NORMAL = re.compile(r"^((?:NORMAL\d*-)?IM-\d+)(?:-|$)", re.IGNORECASE)


def patient_group(filename: str) -> str:
    """Group key that keeps one child's images together.

    ``person123_bacteria_45.jpeg`` -> ``person123``; Kermany NORMAL names share a prefix per
    patient (``IM-0011-0001-0002`` -> ``IM-0011``, ``NORMAL2-IM-0011-0001`` ->
    ``NORMAL2-IM-0011``); anything else is its own group (the file stem).
    """
    stem = Path(filename).stem
    match = _PERSON.match(stem)
    if match:
        return match.group(1).lower()
    match = _KERMANY_NORMAL.match(stem)
    if match:
        return match.group(1).upper()
    return stem


def is_image_file(path: Path) -> bool:
    """Cheap name-based check used for folder listings (core.imaging decides when present)."""
    if path.name.startswith("."):
        return False
    try:
        from core.imaging import is_candidate_file
    except ImportError:
        return path.suffix.lower() in _FALLBACK_SUFFIXES
    return bool(is_candidate_file(path))


@dataclass
class FolderDataset:
    root: str
    classes: list[str]
    positive_class: str
    splits: dict[str, list[Sample]]
    val_source: str
    split_seed: int
    val_fraction: float
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for split, samples in self.splits.items():
            per = dict.fromkeys(self.classes, 0)
            for s in samples:
                per[s.class_name] += 1
            out[split] = per
        return out

    def manifest_hash(self) -> str:
        """sha256 over sorted (split, class, file name, size): changes when the data changes."""
        rows = []
        for split, samples in self.splits.items():
            for s in samples:
                try:
                    size = os.stat(s.path).st_size
                except OSError:
                    size = -1
                rows.append(f"{split}\t{s.class_name}\t{Path(s.path).name}\t{size}")
        return rows_sha256(rows)


def _class_dirs(folder: Path) -> dict[str, Path]:
    return {p.name: p for p in sorted(folder.iterdir()) if p.is_dir() and not p.name.startswith(".")}


def _list_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_image_file(p))


def scan_dataset(
    root: str | os.PathLike,
    positive_class: str = "PNEUMONIA",
    val_fraction: float = 0.2,
    seed: int = 1337,
    min_val: int = 100,
) -> FolderDataset:
    """List a folder dataset and fix its train/val[/test] splits (see the module docstring)."""
    root_path = Path(root)
    if not root_path.is_dir():
        raise DatasetError(f"the data folder {root_path} does not exist or is not a folder")
    if not 0.0 < val_fraction < 1.0:
        raise DatasetError(f"the validation fraction must be between 0 and 1, not {val_fraction}")
    notes: list[str] = []
    split_dirs: dict[str, Path] = {}
    for name, path in _class_dirs(root_path).items():
        key = SPLIT_ALIASES.get(name.lower())
        if key:
            if key in split_dirs:
                raise DatasetError(f"{root_path} has two folders for the {key} split ({split_dirs[key].name}, {name})")
            split_dirs[key] = path
    if split_dirs and "train" not in split_dirs:
        raise DatasetError(f"{root_path} has {', '.join(sorted(split_dirs))} folders but no train folder")
    if not split_dirs:
        split_dirs = {"train": root_path}
        notes.append("no train/val/test folders: validation was drawn from all images and there is no test split")

    # Class names: union over splits, matched case-insensitively, spelled as first seen.
    spelled: dict[str, str] = {}
    per_split: dict[str, dict[str, Path]] = {}
    for split, folder in split_dirs.items():
        dirs = _class_dirs(folder)
        per_split[split] = {}
        for name, path in dirs.items():
            spelled.setdefault(name.lower(), name)
            per_split[split][name.lower()] = path
    if not spelled:
        raise DatasetError(f"{split_dirs['train']} has no class folders (expected e.g. NORMAL/ and PNEUMONIA/)")
    pos = positive_class.lower()
    if pos not in spelled:
        raise DatasetError(f"no {positive_class} folder found in {split_dirs['train']} "
                           f"(found: {', '.join(sorted(spelled.values()))})")
    if len(spelled) != 2:
        raise DatasetError(f"expected exactly two class folders ({positive_class} and one other), found: "
                           f"{', '.join(sorted(spelled.values()))}")
    classes = sorted(spelled.values(), key=lambda c: (c.lower() == pos, c.lower()))  # negative first

    splits: dict[str, list[Sample]] = {}
    for split, dirs in per_split.items():
        samples: list[Sample] = []
        for key in spelled:
            folder = dirs.get(key)
            files = _list_files(folder) if folder else []
            if not files and split == "train":
                raise DatasetError(f"the {spelled[key]} class has no images in {split_dirs[split]}")
            label = 1 if key == pos else 0
            samples += [Sample(str(f), label, spelled[key], patient_group(f.name), split) for f in files]
        splits[split] = samples

    val_source = "folder"
    val = splits.get("val", [])
    if len(val) < min_val:
        pool = splits.pop("train") + [Sample(s.path, s.label, s.class_name, s.group, "train") for s in val]
        splits.pop("val", None)
        if val:
            notes.append(f"the val folder has only {len(val)} images (< {min_val}): it was pooled with train "
                         "and a patient-grouped validation split was drawn")
        train, val = _grouped_split(pool, val_fraction, seed)
        splits["train"], splits["val"] = train, val
        val_source = "made-from-train"
    for split in ("train", "val"):
        labels = {s.label for s in splits[split]}
        if labels != {0, 1}:
            raise DatasetError(f"the {split} split does not contain both classes; add more images")
    ordered = {k: splits[k] for k in ("train", "val", "test") if k in splits}
    return FolderDataset(str(root_path), classes, spelled[pos], ordered, val_source, seed, val_fraction, notes)


def grouped_mask(labels: Sequence[int], groups: Sequence[str], fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of about ``fraction`` of the cases, whole patient groups at a time, stratified by
    each group's majority class and seeded (the training split and the site splits share it)."""
    members: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    by_class: dict[int, list[str]] = defaultdict(list)
    for g in sorted(members):
        labs = [int(labels[i]) for i in members[g]]
        by_class[round(sum(labs) / len(labs))].append(g)
    rng = random.Random(seed)
    chosen: set[str] = set()
    for label in sorted(by_class):
        names = by_class[label]
        rng.shuffle(names)
        target = round(fraction * sum(len(members[g]) for g in names))
        taken = 0
        for g in names:
            if taken >= target:
                break
            size = len(members[g])
            # Skip a big group that would overshoot; a later smaller one fills the gap.
            if taken + size > target and taken > 0:
                continue
            chosen.add(g)
            taken += size
    return np.array([g in chosen for g in groups], dtype=bool)


def _grouped_split(pool: list[Sample], val_fraction: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    """Stratified (by each group's majority class) and grouped (by patient) train/val split."""
    in_val = grouped_mask([s.label for s in pool], [s.group for s in pool], val_fraction, seed)
    train = [s for s, v in zip(pool, in_val, strict=True) if not v]
    val = [Sample(s.path, s.label, s.class_name, s.group, "val") for s, v in zip(pool, in_val, strict=True) if v]
    return train, val


def _pixel_loader() -> tuple[Callable[[str], np.ndarray], tuple[type[BaseException], ...]]:
    try:
        from core.imaging import ImageLoadError, load_image
    except ImportError:  # core.imaging not there yet: Pillow only
        from PIL import Image, UnidentifiedImageError

        def _pillow(path: str) -> np.ndarray:
            with Image.open(path) as img:
                return np.asarray(img.convert("L"), dtype=np.uint8)

        return _pillow, (OSError, UnidentifiedImageError, ValueError)

    def _load(path: str) -> np.ndarray:
        return load_image(path).pixels

    return _load, (ImageLoadError, OSError, ValueError)


def load_pixels(path: str | os.PathLike) -> np.ndarray:
    """Decode one image to display-ready grey uint8 with the shared loader (core.imaging)."""
    loader, _ = _pixel_loader()
    return loader(str(path))


def load_arrays(
    samples: Sequence[Sample] | Sequence[str],
    size: int,
    progress: ProgressFn = None,
    should_stop: StopFn = None,
    workers: int = 2,
) -> tuple[np.ndarray, np.ndarray, list[str], list[tuple[str, str]]]:
    """Decode and squash-resize images to a compact uint8 cache ``(N, size, size)``.

    Unreadable files are skipped and returned as ``(path, reason)``, never fatal. Accepts
    Samples or bare paths (labels then are -1). Raises Cancelled when ``should_stop()``.
    """
    loader, errors = _pixel_loader()
    items = [(s.path, s.label) if isinstance(s, Sample) else (str(s), -1) for s in samples]
    n = len(items)
    out = np.zeros((n, size, size), dtype=np.uint8)
    ok = np.zeros(n, dtype=bool)
    reasons: dict[int, str] = {}
    stop = threading.Event()

    def work(i: int) -> None:
        if stop.is_set():
            return
        try:
            out[i] = resize_uint8(loader(items[i][0]), size)
            ok[i] = True
        except errors as exc:
            reasons[i] = str(exc) or type(exc).__name__
        except Exception as exc:  # a decoder bug on one file must not sink a whole training run
            reasons[i] = f"{type(exc).__name__}: {exc}"

    step = max(1, n // 200)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for done, _ in enumerate(pool.map(work, range(n)), start=1):
            if should_stop is not None and done % 8 == 0 and should_stop():
                stop.set()
                raise Cancelled()
            if progress is not None and (done % step == 0 or done == n):
                progress(Progress("loading", batch=done, batches=n, fraction=done / max(n, 1),
                                  message=f"reading images {done}/{n}"))
    keep = np.flatnonzero(ok)
    labels = np.array([items[i][1] for i in keep], dtype=np.int64)
    paths = [items[i][0] for i in keep]
    skipped = [(items[i][0], reasons.get(i, "unknown error")) for i in range(n) if not ok[i]]
    return out[keep], labels, paths, skipped


@dataclass
class AugmentConfig:
    """Training-time augmentation, close to the notebook's ImageDataGenerator.

    Horizontal flip is OFF by default: the heart and the stomach bubble sit on the left, so a
    mirrored chest is anatomically implausible and a model could learn laterality cues wrongly.
    Brightness/contrast jitter is off by default (the notebook had none) but is there because the
    Kermany test set is shifted in intensity from train (see DESIGN.md).
    """

    rotation_deg: float = 20.0
    shift: float = 0.2
    zoom: float = 0.2
    hflip: bool = False
    brightness: float = 0.0
    contrast: float = 0.0
    fill_mode: str = "nearest"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def class_weights(y: np.ndarray) -> dict[int, float]:
    """Balanced class weights n / (2 * n_c), as in the keras-io chest X-ray example."""
    y = np.asarray(y).astype(int)
    n = len(y)
    counts = np.bincount(y, minlength=2)
    if (counts == 0).any():
        raise DatasetError("class weights need images of both classes")
    return {c: float(n / (2.0 * counts[c])) for c in (0, 1)}


def _augment_batch(xb, cfg: AugmentConfig, seed: int | None):
    """Random flip/rotation/shift/zoom as ONE affine warp per image, then brightness/contrast.

    Same ranges as Keras' RandomRotation(deg/360) + RandomTranslation(shift) + RandomZoom(zoom)
    (and the notebook's ImageDataGenerator), but composed into a single
    ImageProjectiveTransformV3 call instead of three full-image resamplings: the pipeline shares
    the 2 CPU cores with training, so every pass over the pixels slows training down.
    """
    import math

    import tensorflow as tf

    shape = tf.shape(xb)
    n = shape[0]
    h = tf.cast(shape[1], tf.float32)
    w = tf.cast(shape[2], tf.float32)

    def uniform(lo: float, hi: float, k: int):
        return tf.random.uniform([n], lo, hi, seed=None if seed is None else seed + k)

    if cfg.rotation_deg or cfg.shift or cfg.zoom or cfg.hflip:
        theta = uniform(-1.0, 1.0, 1) * (cfg.rotation_deg * math.pi / 180.0)
        zoom = uniform(1.0 - cfg.zoom, 1.0 + cfg.zoom, 2) if cfg.zoom else tf.ones([n])
        tx = uniform(-cfg.shift, cfg.shift, 3) * w if cfg.shift else tf.zeros([n])
        ty = uniform(-cfg.shift, cfg.shift, 4) * h if cfg.shift else tf.zeros([n])
        flip = tf.where(uniform(0.0, 1.0, 5) < 0.5, -1.0, 1.0) if cfg.hflip else tf.ones([n])
        cos, sin = tf.cos(theta) * zoom, tf.sin(theta) * zoom
        cx, cy = (w - 1.0) / 2.0, (h - 1.0) / 2.0
        # Output pixel (x, y) reads input at R*Z*(F*(x-cx), y-cy) + (cx, cy) - (tx, ty).
        a0, a1 = cos * flip, -sin
        b0, b1 = sin * flip, cos
        a2 = cx - a0 * cx - a1 * cy - tx
        b2 = cy - b0 * cx - b1 * cy - ty
        zeros = tf.zeros([n])
        transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
        xb = tf.raw_ops.ImageProjectiveTransformV3(
            images=xb, transforms=transforms, output_shape=shape[1:3], fill_value=0.0,
            interpolation="BILINEAR", fill_mode=cfg.fill_mode.upper())
    if cfg.brightness:
        xb = xb + tf.reshape(uniform(-cfg.brightness, cfg.brightness, 6), [-1, 1, 1, 1])
    if cfg.contrast:
        mean = tf.reduce_mean(xb, axis=[1, 2, 3], keepdims=True)
        factor = tf.reshape(uniform(1.0 - cfg.contrast, 1.0 + cfg.contrast, 7), [-1, 1, 1, 1])
        xb = (xb - mean) * factor + mean
    return tf.clip_by_value(xb, 0.0, 1.0)


def make_tf_dataset(
    x_uint8: np.ndarray,
    y: np.ndarray | None,
    batch_size: int,
    channels: int,
    augment: AugmentConfig | None = None,
    shuffle: bool = False,
    seed: int | None = None,
):
    """tf.data pipeline over in-memory uint8 arrays: (shuffle) -> batch -> /255 -> (augment) -> prefetch.

    No ``.cache()``: the arrays already sit in memory as compact uint8 (N*S*S bytes), which is
    cheaper than caching float32 copies. Casting and augmenting whole batches is much faster on
    CPU than per image. Without augmentation each element equals ``to_model_input`` exactly.
    """
    import tensorflow as tf

    x = np.asarray(x_uint8, dtype=np.uint8)
    tensors = (x,) if y is None else (x, np.asarray(y, dtype=np.float32))
    ds = tf.data.Dataset.from_tensor_slices(tensors)
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)

    def to_float(xb, *rest):
        xb = tf.cast(xb, tf.float32)[..., None] / 255.0
        if augment is not None:
            xb = _augment_batch(xb, augment, seed)
        if channels == 3:
            xb = tf.repeat(xb, 3, axis=-1)
        return (xb, *rest) if rest else xb

    # Order may only be relaxed when it is random anyway: an unshuffled pipeline (evaluation, the
    # preprocessing equality test) must keep its order.
    ds = ds.map(to_float, num_parallel_calls=tf.data.AUTOTUNE, deterministic=seed is not None or not shuffle)
    return ds.prefetch(tf.data.AUTOTUNE)

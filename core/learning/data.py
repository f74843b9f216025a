"""Folder datasets: scan, patient-grouped validation split, decode to arrays.

Layouts understood (folder and class names are matched case-insensitively)::

    DATA/train/{NORMAL,PNEUMONIA}/  [DATA/val|validation/...]  [DATA/test/...]
    DATA/{NORMAL,PNEUMONIA}/         (no splits: validation is made, and there is no test split)

When the validation folder is missing or tiny (the Kaggle copy ships 16 images), it is pooled
with train and a new validation split is drawn from that pool: stratified by class and grouped
by patient, so that no child has images on both sides (that leak makes validation look easier
than it is and would bias every choice made on it).

The tf.data pipeline and augmentation live in core.learning.pipeline (TensorFlow imported lazily
there), so scanning a folder stays cheap (GUI, CLI help).
"""

from __future__ import annotations

import os
import random
import re
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import PneumoscopeError, fraction_problem
from core.imaging.preprocess import resize_uint8
from core.progress import Cancelled, Progress, ProgressFn, StopFn
from core.trust.integrity import file_list_sha256

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
        return file_list_sha256(((split, s.class_name, Path(s.path).name), s.path)
                                for split, samples in self.splits.items() for s in samples)


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
    problem = fraction_problem(val_fraction, "validation", zero_allowed=False)
    if problem:
        raise DatasetError(problem)
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


def class_weights(y: np.ndarray) -> dict[int, float]:
    """Balanced class weights n / (2 * n_c), as in the keras-io chest X-ray example."""
    y = np.asarray(y).astype(int)
    n = len(y)
    counts = np.bincount(y, minlength=2)
    if (counts == 0).any():
        raise DatasetError("class weights need images of both classes")
    return {c: float(n / (2.0 * counts[c])) for c in (0, 1)}

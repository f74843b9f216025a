"""GUI fixtures: a tiny synthetic dataset and one tiny bundle trained once per session by
core.learning.train (32 px, two epochs), so review and threshold tests exercise a real model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _synthetic_xray(rng: np.random.Generator, sick: bool, size: int = 128) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size] / size
    # Two dark "lungs" in a bright body; a pneumonia case gets a bright patch in one lung.
    img = 170 + 30 * rng.standard_normal((size, size))
    for cx in (0.32, 0.68):
        img -= 90 * np.exp(-(((xx - cx) / 0.14) ** 2 + ((yy - 0.5) / 0.28) ** 2))
    if sick:
        cx, cy = rng.choice([0.3, 0.7]), rng.uniform(0.4, 0.65)
        img += 110 * np.exp(-(((xx - cx) / 0.09) ** 2 + ((yy - cy) / 0.09) ** 2))
    return np.clip(img, 0, 255).astype(np.uint8)


def make_dataset(root: Path, n_per_class: int = 24, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_per_class), ("test", 6)):
        for cls, sick in (("NORMAL", False), ("PNEUMONIA", True)):
            folder = root / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                Image.fromarray(_synthetic_xray(rng, sick)).save(folder / f"{cls.lower()}_{split}_{i:03d}.png")
    return root


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    root = make_dataset(tmp_path_factory.mktemp("tiny_data"))
    # Synthetic images standing for the development data's children: its card says so.
    (root / "dataset.json").write_text(json.dumps({
        "intended_use": "synthetic test images standing for children aged 1 to 5; tests only",
        "intended_population": {"age_years": [1, 5], "views": ["PA", "AP"],
                                "description": "children aged 1 to 5 years; frontal chest radiographs"},
    }))
    return root


@pytest.fixture(scope="session")
def tiny_bundle_path(tmp_path_factory, tiny_dataset) -> Path:
    from core.learning.train import TrainConfig, train

    out = tmp_path_factory.mktemp("tiny_bundle") / "tiny"
    config = TrainConfig(
        data_root=str(tiny_dataset), out=str(out), model="pneumonet", epochs=2, batch_size=16,
        hparams={"image_size": 32, "width": 0.5}, augment=False, seed=1, min_val=4, patience=2,
    )
    return Path(train(config))


@pytest.fixture
def tiny_bundle(tiny_bundle_path, tmp_path):
    """A private copy per test (adoption rewrites the card)."""
    from core.learning.bundle import load_bundle

    dest = tmp_path / "bundle"
    shutil.copytree(tiny_bundle_path, dest)
    return load_bundle(dest)


@pytest.fixture
def window(qtbot):
    from gui.window import create_window

    win = create_window(load_default=False)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.shutdown()


@pytest.fixture
def loaded_window(window, tiny_bundle):
    window.state.set_bundle(tiny_bundle)
    return window

"""Soak test of the review loop: open, score, explain and gate many images in one process and
watch the resident memory (RSS). A leak here (graphs retraced per image, decoder buffers kept,
caches without bounds) would slowly eat a workstation left open all day.

    .venv/bin/python scripts/soak_review.py [--n 1000] [--bundle PATH] [--every 100]

Without ``--bundle`` a small untrained PneumoNet bundle (64 px) is made in a temp folder.
Images cycle over ../shared/data/chest_xray/train and ../shared/data/dicom/chest.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def soak_files(shared_data: Path, per_source: int = 200) -> list[Path]:
    """A mix of Kermany JPEGs (both classes) and the real chest DICOMs, in a fixed order."""
    files: list[Path] = []
    for cls in ("NORMAL", "PNEUMONIA"):
        folder = shared_data / "chest_xray" / "train" / cls
        if folder.is_dir():
            files += sorted(folder.iterdir())[:per_source]
    chest = shared_data / "dicom" / "chest"
    if chest.is_dir():
        files += sorted(p for p in chest.iterdir() if p.suffix == ".dcm")
    rng = np.random.default_rng(0)
    return [files[i] for i in rng.permutation(len(files))]


def make_tiny_bundle(folder: Path, calib_paths: Sequence[Path] = ()) -> Path:
    """Small untrained PneumoNet saved as a real bundle, with an OOD gate if images are given."""
    import keras

    from core.learning.bundle import save_bundle
    from core.learning.data import load_arrays
    from core.learning.models import build_model

    keras.utils.set_random_seed(0)
    hp = {"image_size": 64, "width": 0.5}
    model = build_model("pneumonet", **hp)
    card = {"model": {"name": "pneumonet", "hparams": hp, "input_shape": [64, 64, 1]},
            "threshold": {"value": 0.5, "method": "manual"}, "ood": None}
    if len(calib_paths) >= 40:
        from core.trust.ood import fit_ood_for_model

        x, _, _, _ = load_arrays(list(calib_paths), 64)
        half = len(x) // 2
        card["ood"] = fit_ood_for_model(model, x[:half], x[half:], channels=1)
    return save_bundle(folder / "soak_bundle", model, card, {})


def soak(
    paths: Sequence[Path],
    bundle,
    n: int,
    every: int = 100,
    report: Callable[[int, float, float], None] | None = None,
) -> list[tuple[int, float]]:
    """Review ``n`` images (cycling over ``paths``); returns [(images done, RSS MB)] every ``every``."""
    from core.imaging import ImageLoadError, load_image
    from core.trust.explain import gradcam_and_score, overlay_rgb
    from core.trust.ood import bundle_ood_score

    t0 = time.perf_counter()
    series = [(0, rss_mb())]
    for i in range(1, n + 1):
        path = paths[(i - 1) % len(paths)]
        try:
            xray = load_image(path)
        except ImageLoadError:
            continue
        score = bundle.score_pixels(xray.pixels)
        heat, _ = gradcam_and_score(bundle, xray.pixels)
        overlay_rgb(xray.pixels, heat, 0.4)
        bundle_ood_score(bundle, xray.pixels)
        if not 0.0 <= score <= 1.0:
            raise AssertionError(f"score {score} out of range for {path}")
        if i % every == 0 or i == n:
            series.append((i, rss_mb()))
            if report is not None:
                report(i, series[-1][1], time.perf_counter() - t0)
    return series


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--bundle", help="bundle folder (default: a small untrained one)")
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    args = parser.parse_args(argv)

    from core.learning.bundle import load_bundle

    paths = soak_files(Path(args.data))
    if not paths:
        print(f"no images under {args.data}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.bundle) if args.bundle else make_tiny_bundle(Path(tmp), paths[:80])
        bundle = load_bundle(folder)
        print(f"{len(paths)} distinct images, {args.n} reviews; bundle {folder.name}; start RSS {rss_mb():.0f} MB")
        print(f"{'images':>7} {'RSS MB':>8} {'seconds':>8} {'ms/image':>9}")
        series = soak(
            paths, bundle, args.n, args.every,
            report=lambda i, mb, s: print(f"{i:>7} {mb:>8.1f} {s:>8.1f} {1000 * s / i:>9.1f}", flush=True),
        )
    first = next((mb for i, mb in series if i >= min(args.every, args.n)), series[0][1])
    print(f"RSS growth after the first {args.every}: {series[-1][1] - first:+.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

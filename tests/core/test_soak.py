"""Soak: 1,000 reviews (load, score, Grad-CAM, overlay, OOD gate) in one process must not grow
the resident memory by more than 50 MB after a warm-up of 50 images."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("psutil")
pytest.importorskip("keras")

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "soak_review.py"


def _soak_module():
    spec = importlib.util.spec_from_file_location("soak_review", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_review_loop_does_not_leak(shared_data, tmp_path):
    from core.learning.bundle import load_bundle

    soak = _soak_module()
    paths = soak.soak_files(shared_data)
    assert any(p.suffix == ".dcm" for p in paths) and any(p.suffix == ".jpeg" for p in paths)
    bundle = load_bundle(soak.make_tiny_bundle(tmp_path, paths[:80]))
    assert bundle.card["ood"] is not None
    soak.soak(paths, bundle, n=50, every=50)  # warm-up: graphs traced, decoders and caches filled
    series = soak.soak(paths, bundle, n=1000, every=100)
    rss = [mb for _, mb in series]
    growth = rss[-1] - rss[0]
    print(f"\nRSS over 1000 reviews (MB): {[round(mb) for mb in rss]}; growth {growth:+.1f} MB")
    assert growth < 50, rss

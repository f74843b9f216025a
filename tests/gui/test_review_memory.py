"""Review's memory stays bounded however many cases are reviewed (issue 20, item 7).

The real Review widget, with a real (tiny) model, is driven through many 1024 px cases, each
loaded, scored, explained by Grad-CAM and shown with its heat map. Review used to keep every
case's pixels and heat map (about 5 MB a case here): resident memory grew by that much per case.
"""

from __future__ import annotations

import gc

import numpy as np
import psutil
from PIL import Image

from tests.gui.conftest import _synthetic_xray

SIZE = 1024
WARMUP = 10
MEASURED = 40


def _cases(folder, n: int) -> list[str]:
    rng = np.random.default_rng(3)
    folder.mkdir()
    base = [_synthetic_xray(rng, sick=bool(i % 2), size=SIZE) for i in range(4)]
    paths = []
    for i in range(n):
        path = folder / f"case_{i:03d}.png"
        img = np.roll(base[i % 4], 7 * i, axis=1)  # a different image each time
        Image.fromarray(img).save(path, compress_level=1)
        paths.append(str(path))
    return paths


def _show(qtbot, review, row: int) -> None:
    with qtbot.waitSignal(review.heatmapShown, timeout=60000):
        review.case_list.setCurrentRow(row)


def _rss_mb() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


def test_review_memory_is_bounded_over_many_cases(qtbot, loaded_window, tmp_path):
    review = loaded_window.review
    paths = _cases(tmp_path / "cases", WARMUP + MEASURED)
    review.set_cases(paths, 0)
    qtbot.waitSignal(review.heatmapShown, timeout=60000).wait()
    for row in range(1, WARMUP):
        _show(qtbot, review, row)
    start = _rss_mb()
    series = [start]
    for row in range(WARMUP, WARMUP + MEASURED):
        _show(qtbot, review, row)
        if (row - WARMUP) % 10 == 9:
            series.append(_rss_mb())
    growth = series[-1] - start
    per_case = 1e-6 * (SIZE * SIZE * (1 + 4))  # uint8 pixels + float32 heat map kept by the old code
    print(f"\nRSS over {MEASURED} reviewed {SIZE} px cases (MB): {[round(m) for m in series]}; "
          f"growth {growth:+.1f} MB (the old code kept ~{per_case * MEASURED:.0f} MB more)")
    # After the first ten measured cases the heap has settled (in a long test session it still
    # grows for a while then): the last 30 cases may add almost nothing. A leak of 5 MB a case
    # would add 150 MB there, of 1 MB a case (the image a finished worker kept) 30 MB.
    assert series[-1] - series[1] < 15, series
    assert growth < 60, series

    cache = review.cache
    print(f"cache: {len(cache)} cases, {cache.nbytes / 2**20:.1f} MiB, {cache.evictions} evicted")
    assert 0 < len(cache) <= cache.max_cases and cache.nbytes <= cache.max_bytes
    assert len(review._session) == WARMUP + MEASURED  # drift still counts every case scored
    assert all(c.xray is None and c.heatmap is None for c in review._session.values())


def test_going_back_uses_the_cache_then_the_file(qtbot, loaded_window, tmp_path):
    review = loaded_window.review
    review.cache.max_cases = 3
    paths = _cases(tmp_path / "cases", 6)
    review.set_cases(paths, 0)
    qtbot.waitSignal(review.heatmapShown, timeout=60000).wait()
    first = review.score
    for row in range(1, 6):
        _show(qtbot, review, row)
    assert len(review.cache) == 3 and review.cache.evictions == 3
    hits = review.cache.hits
    _show(qtbot, review, 4)  # still cached: shown at once, not scored again
    assert review.cache.hits == hits + 1 and review.view.has_overlay()
    _show(qtbot, review, 0)  # evicted: opened and scored again from its file
    assert review.cache.hits == hits + 1 and review.score == first and review.view.has_overlay()

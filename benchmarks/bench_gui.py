"""GUI speed: time to window, threshold-slider updates per second, score + heatmap latency.

    python benchmarks/bench_gui.py [--bundle PATH] [--n-scores 5000]

Each figure is printed next to a baseline: the window against an eager start that imports
everything first; the slider's blitted marker against a full figure redraw per move; the
one-pass Grad-CAM + score against separate score and Grad-CAM passes. Without --bundle it
uses models/default, else trains a tiny bundle (32 px) on a synthetic dataset first.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

WINDOW_SNIPPET = """
import time, sys
t0 = time.perf_counter()
{eager}
from gui.window import create_window
from PySide6.QtWidgets import QApplication
w = create_window(load_default=False)
w.show()
QApplication.processEvents()
print(time.perf_counter() - t0)
"""
EAGER = "import tensorflow, keras, matplotlib.backends.backend_qtagg, gui.screens.threshold, gui.screens.train, gui.screens.evaluate"


def time_to_window(eager: bool, runs: int) -> list[float]:
    out = []
    code = WINDOW_SNIPPET.format(eager=EAGER if eager else "")
    for _ in range(runs):
        t0 = time.perf_counter()
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
        wall = time.perf_counter() - t0
        out.append(wall)  # includes interpreter start-up, as a user sees it
        _ = float(res.stdout.strip().splitlines()[-1])
    return out


def _bundle(path: str | None, work: Path):
    from core.learning.bundle import default_bundle_path

    if path:
        return Path(path)
    if default_bundle_path() is not None:
        return default_bundle_path()
    sys.path.insert(0, str(REPO / "tests" / "gui"))
    from conftest import make_dataset

    from core.learning.train import TrainConfig, train

    data = make_dataset(work / "data")
    return Path(train(TrainConfig(data_root=str(data), out=str(work / "tiny"), model="pneumonet", epochs=2,
                                  batch_size=16, hparams={"image_size": 32, "width": 0.5}, augment=False, seed=1,
                                  min_val=4)))


def slider_rate(window, n_scores: int, full_redraw: bool, moves: int = 300) -> float:
    import numpy as np
    from PySide6.QtWidgets import QApplication

    explorer = window.threshold
    window.tabs.setCurrentWidget(explorer)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n_scores)
    s = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1)
    explorer.set_scores("val", y, s)
    QApplication.processEvents()
    explorer.plot.draw()
    QApplication.processEvents()
    if full_redraw:
        original = explorer.plot.set_point

        def redraw(*args):
            original(*args)
            explorer.plot.draw()

        explorer.plot.set_point = redraw
    positions = [(i * 7919) % 1001 for i in range(moves)]
    t0 = time.perf_counter()
    for pos in positions:
        explorer.slider.setValue(pos)
        QApplication.processEvents()  # paint the matrix and table as a user would see them
    rate = moves / (time.perf_counter() - t0)
    if full_redraw:
        del explorer.plot.set_point
    return rate


def inference_latency(window, bundle, case: Path, runs: int) -> tuple[list[float], list[float]]:
    from PySide6.QtCore import QEventLoop, QTimer

    from core.imaging import load_image
    from core.trust.explain import gradcam

    review = window.review
    review.open_paths([str(case)])
    gui_ms, model_ms = [], []
    for i in range(runs + 1):
        loop = QEventLoop()
        review.heatmapShown.connect(loop.quit)
        QTimer.singleShot(60000, loop.quit)
        review.load_index(0)
        loop.exec()
        review.heatmapShown.disconnect(loop.quit)
        t = review.timings
        if i:  # first run after opening is warm-up
            gui_ms.append((t["t_heatmap"] - t["t_shown"]) * 1000)
            model_ms.append(t["model_s"] * 1000)
    pixels = load_image(case).pixels
    two_pass = []
    for i in range(runs + 1):
        t0 = time.perf_counter()
        bundle.score_pixels(pixels)
        gradcam(bundle, pixels)
        if i:
            two_pass.append((time.perf_counter() - t0) * 1000)
    return gui_ms, model_ms, two_pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle")
    ap.add_argument("--case", help="image for the latency test (default: a shared RSNA DICOM or a synthetic PNG)")
    ap.add_argument("--n-scores", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pneumoscope-bench-"))
    os.environ.setdefault("PNEUMOSCOPE_HOME", str(work / "home"))

    lazy = time_to_window(False, 3)
    eager = time_to_window(True, 2)

    from core.learning.registry import load_and_warm
    from gui.window import create_window

    bundle = load_and_warm(_bundle(args.bundle, work))
    window = create_window(load_default=False)
    window.resize(1440, 900)
    window.show()
    window.state.set_bundle(bundle)
    window.build_all_screens()
    blit = slider_rate(window, args.n_scores, full_redraw=False)
    full = slider_rate(window, args.n_scores, full_redraw=True, moves=60)

    case = Path(args.case) if args.case else next(iter(sorted((REPO.parent / "shared/data/dicom/chest").glob("rsna_*.dcm"))), None)
    if case is None:
        import numpy as np
        from PIL import Image

        case = work / "case.png"
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (1024, 1024), dtype=np.uint8)).save(case)
    gui_ms, model_ms, two_pass = inference_latency(window, bundle, case, args.runs)
    window.shutdown()

    med = statistics.median
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"bundle: {bundle.path} (input {bundle.input_shape}); case: {case.name}; scores for slider: {args.n_scores}")
    print(f"{'measure':44s} {'pneumoscope':>14s} {'baseline':>14s}  baseline is")
    print(f"{'time to window, s (median, incl. python)':44s} {med(lazy):14.2f} {med(eager):14.2f}  importing TF + plots first")
    print(f"{'threshold slider updates / s':44s} {blit:14.0f} {full:14.0f}  full figure redraw per move")
    print(f"{'score + heatmap after image shown, ms (med)':44s} {med(gui_ms):14.1f} {med(two_pass):14.1f}  separate score and Grad-CAM passes (no GUI)")
    print(f"{'  of which model work in the worker, ms (med)':44s} {med(model_ms):14.1f}")
    print(f"{f'score + heatmap, ms (max of {args.runs})':44s} {max(gui_ms):14.1f} {max(two_pass):14.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

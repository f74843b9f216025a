"""Training throughput and single-image latency: notebook CNN (baseline) vs PneumoNet.

Run:  .venv/bin/python benchmarks/bench_training.py [--data ../shared/data/chest_xray] [--steps 12]

Prints, side by side: training images/s (augmented batches of 32, as in real training),
tf.data pipeline images/s alone, single-image latency (preprocess + model call, median), and
one full PneumoNet epoch (train + validation pass) on the real data with the time to decode it.
Numbers depend on machine load: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np


def _pipeline_rate(name: str, n: int = 640, batch: int = 32) -> float:
    from core.learning.models import input_shape
    from core.learning.pipeline import AugmentConfig, make_tf_dataset

    size, _, channels = input_shape(name)
    x = np.random.default_rng(0).integers(0, 256, (n, size, size), dtype=np.uint8)
    ds = make_tf_dataset(x, np.zeros(n), batch, channels, AugmentConfig(), shuffle=True, seed=0)
    for _ in ds.take(1):
        pass
    t0 = time.perf_counter()
    for _ in ds:
        pass
    return n / (time.perf_counter() - t0)


def train_throughput(names: tuple[str, ...], steps: int, rounds: int, batch: int = 32) -> dict[str, float]:
    """Best-of-``rounds`` training images/s, models interleaved so that load from other
    processes hits them alike, each warmed up (tracing, oneDNN set-up) before timing."""
    from core.learning.data import class_weights
    from core.learning.models import build_model, input_shape
    from core.learning.pipeline import AugmentConfig, make_tf_dataset

    rng = np.random.default_rng(0)
    setups = {}
    for name in names:
        size, _, channels = input_shape(name)
        n = batch * (steps + 2)
        x = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
        y = (rng.random(n) < 0.7).astype(np.float32)
        ds = make_tf_dataset(x, y, batch, channels, AugmentConfig(), shuffle=True, seed=0).repeat()
        model = build_model(name)
        model.fit(ds, steps_per_epoch=2, epochs=1, verbose=0, class_weight=class_weights(y))
        setups[name] = (model, ds, class_weights(y))
    best = dict.fromkeys(names, 0.0)
    for _ in range(rounds):
        for name, (model, ds, cw) in setups.items():
            t0 = time.perf_counter()
            model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0, class_weight=cw)
            best[name] = max(best[name], steps * batch / (time.perf_counter() - t0))
    return best


def latency_ms(name: str, repeats: int = 30) -> float:
    from core.imaging.preprocess import to_model_input
    from core.learning.bundle import predict_scores
    from core.learning.models import build_model, input_shape

    size, _, channels = input_shape(name)
    model = build_model(name)
    img = np.random.default_rng(1).integers(0, 256, (1024, 1024), dtype=np.uint8)
    predict_scores(model, to_model_input(img, size, channels)[None])
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        predict_scores(model, to_model_input(img, size, channels)[None])
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def full_epoch(data: Path) -> dict[str, float]:
    import tempfile

    from core.learning.models import build_model
    from core.learning.train import TrainConfig, fit_model, load_dataset

    config = TrainConfig(str(data), "unused", model="pneumonet", epochs=1, seed=0)
    t0 = time.perf_counter()
    loaded = load_dataset(config, 128)
    load_s = time.perf_counter() - t0
    model = build_model("pneumonet")
    with tempfile.TemporaryDirectory() as work:
        t0 = time.perf_counter()
        _, callback, _ = fit_model(model, loaded, config, 1, 1, None, None, Path(work))
        epoch_s = time.perf_counter() - t0
    n_train = len(loaded.arrays["train"][0])
    return {"load_s": load_s, "epoch_s": epoch_s, "train_only_s": callback.train_seconds,
            "n_train": n_train, "n_val": len(loaded.arrays["val"][0]),
            "n_images": sum(len(a[0]) for a in loaded.arrays.values())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "chest_xray"))
    parser.add_argument("--steps", type=int, default=8, help="timed training steps per model")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (best is kept)")
    parser.add_argument("--skip-epoch", action="store_true")
    args = parser.parse_args()
    import tensorflow as tf

    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f}")
    from core.learning.models import build_model

    names = ("notebook", "pneumonet")
    rates = train_throughput(names, args.steps, args.rounds)
    rows = [(name, build_model(name).count_params(), rates[name], _pipeline_rate(name), latency_ms(name))
            for name in names]
    print(f"{'model':<10} {'params':>11} {'train img/s':>12} {'pipeline img/s':>15} {'latency ms':>11}")
    for name, params, rate, pipe, lat in rows:
        print(f"{name:<10} {params:>11,} {rate:>12.1f} {pipe:>15.0f} {lat:>11.1f}")
    base, new = rows[0], rows[1]
    print(f"pneumonet vs notebook: {new[2] / base[2]:.1f}x training throughput, "
          f"{base[4] / new[4]:.1f}x lower latency, {base[1] / new[1]:.0f}x fewer weights")
    if not args.skip_epoch and Path(args.data).is_dir():
        r = full_epoch(Path(args.data))
        print(f"real data ({args.data}): decoded {r['n_images']} images at 128x128 in {r['load_s']:.1f} s; "
              f"one pneumonet epoch ({r['n_train']} train + {r['n_val']} val images) {r['epoch_s']:.1f} s "
              f"(training part {r['train_only_s']:.1f} s = {r['n_train'] / r['train_only_s']:.0f} img/s); "
              f"load average now {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

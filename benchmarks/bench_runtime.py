"""LiteRT against the Keras path it replaced, in one run (issue 18).

Prints, side by side for the shipped model:
- a fresh process to the first score + heat map + OOD gate of a DICOM (what Review and the node
  pay at start), median of ``--runs`` processes each;
- score + heat map per image, median over the 19 chest DICOMs after a warm-up (pixels already
  decoded, so decoding is not counted);
- whether TensorFlow got imported;
- how far each float32 path is from the same model computed in float64 on the 19 chest DICOMs
  (the yardstick for "scores within 1e-5 of Keras": Keras's own float32 error is of that size).
``PNEUMOSCOPE_RUNTIME=keras`` makes a bundle score through Keras/TensorFlow (the old path).

    .venv/bin/python benchmarks/bench_runtime.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHEST = REPO.parent / "shared" / "data" / "dicom" / "chest"

CHILD = r"""
import json, sys, time
t0 = float(sys.argv[1])
from core.cases import score_case
from core.learning.bundle import load_bundle
b = load_bundle("models/default")
c = score_case(b, sys.argv[2], want_heatmap=True, audit=False)
t1 = time.time()
from core.imaging import load_image
import glob, statistics
pix = [load_image(p).pixels for p in sorted(glob.glob(sys.argv[3] + "/*.dcm"))]
from core.trust.explain import gradcam_and_score
gradcam_and_score(b, pix[0])
ts = []
for p in pix:
    s = time.perf_counter(); gradcam_and_score(b, p); ts.append(time.perf_counter() - s)
print(json.dumps({"first": t1 - t0, "per_image_ms": statistics.median(ts) * 1000,
                  "tf": "tensorflow" in sys.modules, "score": c.score}))
"""


def run(runtime: str, dicom: Path) -> dict:
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, PNEUMOSCOPE_HOME=home, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
        if runtime == "keras":
            env["PNEUMOSCOPE_RUNTIME"] = "keras"
        else:
            env.pop("PNEUMOSCOPE_RUNTIME", None)
        out = subprocess.run([sys.executable, "-c", CHILD, repr(time.time()), str(dicom), str(CHEST)],
                             cwd=REPO, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    dicom = sorted(CHEST.glob("rsna_*.dcm"))[0]
    results: dict[str, list[dict]] = {"keras": [], "litert": []}
    for _ in range(args.runs):  # alternate, so load on a shared machine hits both alike
        for kind in results:
            results[kind].append(run(kind, dicom))
    print(f"{'':44}{'Keras (before)':>16}{'LiteRT (after)':>16}{'target':>10}")
    rows = [("fresh process to first score + heat map (s)", "first", "<= 2.0"),
            ("score + heat map per image, median (ms)", "per_image_ms", "<= 10")]
    for label, key, target in rows:
        k = statistics.median(r[key] for r in results["keras"])
        lite = statistics.median(r[key] for r in results["litert"])
        print(f"{label:44}{k:16.2f}{lite:16.2f}{target:>10}")
    print(f"{'TensorFlow imported':44}{results['keras'][0]['tf']!s:>16}{results['litert'][0]['tf']!s:>16}")
    diff = abs(results["keras"][0]["score"] - results["litert"][0]["score"])
    print(f"same DICOM, |score difference| {diff:.2e}; {args.runs} processes each, load {os.getloadavg()[0]:.1f}")
    accuracy()


def _float64_twin(model):
    """The same Keras model with every layer computing in float64 (the reference both float32
    paths are measured against)."""
    def to64(node):
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "dtype" and isinstance(value, str):
                    out[key] = "float64"
                elif key == "dtype" and isinstance(value, dict):
                    out[key] = {**value, "config": {**value.get("config", {}), "name": "float64"}}
                else:
                    out[key] = to64(value)
            return out
        return [to64(v) for v in node] if isinstance(node, list) else node

    twin = model.__class__.from_config(to64(model.get_config()))
    twin.set_weights([w.astype("float64") for w in model.get_weights()])
    return twin


def accuracy() -> None:
    import numpy as np

    from core.imaging import load_image
    from core.learning.bundle import load_bundle, predict_scores

    bundle = load_bundle(REPO / "models" / "default")
    x = np.stack([bundle.preprocess(load_image(p).pixels) for p in sorted(CHEST.glob("*.dcm"))])
    keras32 = predict_scores(bundle.model, x).astype(np.float64)
    ref = np.asarray(_float64_twin(bundle.model)(x.astype(np.float64), training=False), np.float64).reshape(-1)
    lite = np.array([bundle.runtime.run(xi)[0] for xi in x], np.float64)
    print(f"{len(x)} chest DICOMs, max |score difference| (raw model output):")
    print(f"  Keras float32  vs float64 reference   {np.abs(keras32 - ref).max():.2e}")
    print(f"  LiteRT float32 vs float64 reference   {np.abs(lite - ref).max():.2e}")
    print(f"  LiteRT         vs Keras float32       {np.abs(lite - keras32).max():.2e}   (target 1e-5)")


if __name__ == "__main__":
    main()

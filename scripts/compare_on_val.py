"""What the notebook's conclusion proposed, judged on validation only: class weighting vs focal
loss, and an ensemble of the two.

    .venv/bin/python scripts/compare_on_val.py --data ../shared/data/chest_xray --out docs

Trains the default recipe (scripts/train_default.py) once more with focal loss (gamma 2) and no
class weights, on a view of DATA that holds ``train/`` only, so the test split is not even read.
The validation split is the same (same files, seed 1337) as the shipped model's, whose stored
validation scores are the class-weighted arm. Prints and writes a table of validation AUC (DeLong
95% interval), Brier score, log loss, and sensitivity/specificity at each arm's own threshold
chosen by the same chooser. Decision rule, fixed before the run: the shipped model is replaced only
if another arm's validation AUC interval lies entirely above the shipped model's AUC.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import numpy as np  # noqa: E402


def _arm(name: str, y: np.ndarray, s: np.ndarray, chooser: str) -> dict:
    from core.evaluation.calibration import brier_score
    from core.evaluation.choosers import choose_threshold, parse_chooser
    from core.evaluation.curves import roc_auc
    from core.evaluation.operating import OperatingCurve

    method, kw = parse_chooser(chooser)
    choice = choose_threshold(y, s, method, **kw)
    point = OperatingCurve(y, s).at(choice.threshold)
    p = np.clip(s, 1e-7, 1 - 1e-7)
    return {"arm": name, "val_auc": list(roc_auc(y, s)), "brier": float(brier_score(y, s)),
            "log_loss": float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))),
            "threshold": float(choice.threshold), "sensitivity": point.sensitivity[0],
            "specificity": point.specificity[0]}


def main(argv: list[str] | None = None) -> int:
    from train_default import SEED, THRESHOLD, train_one

    from core.learning.bundle import load_bundle

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "chest_xray"))
    ap.add_argument("--shipped", default=str(REPO / "models" / "default"))
    ap.add_argument("--out", default=str(REPO / "docs"))
    ap.add_argument("--epochs", type=int, default=14)
    args = ap.parse_args(argv)

    shipped = load_bundle(args.shipped)
    y_val, s_cw, files_cw = shipped.scores("val")
    with tempfile.TemporaryDirectory(prefix="val-only-") as tmp:
        view = Path(tmp) / "data"
        view.mkdir()
        os.symlink(Path(args.data).resolve() / "train", view / "train")  # no test/ in this view
        t0 = time.perf_counter()
        focal_path = train_one(str(view), str(Path(tmp) / "focal"), "pneumonet", args.epochs, None,
                               {"image_size": 128}, loss="focal", class_weight=False)
        seconds = time.perf_counter() - t0
        focal = load_bundle(focal_path)
        y_f, s_f, files_f = focal.scores("val")
    names = [Path(f).name for f in files_cw]
    assert [Path(f).name for f in files_f] == names and np.array_equal(y_f, y_val), "validation splits differ"
    rows = [_arm("BCE + class weights (shipped)", y_val, s_cw, THRESHOLD),
            _arm("focal loss (gamma 2), no class weights", y_val, s_f, THRESHOLD),
            _arm("ensemble: mean of the two", y_val, (s_cw + s_f) / 2, THRESHOLD)]
    lines = ["| arm (validation, 1,047 images) | AUC (95% CI) | Brier | log loss | threshold | sens | spec |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        a = r["val_auc"]
        lines.append(f"| {r['arm']} | {a[0]:.4f} ({a[1]:.4f}-{a[2]:.4f}) | {r['brier']:.4f} | {r['log_loss']:.4f} "
                     f"| {r['threshold']:.3f} | {r['sensitivity']:.3f} | {r['specificity']:.3f} |")
    better = [r["arm"] for r in rows[1:] if r["val_auc"][1] > rows[0]["val_auc"][0]]
    verdict = (f"Replace the shipped model with: {better[0]}" if better else
               "Keep the shipped model: no arm's validation AUC interval lies above it.")
    text = "\n".join(lines) + f"\n\nFocal arm trained in {seconds:.0f} s (seed {SEED}).\n{verdict}\n"
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "loss_ensemble_val.md").write_text(text)
    (out / "loss_ensemble_val.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

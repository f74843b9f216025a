"""Start-up of the double-click app against the same code run from the checkout.

Launches ``Pneumoscope --self-test`` (frozen, dist/Pneumoscope) and ``python -m gui.app --self-test``
(unfrozen, the baseline) a few times each, alternating, and prints the median seconds from launch to
the main window and to the first model score, plus the size of the frozen app and what dominates it.
The clock starts in this script just before the process is created (PNEUMOSCOPE_LAUNCHED_AT), so
interpreter start-up and the PyInstaller bootloader are counted.

    .venv/bin/python benchmarks/bench_cold_start.py [--dist dist/Pneumoscope] [--bundle PATH] [--runs 3]
    .venv/bin/python benchmarks/bench_cold_start.py --open FILE.dcm [--checkout-only] [--runs 5]

``--open FILE`` measures what a user meets: the app launched with a DICOM to open (as a file
manager's "Open with" does), timed from launch to the window, the image on screen, the model
ready, the first score and the heat map (``pneumoscope FILE --exit-after-first-score``), in a
fresh user folder (so the shipped model is the active one). ``--checkout-only`` skips the frozen app.

"Cold" here means a new process; the OS file cache is warm after the first run (the first run of
each kind is reported separately).
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


def _run(cmd: list[str], bundle: str | None) -> dict:
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, PNEUMOSCOPE_HOME=home, PNEUMOSCOPE_LAUNCHED_AT=repr(time.time()))
        if bundle:
            env["PNEUMOSCOPE_BUNDLE"] = bundle
        res = subprocess.run([*cmd, "--self-test", "--quiet"], cwd=REPO, env=env, capture_output=True,
                             text=True, timeout=600)
    lines = [line for line in res.stdout.splitlines() if line.startswith("{")]
    if res.returncode != 0 or not lines:
        raise SystemExit(f"{cmd[0]} --self-test failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
    return json.loads(lines[-1])


def _run_open(cmd: list[str], file: str) -> dict:
    """One launch with ``file`` to open; the app prints its timings after the first heat map and quits."""
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, PNEUMOSCOPE_HOME=home, PNEUMOSCOPE_LAUNCHED_AT=repr(time.time()))
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
        res = subprocess.run([*cmd, file, "--exit-after-first-score"], cwd=REPO, env=env, capture_output=True,
                             text=True, timeout=600)
    lines = [line for line in res.stdout.splitlines() if line.startswith("{")]
    if res.returncode != 0 or not lines or "error" in json.loads(lines[-1]):
        raise SystemExit(f"{cmd[0]} {file} failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
    return json.loads(lines[-1])


def open_at_launch(kinds: dict[str, list[str]], file: str, runs: int) -> None:
    keys = ("to_window", "to_case_shown", "stage_tensorflow_loaded", "stage_load_and_warm", "to_model_ready",
            "to_first_score", "to_heatmap")
    results: dict[str, list[dict]] = {k: [] for k in kinds}
    for _ in range(runs):
        for kind, cmd in kinds.items():
            results[kind].append(_run_open(cmd, file))
    print(f"DICOM opened at launch: {Path(file).name}; platform {os.environ.get('QT_QPA_PLATFORM', 'offscreen')}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'seconds (median of ' + str(runs) + ')':<28}" + "".join(f"{k:>22}" for k in kinds))
    for key in keys:
        row = [statistics.median(r[key] for r in results[k]) for k in kinds]
        print(f"{key:<28}" + "".join(f"{v:>22.2f}" for v in row))
    for kind in kinds:
        print(f"{kind} to_first_score, every run: " + ", ".join(f"{r['to_first_score']:.2f}" for r in results[kind]))


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", default=str(REPO / "dist" / "Pneumoscope"))
    parser.add_argument("--bundle", help="model bundle (default: the one shipped in the app, models/default)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--open", metavar="FILE", help="measure launch to first score of FILE opened at launch")
    parser.add_argument("--checkout-only", action="store_true", help="skip the frozen app")
    args = parser.parse_args()

    dist = Path(args.dist)
    exe = dist / ("Pneumoscope.exe" if sys.platform == "win32" else "Pneumoscope")
    # Before/after issue 18 in one run: the same checkout scoring through Keras/TensorFlow
    # (PNEUMOSCOPE_RUNTIME=keras, the old path) and through the bundle's LiteRT model.
    checkout = {"checkout, Keras (before)": ["env", "PNEUMOSCOPE_RUNTIME=keras", sys.executable, "-m", "gui.app"],
                "checkout, LiteRT": [sys.executable, "-m", "gui.app"]}
    if args.open:
        kinds = checkout if args.checkout_only else {"frozen app": [str(exe)], **checkout}
        if not args.checkout_only and not exe.is_file():
            raise SystemExit(f"no frozen app at {exe}: run `make app` first, or pass --checkout-only")
        open_at_launch(kinds, str(Path(args.open).resolve()), args.runs)
        return 0
    if not exe.is_file():
        raise SystemExit(f"no frozen app at {exe}: run `make app` first")
    kinds = {"frozen app": [str(exe)], **checkout}
    results: dict[str, list[dict]] = {k: [] for k in kinds}
    for _ in range(args.runs):
        for kind, cmd in kinds.items():
            results[kind].append(_run(cmd, args.bundle))

    first = next(iter(results.values()))[0]
    print(f"bundle: {first['bundle']['name']} ({first['bundle']['path']}), clock: {first['clock']}")
    keys = ("to_window", "load_bundle", "first_score", "to_first_score", "gradcam",
            "all_screens", "total")
    print(f"{'seconds (median of ' + str(args.runs) + ')':<28}" + "".join(f"{k:>22}" for k in kinds))
    for key in keys:
        row = [statistics.median(r["timings_s"][key] for r in results[k]) for k in kinds]
        print(f"{key:<28}" + "".join(f"{v:>22.2f}" for v in row))
    print(f"{'first run to_first_score':<28}" + "".join(
        f"{results[k][0]['timings_s']['to_first_score']:>22.2f}" for k in kinds))

    total = _size(dist)
    print(f"\nfrozen app size: {total / 2**20:,.0f} MiB in {dist}")
    internal = dist / "_internal" if (dist / "_internal").is_dir() else dist
    # Top-level library links into PySide6/ and numpy.libs/ are not counted twice.
    parts = sorted(((_size(p) if p.is_dir() else p.lstat().st_size, p.name) for p in internal.iterdir()
                    if p.is_dir() or not p.is_symlink()), reverse=True)
    for size, name in parts[:8]:
        print(f"  {size / 2**20:8,.0f} MiB  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

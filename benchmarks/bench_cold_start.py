"""Start-up of the double-click app against the same code run from the checkout.

Launches ``Pneumoscope --self-test`` (frozen, dist/Pneumoscope) and ``python -m gui.app --self-test``
(unfrozen, the baseline) a few times each, alternating, and prints the median seconds from launch to
the main window and to the first model score, plus the size of the frozen app and what dominates it.
The clock starts in this script just before the process is created (PNEUMOSCOPE_LAUNCHED_AT), so
interpreter start-up and the PyInstaller bootloader are counted.

    .venv/bin/python benchmarks/bench_cold_start.py [--dist dist/Pneumoscope] [--bundle PATH] [--runs 3]

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


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", default=str(REPO / "dist" / "Pneumoscope"))
    parser.add_argument("--bundle", help="model bundle (default: the one shipped in the app, models/default)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    dist = Path(args.dist)
    exe = dist / ("Pneumoscope.exe" if sys.platform == "win32" else "Pneumoscope")
    if not exe.is_file():
        raise SystemExit(f"no frozen app at {exe}: run `make app` first")
    kinds = {"frozen app": [str(exe)], "checkout (baseline)": [sys.executable, "-m", "gui.app"]}
    results: dict[str, list[dict]] = {k: [] for k in kinds}
    for _ in range(args.runs):
        for kind, cmd in kinds.items():
            results[kind].append(_run(cmd, args.bundle))

    first = next(iter(results.values()))[0]
    print(f"bundle: {first['bundle']['name']} ({first['bundle']['path']}), clock: {first['clock']}")
    keys = ("to_window", "import_tensorflow", "load_bundle", "first_score", "to_first_score", "gradcam",
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

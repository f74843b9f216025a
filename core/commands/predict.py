"""``pneumoscope-cli predict``: score image files with a model bundle and write a CSV."""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import tempfile
from pathlib import Path

DESCRIPTION = """\
Score chest X-ray images (DICOM, PNG, JPEG, ...) with a model bundle.

PATH is one image or a folder (searched recursively). Each image gets a score, the
probability-like output of the model (0 = normal, 1 = pneumonia), and a label: PNEUMONIA
when the score is at or above the bundle's threshold, NORMAL below it. Files that cannot
be read are listed with the reason in the error column.
Research use only - not for diagnosis.

Example:
  pneumoscope-cli predict ~/models/first ~/new_images --csv scores.csv
"""


def list_images(path: Path) -> list[Path]:
    from core.learning.data import is_image_file

    if path.is_file():
        return [path]
    if not path.is_dir():
        from core.learning.data import DatasetError

        raise DatasetError(f"{path} does not exist")
    return sorted(p for p in path.rglob("*") if p.is_file() and is_image_file(p))


def run(args: argparse.Namespace) -> int:
    from core.commands._progress import TerminalProgress
    from core.learning.bundle import open_bundle

    bundle = open_bundle(args.bundle)
    files = list_images(Path(args.path))
    errors: dict[str, str] = {}
    progress = None if args.quiet or not args.csv else TerminalProgress()
    scores = bundle.score_paths(files, progress=progress, errors=errors)
    from core.cases import active_threshold

    threshold, _source = active_threshold(bundle)  # a site profile, when there is one, wins
    rows = []
    for f, s in zip(files, scores, strict=True):
        if math.isnan(float(s)):
            rows.append([str(f), "", "", f"{threshold:.6f}", errors.get(str(f), "unreadable")])
        else:
            label = "PNEUMONIA" if s >= threshold else "NORMAL"
            rows.append([str(f), f"{float(s):.6f}", label, f"{threshold:.6f}", ""])
    header = ["file", "score", "label", "threshold", "error"]
    if args.csv:
        out = Path(args.csv)
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
        try:
            with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                writer.writerow(header)
                writer.writerows(rows)
            os.replace(tmp, out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        n_bad = sum(1 for r in rows if r[4])
        n_pos = sum(1 for r in rows if r[2] == "PNEUMONIA")
        print(f"scored {len(rows) - n_bad} image(s), {n_pos} at or above threshold {threshold:.4f}; "
              f"{n_bad} unreadable; wrote {out}")
    else:
        writer = csv.writer(sys.stdout)
        writer.writerow(header)
        writer.writerows(rows)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("predict", help="score images with a model and write a CSV",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundle", metavar="BUNDLE", help="model bundle folder ('default' = the installed model)")
    p.add_argument("path", metavar="PATH", help="an image file or a folder of images (searched recursively)")
    p.add_argument("--csv", metavar="OUT", help="write the results to this CSV file (default: print them)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)

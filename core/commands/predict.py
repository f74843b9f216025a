"""``pneumoscope-cli predict``: score image files with a model bundle and write a CSV."""

from __future__ import annotations

import argparse
import csv
import sys

DESCRIPTION = """\
Score chest X-ray images (DICOM, PNG, JPEG, ...) with a model bundle.

PATH is one image or a folder (searched recursively). Each image gets a score, the
probability-like output of the model (0 = normal, 1 = pneumonia), and a label: PNEUMONIA
when the score is at or above the threshold in force, NORMAL below it (threshold_source
says where that threshold comes from). ood_distance is the image's distance from the
training X-rays in units of the model's cut-off (ood_flag = yes above 1); chest_view_warning
says when the tags or size suggest this is not a frontal chest X-ray. When the gate (ood_flag yes)
or that check fires there is no call: score reads "not applicable", label is empty and
no_call_reason says why. population_warning when
the DICOM age or view is outside the model card's intended population. Files that cannot be
read are listed with the reason in the error column.
Research use only - not for diagnosis.

Example:
  pneumoscope-cli predict ~/models/first ~/new_images --csv scores.csv
"""


def run(args: argparse.Namespace) -> int:
    from core.cases import (
        CSV_COLUMNS,
        active_threshold,
        case_row,
        list_images,
        score_files,
        summarize,
        write_cases_csv,
    )
    from core.commands._progress import TerminalProgress
    from core.learning.bundle import open_bundle

    bundle = open_bundle(args.bundle)
    files = list_images(args.path)
    threshold, source = active_threshold(bundle)
    progress = None if args.quiet or not args.csv else TerminalProgress()
    cases = score_files(bundle, files, threshold, source, progress=progress)
    if args.csv:
        out = write_cases_csv(cases, args.csv)
        counts = summarize(cases)
        print(f"scored {counts['scored']} image(s), {counts['positive']} at or above threshold {threshold:.4f} "
              f"({source}); {counts['not_applicable']} not applicable (not a chest X-ray like the training "
              f"data: no call); {counts['unreadable']} unreadable; wrote {out}")
    else:
        writer = csv.writer(sys.stdout)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(case_row(c) for c in cases)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("predict", help="score images with a model and write a CSV",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundle", metavar="BUNDLE", help="model bundle folder ('default' = the model in use in the app, 'shipped' = the shipped model)")
    p.add_argument("path", metavar="PATH", help="an image file or a folder of images (searched recursively)")
    p.add_argument("--csv", metavar="OUT", help="write the results to this CSV file (default: print them)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)

"""``pneumoscope-cli tune``: search hyperparameters on validation and save the best model."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Try several hyperparameter settings of a model (Bayesian optimisation with Keras Tuner),
score each on the validation split, and save the best one as a model bundle. The results
table is printed and kept in the bundle's card.

The default objective is val_auc: it judges how well a model separates NORMAL from
PNEUMONIA without fixing a threshold (the threshold is chosen afterwards, on validation).
Avoid val_recall alone: calling every image PNEUMONIA gives a perfect recall.
The test split is never used to choose; it is scored once for the saved model's card.

Example:
  pneumoscope-cli tune ~/chest_xray --out ~/models/tuned --model pneumonet --max-trials 8 --epochs 10
"""


def run(args: argparse.Namespace) -> int:
    from core.commands._progress import TerminalProgress
    from core.commands.train import check_config, config_from_args, summary
    from core.learning.tune import format_table, tune

    config = config_from_args(args)
    check_config(config)
    result = tune(config, max_trials=args.max_trials, objective=args.objective,
                  progress=None if args.quiet else TerminalProgress())
    print(format_table(result.table, result.objective))
    print(summary(result.best_bundle))
    return 0


def register(subparsers) -> None:
    from core.commands.train import add_common

    p = subparsers.add_parser("tune", help="search hyperparameters on validation, save the best model",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common(p, epochs=10)
    p.add_argument("--max-trials", type=int, default=10, help="how many settings to try (default 10)")
    p.add_argument("--objective", default="val_auc",
                   help="validation metric to optimise: val_auc (default), val_loss (minimised), "
                        "val_accuracy, val_precision, val_recall")
    p.set_defaults(func=run)

"""``pneumoscope-cli train``: train a model on a folder of labelled X-rays and save a bundle."""

from __future__ import annotations

import argparse
import json
from typing import Any

from core.learning.data import DatasetError

DESCRIPTION = """\
Train a pneumonia classifier on a folder of labelled chest X-rays and save it as a model
bundle (a folder with model.keras, card.json and scores.npz) that the app and the other
commands can open.

DATA must look like one of:
  DATA/train/NORMAL, DATA/train/PNEUMONIA   [+ DATA/val/...]  [+ DATA/test/...]
  DATA/NORMAL, DATA/PNEUMONIA               (then there is no test split)
If there is no val folder, or it has fewer than 100 images, a validation split is drawn
from train, keeping each patient's images on one side. Validation picks the best epoch and
the decision threshold; the test images are scored once, for the record.

Fine-tuning on a site's own cases (--init-from BUNDLE): DATA is then a site set, a folder with
NORMAL/ and PNEUMONIA/ inside or a CSV file,label[,patient]. Training starts from the bundle's
weights with a small learning rate (--lr, default 1e-4; batch normalisation stays frozen,
--freeze N also keeps the first N convolutions fixed). The site cases are split by patient into
train, validation (--val-fraction) and a held-out part (--holdout) that neither sees; the new
card names its parent, and `pneumoscope-cli evaluate NEW SITE --split site` compares the two on
cases the fine-tuning never used. Defaults with --init-from: 10 epochs, threshold sens:0.95.

Examples:
  pneumoscope-cli train ~/chest_xray --out ~/models/first --epochs 20
  pneumoscope-cli train ~/site_cases --init-from default --out ~/models/site_tuned --freeze 3
"""


def _hparam(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key.strip(), json.loads(value)
    except ValueError:
        return key.strip(), value


def add_common(p: argparse.ArgumentParser, epochs: int = 30) -> None:
    """Options shared by train and tune."""
    from core.learning.catalog import DEFAULT_MODEL, MODEL_NAMES

    p.add_argument("data", metavar="DATA", help="folder with the labelled images (see above)")
    p.add_argument("--out", required=True, metavar="BUNDLE", help="folder to write the model bundle to")
    p.add_argument("--model", default=DEFAULT_MODEL, choices=MODEL_NAMES,
                   help=f"architecture: pneumonet (small, fast, grey 128x128) or notebook (the course "
                        f"notebook's CNN, 150x150 RGB, 10.7M weights); default {DEFAULT_MODEL}")
    p.add_argument("--epochs", type=int, default=epochs,
                   help=f"most epochs to run (early stopping may end sooner; default {epochs})")
    p.add_argument("--batch-size", type=int, default=32, help="images per training step (default 32)")
    p.add_argument("--image-size", type=int, default=None,
                   help="side of the square model input in pixels (default: 128 pneumonet, 150 notebook)")
    p.add_argument("--loss", choices=("bce", "focal"), default="bce",
                   help="bce = binary cross-entropy (default); focal = focal loss, focuses on hard cases")
    p.add_argument("--no-class-weight", action="store_true",
                   help="do not up-weight the rarer class (NORMAL) during training")
    p.add_argument("--no-augment", action="store_true", help="turn off random rotation/shift/zoom of training images")
    p.add_argument("--hflip", action="store_true",
                   help="also mirror training images left-right (off by default: a mirrored chest puts the "
                        "heart on the wrong side, which never happens in real images)")
    p.add_argument("--brightness", type=float, default=0.0, help="random brightness change, e.g. 0.2 (default off)")
    p.add_argument("--contrast", type=float, default=0.0, help="random contrast change, e.g. 0.2 (default off)")
    p.add_argument("--seed", type=int, default=None, help="random seed for repeatable runs")
    p.add_argument("--val-fraction", type=float, default=0.2,
                   help="share of train used for validation when there is no big enough val folder (default 0.2)")
    p.add_argument("--split-seed", type=int, default=1337, help="seed of the validation split (default 1337)")
    p.add_argument("--patience", type=int, default=5, help="stop after this many epochs without a better val AUC")
    p.add_argument("--threshold", default="youden", metavar="METHOD",
                   help="how to pick the decision threshold on validation: youden (default), maxf1, "
                        "sens:0.95 (keep sensitivity >= 95%%), spec:0.9, cost:FN:FP")
    p.add_argument("--strategy", choices=("mirrored", "multiworker"), default=None,
                   help="spread training over several devices (mirrored) or machines (multiworker, "
                        "reads the TF_CONFIG variable)")
    p.add_argument("--hparam", type=_hparam, action="append", default=[], metavar="NAME=VALUE",
                   help="set a model hyperparameter, e.g. --hparam width=0.75 (repeatable)")
    who = p.add_argument_group("whom the model is for (stated in its card, checked in Review)")
    who.add_argument("--dataset-card", metavar="CARD",
                     help="the data's dataset card: a JSON file, or a built-in name (kermany). Default: "
                          "DATA/dataset.json if there is one; a fine-tuned model takes its site's images' tags")
    who.add_argument("--population-ages", metavar="LOW-HIGH", help="ages in years the model is for, e.g. 1-5")
    who.add_argument("--population-views", metavar="VIEWS", help="DICOM views it is for, e.g. PA,AP")
    who.add_argument("--population-description", metavar="TEXT", help="who the patients are, in words")
    who.add_argument("--intended-use", metavar="TEXT", help="intended use, in words (default from the card)")
    p.add_argument("--quiet", action="store_true", help="print only the result")


def population_flags(args: argparse.Namespace) -> dict[str, Any] | None:
    from core.trust.population import population_from_flags

    return population_from_flags(getattr(args, "population_ages", None), getattr(args, "population_views", None),
                                 getattr(args, "population_description", None))


def config_from_args(args: argparse.Namespace):
    from core.learning.train import TrainConfig

    hparams = dict(args.hparam)
    if args.image_size:
        hparams["image_size"] = args.image_size
    return TrainConfig(
        data_root=args.data, out=args.out, model=args.model, epochs=args.epochs if args.epochs is not None else 30,
        batch_size=args.batch_size,
        hparams=hparams, loss=args.loss, class_weight=not args.no_class_weight, augment=not args.no_augment,
        hflip=args.hflip, brightness=args.brightness, contrast=args.contrast, seed=args.seed,
        val_fraction=args.val_fraction, split_seed=args.split_seed, patience=args.patience,
        threshold_method=args.threshold or "youden", strategy=args.strategy,
        dataset_card=args.dataset_card, intended_population=population_flags(args), intended_use=args.intended_use,
    )


def check_config(config) -> None:
    """Turn bad option values into plain errors before minutes of loading."""
    from core.learning.catalog import resolve_hparams

    try:
        resolve_hparams(config.model, **config.hparams)
    except ValueError as exc:
        raise DatasetError(str(exc)) from exc
    try:
        from core.evaluation.choosers import parse_chooser
    except ImportError:
        return
    parse_chooser(config.threshold_method)
    from core.learning.train import intended_fields

    intended_fields(config, config.data_root)  # a missing or broken dataset card: say so now


def summary(bundle_path) -> str:
    from core.learning.bundle import load_bundle

    card = load_bundle(bundle_path).card
    lines = [f"saved model bundle: {bundle_path}",
             f"threshold {card['threshold']['value']:.4f} ({card['threshold']['reason']})"]
    for split, m in (card.get("metrics") or {}).items():
        auc = m.get("auc")
        at = m.get("at_threshold") or {}
        parts = [f"{split}: n={m.get('n')}"]
        if auc:
            parts.append(f"AUC {auc[0]:.3f} [{auc[1]:.3f}-{auc[2]:.3f}]")
        for key in ("sensitivity", "specificity", "accuracy"):
            if at.get(key):
                parts.append(f"{key[:4]} {at[key][0]:.3f}")
        lines.append("  ".join(parts))
    training = card["training"]
    lines.append(f"epochs run {training['epochs_run']} (best {training['best_epoch']}), "
                 f"{training['seconds']:.0f} s, {training['images_per_s']:.0f} images/s")
    skipped = card["data"].get("skipped") or []
    if skipped:
        lines.append(f"{len(skipped)} unreadable file(s) skipped (listed in card.json)")
    return "\n".join(lines)


def run_finetune(args: argparse.Namespace) -> int:
    from core.commands._progress import TerminalProgress
    from core.site.finetune import FinetuneConfig, finetune

    clashes = [flag for flag, used in (("--hparam", args.hparam), ("--image-size", args.image_size),
                                       ("--strategy", args.strategy)) if used]
    if clashes:
        raise DatasetError(f"{', '.join(clashes)} cannot be combined with --init-from: the fine-tuned model keeps "
                           "its parent's architecture and runs on one device")
    config = FinetuneConfig(
        site=args.data, init_from=args.init_from, out=args.out, epochs=args.epochs or 10, lr=args.lr,
        freeze=args.freeze, batch_size=args.batch_size, val_fraction=args.val_fraction, holdout=args.holdout,
        split_seed=args.split_seed, seed=args.seed, patience=args.patience,
        threshold_method=args.threshold or "sens:0.95", augment=not args.no_augment,
        dataset_card=args.dataset_card, intended_population=population_flags(args), intended_use=args.intended_use,
    )
    from core.evaluation.choosers import parse_chooser

    parse_chooser(config.threshold_method)
    from core.site.finetune import site_intended

    site_intended(config, None)  # a missing or broken dataset card: say so now
    out = finetune(config, progress=None if args.quiet else TerminalProgress())
    print(summary(out))
    from core.learning.bundle import load_bundle

    card = load_bundle(out).card
    parent = card.get("parent") or {}
    print(f"fine-tuned from {parent.get('name')} (sha256 {str(parent.get('sha256'))[:12]}); 'test' above is the "
          f"site's held-out part. Compare: pneumoscope-cli evaluate {out} {args.data} --split site")
    return 0


def run(args: argparse.Namespace) -> int:
    from core.commands._progress import TerminalProgress
    from core.learning.train import train

    if getattr(args, "init_from", None):
        return run_finetune(args)
    config = config_from_args(args)
    check_config(config)
    out = train(config, progress=None if args.quiet else TerminalProgress())
    print(summary(out))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a model on a folder of labelled X-rays",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common(p)
    ft = p.add_argument_group("fine-tuning on site data")
    ft.add_argument("--init-from", metavar="BUNDLE",
                    help="start from this model's weights and fine-tune on the site set DATA ('default' = the "
                         "installed model)")
    ft.add_argument("--lr", type=float, default=1e-4, help="fine-tuning learning rate (default 1e-4)")
    ft.add_argument("--freeze", type=int, default=0, metavar="N",
                    help="keep the first N convolution layers fixed (default 0)")
    ft.add_argument("--holdout", type=float, default=0.25, metavar="F",
                    help="share of site patients kept aside, never trained or validated on (default 0.25)")
    # None = the plain-training defaults (30 epochs, youden) or the fine-tuning ones (10, sens:0.95).
    p.set_defaults(func=run, epochs=None, threshold=None)

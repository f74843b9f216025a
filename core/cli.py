"""``pneumoscope-cli``: the core's command line (no Qt).

Each subcommand lives in ``core/commands/<name>.py`` and exposes ``register(subparsers)``
(adds its parser and sets ``func``) so that modules can be built independently.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from core.errors import PneumoscopeError

COMMANDS = ("train", "tune", "evaluate", "predict", "audit", "info", "site", "listen", "readers", "feedback")
# Subcommands that run the model; TensorFlow is imported (quietly) only for these.
# Only these import TensorFlow: every scoring command runs the bundle's LiteRT model (core.learning.runtime)
# and falls back to TensorFlow only where LiteRT is missing.
MODEL_COMMANDS = frozenset({"train", "tune"})

DESCRIPTION = """\
Pneumoscope command line: train, tune, evaluate and run a pneumonia classifier for chest X-rays.
Research use only - not for diagnostic use.

Typical use:
  pneumoscope-cli train  DATA --out my_model            # DATA has train/ [val/] [test/] with NORMAL/ and PNEUMONIA/
  pneumoscope-cli evaluate my_model DATA --split val --choose youden --report val.pdf
  pneumoscope-cli predict my_model folder_of_images --csv scores.csv
Run `pneumoscope-cli COMMAND --help` for the options of one command.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pneumoscope-cli", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    from core import __version__

    parser.add_argument("--version", action="version", version=f"pneumoscope {__version__}")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's own start-up and log messages (hidden by default)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"core.commands.{name}").register(sub)
    return parser


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and Keras with their start-up chatter (absl, oneDNN, CPU features) held back.

    The C++ libraries write to file descriptor 2 while they load, before any Python logging
    setting applies, so stderr is pointed at a temporary file for the import and restored after;
    if the import fails, what was held back is printed with the error.
    """
    import logging
    import warnings

    from core.learning.runtime import held_stderr

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with held_stderr():
        import keras  # noqa: F401
        import tensorflow as tf
    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"keras(\..*)?$")


def main(argv: list[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in raw
    raw = [a for a in raw if a != "--verbose"]
    parser = build_parser()
    args = parser.parse_args(raw)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if verbose:
        os.environ["PNEUMOSCOPE_VERBOSE"] = "1"  # the LiteRT runtime's own start-up lines too
    if not verbose and args.command in MODEL_COMMANDS:
        import_tensorflow_quietly()
    try:
        return int(args.func(args) or 0)
    except PneumoscopeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

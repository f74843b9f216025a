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

COMMANDS = ("train", "tune", "evaluate", "predict", "audit", "info", "site")

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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"core.commands.{name}")
        except ModuleNotFoundError as exc:  # a subcommand not built yet must not break the others
            if exc.name == f"core.commands.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
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

"""``pneumoscope-cli info``: versions, decoders and the model in use (paste into bug reports)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.sysinfo import format_sys_info, sys_info


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "info",
        help="show library versions, DICOM decoders and a model bundle's summary",
        description="Show what this installation runs: versions, DICOM decoders, and a model bundle "
        "(its hash, threshold and how it was chosen). Does not load TensorFlow.",
    )
    parser.add_argument("bundle", nargs="?", help="model bundle folder (default: the shipped model, if any)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


def _default_bundle() -> Path | None:
    try:
        from core.learning.bundle import default_bundle_path
    except ImportError:
        from core.paths import default_bundle_dir

        path = default_bundle_dir()
        return path if (path / "card.json").exists() else None
    return default_bundle_path()


def run(args: argparse.Namespace) -> int:
    if args.bundle:
        bundle: Path | None = Path(args.bundle)
        if not (bundle / "card.json").exists():
            from core.errors import PneumoscopeError

            raise PneumoscopeError(f"{bundle} is not a model bundle (no card.json in it)")
    else:
        bundle = _default_bundle()
    info = sys_info(bundle)
    print(json.dumps(info, indent=2, default=str) if args.json else format_sys_info(info))
    return 0

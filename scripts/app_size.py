"""What each package contributes to the frozen app (`make app`): sizes in MiB by package.

    python scripts/app_size.py [dist/Pneumoscope] [--json FILE] [--top 25]

Sizes are file sizes (bytes / 2**20), summed per top-level entry of the app's ``_internal`` folder
and grouped by the package that entry belongs to (``numpy.libs`` counts as numpy, a ``.dist-info``
folder as package metadata, loose ``lib*.so*`` files that are not Python's or Qt's as system
libraries). Symbolic links count as nothing, so a library reached through a link counts once.
The executable (bootloader plus the PYZ archive of Python bytecode) is its own row.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

MIB = 2**20

# Top-level names that belong to another package's row.
ALIASES = {
    "pillow": "PIL",
    "python_gdcm": "gdcm (python-gdcm)",
    "_gdcm": "gdcm (python-gdcm)",
    "gdcm": "gdcm (python-gdcm)",
    "_openjpeg": "openjpeg (pylibjpeg-openjpeg)",
    "openjpeg": "openjpeg (pylibjpeg-openjpeg)",
    "_charls": "jpeg_ls (pyjpegls)",
    "jpeg_ls": "jpeg_ls (pyjpegls)",
    "python3.11": "Python (stdlib, extension modules)",
    "base_library.zip": "Python (stdlib, extension modules)",
    "scikit_learn": "sklearn",
}


def _size(path: Path) -> int:
    if path.is_symlink():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def package_of(name: str) -> str:
    """The row a top-level entry of ``_internal`` is counted in."""
    if name.endswith(".dist-info"):
        return "package metadata (.dist-info)"
    if re.match(r"lib(python3|Qt6|icu|pyside6|shiboken6)", name, re.IGNORECASE):
        return "Python (libpython)" if name.lower().startswith("libpython") else "PySide6"
    if name.startswith("lib_pywrap_tensorflow"):
        return "tensorflow"
    if name.startswith("libgdcm"):
        return "gdcm (python-gdcm)"
    if re.match(r"lib.*\.(so|dylib)|.*\.dll$", name, re.IGNORECASE):
        return "system and vendored libraries"
    base = name.split(".cpython-")[0].split(".abi3")[0]
    base = base[: -len(".libs")] if base.endswith(".libs") else base
    return ALIASES.get(base.lower(), ALIASES.get(name, base))


def measure(app: Path) -> dict:
    internal = app / "_internal"
    if not internal.is_dir():
        raise SystemExit(f"{internal} is not a folder: build the app first (make app)")
    rows: dict[str, int] = {}
    for entry in internal.iterdir():
        key = package_of(entry.name)
        rows[key] = rows.get(key, 0) + _size(entry)
    rest = sum(_size(p) for p in app.iterdir() if p.name != "_internal")
    rows["executable (bootloader + PYZ bytecode)"] = rest
    total = sum(rows.values())
    return {"app": str(app), "total_mib": round(total / MIB, 1),
            "packages_mib": {k: round(v / MIB, 1) for k, v in sorted(rows.items(), key=lambda kv: -kv[1])}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("app", nargs="?", default="dist/Pneumoscope", type=Path)
    parser.add_argument("--json", type=Path, help="also write the table to this file")
    parser.add_argument("--top", type=int, default=25, help="rows to print (the rest are summed)")
    args = parser.parse_args(argv)
    result = measure(args.app)
    items = list(result["packages_mib"].items())
    for name, mib in items[: args.top]:
        print(f"{mib:9.1f}  {name}")
    if len(items) > args.top:
        print(f"{sum(m for _, m in items[args.top:]):9.1f}  ({len(items) - args.top} others)")
    print(f"{result['total_mib']:9.1f}  total MiB")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

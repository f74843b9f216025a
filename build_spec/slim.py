"""Slimming steps for build_spec/pneumoscope.spec (plain functions, so tests can check them).

- ``is_test_module``: Keras ships its unit tests inside the package (``keras.src.*_test``), and
  the TensorFlow hook collects every Keras submodule; they are never imported at run time.
- ``orphaned``: dropping a Qt plugin (say the GTK platform theme) leaves behind the system
  libraries that only it needed (cairo, pango, gdk-pixbuf, ...); find them from each binary's
  ELF ``NEEDED`` list.
- ``strip_binaries``: on Linux, copies of the collected shared libraries without their symbol
  tables (``strip --strip-unneeded``; the dynamic symbols stay). TensorFlow's libraries alone
  carry about 225 MiB of symbols. Files patched by auditwheel (in a ``*.libs`` folder, or whose
  RPATH points into one) are left alone: strip corrupts the extra segments patchelf adds to them
  ("ELF load command address/offset not page-aligned" at import). Qt's libraries and plugins are
  left alone too: little to gain, and only the offscreen platform is exercised by the self-test.

Each function takes and returns PyInstaller TOC entries ``(dest, src, typecode)``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

Entry = tuple[str, str, str]

_KERAS_TEST = re.compile(r"^keras\..*(_test|\.conftest)$")
_TEST_PACKAGES = ("h5py.tests", "tensorflow.dtensor.python.tests")
# Binaries never stripped: Qt (see the module doc) and the Python-binding glue next to it.
_NO_STRIP_PREFIXES = ("PySide6/", "shiboken6/")


def is_test_module(name: str) -> bool:
    """True for test modules that packages ship inside themselves and nothing imports at run time."""
    if _KERAS_TEST.match(name):
        return True
    return any(name == pkg or name.startswith(pkg + ".") for pkg in _TEST_PACKAGES)


def _readelf_dynamic(path: str) -> str:
    try:
        return subprocess.run(["readelf", "-d", "-W", path], capture_output=True, text=True, check=False).stdout
    except OSError:  # no binutils: treat as unknown
        return ""


def elf_needed(path: str) -> list[str]:
    """The sonames an ELF file lists as NEEDED (empty when it is not ELF or readelf is missing)."""
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", _readelf_dynamic(path))


def elf_runpath(path: str) -> str:
    found = re.findall(r"\((?:RPATH|RUNPATH)\)\s+Library (?:rpath|runpath): \[([^\]]*)\]", _readelf_dynamic(path))
    return ":".join(found)


def orphaned(
    kept: Iterable[Entry], dropped: Iterable[Entry], needed: Callable[[str], list[str]] = elf_needed
) -> set[str]:
    """Destinations of kept libraries that only dropped binaries need, directly or through each other.

    A library counts as orphaned when a dropped binary needs it (transitively) and no kept binary
    outside that set does. Libraries nothing links to (loaded with dlopen or ctypes) are never
    candidates, so they stay.
    """
    kept = [e for e in kept if e[2] != "SYMLINK"]
    by_name: dict[str, str] = {}
    for dest, _src, _kind in kept:
        by_name.setdefault(os.path.basename(dest), dest)
    src_of = {dest: src for dest, src, _ in kept}
    deps: dict[str, list[str]] = {}

    def needs(dest_or_src: str, is_src: bool = False) -> list[str]:
        src = dest_or_src if is_src else src_of[dest_or_src]
        if src not in deps:
            deps[src] = [by_name[n] for n in needed(src) if n in by_name]
        return deps[src]

    def closure(starts: list[str]) -> set[str]:
        seen: set[str] = set()
        todo = list(starts)
        while todo:
            dest = todo.pop()
            if dest in seen:
                continue
            seen.add(dest)
            todo += needs(dest)
        return seen

    from_dropped: set[str] = set()
    for _dest, src, kind in dropped:
        if kind != "SYMLINK":
            from_dropped |= closure(needs(src, is_src=True))
    roots = [dest for dest, _, _ in kept if dest not in from_dropped]
    return from_dropped - closure(roots)


def without(entries: Iterable[Entry], dests: set[str]) -> list[Entry]:
    """Entries minus those destinations, and minus symbolic links that pointed at them."""
    return [e for e in entries if e[0] not in dests and not (e[2] == "SYMLINK" and e[1] in dests)]


def strippable(dest: str, src: str, runpath: str = "") -> bool:
    """Whether a collected binary may be stripped (Linux ELF shared objects only; see module doc)."""
    name = dest.replace("\\", "/")
    if not re.search(r"\.so(\.[0-9.]+)?$", name):
        return False
    if name.startswith(_NO_STRIP_PREFIXES) or "/libQt6" in name or name.startswith("libQt6"):
        return False
    parents = Path(src).parts[:-1] + tuple(name.split("/")[:-1])
    if any(p.endswith(".libs") for p in parents):
        return False
    return ".libs" not in runpath


def strip_binaries(entries: list[Entry], workdir: Path, log: Callable[[str], None] = print) -> list[Entry]:
    """Entries with strippable binaries replaced by stripped copies under ``workdir``.

    Only on Linux with ``strip`` available; anything else returns the entries unchanged. A copy
    that strip fails on keeps the original.
    """
    if not sys.platform.startswith("linux") or shutil.which("strip") is None:
        log("slim: strip not used on this platform")
        return list(entries)
    out: list[Entry] = []
    saved = 0
    for dest, src, kind in entries:
        if kind in ("BINARY", "EXTENSION") and strippable(dest, src, elf_runpath(src)):
            copy = workdir / dest
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, copy)
            res = subprocess.run(["strip", "--strip-unneeded", str(copy)], capture_output=True, text=True)
            if res.returncode == 0:
                saved += os.path.getsize(src) - copy.stat().st_size
                out.append((dest, str(copy), kind))
                continue
            log(f"slim: strip failed on {dest}, kept as is: {res.stderr.strip()[:200]}")
        out.append((dest, src, kind))
    log(f"slim: stripped symbol tables, {saved / 2**20:.1f} MiB saved")
    return out


def package_modules(root: Path, package: str) -> list[str]:
    """Every module of a package in a source tree, by file name (nothing is imported)."""
    names = []
    for path in sorted((Path(root) / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if "__pycache__" in parts:
            continue
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


def minified_json(entries: list[Entry], workdir: Path, prefixes: tuple[str, ...]) -> list[Entry]:
    """Data entries with the JSON files under ``prefixes`` replaced by compact copies (same data:
    ``json.load`` gives an equal object). highdicom's DICOM standard tables are pretty-printed:
    22 MiB, 15 MiB without the indentation."""
    import json

    out: list[Entry] = []
    for dest, src, kind in entries:
        name = dest.replace("\\", "/")
        if kind == "DATA" and name.endswith(".json") and name.startswith(prefixes):
            with open(src, encoding="utf-8") as f:
                data = json.load(f)
            if name.endswith("highdicom/_standard/module_attribute_map.json"):
                iod_file = Path(src).with_name("iod_module_map.json")
                data = trimmed_module_attribute_map(data, json.loads(iod_file.read_text(encoding="utf-8")))
            copy = workdir / name
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_text(json.dumps(data, separators=(",", ":"), ensure_ascii=False), encoding="utf-8")
            out.append((dest, str(copy), kind))
        else:
            out.append((dest, src, kind))
    return out


# IODs whose modules highdicom needs in full in this app: what the node writes (TID 1500 and
# legacy SR, Parametric Map, Secondary Capture) and what it reads (CR, DX, SC sources).
FULL_IODS = (
    "parametric-map", "comprehensive-3d-sr", "comprehensive-sr", "enhanced-sr", "basic-text-sr",
    "key-object-selection-document", "secondary-capture-image",
    "multi-frame-true-color-secondary-capture-image", "multi-frame-grayscale-byte-secondary-capture-image",
    "multi-frame-grayscale-word-secondary-capture-image", "multi-frame-single-bit-secondary-capture-image",
    "computed-radiography-image", "digital-x-ray-image", "segmentation",
)


def trimmed_module_attribute_map(data: dict, iod_module_map: dict, full_iods: tuple[str, ...] = FULL_IODS) -> dict:
    """highdicom's module -> attributes table with nested attributes kept only where this app
    needs them (15 MiB -> 6 MiB). Every module keeps its key and its root-level attributes, which
    is all that highdicom's ``_copy_root_attributes_of_module`` reads for any other IOD; the
    modules of ``full_iods``, the functional-group modules (Parametric Map frames) and those
    highdicom checks in full (segmentation, specimen) keep everything."""
    full = {m["key"] for iod in full_iods for m in iod_module_map.get(iod, [])}
    full |= {k for k in data if "functional-groups" in k or k.startswith("segmentation") or k == "specimen"}
    return {k: (v if k in full else [a for a in v if len(a["path"]) == 0]) for k, v in data.items()}


# ICU's "stub data" (as ICU's own source/stubdata builds it): a common-data package with no
# entries, under the one symbol libicuuc looks for. ICU then finds no locale data, and the calls
# that need it (collation, non-UTF codecs, break rules) return an error that Qt answers with its
# own fallbacks; case mapping and NFC normalisation live in libicuuc itself.
_ICU_STUB_C = """
#include <stdint.h>
typedef struct {
    uint16_t headerSize; uint8_t magic1, magic2;                      /* MappedData */
    uint16_t size, reservedWord; uint8_t isBigEndian, charsetFamily,  /* UDataInfo */
        sizeofUChar, reservedByte, dataFormat[4], formatVersion[4], dataVersion[4];
    uint8_t padding[8];                                               /* header is 32 bytes */
    uint32_t count, reserved;                                         /* an empty table of contents */
    uint32_t toc[2];
} StubData;
__attribute__((visibility("default"))) const StubData %(symbol)s = {
    32, 0xda, 0x27, 20, 0, 0, 0, 2, 0, {0x43, 0x6d, 0x6e, 0x44}, {1, 0, 0, 0}, {0, 0, 0, 0},
    {0, 0, 0, 0, 0, 0, 0, 0}, 0, 0, {0, 0}
};
"""


def icu_data_stub(entries: list[Entry], workdir: Path, log: Callable[[str], None] = print) -> list[Entry]:
    """Entries with Qt's ICU data library (``libicudata.so.NN``, 30 MiB of locale tables the app
    does not use: it sorts, converts and breaks no text through ICU) replaced by ICU's empty
    stub, compiled here. Linux with a C compiler only; otherwise, or if compiling fails, the
    entries come back unchanged. ``PNEUMOSCOPE_APP_KEEP_ICU=1`` keeps the real data."""
    if not sys.platform.startswith("linux") or os.environ.get("PNEUMOSCOPE_APP_KEEP_ICU") == "1":
        return list(entries)
    compiler = shutil.which("cc") or shutil.which("gcc")
    out: list[Entry] = []
    for dest, src, kind in entries:
        match = re.search(r"(^|/)libicudata\.so\.(\d+)$", dest.replace("\\", "/"))
        if match is None or kind != "BINARY":
            out.append((dest, src, kind))
            continue
        if compiler is None:
            log("slim: no C compiler, ICU data kept")
            out.append((dest, src, kind))
            continue
        version = match.group(2)
        folder = workdir / "icu-stub"
        folder.mkdir(parents=True, exist_ok=True)
        source = folder / "icudata_stub.c"
        source.write_text(_ICU_STUB_C % {"symbol": f"icudt{version}_dat"})
        lib = folder / f"libicudata.so.{version}"
        res = subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-o", str(lib), str(source),
                              f"-Wl,-soname,libicudata.so.{version}"], capture_output=True, text=True)
        if res.returncode != 0:
            log(f"slim: the ICU stub did not compile, ICU data kept: {res.stderr.strip()[:200]}")
            out.append((dest, src, kind))
            continue
        log(f"slim: ICU data {dest} ({os.path.getsize(src) / 2**20:.1f} MiB) replaced by ICU's empty stub")
        out.append((dest, str(lib), kind))
    return out

"""Bundle integrity: model file hashes, refusal of code-carrying models, crash-safe folder swaps.

A model whose Keras config holds a Lambda layer (arbitrary code) is refused before Keras sees it.
A bundle folder is replaced atomically (Linux renameat2 exchange, else two renames that
:func:`recover_swap` completes after a crash), so readers see the old or the new bundle, never half of one.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import json
import os
import shutil
import sys
import uuid
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from core.errors import PneumoscopeError

MODEL_FILE = "model.keras"
CARD_FILE = "card.json"


class BundleError(PneumoscopeError):
    """A model bundle cannot be read, trusted or written (message says why)."""


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()



def rows_sha256(rows: list[str]) -> str:
    """sha256 over text rows in sorted order: a fingerprint of a file list that ignores listing order."""
    h = hashlib.sha256()
    for row in sorted(rows):
        h.update(row.encode("utf-8", "surrogatepass") + b"\n")
    return h.hexdigest()


def file_list_sha256(entries: Iterable[tuple[Sequence[str], str | os.PathLike[str]]]) -> str:
    """Fingerprint of a labelled file list: each entry's fields (split, class, name...) and its
    file's size in bytes (-1 when it cannot be read), tab-joined, in sorted order. Changes when
    a file is added, removed, relabelled or rewritten with another size."""
    rows = []
    for fields, path in entries:
        try:
            size = os.stat(path).st_size
        except OSError:
            size = -1
        rows.append("\t".join([*fields, str(size)]))
    return rows_sha256(rows)


def _find_lambda(node: Any) -> bool:
    if isinstance(node, dict):
        if node.get("class_name") in ("Lambda", "TFOpLambda"):
            return True
        return any(_find_lambda(v) for v in node.values())
    if isinstance(node, list):
        return any(_find_lambda(v) for v in node)
    return False


def check_model_file(model_file: Path) -> None:
    try:
        with zipfile.ZipFile(model_file) as zf:
            config = json.loads(zf.read("config.json"))
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise BundleError(f"{model_file} is not a readable Keras model file") from exc
    if _find_lambda(config):
        raise BundleError(
            "this model contains a Lambda layer (arbitrary Python code) and was refused for safety; "
            "only models built from standard or Pneumoscope layers can be opened"
        )


def recover_swap(path: Path) -> None:
    """Finish a swap interrupted between its two renames (fallback path of _swap_in)."""
    if path.exists():
        return
    olds = sorted(path.parent.glob(f".{path.name}.old-*"))
    news = sorted(path.parent.glob(f".{path.name}.new-*"))
    for candidate in news + olds:
        if (candidate / MODEL_FILE).exists() and (candidate / CARD_FILE).exists() and (candidate / ".complete").exists():
            with contextlib.suppress(OSError):
                os.rename(candidate, path)
                return


def remove_leftovers(dest: Path) -> None:
    """Delete temp folders of earlier saves to ``dest`` that were killed mid-way.

    Only once ``dest`` itself is a complete bundle (after _recover), so nothing that could still
    be the only copy is removed. Saves to one destination are not concurrent (one trainer each).
    """
    if not (dest / MODEL_FILE).exists():
        return
    for stale in [*dest.parent.glob(f".{dest.name}.new-*"), *dest.parent.glob(f".{dest.name}.old-*")]:
        shutil.rmtree(stale, ignore_errors=True)



def fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(folder: Path) -> None:
    for f in folder.iterdir():
        if f.is_file():
            with open(f, "rb+") as fh:
                os.fsync(fh.fileno())
    fsync_dir(folder)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with Linux renameat2(RENAME_EXCHANGE); False if unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return rc == 0


def swap_in(tmp: Path, dest: Path) -> None:
    if not dest.exists():
        os.rename(tmp, dest)
    elif _exchange(tmp, dest):
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old bundle
    else:
        # Two renames; a crash in between leaves .dest.old-* and .dest.new-*, which
        # load_bundle's _recover puts back in place.
        old = dest.parent / f".{dest.name}.old-{uuid.uuid4().hex[:8]}"
        os.rename(dest, old)
        os.rename(tmp, dest)
        shutil.rmtree(old, ignore_errors=True)
    fsync_dir(dest.parent)


"""A guard against a reference-count bug in PySide6 6.12 on Python 3.11.

Measured in this project's environment (PySide6 6.12.0, CPython 3.11): every Python
``Signal.emit()`` gives back ``True`` without taking a reference to it, and every Python
``QRunnable.run()`` that Qt's thread pool calls drops one reference to ``None``. Each emit thus
takes one reference from ``True``; once TensorFlow is loaded about 39,000 exist, and when the count
reaches zero CPython aborts ("Fatal Python error: bool_dealloc"). A long training run (10 progress
reports a second) or a long review session would end that way.

Python 3.12 makes these objects immortal. On older Pythons :func:`install` checks whether the
running PySide6 has the bug and only then gives ``True``, ``False`` and ``None`` a reserve of
2**40 references, so that they can never be freed (they never are in a correct program).
"""

from __future__ import annotations

import ctypes
import sys

RESERVE = 1 << 40
_installed = False
_checked = False


def emit_loses_references(n: int = 64) -> bool:
    """Does a Python ``emit`` take a reference from ``True`` in this PySide6?"""
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        ping = Signal()

    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(n):
        probe.ping.emit()
    return sys.getrefcount(True) <= before - n // 2


def install() -> bool:
    """Protect True, False and None when (and only when) the bug is present; True if it did."""
    global _installed, _checked
    if _installed or _checked:
        return _installed
    _checked = True
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False
    if not emit_loses_references():
        return False
    for obj in (True, False, None):
        ctypes.c_ssize_t.from_address(id(obj)).value += RESERVE  # ob_refcnt is a PyObject's first field
    _installed = True
    return True

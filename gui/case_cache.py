"""Review's memory of cases, bounded (issue 20, item 7).

Review used to keep every scored case, pixels and heat map included, for the whole session: about
5 MB a case for a 1024 px image. Now it keeps

- :class:`CaseCache`: the few most recently shown cases in full (image, scored case, coloured heat
  map), least recently used first out, bounded by count and by bytes. A case that has left it is
  opened and scored again from its file when the user goes back to it.
- :func:`slim`: for every case scored this session, only what site drift needs (score, OOD), not
  its pixels or heat map.
"""

from __future__ import annotations

import dataclasses
import os
from collections import OrderedDict
from typing import Any

import numpy as np

MAX_CASES = 8
MAX_BYTES = 192 * 2**20


def _nbytes(*objects: Any) -> int:
    total = 0
    for obj in objects:
        if isinstance(obj, np.ndarray):
            total += obj.nbytes
        elif obj is not None:
            total += _nbytes(getattr(obj, "pixels", None), getattr(obj, "heatmap", None))
            meta = getattr(obj, "meta", None)
            if isinstance(meta, dict):
                total += _nbytes(*(v for v in meta.values() if isinstance(v, np.ndarray)))
    return total


def file_key(path: str, model: str) -> tuple[str, str, int, int]:
    """Which file, as it is on disk now, scored by which model (a changed file is a new entry)."""
    try:
        st = os.stat(path)
        return (str(path), model, st.st_mtime_ns, st.st_size)
    except OSError:
        return (str(path), model, -1, -1)


def slim(case: Any) -> Any:
    """The case without its image and heat map: what drift needs, a few hundred bytes."""
    return dataclasses.replace(case, xray=None, heatmap=None)


class CaseCache:
    """Least-recently-used (xray, case, rgba) entries, at most ``max_cases`` and ``max_bytes``."""

    def __init__(self, max_cases: int = MAX_CASES, max_bytes: int = MAX_BYTES) -> None:
        self.max_cases = max_cases
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Any, tuple[tuple[Any, Any, Any], int]] = OrderedDict()
        self.nbytes = 0
        self.hits = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Any) -> tuple[Any, Any, Any] | None:
        item = self._entries.get(key)
        if item is None:
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return item[0]

    def put(self, key: Any, xray: Any, case: Any, rgba: Any) -> None:
        size = _nbytes(xray, rgba) + _nbytes(getattr(case, "heatmap", None))
        self.pop(key)
        if size > self.max_bytes:
            return  # one case bigger than the whole budget is not kept
        self._entries[key] = ((xray, case, rgba), size)
        self.nbytes += size
        while len(self._entries) > self.max_cases or self.nbytes > self.max_bytes:
            _, (_, dropped) = self._entries.popitem(last=False)
            self.nbytes -= dropped
            self.evictions += 1

    def pop(self, key: Any) -> None:
        item = self._entries.pop(key, None)
        if item is not None:
            self.nbytes -= item[1]

    def clear(self) -> None:
        self._entries.clear()
        self.nbytes = 0

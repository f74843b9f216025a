"""Terminal progress for long commands, fed by core Progress events (no dependencies).

On a terminal it redraws one line (bar, batch, ETA, metrics); when output goes to a file or a
pipe it prints plain lines instead, and only at milestones, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

_SHOWN = ("loss", "accuracy", "auc", "val_loss", "val_auc")


def format_eta(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "--"
    seconds = round(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


def _metrics(logs: dict[str, float]) -> str:
    return "  ".join(f"{k} {logs[k]:.3f}" for k in _SHOWN if k in logs)


class TerminalProgress:
    """Callable taking a core Progress event; ``TerminalProgress()(event)``."""

    def __init__(self, stream: TextIO | None = None, width: int = 24, tty: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.width = width
        self.tty = self.stream.isatty() if tty is None else tty
        self._last_stage = ""
        self._last_line_len = 0
        self._last_quarter = -1
        self._last_draw = 0.0

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def _line(self, text: str) -> None:
        if self.tty and self._last_line_len:
            self._write("\r" + " " * self._last_line_len + "\r")
            self._last_line_len = 0
        self._write(text + "\n")

    def _redraw(self, text: str) -> None:
        now = time.monotonic()
        if now - self._last_draw < 0.1:  # redraw at most 10 times a second
            return
        self._last_draw = now
        pad = max(0, self._last_line_len - len(text))
        self._write("\r" + text + " " * pad)
        self._last_line_len = len(text)

    def _bar(self, fraction: float) -> str:
        filled = round(max(0.0, min(1.0, fraction)) * self.width)
        return "[" + "#" * filled + "." * (self.width - filled) + "]"

    def __call__(self, event: Any) -> None:
        stage = event.stage
        new_stage = stage != self._last_stage
        self._last_stage = stage
        if new_stage:
            self._last_quarter = -1
        if stage == "epoch_end":
            self._line(event.message or f"epoch {event.epoch}/{event.epochs}  {_metrics(event.logs)}")
        elif stage in ("loading", "predicting"):
            label = "reading images" if stage == "loading" else "scoring images"
            if self.tty:
                self._redraw(f"{label} {self._bar(event.fraction)} {event.batch}/{event.batches}")
                if event.batch >= event.batches:
                    self._line(f"{label}: {event.batches} done")
            else:
                quarter = int(event.fraction * 4)
                if quarter != self._last_quarter:
                    self._last_quarter = quarter
                    self._line(f"{label} {event.batch}/{event.batches}")
        elif stage == "training":
            text = (f"epoch {event.epoch}/{event.epochs} {self._bar(event.batch / max(1, event.batches))} "
                    f"{event.batch}/{event.batches}  ETA {format_eta(event.eta_s)}  {_metrics(event.logs)}")
            if self.tty:
                self._redraw(text)
            else:  # a line at each quarter of an epoch
                key = event.epoch * 10 + int(4 * event.batch / max(1, event.batches))
                if key != self._last_quarter and key % 10 in (1, 2, 3):
                    self._line(text)
                self._last_quarter = key
        elif event.message and (new_stage or stage == "trial"):
            self._line(event.message)

"""Progress events and cooperative cancellation for long core functions (no Qt)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from core.errors import PneumoscopeError


class Cancelled(PneumoscopeError):
    """The user asked to stop; nothing was written."""

    def __init__(self, message: str = "cancelled by the user; nothing was saved") -> None:
        super().__init__(message)


@dataclass
class Progress:
    """One progress event from a long core function (training, tuning, loading, prediction)."""

    stage: str
    epoch: int = 0
    epochs: int = 0
    batch: int = 0
    batches: int = 0
    logs: dict[str, float] = field(default_factory=dict)
    message: str = ""
    eta_s: float | None = None
    fraction: float = 0.0


ProgressFn = Callable[[Progress], None] | None
StopFn = Callable[[], bool] | None

"""Plain application state that widgets observe (napari's model/view split).

Widgets never talk to each other: they change :class:`AppState` and render what its
signals tell them. The state holds the active model bundle, the operating threshold
that review uses (core.cases.active_threshold: a site or adopted profile, else the bundle's own)
with where it comes from, and the case on screen.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal


class AppState(QObject):
    bundleChanged = Signal(object)  # ModelBundle | None
    thresholdChanged = Signal(float)  # operating threshold used by review
    statusMessage = Signal(str)
    loadingChanged = Signal(str)  # what is being loaded ("" once nothing is)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bundle: Any = None
        self._threshold: float | None = None
        self._threshold_source = ""
        self._case: Any = None
        self._loading = ""

    @property
    def bundle(self) -> Any:
        return self._bundle

    @property
    def threshold(self) -> float | None:
        return self._threshold

    @property
    def threshold_source(self) -> str:
        """Where the threshold in force comes from, in words ("site threshold 0.710, set ...")."""
        return self._threshold_source

    @property
    def case(self) -> Any:
        return self._case

    @property
    def loading(self) -> str:
        """What the app is loading in the background ("" when nothing): a model is on its way."""
        return self._loading

    def set_loading(self, text: str) -> None:
        if text != self._loading:
            self._loading = text
            self.loadingChanged.emit(text)

    def set_bundle(self, bundle: Any) -> None:
        old = self._threshold
        self._bundle = bundle
        self._threshold, self._threshold_source = self._in_force(bundle)
        self.bundleChanged.emit(bundle)  # listeners already see the new bundle's threshold
        if self._threshold is not None and self._threshold != old:
            self.thresholdChanged.emit(self._threshold)

    @staticmethod
    def _in_force(bundle: Any) -> tuple[float | None, str]:
        if bundle is None:
            return None, ""
        from core.cases import active_threshold

        return active_threshold(bundle)

    def refresh_threshold(self) -> None:
        """Take the threshold in force for the bundle from core (after a profile was saved or cleared)."""
        value, source = self._in_force(self._bundle)
        self.set_threshold(value, source)

    def set_threshold(self, value: float | None, source: str | None = None) -> None:
        if value is None:
            self._threshold = None
            self._threshold_source = ""
            return
        value = float(value)
        changed = value != self._threshold or (source is not None and source != self._threshold_source)
        self._threshold_source = source if source is not None else f"set on the Threshold screen ({value:.3f})"
        if changed:
            self._threshold = value
            self.thresholdChanged.emit(value)

    def set_case(self, xray: Any) -> None:
        self._case = xray

    def status(self, text: str) -> None:
        self.statusMessage.emit(text)

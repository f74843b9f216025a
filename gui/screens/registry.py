"""The screens of the main window, one entry each: adding a screen is one :class:`ScreenSpec` here.

The main window builds its tabs, its View menu (with the keys that show each tab), the window-level
signal connections, the "quit while busy?" question and the shutdown order from :data:`SCREENS`.
A screen class takes the :class:`gui.state.AppState` and has ``shutdown()``; it is imported only
when the screen is first built (most screens pull in matplotlib), so the factory is named by string.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ScreenSpec:
    name: str  # the window's attribute (``window.threshold``) and the tab's ``lazyName``
    title: str  # the tab's text
    factory: str  # "module:Class"; the class is called with the AppState
    object_name: str  # the screen widget's objectName
    shortcut: str | None = None  # the key that shows the tab (View menu)
    eager: bool = False  # built with the window, not on first view
    build_now: Callable[[], bool] | None = None  # built at start-up when this says so
    connect: dict[str, str] = field(default_factory=dict)  # screen signal -> window method
    busy_question: tuple[str, str] | None = None  # (title, text) asked on quit while is_running()

    def build(self, state: Any) -> Any:
        module, _, cls = self.factory.partition(":")
        widget = getattr(importlib.import_module(module), cls)(state)
        if not widget.objectName():
            widget.setObjectName(self.object_name)
        return widget


def _node_enabled() -> bool:
    from core.errors import PneumoscopeError
    from core.node.config import load_settings

    try:
        return load_settings().enabled
    except PneumoscopeError:
        return False  # the Worklist screen shows what is wrong with the settings


SCREENS: tuple[ScreenSpec, ...] = (
    ScreenSpec("review", "Review", "gui.screens.review:ReviewWidget", "reviewScreen", "Ctrl+1", eager=True),
    # the DICOM node starts with the app: build its screen at start-up when it is enabled
    ScreenSpec("worklist", "Worklist", "gui.screens.worklist:WorklistWidget", "worklistScreen", "Ctrl+2",
               build_now=_node_enabled, connect={"openRequested": "open_in_review"}),
    ScreenSpec("threshold", "Threshold", "gui.screens.threshold:ThresholdExplorer", "thresholdScreen", "Ctrl+3"),
    ScreenSpec("train", "Train", "gui.screens.train:TrainWidget", "trainScreen", "Ctrl+4",
               connect={"activateRequested": "open_bundle"},
               busy_question=("Training is running", "A model is being trained. Stop training and quit? "
                              "Nothing from this run will be saved.")),
    ScreenSpec("evaluate", "Evaluate", "gui.screens.evaluate:EvaluateWidget", "evaluateScreen", "Ctrl+5"),
    ScreenSpec("read", "Read", "gui.screens.read:ReadWidget", "readScreen", "Ctrl+6"),
)


def spec(name: str) -> ScreenSpec:
    return next(s for s in SCREENS if s.name == name)

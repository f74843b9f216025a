"""Help > Keyboard shortcuts and Help > User guide.

The shortcuts list is read from the window itself (every QAction and QShortcut that has a key),
so it cannot drift from what the keys really do. A QShortcut says what it does through its
``whatsThis`` text; an action through its menu text.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from gui.resources import read_text

MOUSE_ROWS = (
    ("Mouse wheel", "Zoom the image in or out", "Review"),
    ("Left drag", "Pan the image", "Review"),
    ("Right drag or Shift+left drag", "Window/level: across = contrast, up/down = brightness", "Review"),
    ("Drop files or a folder", "Open them as the case list", "Review"),
)


def _keys(sequences: list[QKeySequence]) -> str:
    return ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in sequences if not s.isEmpty())


def _screen_of(widget: QWidget | None, window: QWidget) -> str:
    """The tab title of the screen a widget belongs to, or "Everywhere" for the window's own keys."""
    tabs = window.findChild(QTabWidget, "screens")
    while widget is not None and widget is not window:
        if tabs is not None:
            index = tabs.indexOf(widget)
            if index >= 0:
                return tabs.tabText(index).replace("&", "")
        widget = widget.parentWidget()
    return "Everywhere"


def shortcut_rows(window: QWidget) -> list[tuple[str, str, str]]:
    """(keys, what they do, where) for every action and shortcut of ``window`` that has a key."""
    rows: list[tuple[str, str, str]] = []
    for action in window.findChildren(QAction):
        keys = _keys(action.shortcuts())
        if keys and action.text():
            rows.append((keys, action.text().replace("&", "").rstrip(".").rstrip("."), "Everywhere"))
    merged: dict[tuple[str, str], list[QKeySequence]] = {}
    for shortcut in window.findChildren(QShortcut):
        if shortcut.key().isEmpty() or not shortcut.isEnabled():
            continue
        what = shortcut.whatsThis() or "(no description)"
        where = _screen_of(shortcut.parent() if isinstance(shortcut.parent(), QWidget) else None, window)
        merged.setdefault((what, where), []).append(shortcut.key())
    rows += [(_keys(keys), what, where) for (what, where), keys in merged.items()]
    return sorted(rows, key=lambda r: (r[2] != "Everywhere", r[2], r[1].lower()))


class ShortcutsDialog(QDialog):
    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(620, 460)
        layout = QVBoxLayout(self)
        rows = shortcut_rows(window) + list(MOUSE_ROWS)
        self.table = QTableWidget(len(rows), 3)
        self.table.setObjectName("shortcutsTable")
        self.table.setHorizontalHeaderLabels(["Keys", "Does", "Where"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        for i, row in enumerate(rows):
            for j, text in enumerate(row):
                self.table.setItem(i, j, QTableWidgetItem(text))
        layout.addWidget(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def rows(self) -> list[tuple[str, str, str]]:
        return [tuple(self.table.item(i, j).text() for j in range(3)) for i in range(self.table.rowCount())]


class UserGuideDialog(QDialog):
    """The short user guide (resources/user_guide.html), in a non-modal window beside the app."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Pneumoscope user guide")
        self.setWindowFlag(Qt.WindowType.WindowContextHelpButtonHint, False)
        self.resize(720, 680)
        layout = QVBoxLayout(self)
        self.browser = QTextBrowser()
        self.browser.setObjectName("userGuide")
        self.browser.setOpenExternalLinks(False)
        self.browser.setHtml(read_text("user_guide.html", "<p>The user guide file is missing from resources/.</p>"))
        layout.addWidget(self.browser)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

"""Adding a screen is one entry in gui.screens.registry.SCREENS (issue 20, item 8): the window builds
its tab, View-menu key, signal wiring, quit question and shutdown from it."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QMessageBox, QVBoxLayout, QWidget

from gui.screens import registry

SHUT: list[str] = []


class NotesScreen(QWidget):
    """A stand-in screen, only for this test."""

    pinged = Signal(str)

    def __init__(self, state) -> None:
        super().__init__()
        self.state = state
        QVBoxLayout(self).addWidget(QLabel("notes"))
        self.busy = False

    def is_running(self) -> bool:
        return self.busy

    def shutdown(self) -> None:
        SHUT.append("notes")


def _notes_spec() -> registry.ScreenSpec:
    return registry.ScreenSpec("notes", "Notes", f"{__name__}:NotesScreen", "notesScreen", "Ctrl+9",
                               connect={"pinged": "open_in_review"},
                               busy_question=("Notes are busy", "Quit anyway?"))


def _view_menu(win):
    return next(a.menu() for a in win.menuBar().actions() if a.text() == "&View")


def test_one_registry_entry_adds_tab_menu_key_wiring_and_shutdown(qtbot, monkeypatch):
    monkeypatch.setattr(registry, "SCREENS", (*registry.SCREENS, _notes_spec()))
    from gui.window import create_window

    SHUT.clear()
    win = create_window(load_default=False)
    qtbot.addWidget(win)
    titles = [win.tabs.tabText(i) for i in range(win.tabs.count())]
    assert titles == ["Review", "Worklist", "Threshold", "Train", "Evaluate", "Read", "Notes"]
    assert win.built_screen("notes") is None  # lazy: not built until shown
    action = next(a for a in _view_menu(win).actions() if a.text() == "Notes")
    assert action.shortcut().toString() == "Ctrl+9"
    action.trigger()
    notes = win.built_screen("notes")
    assert isinstance(notes, NotesScreen) and win.tabs.currentWidget() is notes and win.notes is notes
    assert notes.objectName() == "notesScreen"
    opened = []
    monkeypatch.setattr(win.review, "open_paths", opened.append)
    notes.pinged.emit("/tmp/x.dcm")  # wired by the entry's connect
    assert opened == [["/tmp/x.dcm"]] and win.tabs.currentWidget() is win.review

    notes.busy = True
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    assert not win.close()  # the entry's busy question kept the window open
    notes.busy = False
    win.shutdown()
    assert SHUT == ["notes"]


def test_shipped_screens_are_reachable_from_the_view_menu(qtbot, window):
    actions = {a.text(): a for a in _view_menu(window).actions()}
    assert list(actions) == [s.title for s in registry.SCREENS]
    for screen in registry.SCREENS:
        actions[screen.title].trigger()
        assert window.tabs.currentWidget() is window.built_screen(screen.name)
        assert window.tabs.tabText(window.tabs.currentIndex()) == screen.title
        assert window.built_screen(screen.name).objectName() == screen.object_name

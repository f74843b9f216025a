"""Help > Keyboard shortcuts is read from the real actions and shortcuts; Help > User guide (issue 14, item 9)."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QTextBrowser


def _native(seq) -> str:
    return QKeySequence(seq).toString(QKeySequence.SequenceFormat.NativeText)


def test_shortcuts_list_matches_every_key_the_window_answers_to(qtbot, window, tmp_path):
    dialog = window.show_shortcuts()
    qtbot.addWidget(dialog)
    rows = dialog.rows()
    listed = " | ".join(" ".join(r) for r in rows)
    actions = [a for a in window.findChildren(QAction) if not a.shortcut().isEmpty()]
    shortcuts = [s for s in window.findChildren(QShortcut) if not s.key().isEmpty()]
    assert actions and len(shortcuts) >= 8
    for action in actions:
        keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        assert any(keys in r[0] and action.text().replace("&", "").rstrip(".") == r[1] for r in rows), keys
    for shortcut in shortcuts:
        assert shortcut.whatsThis(), shortcut.key().toString()  # every key says what it does
        keys = shortcut.key().toString(QKeySequence.SequenceFormat.NativeText)
        assert any(keys in r[0].split(", ") and r[1] == shortcut.whatsThis() and r[2] != "Everywhere"
                   for r in rows), keys
    # each key is listed under the screen it works on
    assert ("N", "Read: call NORMAL", "Read") in rows
    assert any(r[1] == "Show or hide the heat map" and r[2] == "Review" for r in rows)
    assert "Show or hide the heat map" in listed and "Next case" in listed
    dialog.resize(640, 520)
    dialog.grab().save(str(tmp_path / "shortcuts.png"))


def test_a_new_shortcut_appears_in_the_list_without_editing_it(qtbot, window):
    sc = QShortcut(QKeySequence("Ctrl+Shift+K"), window.review)
    sc.setWhatsThis("Something new")
    dialog = window.show_shortcuts()
    qtbot.addWidget(dialog)
    assert (_native("Ctrl+Shift+K"), "Something new", "Review") in dialog.rows()


def test_listed_heat_map_key_really_toggles_the_heat_map(qtbot, window):
    review = window.review
    before = review.heat_check.isChecked()
    heat = next(s for s in review.findChildren(QShortcut) if s.whatsThis() == "Show or hide the heat map")
    heat.activated.emit()
    assert review.heat_check.isChecked() != before


def test_user_guide_comes_from_resources_and_covers_each_screen(qtbot, window, tmp_path):
    from core.paths import resources_dir

    source = (resources_dir() / "user_guide.html").read_text(encoding="utf-8")
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    guide_action = next(a for a in help_menu.actions() if a.text() == "User guide")
    guide_action.trigger()
    dialog = window._guide
    qtbot.addWidget(dialog)
    text = dialog.findChild(QTextBrowser, "userGuide").toPlainText()
    for screen in ("Review", "Threshold", "Train", "Evaluate"):
        assert screen in text
    assert "Research use only" in text and "validation" in text
    assert "Pneumoscope: a short guide" in source
    dialog.grab().save(str(tmp_path / "guide.png"))

"""Review's list of cases: file names (full path on hover), one selected, and how many there are."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget


class CaseList(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lv = QVBoxLayout(self)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(QLabel("<b>Cases</b>"))
        self.list = QListWidget()
        self.list.setObjectName("caseList")
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        lv.addWidget(self.list)
        self.count = QLabel("")
        lv.addWidget(self.count)

    def set_paths(self, paths: list[str]) -> None:
        """Fill the list without selecting anything (no currentRowChanged)."""
        self.list.blockSignals(True)
        self.list.clear()
        for p in paths:
            item = QListWidgetItem(Path(p).name)
            item.setToolTip(p)
            self.list.addItem(item)
        self.list.blockSignals(False)
        self.count.setText(f"{len(paths)} case(s)")

"""Train screen's model list: the shipped default and the user's bundles; "Make active" asks for one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


class ModelList(QWidget):
    activateRequested = Signal(str)  # bundle path
    refreshRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        v.addWidget(QLabel("<b>Models</b> (shipped default and yours)"))
        self.models = QListWidget()
        self.models.setObjectName("modelList")
        self.models.itemDoubleClicked.connect(lambda _i: self.activate())
        v.addWidget(self.models, 1)
        mrow = QHBoxLayout()
        self.activate_btn = QPushButton("Make active")
        self.activate_btn.setObjectName("activateButton")
        self.activate_btn.clicked.connect(self.activate)
        mrow.addWidget(self.activate_btn)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(lambda: self.refreshRequested.emit())
        mrow.addWidget(refresh)
        mrow.addStretch(1)
        v.addLayout(mrow)

    def refresh(self, bundle: Any, select: str | None = None) -> None:
        """List the bundles, the one in use (``bundle``) tagged ACTIVE; keep or move the selection."""
        from core.learning.registry import list_bundles

        active = str(Path(bundle.path).resolve()) if bundle is not None else None
        current = select or (self.models.currentItem().data(Qt.ItemDataRole.UserRole) if self.models.currentItem() else None)
        self.models.clear()
        try:
            bundles = list_bundles()
        except OSError:
            bundles = []
        if bundle is not None and all(Path(b["path"]).resolve() != Path(bundle.path).resolve() for b in bundles):
            auc = ((bundle.card.get("metrics") or {}).get("val") or {}).get("auc")
            bundles.insert(0, {"path": str(bundle.path), "name": bundle.name, "created": bundle.card.get("created", ""),
                               "model": (bundle.card.get("model") or {}).get("name", ""),
                               "threshold": bundle.threshold, "shipped": False,
                               "val_auc": auc[0] if isinstance(auc, (list, tuple)) else auc,
                               "label": f"{bundle.name} · {str(bundle.card.get('created', ''))[:10]}"})
        for b in bundles:
            auc = f"val AUC {b['val_auc']:.3f}" if isinstance(b["val_auc"], (int, float)) else "val AUC ?"
            tags = ["ACTIVE"] if active is not None and Path(b["path"]).resolve() == Path(active) else []
            text = f"{b['label']}  ·  {b['model']}  ·  {auc}  {' '.join(f'[{t}]' for t in tags)}"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, b["path"])
            item.setToolTip(f"{b['path']}\ncreated {b['created']}")
            self.models.addItem(item)
            if current is not None and Path(b["path"]) == Path(current):
                self.models.setCurrentItem(item)
        if self.models.count() == 0:
            self.models.addItem(QListWidgetItem("No models yet: train one above."))

    def activate(self) -> None:
        item = self.models.currentItem()
        path = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if path:
            self.activateRequested.emit(path)

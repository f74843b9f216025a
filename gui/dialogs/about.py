"""Help > About: versions, model hash, threshold and the model card, copyable for bug reports."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtGui import QFont, QGuiApplication
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from gui.resources import read_text


def about_text(bundle: Any) -> str:
    from core.sysinfo import format_sys_info

    parts = [format_sys_info(bundle=bundle)]
    if bundle is not None:
        card = dict(getattr(bundle, "card", {}) or {})
        parts.append("\nModel card\n----------")
        for key in ("intended_use", "limitations"):
            if card.get(key):
                value = card[key]
                text = "\n".join(f"- {v}" for v in value) if isinstance(value, list) else str(value)
                parts.append(f"{key.replace('_', ' ').capitalize()}:\n{text}")
        parts.append(json.dumps(card, indent=2, default=str))
    else:
        parts.append("\nNo model loaded.")
    return "\n".join(parts)


class AboutDialog(QDialog):
    def __init__(self, bundle: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Pneumoscope")
        self.resize(760, 620)
        layout = QVBoxLayout(self)
        intro = QLabel(read_text("about.html"))
        intro.setWordWrap(True)
        intro.setOpenExternalLinks(False)
        layout.addWidget(intro)
        self.text = QPlainTextEdit()
        self.text.setObjectName("aboutText")
        self.text.setReadOnly(True)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.text.setFont(mono)
        try:
            self.text.setPlainText(about_text(bundle))
        except Exception as exc:  # the dialog must open even if a version probe fails
            self.text.setPlainText(f"System information unavailable: {exc}")
        layout.addWidget(self.text, 1)
        row = QHBoxLayout()
        copy = QPushButton("Copy to clipboard")
        copy.setObjectName("copyButton")
        copy.clicked.connect(self.copy)
        row.addWidget(copy)
        row.addStretch(1)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        row.addWidget(close)
        layout.addLayout(row)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.text.toPlainText())

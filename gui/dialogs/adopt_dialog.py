"""Threshold screen's adoption dialog (who adopts the threshold, and why) and the chooser as text."""

from __future__ import annotations

import getpass

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QWidget,
)

from gui.widgets.common import add_dialog_buttons


class AdoptDialog(QDialog):
    def __init__(self, threshold: float, default_user: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Adopt threshold")
        form = QFormLayout(self)
        form.addRow(QLabel(f"Adopt <b>{threshold:.3f}</b> as this model's operating threshold?"))
        self.user = QLineEdit(default_user)
        self.reason = QPlainTextEdit()
        self.reason.setPlaceholderText("Why this operating point (e.g. target sensitivity 0.95 agreed with ...)")
        self.reason.setFixedHeight(80)
        form.addRow("Your name", self.user)
        form.addRow("Reason", self.reason)
        add_dialog_buttons(form, QDialogButtonBox.StandardButton.Ok, self._accept, self.reject)

    def _accept(self) -> None:
        if not self.user.text().strip() or not self.reason.toPlainText().strip():
            QMessageBox.information(self, "Adopt threshold", "Please give your name and a reason.")
            return
        self.accept()


def ask_adoption(parent: QWidget, threshold: float) -> tuple[str, str] | None:
    """Ask who adopts the threshold and why; None if the user cancels. (Tests replace this.)"""
    try:
        default_user = getpass.getuser()
    except Exception:
        default_user = ""
    dialog = AdoptDialog(threshold, default_user, parent)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return dialog.user.text().strip(), dialog.reason.toPlainText().strip()

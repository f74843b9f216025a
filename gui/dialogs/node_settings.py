"""The DICOM node's settings, edited and saved (validated by core before they are written)."""

from __future__ import annotations

import dataclasses

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QSpinBox,
    QWidget,
)

from core.node.config import NodeSettings, save_settings
from core.node.errors import NodeError
from gui.widgets.common import add_dialog_buttons


class NodeSettingsDialog(QDialog):
    """Edit and save the node settings (validated by core before they are written)."""

    def __init__(self, settings: NodeSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("DICOM node settings")
        self.settings = settings
        form = QFormLayout(self)
        self.enabled = QCheckBox("Start the listener when Pneumoscope starts")
        self.enabled.setChecked(settings.enabled)
        self.aet = QLineEdit(settings.ae_title)
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(int(settings.port))
        self.bind = QLineEdit(settings.bind_host)
        self.bind.setToolTip("127.0.0.1: this computer only. 0.0.0.0: every network interface.")
        self.allowed = QLineEdit(", ".join(settings.allowed_callers))
        self.allowed.setPlaceholderText("any calling AE title")
        self.destination = QLineEdit(settings.destination)
        self.destination.setPlaceholderText("HOST:PORT:AET of the PACS, or empty to keep results here")
        self.inbox = QLineEdit(settings.inbox)
        self.inbox.setPlaceholderText(str(settings.inbox_path()))
        self.max_mb = QDoubleSpinBox()
        self.max_mb.setRange(1, 10000)
        self.max_mb.setSuffix(" MB")
        self.max_mb.setValue(float(settings.max_instance_mb))
        self.web = QLineEdit(settings.web_destination)
        self.web.setPlaceholderText("http(s)://server/dicom-web for STOW-RS, or empty")
        self.send_sr = QCheckBox("AI result report (SR)")
        self.send_sr.setChecked(settings.send_sr)
        self.send_heat = QCheckBox("Heat map object")
        self.send_heat.setChecked(settings.send_secondary_capture)
        self.sr_style = QComboBox()
        for key, text in (("tid1500", "TID 1500 Measurement Report (OHIF, PACS viewers)"),
                          ("legacy", "Free-form Comprehensive SR (older)")):
            self.sr_style.addItem(text, key)
        self.sr_style.setCurrentIndex(max(0, self.sr_style.findData(settings.sr_style)))
        self.heat_map = QComboBox()
        for key, text in (("pm", "Parametric Map (float Grad-CAM)"), ("sc", "Secondary Capture (burned-in picture)"),
                          ("both", "Both")):
            self.heat_map.addItem(text, key)
        self.heat_map.setCurrentIndex(max(0, self.heat_map.findData(settings.heat_map)))
        self.run_label = QLineEdit(settings.results_run)
        self.run_label.setPlaceholderText("optional label that keeps result series of different runs apart")
        form.addRow(self.enabled)
        form.addRow("AE title", self.aet)
        form.addRow("Port", self.port)
        form.addRow("Listen on", self.bind)
        form.addRow("Allowed callers", self.allowed)
        form.addRow("Send results to", self.destination)
        form.addRow("Inbox folder", self.inbox)
        form.addRow("Largest instance", self.max_mb)
        form.addRow("Send results by DICOMweb", self.web)
        sends = QHBoxLayout()
        sends.addWidget(self.send_sr)
        sends.addWidget(self.send_heat)
        form.addRow("Results to send", sends)
        form.addRow("Report style", self.sr_style)
        form.addRow("Heat map as", self.heat_map)
        form.addRow("Results run", self.run_label)
        add_dialog_buttons(form, QDialogButtonBox.StandardButton.Save, self.save, self.reject)

    def edited(self) -> NodeSettings:
        """The settings as edited; anything the dialog does not show is kept as it was."""
        return dataclasses.replace(
            self.settings,
            enabled=self.enabled.isChecked(),
            ae_title=self.aet.text().strip(),
            port=self.port.value(),
            bind_host=self.bind.text().strip(),
            allowed_callers=[a.strip() for a in self.allowed.text().split(",") if a.strip()],
            destination=self.destination.text().strip(),
            inbox=self.inbox.text().strip(),
            max_instance_mb=self.max_mb.value(),
            web_destination=self.web.text().strip(),
            send_secondary_capture=self.send_heat.isChecked(),
            send_sr=self.send_sr.isChecked(),
            sr_style=self.sr_style.currentData(),
            heat_map=self.heat_map.currentData(),
            results_run=self.run_label.text().strip(),
        )

    def save(self) -> None:
        try:
            settings = self.edited()
            save_settings(settings)
        except (NodeError, OSError) as exc:
            QMessageBox.warning(self, "DICOM node settings", str(exc))
            return
        self.settings = settings
        self.accept()

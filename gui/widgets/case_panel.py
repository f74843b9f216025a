"""Review's right-hand column: the score, the model in use, drift, the heat map controls and the image facts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QGroupBox, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from core.cases import describe_case
from gui.widgets.common import WrappingLabel
from gui.widgets.image_info import ImageInfoTable
from gui.widgets.viewer import ImageView


def set_call(label: QLabel, call: str) -> None:
    """Restyle a label by its "call" property (pneumonia, normal, doubt, none; see the style sheet)."""
    label.setProperty("call", call)
    label.style().unpolish(label)
    label.style().polish(label)


class CasePanel(QWidget):
    def __init__(self, view: ImageView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        rv = QVBoxLayout(self)
        rv.setContentsMargins(0, 0, 0, 0)
        self.score_label = WrappingLabel("No image")
        self.score_label.setObjectName("scoreLabel")
        self.score_label.setProperty("call", "none")
        rv.addWidget(self.score_label)
        self.model_label = QLabel("")
        self.model_label.setObjectName("modelLabel")
        self.model_label.setWordWrap(True)
        rv.addWidget(self.model_label)
        self.drift_label = QLabel("")
        self.drift_label.setObjectName("driftLabel")
        self.drift_label.setWordWrap(True)
        self.drift_label.setToolTip("Scores of the cases reviewed this session compared with the model's validation "
                                    "scores (PSI) and its out-of-distribution rate: a drift warning means the "
                                    "threshold was set on images unlike today's.")
        rv.addWidget(self.drift_label)

        heat_box = QGroupBox("Grad-CAM heatmap")
        hv = QVBoxLayout(heat_box)
        self.heat_check = QCheckBox("Show heatmap (H)")
        self.heat_check.setChecked(True)
        self.heat_check.toggled.connect(view.set_overlay_visible)
        hv.addWidget(self.heat_check)
        row = QHBoxLayout()
        row.addWidget(QLabel("Opacity"))
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setObjectName("opacitySlider")
        self.opacity.setRange(0, 100)
        self.opacity.setValue(45)
        self.opacity.valueChanged.connect(lambda v: view.set_overlay_opacity(v / 100.0))
        row.addWidget(self.opacity)
        hv.addLayout(row)
        self.heat_note = QLabel("Red = regions that pushed the score up. It shows where the model looked, "
                                "not where disease is.")
        self.heat_note.setWordWrap(True)
        self.heat_note.setObjectName("hint")
        hv.addWidget(self.heat_note)
        rv.addWidget(heat_box)

        self.wl_label = QLabel("")
        self.wl_label.setObjectName("hint")
        self.wl_label.setWordWrap(True)
        rv.addWidget(self.wl_label)

        rv.addWidget(QLabel("<b>Image information</b>"))
        self.tags = ImageInfoTable()
        rv.addWidget(self.tags, 1)
        self.setMinimumWidth(300)
        view.windowChanged.connect(self.show_window)

    def set_call(self, call: str) -> None:
        set_call(self.score_label, call)

    def show_case(self, case: Any, threshold: float, doubt: bool = False) -> None:
        """A decided core.cases.Case; ``doubt``: a warning says not to rely on this image's score."""
        if not case.applicable:
            self.score_label.setText(describe_case(case).replace(": ", ":\n", 1))
            self.score_label.setToolTip(
                "No PNEUMONIA/NORMAL call: " + (case.no_call_reason or "") + ". See the warning above the image."
            )
            self.set_call("doubt")
            return
        # A green NORMAL (or red PNEUMONIA) box under a "do not rely on the score" warning sends
        # two messages; with a warning the box turns neutral amber and says so itself.
        self.score_label.setText(describe_case(case) + ("\nUnreliable for this image: see the warning" if doubt else ""))
        self.score_label.setToolTip(
            f"Model score {case.score:.4f} (probability-like, 0 = normal, 1 = pneumonia). "
            f"At or above the threshold {threshold:.4f} the model calls PNEUMONIA."
        )
        self.set_call("doubt" if doubt else str(case.label).lower())

    def show_model(self, bundle: Any, threshold_source: str) -> None:
        if bundle is None:
            self.model_label.setText("No model loaded. Images can be viewed; open a model via File > Open model...")
            return
        card = getattr(bundle, "card", {}) or {}
        name = card.get("name") or Path(bundle.path).name
        self.model_label.setText(f"Model: {name} · {threshold_source}")

    def show_drift(self, report: Any) -> None:
        """core.site.drift's report on this session's cases, or None for nothing to say."""
        if report is None:
            self.drift_label.setText("")
            return
        self.drift_label.setText(("Warning: " if report.warn else "") + report.status)
        set_call(self.drift_label, "doubt" if report.warn else "none")

    def show_window(self, center: float, width: float) -> None:
        self.wl_label.setText(
            f"Display window: level {center:.0f}, width {width:.0f} (display only; "
            "right-drag or Shift+drag to change)"
        )

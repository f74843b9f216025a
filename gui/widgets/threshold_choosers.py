"""Threshold screen's "Suggest a threshold" box: the chooser buttons, the site hold-out, the reason and Adopt."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QScrollArea,
    QWidget,
)

VAL_CHOOSER_TITLE = "Suggest a threshold (computed on VALIDATION scores)"
SITE_CHOOSER_TITLE = "Suggest a threshold (chosen on part of the SITE cases, measured on the held-out rest)"


class ChooserBox(QGroupBox):
    """``choose(method, **kw)`` runs a chooser, ``adopt()`` adopts; ``prevalence()`` feeds the cost chooser."""

    def __init__(self, choose: Callable[..., Any], adopt: Callable[[], Any], prevalence: Callable[[], float],
                 parent: QWidget | None = None) -> None:
        super().__init__(VAL_CHOOSER_TITLE, parent)
        grid = QGridLayout(self)
        self.youden_btn = QPushButton("Youden's J")
        self.youden_btn.clicked.connect(lambda: choose("youden"))
        self.f1_btn = QPushButton("Max F1")
        self.f1_btn.clicked.connect(lambda: choose("maxf1"))
        grid.addWidget(self.youden_btn, 0, 0)
        grid.addWidget(self.f1_btn, 0, 1)
        self.sens_target = QDoubleSpinBox()
        self.sens_target.setRange(0.5, 1.0)
        self.sens_target.setDecimals(3)
        self.sens_target.setValue(0.95)
        self.sens_btn = QPushButton("Target sensitivity")
        self.sens_btn.clicked.connect(lambda: choose("sens", target=self.sens_target.value()))
        grid.addWidget(self.sens_btn, 1, 0)
        grid.addWidget(self.sens_target, 1, 1)
        self.cost_fn = QDoubleSpinBox()
        self.cost_fn.setRange(0.0, 1000.0)
        self.cost_fn.setValue(5.0)
        self.cost_fn.setPrefix("missed pneumonia ")
        self.cost_fp = QDoubleSpinBox()
        self.cost_fp.setRange(0.0, 1000.0)
        self.cost_fp.setValue(1.0)
        self.cost_fp.setPrefix("false alarm ")
        self.cost_btn = QPushButton("Minimum cost")
        self.cost_btn.clicked.connect(
            lambda: choose("cost", cost_fn=self.cost_fn.value(), cost_fp=self.cost_fp.value(), prevalence=prevalence())
        )
        grid.addWidget(self.cost_btn, 2, 0)
        grid.addWidget(self.cost_fn, 2, 1)
        grid.addWidget(self.cost_fp, 2, 2)
        self.holdout_label = QLabel("Site cases held out for the estimate")
        self.holdout = QDoubleSpinBox()
        self.holdout.setObjectName("holdoutSpin")
        self.holdout.setRange(0.0, 0.9)
        self.holdout.setSingleStep(0.1)
        self.holdout.setValue(0.5)
        self.holdout.setToolTip("Fraction of the site's patients kept aside: the threshold is chosen on the rest and "
                                "measured on these. 0 uses every case and leaves no honest estimate.")
        grid.addWidget(self.holdout_label, 3, 0)
        grid.addWidget(self.holdout, 3, 1)
        self.reason_label = QLabel("")
        self.reason_label.setObjectName("reasonLabel")
        self.reason_label.setWordWrap(True)
        self.reason_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.reason_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        reason_scroll = QScrollArea()  # a site estimate runs to several lines; keep them all readable
        reason_scroll.setWidget(self.reason_label)
        reason_scroll.setWidgetResizable(True)
        reason_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        reason_scroll.setMinimumHeight(96)
        grid.addWidget(reason_scroll, 4, 0, 1, 3)
        self.adopt_btn = QPushButton("Adopt this threshold...")
        self.adopt_btn.setObjectName("adoptButton")
        self.adopt_btn.clicked.connect(lambda: adopt())
        grid.addWidget(self.adopt_btn, 5, 0, 1, 3)
        self.set_site(False)

    def set_site(self, site: bool) -> None:
        """On site scores the choosers choose on part of the cases: say so and offer the hold-out."""
        self.setTitle(SITE_CHOOSER_TITLE if site else VAL_CHOOSER_TITLE)
        self.holdout_label.setVisible(site)
        self.holdout.setVisible(site)

"""The Threshold screen's table of figures at one operating point, each with its 95% interval."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from gui.widgets.common import fit_table_height

METRIC_ROWS = (
    ("Sensitivity (pneumonia found)", "sensitivity"),
    ("Specificity (normals cleared)", "specificity"),
    ("PPV (at prevalence)", "ppv"),
    ("NPV (at prevalence)", "npv"),
    ("F1", "f1"),
    ("Accuracy", "accuracy"),
    ("Balanced accuracy", "balanced_accuracy"),
)


class MetricsTable(QTableWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(len(METRIC_ROWS), 2, parent)
        self.setObjectName("metricsTable")
        self.setHorizontalHeaderLabels(["Value", "95% interval"])
        self.setVerticalHeaderLabels([r[0] for r in METRIC_ROWS])
        self.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for i in range(len(METRIC_ROWS)):
            for j in range(2):
                item = QTableWidgetItem("-")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.setItem(i, j, item)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        fit_table_height(self)

    def show_point(self, p: Any, prevalence: float) -> None:
        """core.evaluation.operating's OperatingPoint; PPV and NPV at ``prevalence`` (core computes them)."""
        try:
            ppv, npv = p.ppv_npv_at(prevalence)
        except Exception:
            ppv = npv = (float("nan"),) * 3
        values = {
            "sensitivity": p.sensitivity, "specificity": p.specificity, "ppv": ppv, "npv": npv,
            "f1": p.f1, "accuracy": p.accuracy, "balanced_accuracy": p.balanced_accuracy,
        }
        for i, (_, key) in enumerate(METRIC_ROWS):
            v, lo, hi = values[key]
            self.item(i, 0).setText("-" if not np.isfinite(v) else f"{v:.3f}")
            self.item(i, 1).setText("-" if not (np.isfinite(lo) and np.isfinite(hi)) else f"{lo:.3f} - {hi:.3f}")

"""Train screen's dataset overview: counts per split and class, class balance bars and sample thumbnails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.widgets.common import ThumbnailGrid, fit_table_height
from gui.widgets.plots import BarPlot
from gui.widgets.viewer import gray_qimage

THUMBS_PER_CLASS = 6
THUMB = 96


def scan_with_samples(root: str, per_class: int = THUMBS_PER_CLASS) -> dict[str, Any]:
    """Dataset scan plus a few small thumbnails per class from the training split."""
    from core.imaging import load_image
    from core.imaging.preprocess import resize_uint8
    from core.learning.data import scan_dataset

    ds = scan_dataset(root)
    samples: dict[str, list[tuple[str, np.ndarray]]] = {}
    pool = ds.splits.get("train") or next(iter(ds.splits.values()), [])
    rng = np.random.default_rng(0)
    by_class: dict[str, list[Any]] = {}
    for s in pool:
        by_class.setdefault(s.class_name, []).append(s)
    for cls, items in by_class.items():
        picks = rng.choice(len(items), size=min(per_class, len(items)), replace=False)
        for i in sorted(int(k) for k in picks):
            try:
                pixels = load_image(items[i].path).pixels
            except Exception:
                continue
            samples.setdefault(cls, []).append((Path(items[i].path).name, resize_uint8(pixels, THUMB)))
    return {"dataset": ds, "counts": ds.counts(), "samples": samples}


class DatasetOverview(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        self.counts_table = QTableWidget(0, 0)
        self.counts_table.setObjectName("countsTable")
        self.counts_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.counts_table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        fit_table_height(self.counts_table)
        self.counts_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        v.addWidget(self.counts_table)
        self.split_note = QLabel("")
        self.split_note.setWordWrap(True)
        self.split_note.setObjectName("hint")
        v.addWidget(self.split_note)
        self.bars = BarPlot()
        v.addWidget(self.bars, 1)
        self.samples_box = ThumbnailGrid(THUMBS_PER_CLASS, THUMB)
        self.samples_box.setObjectName("sampleStrip")
        self.samples_grid = self.samples_box.grid
        scroll = QScrollArea()
        scroll.setObjectName("sampleScroll")
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(self.samples_box)
        scroll.setMinimumHeight(2 * THUMB // 2 + 80)
        self.samples_scroll = scroll
        v.addWidget(scroll, 1)

    def clear(self) -> None:
        self.counts_table.setRowCount(0)
        self.counts_table.setColumnCount(0)
        fit_table_height(self.counts_table)
        self.split_note.setText("")
        self.bars.set_counts({})
        self.samples_box.clear()

    def show_result(self, result: dict[str, Any]) -> None:
        """Show scan_with_samples' result."""
        dataset = result["dataset"]
        counts = result["counts"]
        splits = [s for s in ("train", "val", "test") if s in counts]
        classes = sorted({c for s in splits for c in counts[s]})
        self.counts_table.setRowCount(len(splits))
        self.counts_table.setColumnCount(len(classes) + 1)
        self.counts_table.setHorizontalHeaderLabels([*classes, "total"])
        self.counts_table.setVerticalHeaderLabels(splits)
        for i, s in enumerate(splits):
            for j, c in enumerate(classes):
                self.counts_table.setItem(i, j, QTableWidgetItem(str(counts[s].get(c, 0))))
            self.counts_table.setItem(i, len(classes), QTableWidgetItem(str(sum(counts[s].values()))))
        fit_table_height(self.counts_table)
        how = getattr(dataset, "val_source", "")
        note = ("Validation split made from train, grouped by patient "
                f"({getattr(dataset, 'val_fraction', 0):.0%}, seed {getattr(dataset, 'split_seed', '')})."
                if how == "made-from-train" else "Validation split taken from the val/ folder.")
        if "test" in counts:
            note += " The test split is scored once for the report and never used for choices."
        self.split_note.setText(note)
        self.bars.set_counts(counts)
        self.samples_box.set_groups([
            (cls, [(name, QPixmap.fromImage(gray_qimage(pixels))) for name, pixels in thumbs])
            for cls, thumbs in sorted(result["samples"].items())
        ])

"""The "Image information" table of the Review screen: DICOM tags or the picture file's own facts."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem, QWidget

TAG_ROWS = (
    ("Modality", "modality"),
    ("Body part", "body_part"),
    ("View", "view_position"),
    ("Patient age", "age"),
    ("Photometric", "photometric"),
    ("Bits stored", "bits_stored"),
    ("Size (rows x cols)", None),
    ("Window (C/W)", "window"),
    ("Transfer syntax", "transfer_syntax"),
    ("Study date", "study_date"),
    ("Manufacturer", "manufacturer"),
    ("Frames", "frames"),
    ("Patient ID", "patient_id"),
    ("Patient name", "patient_name"),
    ("Format", None),
)


PILLOW_MODES = {"L": "greyscale (8-bit)", "I;16": "greyscale (16-bit)", "I": "greyscale (32-bit)",
                "F": "greyscale (float)", "1": "black and white", "P": "palette colour", "RGB": "colour (RGB)",
                "RGBA": "colour (RGBA)", "LA": "greyscale + alpha", "CMYK": "colour (CMYK)"}


def format_dicom_date(value: str) -> str:
    """DICOM DA ``YYYYMMDD`` as ``YYYY-MM-DD`` (unambiguous across locales); anything else as is."""
    text = str(value).strip()
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


def tag_value(xray: Any, label: str, key: str | None) -> str:
    """The text of one row of the table for this image ("" when it has none)."""
    meta = dict(getattr(xray, "meta", {}) or {})
    if key is None and label.startswith("Size"):
        h, w = xray.pixels.shape[:2]
        return f"{meta.get('rows', h)} x {meta.get('cols', w)}"
    if key is None:
        return str(getattr(xray, "kind", "")).upper()
    if key == "age":
        from core.trust.population import describe_age

        return describe_age(meta)
    v = meta.get(key)
    if isinstance(v, (tuple, list)) and v:
        value = " / ".join(f"{x:g}" if isinstance(x, float) else str(x) for x in v)
    else:
        value = "" if v in (None, "") else str(v)
    if key == "study_date":
        value = format_dicom_date(value)
    elif key == "photometric" and getattr(xray, "kind", "") != "dicom":
        value = PILLOW_MODES.get(value, value)  # Pillow's mode letters mean nothing to readers
    elif key == "transfer_syntax" and value and meta.get("transfer_syntax_name"):
        value = f"{meta['transfer_syntax_name']} ({value})"
    return value


class ImageInfoTable(QTableWidget):
    """One read-only column of TAG_ROWS; ``fill(None)`` empties it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(len(TAG_ROWS), 1, parent)
        self.setObjectName("tagTable")
        self.setVerticalHeaderLabels([r[0] for r in TAG_ROWS])
        self.horizontalHeader().hide()
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for i in range(len(TAG_ROWS)):
            self.setItem(i, 0, QTableWidgetItem(""))

    def fill(self, xray: Any) -> None:
        for i, (label, key) in enumerate(TAG_ROWS):
            value = "" if xray is None else tag_value(xray, label, key)
            self.item(i, 0).setText(value or "—")
            self.item(i, 0).setToolTip(value)

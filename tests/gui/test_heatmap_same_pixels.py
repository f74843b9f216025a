"""Issue 20 item 1: Review's viewer and the Secondary Capture draw the heat map with the one
renderer in core, so the clinician and the PACS see the same pixels for the same case."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.cases import score_case
from core.learning.bundle import load_bundle
from core.node.results import render_overlay
from gui.screens.review import score_and_colour
from gui.widgets.viewer import ImageView

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bundle():
    return load_bundle(REPO / "models" / "default")


def _on_screen(view: ImageView) -> np.ndarray:
    from PySide6.QtGui import QImage

    image = view._image_item.pixmap().toImage().convertToFormat(QImage.Format.Format_RGB888)
    h, w = image.height(), image.width()
    data = np.frombuffer(image.constBits(), np.uint8, count=image.bytesPerLine() * h)
    return data.reshape(h, image.bytesPerLine())[:, : w * 3].reshape(h, w, 3).copy()


def test_review_overlay_pixels_equal_the_secondary_capture(qtbot, bundle, chest_xray_dir):
    path = sorted((chest_xray_dir / "test" / "PNEUMONIA").glob("*.jpeg"))[0]
    case, rgba = score_and_colour(bundle, path, bundle.threshold, "model card")
    assert case.heatmap is not None and rgba is not None
    view = ImageView()
    qtbot.addWidget(view)
    view.set_pixels(case.xray.pixels)
    view.set_overlay(rgba)
    view.set_overlay_visible(True)
    shown = _on_screen(view)
    sc = render_overlay(path, score_case(bundle, path, want_heatmap=True, audit=False), "0" * 64)
    h, w = case.xray.pixels.shape
    assert sc.shape[1] == w and shown.shape == (h, w, 3)
    assert np.array_equal(shown, sc[-h:])
    assert not np.array_equal(shown[..., 0], shown[..., 2])  # a heat map really is drawn
    view.set_overlay_visible(False)
    assert np.array_equal(_on_screen(view)[..., 0], case.xray.pixels)

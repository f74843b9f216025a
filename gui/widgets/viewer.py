"""Image viewer for review: zoom, pan, window/level, invert and a heatmap overlay.

Window/level is a display-only 256-entry look-up table over the uint8 pixels that
core.imaging returns; the pixels the model sees never change.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsTextItem,
    QGraphicsView,
    QToolButton,
)

from core.trust.heatmap import OVERLAY_OPACITY, blend, heat_layer, heat_rgba, smooth_heat  # noqa: F401  (Review colours on its worker)

FULL_CENTER = 127.5
FULL_WIDTH = 255.0


def gray_qimage(pixels: np.ndarray) -> QImage:
    arr = np.ascontiguousarray(pixels, dtype=np.uint8)
    h, w = arr.shape
    return QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_Grayscale8).copy()


def rgba_qimage(rgba: np.ndarray) -> QImage:
    arr = np.ascontiguousarray(rgba, dtype=np.uint8)
    h, w, _ = arr.shape
    return QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_RGBA8888).copy()


def window_lut(center: float, width: float, invert: bool) -> np.ndarray:
    width = max(float(width), 1.0)
    low = center - width / 2.0
    lut = np.clip((np.arange(256, dtype=np.float32) - low) * (255.0 / width), 0, 255).astype(np.uint8)
    return 255 - lut if invert else lut


class ImageView(QGraphicsView):
    filesDropped = Signal(list)
    windowChanged = Signal(float, float)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("reviewView")
        self.setScene(QGraphicsScene(self))
        self.setBackgroundBrush(QBrush(QColor("#111418")))
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setAcceptDrops(True)
        self.setMinimumSize(320, 320)
        self._image_item = QGraphicsPixmapItem()
        self._image_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self._image_item)
        self._placeholder = QGraphicsTextItem()
        self._placeholder.setDefaultTextColor(QColor("#9aa4b1"))
        self._placeholder.setFont(QFont(self.font().family(), 13))
        self.scene().addItem(self._placeholder)
        self._pixels: np.ndarray | None = None
        self._layer: np.ndarray | None = None
        self.center = FULL_CENTER
        self.width_ = FULL_WIDTH
        self.inverted = False
        self._fit_mode = True
        self._wl_drag: QPointF | None = None
        self._overlay_opacity = OVERLAY_OPACITY
        self._overlay_visible = True
        self.set_placeholder(
            "Drop a chest X-ray here\n(DICOM, PNG, JPEG)\n\nor use File > Open image / Open folder"
        )

    # --- content -------------------------------------------------------------------
    def set_placeholder(self, text: str) -> None:
        self._placeholder.setPlainText(text)
        self._placeholder.setVisible(self._pixels is None)
        if self._pixels is None:
            self.scene().setSceneRect(self._placeholder.boundingRect())
            self.resetTransform()
            self.centerOn(self._placeholder)

    def clear(self) -> None:
        self._pixels = None
        self._image_item.setPixmap(QPixmap())
        self.clear_overlay()
        self._placeholder.setVisible(True)
        self.scene().setSceneRect(self._placeholder.boundingRect())
        self.resetTransform()
        self.centerOn(self._placeholder)

    def has_image(self) -> bool:
        return self._pixels is not None

    def set_pixels(self, pixels: np.ndarray) -> None:
        self._pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
        self._placeholder.setVisible(False)
        self.center, self.width_, self.inverted = FULL_CENTER, FULL_WIDTH, False
        self.clear_overlay()
        self._render()
        h, w = self._pixels.shape
        self.scene().setSceneRect(QRectF(0, 0, w, h))
        self.fit()

    def displayed_pixels(self) -> np.ndarray | None:
        if self._pixels is None:
            return None
        return window_lut(self.center, self.width_, self.inverted)[self._pixels]

    def displayed_rgb(self) -> np.ndarray | None:
        """The pixels on screen: the windowed image, with the heat map blended by core when shown
        (the same :func:`core.trust.heatmap.blend` as the Secondary Capture)."""
        shown = self.displayed_pixels()
        if shown is None:
            return None
        if self._layer is None or not self._overlay_visible:
            return np.repeat(shown[..., None], 3, axis=2)
        return blend(shown, self._layer, self._overlay_opacity)

    def _render(self) -> None:
        shown = self.displayed_pixels()
        if shown is not None:
            if self._layer is None or not self._overlay_visible:
                self._image_item.setPixmap(QPixmap.fromImage(gray_qimage(shown)))
            else:
                rgb = self.displayed_rgb()
                rgba = np.concatenate([rgb, np.full((*rgb.shape[:2], 1), 255, np.uint8)], axis=2)
                self._image_item.setPixmap(QPixmap.fromImage(rgba_qimage(rgba)))
        self.windowChanged.emit(self.center, self.width_)

    def set_overlay(self, rgba: np.ndarray | None) -> None:
        """Show a coloured heat map (:func:`core.trust.heatmap.heat_rgba`) over the image."""
        if rgba is None or self._pixels is None:
            self.clear_overlay()
            return
        self._layer = heat_layer(rgba, *self._pixels.shape)
        self._render()

    def clear_overlay(self) -> None:
        had = self._layer is not None
        self._layer = None
        if had:
            self._render()

    def has_overlay(self) -> bool:
        return self._layer is not None

    def set_overlay_visible(self, visible: bool) -> None:
        if bool(visible) != self._overlay_visible:
            self._overlay_visible = bool(visible)
            self._render()

    def set_overlay_opacity(self, opacity: float) -> None:
        self._overlay_opacity = float(opacity)
        if self._layer is not None and self._overlay_visible:
            self._render()

    def set_window(self, center: float, width: float) -> None:
        self.center = float(np.clip(center, -128.0, 383.0))
        self.width_ = float(np.clip(width, 1.0, 512.0))
        self._render()

    def set_inverted(self, inverted: bool) -> None:
        self.inverted = bool(inverted)
        self._render()

    def fit(self) -> None:
        self._fit_mode = True
        if self._pixels is not None:
            self.fitInView(self._image_item, Qt.AspectRatioMode.KeepAspectRatio)

    def zoom(self, factor: float) -> None:
        self._fit_mode = False
        current = self.transform().m11()
        factor = float(np.clip(current * factor, 0.02, 40.0)) / max(current, 1e-9)
        self.scale(factor, factor)

    def reset_view(self) -> None:
        self.center, self.width_, self.inverted = FULL_CENTER, FULL_WIDTH, False
        self._render()
        self.fit()

    # --- events ------------------------------------------------------------------
    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fit_mode:
            self.fit()

    def wheelEvent(self, event) -> None:
        if self._pixels is None:
            return
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom(1.15**steps)

    def mousePressEvent(self, event) -> None:
        wl = event.button() == Qt.MouseButton.RightButton or (
            event.button() == Qt.MouseButton.LeftButton
            and event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        )
        if wl and self._pixels is not None:
            self._wl_drag = event.position()
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        if self._wl_drag is not None:
            delta = event.position() - self._wl_drag
            self._wl_drag = event.position()
            # Horizontal drag widens the window (contrast), vertical moves the level (brightness).
            self.set_window(self.center - delta.y(), self.width_ + delta.x() * 1.5)
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if self._wl_drag is not None:
            self._wl_drag = None
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def contextMenuEvent(self, event) -> None:
        event.accept()  # right button is window/level here, not a menu

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.filesDropped.emit(paths)
        else:
            event.ignore()


def view_buttons(view: ImageView) -> list[QToolButton]:
    """Fit, Zoom +, Zoom −, Reset and the checkable Invert (last) for a toolbar over ``view``."""
    buttons = []
    for text, tip, slot in (
        ("Fit", "Fit the image to the window (F)", lambda: view.fit()),
        ("Zoom +", "Zoom in (mouse wheel)", lambda: view.zoom(1.25)),
        ("Zoom −", "Zoom out (mouse wheel)", lambda: view.zoom(0.8)),
        ("Reset", "Reset zoom, window/level and inversion (R)", lambda: view.reset_view()),
    ):
        b = QToolButton()
        b.setText(text)
        b.setToolTip(tip)
        b.clicked.connect(slot)
        buttons.append(b)
    invert = QToolButton()
    invert.setText("Invert")
    invert.setCheckable(True)
    invert.setToolTip("Invert grey levels (I)")
    invert.toggled.connect(lambda on: view.set_inverted(on))
    return [*buttons, invert]

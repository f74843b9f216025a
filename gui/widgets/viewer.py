"""Image viewer for review: zoom, pan, window/level, invert and a heatmap overlay.

Window/level is a display-only 256-entry look-up table over the uint8 pixels that
core.imaging returns; the pixels the model sees never change.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QImage, QPainter, QPixmap, QTransform
from PySide6.QtWidgets import (
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsTextItem,
    QGraphicsView,
    QToolButton,
)

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


def _gaussian_rows(a: np.ndarray, sigma: float) -> np.ndarray:
    radius = max(1, round(3 * sigma))
    x = np.arange(-radius, radius + 1, dtype=np.float32)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(a, ((0, 0), (radius, radius)), mode="edge")
    return np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="valid"), 1, padded)


def smooth_heat(heat: np.ndarray, work: int = 128, sigma_fraction: float = 0.015,
                out_size: tuple[int, int] | None = None) -> np.ndarray:
    """Round off the corners of a Grad-CAM map that was bilinearly enlarged from a coarse grid.

    Bilinear enlargement of an 8x8 map draws straight-edged squares and L shapes once weak
    values are faded out, and readers take such edges for a finding's outline. A Gaussian of
    1.5% of the image side (worked out on a 128 px copy, a few milliseconds) rounds them off.
    Values are not renormalised and the blur is kept small, because any blur lowers a narrow
    strong peak more than a broad weaker patch (at 3% their order flipped on a test map).
    Display only: scores are untouched. ``out_size`` (width, height) defaults to the input's.
    """
    from PIL import Image

    if heat.ndim != 2 or min(heat.shape) < 8:
        return heat
    h, w = heat.shape
    small = np.asarray(Image.fromarray(heat, mode="F").resize((work, work), Image.Resampling.BOX), dtype=np.float32)
    sigma = sigma_fraction * work
    small = _gaussian_rows(_gaussian_rows(small, sigma).T, sigma).T.astype(np.float32)
    big = Image.fromarray(small, mode="F").resize(out_size or (w, h), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(big, dtype=np.float32), 0.0, 1.0)


OVERLAY_MAX_SIDE = 256


def heat_rgba(heat: np.ndarray, max_side: int = OVERLAY_MAX_SIDE) -> np.ndarray:
    """Colour a [0, 1] heatmap for display; weak evidence fades out so anatomy stays visible.

    The map holds an 8x8-ish grid's worth of detail, so it is coloured at most ``max_side``
    pixels across (the viewer stretches it over the image with smooth filtering): colouring a
    1024 px map pixel by pixel cost ~35 ms per case for nothing visible.
    """
    from core.trust.explain import colormap_lut

    heat = np.clip(np.nan_to_num(np.asarray(heat, dtype=np.float32)), 0.0, 1.0)
    out_size = None
    if heat.ndim == 2 and max(heat.shape) > max_side:
        k = max_side / max(heat.shape)
        out_size = (max(1, round(heat.shape[1] * k)), max(1, round(heat.shape[0] * k)))
    h = smooth_heat(heat, out_size=out_size)
    index = (h * 255.0).astype(np.uint8)
    # Below 40% of the peak the map is fully transparent: a diffuse wash of colour
    # over the whole film hides the anatomy and says nothing.
    alpha = (np.clip((np.arange(256, dtype=np.float32) / 255.0 - 0.4) / 0.4, 0.0, 1.0) * 255).astype(np.uint8)
    rgba = np.empty((*h.shape, 4), dtype=np.uint8)
    rgba[..., :3] = colormap_lut("jet")[index]
    rgba[..., 3] = alpha[index]
    return rgba


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
        self._overlay_item = QGraphicsPixmapItem()
        self._overlay_item.setZValue(1)
        self._overlay_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._overlay_item.setVisible(False)
        self.scene().addItem(self._image_item)
        self.scene().addItem(self._overlay_item)
        self._placeholder = QGraphicsTextItem()
        self._placeholder.setDefaultTextColor(QColor("#9aa4b1"))
        self._placeholder.setFont(QFont(self.font().family(), 13))
        self.scene().addItem(self._placeholder)
        self._pixels: np.ndarray | None = None
        self.center = FULL_CENTER
        self.width_ = FULL_WIDTH
        self.inverted = False
        self._fit_mode = True
        self._wl_drag: QPointF | None = None
        self._overlay_opacity = 0.45
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

    def _render(self) -> None:
        shown = self.displayed_pixels()
        if shown is not None:
            self._image_item.setPixmap(QPixmap.fromImage(gray_qimage(shown)))
        self.windowChanged.emit(self.center, self.width_)

    def set_overlay(self, rgba: np.ndarray | None) -> None:
        if rgba is None or self._pixels is None:
            self.clear_overlay()
            return
        pix = QPixmap.fromImage(rgba_qimage(rgba))
        h, w = self._pixels.shape
        # A smaller overlay is stretched over the image when painted (smooth filtering), which
        # costs nothing up front, unlike scaling the pixmap to the image's full size here.
        self._overlay_item.setTransform(QTransform.fromScale(w / pix.width(), h / pix.height()))
        self._overlay_item.setPixmap(pix)
        self._overlay_item.setOpacity(self._overlay_opacity)

    def clear_overlay(self) -> None:
        self._overlay_item.setPixmap(QPixmap())

    def has_overlay(self) -> bool:
        return not self._overlay_item.pixmap().isNull()

    def set_overlay_visible(self, visible: bool) -> None:
        self._overlay_item.setVisible(visible)

    def set_overlay_opacity(self, opacity: float) -> None:
        self._overlay_opacity = float(opacity)
        self._overlay_item.setOpacity(self._overlay_opacity)

    # --- display transforms ----------------------------------------------------------
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

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QLabel


def drop(widget, paths) -> None:
    """A real drag-enter + drop pair carrying file URLs, as a file manager sends them."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    target = widget.viewport() if hasattr(widget, "viewport") else widget
    centre = QPoint(target.width() // 2, target.height() // 2)
    enter = QDragEnterEvent(centre, Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted()
    event = QDropEvent(QPointF(centre), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, event)
    assert event.isAccepted()


def test_object_names_exist(window):
    names = ("reviewView", "scoreLabel", "thresholdSlider", "confusionMatrix", "rocPlot", "trainButton", "cancelButton")
    window.build_all_screens()
    for name in names:
        assert window.findChild(object, name) is not None, name
    assert "RESEARCH USE ONLY" in window.disclaimer.text()
    assert "No model" in window.model_status.text()


def test_drop_png_shows_score_and_heatmap(qtbot, loaded_window, tmp_path):
    review = loaded_window.review
    from tests.gui.conftest import _synthetic_xray

    # An image like the training ones (noise would be "not applicable", see the OOD test below).
    pixels = _synthetic_xray(np.random.default_rng(11), sick=False)
    png = tmp_path / "case.png"
    Image.fromarray(pixels).save(png)
    with qtbot.waitSignal(review.heatmapShown, timeout=60000):
        drop(review.view, [png])
    label = loaded_window.findChild(QLabel, "scoreLabel").text().splitlines()[0]  # 2nd line: any doubt
    threshold = loaded_window.state.threshold
    want = loaded_window.state.bundle.score_pixels(pixels)
    call = "PNEUMONIA" if want >= threshold else "NORMAL"
    score_text, rest = label.removeprefix("Score ").split(" - ")
    assert float(score_text) == pytest.approx(want, abs=0.006)
    assert rest.startswith(call + " (threshold ")
    assert float(rest.split("threshold ")[1].rstrip(")")) == pytest.approx(threshold, abs=0.006)
    assert review.view.has_overlay()
    assert np.array_equal(review.view.displayed_pixels(), pixels)  # full window: identity
    tags = {review.tags.verticalHeaderItem(i).text(): review.tags.item(i, 0).text() for i in range(review.tags.rowCount())}
    assert tags["Format"] == "PNG" and tags["Size (rows x cols)"] == "128 x 128"
    assert tags["Photometric"] == "greyscale (8-bit)"


def test_drop_real_dicom_shows_tags_and_score(qtbot, loaded_window, dicom_dir):
    review = loaded_window.review
    dcm = sorted((dicom_dir / "chest").glob("rsna_*.dcm"))[0]
    with qtbot.waitSignal(review.scored, timeout=60000):
        drop(review.view, [dcm])
    assert loaded_window.findChild(QLabel, "scoreLabel").text().startswith("Score ")
    tags = {review.tags.verticalHeaderItem(i).text(): review.tags.item(i, 0).text() for i in range(review.tags.rowCount())}
    assert tags["Modality"] == "CR"
    assert tags["Format"] == "DICOM"


@pytest.mark.parametrize("bad", ["sr", "empty"])
def test_bad_file_gives_message_and_app_lives(qtbot, loaded_window, dicom_dir, tmp_path, bad):
    review = loaded_window.review
    path = dicom_dir / "edge" / "fod_test_SR.dcm" if bad == "sr" else tmp_path / "empty.dcm"
    if bad == "empty":
        path.write_bytes(b"")
    with qtbot.waitSignal(review.loadFailed, timeout=30000):
        drop(review.view, [path])
    assert review.error_banner.isVisible()
    assert path.name in review.error_banner.label.text()
    assert "Traceback" not in review.error_banner.label.text()
    assert "No score" in loaded_window.findChild(QLabel, "scoreLabel").text()
    # still alive: a good image opens afterwards
    png = tmp_path / "ok.png"
    Image.fromarray(np.full((140, 140), 90, np.uint8)).save(png)
    with qtbot.waitSignal(review.scored, timeout=60000):
        drop(review.view, [png])
    assert not review.error_banner.isVisible()


def test_review_without_model_still_shows_image(qtbot, window, tmp_path):
    review = window.review
    png = tmp_path / "a.png"
    Image.fromarray(np.full((150, 150), 50, np.uint8)).save(png)
    with qtbot.waitSignal(review.caseShown, timeout=30000):
        drop(review.view, [png])
    assert review.view.has_image()
    assert "No model" in window.findChild(QLabel, "scoreLabel").text()


def test_folder_navigation_window_level_and_invert(qtbot, window, tmp_path):
    review = window.review
    for i in range(3):
        Image.fromarray(np.full((130, 130), 40 * (i + 1), np.uint8)).save(tmp_path / f"c{i}.png")
    with qtbot.waitSignal(review.caseShown, timeout=30000):
        review.open_paths([str(tmp_path)])
    assert review.case_list.count() == 3
    window.activateWindow()
    review.view.setFocus()
    qtbot.waitUntil(lambda: review.view.hasFocus(), timeout=5000)
    with qtbot.waitSignal(review.caseShown, timeout=30000):
        qtbot.keyClick(review.view, Qt.Key.Key_PageDown)
    assert review.index == 1
    assert review.view.displayed_pixels()[0, 0] == 80
    review.view.set_window(80, 40)  # level 80 -> mid grey
    assert review.view.displayed_pixels()[0, 0] == 127
    review.invert_btn.setChecked(True)
    assert review.view.displayed_pixels()[0, 0] == 128
    # a right-button drag changes the display window, never the pixels
    view = review.view
    vp = view.viewport()
    qtbot.mousePress(vp, Qt.MouseButton.RightButton, pos=QPoint(50, 50))
    qtbot.mouseMove(vp, QPoint(90, 20))
    qtbot.mouseRelease(vp, Qt.MouseButton.RightButton, pos=QPoint(90, 20))
    assert (view.center, view.width_) != (80.0, 40.0)
    assert review.view.displayed_pixels().shape == (130, 130)
    with qtbot.waitSignal(review.caseShown, timeout=30000):
        qtbot.keyClick(review.view, Qt.Key.Key_PageUp)
    assert review.index == 0


def test_score_folder_to_csv(qtbot, loaded_window, tmp_path):
    import csv

    review = loaded_window.review
    folder = tmp_path / "cases"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((140, 140), 60 + 50 * i, np.uint8)).save(folder / f"x{i}.png")
    (folder / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "scores.csv"
    with qtbot.waitSignal(review.csvWritten, timeout=60000):
        review.score_folder(str(folder), str(out))
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 4
    bad = next(r for r in rows if r["file"].endswith("broken.png"))
    assert bad["label"] == "UNREADABLE"
    good = [r for r in rows if r["label"] != "UNREADABLE"]
    t = loaded_window.state.threshold
    for r in good:
        if r["no_call_reason"]:  # flat grey squares: the gate or the view check fires, so no call
            assert r["score"] == "not applicable" and r["label"] == ""
        else:
            assert r["label"] == ("PNEUMONIA" if float(r["score"]) >= t else "NORMAL")


def test_non_chest_image_gets_a_warning(qtbot, window, dicom_dir):
    from core.imaging import chest_warning, load_image

    review = window.review
    mr = dicom_dir / "edge" / "pdd_MR2_J2KI.dcm"
    expected = chest_warning(load_image(mr))
    assert expected  # the shared MR case is not a chest radiograph
    with qtbot.waitSignal(review.caseShown, timeout=30000):
        drop(review.view, [mr])
    assert not review.warning_banner.isHidden()
    assert expected in review.warning_banner.label.text()


@pytest.mark.parametrize("name", ["pdd_MR2_J2KI.dcm", "pdd_OBXXXX1A_rle.dcm"])
def test_out_of_distribution_image_gets_the_ood_warning(qtbot, loaded_window, dicom_dir, tmp_path, name):
    from core.imaging import load_image
    from core.trust.ood import bundle_ood_score
    from tests.gui.conftest import _synthetic_xray

    review = loaded_window.review
    bundle = loaded_window.state.bundle
    assert bundle.card.get("ood"), "core.learning.train should fit the OOD gate for every bundle"
    # In-distribution control first: a case like the training ones raises no OOD warning.
    typical = tmp_path / "typical.png"
    Image.fromarray(_synthetic_xray(np.random.default_rng(11), sick=False)).save(typical)
    with qtbot.waitSignal(review.scored, timeout=60000):
        drop(review.view, [typical])
    assert review.warning_banner.isHidden() or "Unusual image" not in review.warning_banner.label.text()
    score_label = loaded_window.findChild(QLabel, "scoreLabel")
    assert score_label.property("call") in ("normal", "pneumonia") and "Unreliable" not in score_label.text()

    path = dicom_dir / "edge" / name
    with qtbot.waitSignal(review.scored, timeout=60000):
        drop(review.view, [path])
    distance, flagged = bundle_ood_score(bundle, load_image(path).pixels)
    assert flagged
    assert not review.warning_banner.isHidden()
    text = review.warning_banner.label.text()
    assert "Unusual image" in text and f"{distance:.1f}x" in text
    assert "Do not rely on the score" in text
    # The score box itself must not look like a confident green/red call under that warning.
    # Nor may it make a PNEUMONIA/NORMAL call at all: the score is not applicable to such an image.
    assert score_label.property("call") == "doubt" and "not applicable" in score_label.text()
    assert "PNEUMONIA" not in score_label.text() and "NORMAL" not in score_label.text()


def test_no_ood_warning_without_a_gate(qtbot, window, tiny_bundle, dicom_dir):
    from core.learning.bundle import load_bundle, update_card

    update_card(tiny_bundle.path, {"ood": None})
    window.state.set_bundle(load_bundle(tiny_bundle.path))
    review = window.review
    with qtbot.waitSignal(review.scored, timeout=60000):
        drop(review.view, [dicom_dir / "edge" / "pdd_MR2_J2KI.dcm"])
    text = review.warning_banner.label.text()
    assert "Unusual image" not in text
    assert text  # the tag-based chest warning (modality MR) still shows


def test_dicom_date_shown_unambiguously():
    from gui.widgets.image_info import format_dicom_date

    assert format_dicom_date("20240307") == "2024-03-07"
    assert format_dicom_date(" 19010101 ") == "1901-01-01"
    assert format_dicom_date("2024") == "2024"  # not a DA value: shown as stored
    assert format_dicom_date("") == ""


def test_heatmap_smoothing_removes_block_edges_and_keeps_relative_strength():
    from PIL import Image

    from gui.widgets.viewer import smooth_heat

    # An 8x8 Grad-CAM grid: one strong narrow cell, one weaker broad 2x2 patch, enlarged bilinearly
    # the way core.trust.explain does it.
    grid = np.zeros((8, 8), dtype=np.float32)
    grid[2, 6] = 1.0
    grid[5:7, 1:3] = 0.7
    big = np.asarray(Image.fromarray(grid, mode="F").resize((512, 512), Image.Resampling.BILINEAR), dtype=np.float32)
    smooth = smooth_heat(big)
    assert smooth.shape == big.shape and smooth.dtype == np.float32
    assert smooth.min() >= 0.0 and smooth.max() <= 1.0

    def steepest(a):
        return max(np.abs(np.diff(np.diff(a, axis=0), axis=0)).max(), np.abs(np.diff(np.diff(a, axis=1), axis=1)).max())

    assert steepest(smooth) < 0.5 * steepest(big)  # kinks (straight-edged outlines) are rounded off
    strong = smooth[2 * 64 - 32:3 * 64 + 32, 6 * 64 - 32:7 * 64 + 32].max()
    weak = smooth[5 * 64:7 * 64, 1 * 64:3 * 64].max()
    assert strong > weak > 0.4  # both still show, and the stronger evidence stays the stronger
    peak = np.unravel_index(np.argmax(smooth), smooth.shape)
    assert abs(peak[0] - 2.5 * 64) < 48 and abs(peak[1] - 6.5 * 64) < 48


def test_small_overlay_covers_the_whole_image(qtbot):
    from gui.widgets.viewer import ImageView, heat_rgba

    view = ImageView()
    qtbot.addWidget(view)
    view.set_pixels(np.full((900, 600), 100, dtype=np.uint8))
    heat = np.zeros((900, 600), dtype=np.float32)
    heat[:90, :60] = 1.0  # evidence in the top-left corner only
    rgba = heat_rgba(heat)
    assert max(rgba.shape[:2]) == 256 and rgba.shape[0] / rgba.shape[1] == pytest.approx(1.5, abs=0.01)
    view.set_overlay(rgba)
    shown = view.displayed_rgb()
    assert shown.shape == (900, 600, 3)
    assert (shown[:60, :40, 2] != 100).any() and (shown[-200:, -200:] == 100).all()
    # The coloured part stays where the evidence is once stretched over the image.
    ys, xs = np.nonzero(rgba[..., 3] > 0)
    assert ys.max() * 900 / rgba.shape[0] < 200 and xs.max() * 600 / rgba.shape[1] < 150


def test_score_text_never_rounds_to_certainty():
    from core.cases import format_score

    assert format_score(0.9984, 0.56) == "Score 0.998 - PNEUMONIA (threshold 0.56)"
    assert format_score(0.0004, 0.56).startswith("Score 0.0004 - NORMAL")
    assert format_score(0.77, 0.56) == "Score 0.77 - PNEUMONIA (threshold 0.56)"
    assert format_score(1.0, 0.56).startswith("Score 1.00 - PNEUMONIA")
    assert format_score(0.5601, 0.5604).startswith("Score 0.5601 - NORMAL")  # >= rule, shown apart


def test_review_status_shows_drift_of_this_sessions_cases(qtbot, loaded_window, tmp_path):
    """Issue 11.6: the cases reviewed are compared with the model's validation scores."""
    from core.site.drift import drift_of_cases
    from tests.gui.conftest import _synthetic_xray

    review = loaded_window.review
    assert review.drift_label.text() == ""
    rng = np.random.default_rng(3)
    paths = []
    for i in range(3):
        p = tmp_path / f"case{i}.png"
        Image.fromarray(_synthetic_xray(rng, sick=bool(i % 2))).save(p)
        paths.append(p)
    for p in [*paths, paths[0]]:  # the same case twice counts once
        with qtbot.waitSignal(review.scored, timeout=60000):
            drop(review.view, [p])
    report = drift_of_cases(loaded_window.state.bundle, list(review._session.values()))
    assert report.n == 3 and review.drift_label.text().endswith(report.status)
    assert "too few cases" in review.drift_label.text()
    loaded_window.state.set_bundle(loaded_window.state.bundle)  # a (re)loaded model starts afresh
    assert review.drift_label.text() == ""

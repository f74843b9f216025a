"""core.imaging: every shared DICOM case, pydicom's bundled files and generated Pillow variants."""

from __future__ import annotations

import csv
import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import imaging
from core.errors import PneumoscopeError
from core.imaging import ImageLoadError, XRay, chest_warning, is_candidate_file, load_image
from tests.conftest import SHARED_DATA

DICOM = SHARED_DATA / "dicom"
RSNA_ORIGINAL = "rsna_00436515-870c-4b36-a041-de91049b9ab4.dcm"
SIIM = "siim_6904.1517875201.850819.dcm"


def _csv_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        # A placeholder keeps the test collected, so the data fixture can skip or fail it.
        return [{"filename": "<data missing>", "expected": "", "label": "", "rows": "0", "cols": "0"}]
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


EDGE_ROWS = _csv_rows(DICOM / "edge" / "cases.csv")
CHEST_ROWS = _csv_rows(DICOM / "chest" / "labels.csv")


def _assert_image(xray: XRay) -> None:
    assert isinstance(xray, XRay)
    assert xray.pixels.ndim == 2
    assert xray.pixels.dtype == np.uint8
    assert xray.pixels.min() < xray.pixels.max(), "a constant image is not a faithful X-ray"


def _assert_clear_error(err: ImageLoadError, filename: str) -> None:
    message = str(err)
    assert isinstance(err, PneumoscopeError)
    assert message.startswith(f"{filename}: ")
    assert len(message) > len(filename) + 10
    assert "Traceback" not in message


@pytest.mark.parametrize("row", EDGE_ROWS, ids=[r["filename"] for r in EDGE_ROWS])
def test_edge_case_behaves_as_expected(dicom_dir: Path, row: dict[str, str]) -> None:
    path = dicom_dir / "edge" / row["filename"]
    if row["expected"] == "loads":
        xray = load_image(path)
        _assert_image(xray)
        assert xray.kind == "dicom"
        assert xray.pixels.shape == (xray.meta["rows"], xray.meta["cols"])
    else:
        assert row["expected"] == "clear_error"
        with pytest.raises(ImageLoadError) as info:
            load_image(path)
        _assert_clear_error(info.value, row["filename"])


@pytest.mark.parametrize("row", CHEST_ROWS, ids=[r["filename"] for r in CHEST_ROWS])
def test_chest_file_loads_at_header_size(dicom_dir: Path, row: dict[str, str]) -> None:
    xray = load_image(dicom_dir / "chest" / row["filename"])
    _assert_image(xray)
    assert xray.pixels.shape == (int(row["rows"]), int(row["cols"]))
    assert xray.meta["photometric"] == row["photometric"]
    assert xray.meta["transfer_syntax"] == row["transfer_syntax"]
    if row["filename"].startswith("rsna_"):
        assert chest_warning(xray) is None


# --------------------------------------------------------------------------- pixel identity


@pytest.mark.parametrize(
    "derived",
    [
        "drv_rsna_00436515_explicit_le.dcm",
        "drv_rsna_00436515_rle.dcm",
        "drv_rsna_00436515_j2k_lossless.dcm",
        "drv_rsna_00436515_monochrome1.dcm",
        "drv_rsna_00436515_no_preamble.dcm",
    ],
)
def test_derived_copies_equal_the_chest_original(dicom_dir: Path, derived: str) -> None:
    original = load_image(dicom_dir / "chest" / RSNA_ORIGINAL).pixels
    copy = load_image(dicom_dir / "edge" / derived).pixels
    np.testing.assert_array_equal(copy, original)


def test_monochrome1_tag_inverts_the_display(dicom_dir: Path) -> None:
    siim = load_image(dicom_dir / "chest" / SIIM)
    fake = load_image(dicom_dir / "edge" / "txv_Fake_MONOHR1.dcm")
    assert fake.meta["photometric"] == "MONOCHROME1"
    np.testing.assert_array_equal(fake.pixels, 255 - siim.pixels)


def test_extensionless_acr_nema_chest_loads_with_its_window(dicom_dir: Path) -> None:
    xray = load_image(dicom_dir / "edge" / "fod_CR-MONO1-10-chest")
    _assert_image(xray)
    assert xray.meta["photometric"] == "MONOCHROME1"
    assert xray.meta["window"] == (550.0, 1024.0)
    assert xray.meta["transfer_syntax"] == "1.2.840.10008.1.2"  # inferred: the file has no meta


def test_window_that_does_not_fit_falls_back_to_the_data_range(dicom_dir: Path) -> None:
    xray = load_image(dicom_dir / "edge" / "pljd_DX_J2K_0Padding_deid.dcm")
    _assert_image(xray)
    assert xray.meta["window"] is None
    assert "did not fit" in xray.meta["window_note"]
    # Windowing 2725/5310 over values >= 32744 would have made every pixel white.
    assert np.mean(xray.pixels == 255) < 0.05


def test_jpeg2000_and_jpeg_ls_copies_of_rg1_agree(dicom_dir: Path) -> None:
    # Same NEMA chest in lossy J2K and near-lossless JPEG-LS: both go through the same window.
    j2k = load_image(dicom_dir / "chest" / "nema_wg04_RG1_J2KI.dcm").pixels.astype(int)
    jls = load_image(dicom_dir / "edge" / "pljd_RG1_JLSN.dcm").pixels.astype(int)
    assert np.mean(np.abs(j2k - jls)) < 2.0


def test_kermany_full_resolution_jpegs_load(chest_xray_dir: Path) -> None:
    paths = sorted((chest_xray_dir / "full_resolution").glob("*/*.jpeg"))
    assert len(paths) == 12
    for path in paths:
        xray = load_image(path)
        _assert_image(xray)
        assert xray.kind == "jpeg"
        with Image.open(path) as im:
            assert xray.pixels.shape == (im.height, im.width)


# --------------------------------------------------------------------------- metadata, warnings


def test_dicom_meta_fields(dicom_dir: Path) -> None:
    import pydicom

    path = dicom_dir / "chest" / RSNA_ORIGINAL
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    meta = load_image(path).meta
    assert meta["modality"] == "CR"
    assert meta["photometric"] == "MONOCHROME2"
    assert meta["bits_stored"] == 8
    assert meta["transfer_syntax"] == "1.2.840.10008.1.2.4.50"
    assert "JPEG Baseline" in meta["transfer_syntax_name"]
    assert meta["rows"] == meta["cols"] == 1024
    assert meta["frames"] == 1 and "frame_note" not in meta
    assert meta["window"] is None
    assert meta["patient_id"] == str(ds.PatientID)
    assert meta["patient_name"] == str(ds.PatientName)
    assert meta["view_position"] == str(ds.ViewPosition)
    assert meta["sop_class"] == "Secondary Capture Image Storage"
    assert meta["source_path"] == str(path)
    assert isinstance(meta["patient_name"], str)

    rg1 = load_image(dicom_dir / "chest" / "nema_wg04_RG1_J2KI.dcm").meta
    assert rg1["window"] == (15000.0, 30000.0)
    assert rg1["bits_stored"] == 15


def test_multiframe_shows_first_frame_and_says_so(dicom_dir: Path) -> None:
    import pydicom

    path = dicom_dir / "edge" / "pdd_emri_small_RLE.dcm"
    xray = load_image(path)
    assert xray.meta["frames"] == 10
    assert "frame 1 of 10" in xray.meta["frame_note"]
    frames = pydicom.dcmread(path).pixel_array
    assert frames.shape == (10, 64, 64)
    # Frame 1 stretched to 8 bit keeps the ordering of its grey levels.
    first = frames[0].astype(float)
    order = np.argsort(first, axis=None, kind="stable")
    assert np.all(np.diff(xray.pixels.ravel()[order].astype(int)) >= 0)


def test_chest_warning_flags_non_chest_and_not_rsna(dicom_dir: Path) -> None:
    extremity = chest_warning(load_image(dicom_dir / "edge" / "pdd_RG3_J2KR.dcm"))
    assert extremity is not None and "extremity" in extremity.lower()
    mri = chest_warning(load_image(dicom_dir / "edge" / "pdd_MR2_J2KI.dcm"))
    assert mri is not None and "MR" in mri
    colour = chest_warning(load_image(dicom_dir / "edge" / "pyd_SC_rgb_jpeg_dcmtk.dcm"))
    assert colour is not None and "colour" in colour
    for name in (RSNA_ORIGINAL, SIIM):
        assert chest_warning(load_image(dicom_dir / "chest" / name)) is None


def _fake(meta: dict, size: int = 256) -> XRay:
    pixels = np.zeros((size, size), dtype=np.uint8)
    return XRay(pixels=pixels, kind="dicom", meta=meta, path="x.dcm")


def test_chest_warning_rules() -> None:
    assert chest_warning(_fake({"body_part": "CHEST", "view_position": "PA", "modality": "CR"})) is None
    assert chest_warning(_fake({"body_part": "", "view_position": "AP", "modality": "DX"})) is None
    assert "lateral" in (chest_warning(_fake({"view_position": "LL"})) or "")
    assert "lateral" in (chest_warning(_fake({"view_position": "LATERAL"})) or "")
    assert "CT" in (chest_warning(_fake({"modality": "CT"})) or "")
    assert "hand" in (chest_warning(_fake({"body_part": "HAND"})) or "")
    assert "small" in (chest_warning(_fake({}, size=100)) or "")
    assert "colour" in (chest_warning(_fake({"photometric": "RGB"})) or "")


def test_xray_is_frozen_and_pixels_read_only(dicom_dir: Path) -> None:
    xray = load_image(dicom_dir / "chest" / SIIM)
    with pytest.raises(dataclasses.FrozenInstanceError):
        xray.kind = "png"  # type: ignore[misc]
    with pytest.raises(ValueError):
        xray.pixels[0, 0] = 1


# --------------------------------------------------------------------------- decoder plugins


def _pretend_missing(monkeypatch: pytest.MonkeyPatch, *dists: str) -> None:
    real = imaging.dicom._plugin_installed
    monkeypatch.setattr(imaging.dicom, "_plugin_installed", lambda pl: pl.dist not in dists and real(pl))


def test_missing_gpl_plugin_is_named(dicom_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = dicom_dir / "edge" / "pljd_RG2_JPLY_fixed.dcm"
    _assert_image(load_image(path))  # decodes with pylibjpeg-libjpeg installed
    _pretend_missing(monkeypatch, "pylibjpeg-libjpeg")
    with pytest.raises(ImageLoadError) as info:
        load_image(path)
    message = str(info.value)
    _assert_clear_error(info.value, path.name)
    assert "JPEG Extended (12-bit)" in message
    assert "1.2.840.10008.1.2.4.51" in message
    assert "pylibjpeg-libjpeg plugin (GPL-3.0): pip install pneumoscope[gpl-decoders]" in message


def test_no_plugin_for_htj2k_says_which_one(dicom_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = dicom_dir / "edge" / "pdd_HTJ2K_08_RGB.dcm"
    _pretend_missing(monkeypatch, "pylibjpeg-openjpeg")
    with pytest.raises(ImageLoadError) as info:
        load_image(path)
    assert "HTJ2K" in str(info.value)
    assert "needs the pylibjpeg-openjpeg plugin" in str(info.value)


def test_jpeg2000_falls_back_to_other_decoders(dicom_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = dicom_dir / "edge" / "drv_rsna_00436515_j2k_lossless.dcm"
    expected = load_image(path).pixels
    _pretend_missing(monkeypatch, "pylibjpeg-openjpeg")
    np.testing.assert_array_equal(load_image(path).pixels, expected)


def test_plugin_table_covers_compressed_syntaxes() -> None:
    from pydicom import uid

    for syntax in (uid.JPEGBaseline8Bit, uid.JPEGExtended12Bit, uid.JPEGLosslessSV1, uid.JPEGLSLossless,
                   uid.JPEG2000Lossless, uid.JPEG2000, uid.HTJ2K, uid.RLELossless):
        assert str(syntax) in imaging.dicom._DECODERS
    assert imaging.dicom._plugin_installed(imaging.dicom._PILLOW)
    assert not imaging.dicom._plugin_installed(imaging.dicom._Plugin("x", ("no_such_module_xyz",), "nope", "nope"))


# --------------------------------------------------------------------------- pydicom's bundled files


def _bundled(name: str) -> Path:
    from pydicom.data import get_testdata_file

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = get_testdata_file(name)
    if found is None:
        pytest.skip(f"pydicom test file {name} is not bundled")
    return Path(found)


@pytest.mark.parametrize(
    "name", ["MR_small_jp2klossless.dcm", "MR_small_RLE.dcm", "MR_small_bigendian.dcm",
             "MR_small_jpeg_ls_lossless.dcm"],
)
def test_bundled_mr_small_encodings_match_uncompressed(name: str) -> None:
    reference = load_image(_bundled("MR_small.dcm")).pixels
    np.testing.assert_array_equal(load_image(_bundled(name)).pixels, reference)


@pytest.mark.parametrize("name", ["JPEG2000.dcm", "image_dfl.dcm", "CT_small.dcm", "SC_rgb_rle.dcm",
                                  "examples_palette.dcm", "liver_1frame.dcm",
                                  "J2K_pixelrep_mismatch.dcm", "JPGExtended.dcm", "693_J2KI.dcm"])
def test_bundled_images_load(name: str) -> None:
    _assert_image(load_image(_bundled(name)))


@pytest.mark.parametrize(
    ("name", "words"),
    [("test-SR.dcm", "Structured Report"), ("rtplan.dcm", "RT Plan"), ("waveform_ecg.dcm", "pixel data"),
     ("rtplan_truncated.dcm", ""), ("no_meta.dcm", ""), ("MR_truncated.dcm", "truncated")],
)
def test_bundled_non_images_are_refused(name: str, words: str) -> None:
    with pytest.raises(ImageLoadError) as info:
        load_image(_bundled(name))
    _assert_clear_error(info.value, name)
    assert words in str(info.value)


# --------------------------------------------------------------------------- Pillow formats


def _gradient(h: int = 64, w: int = 96) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return ((x * 2 + y) % 256).astype(np.uint8)


@pytest.mark.parametrize(("suffix", "kind"), [(".png", "png"), (".bmp", "bmp"), (".tif", "tiff")])
def test_lossless_grey_round_trip(tmp_path: Path, suffix: str, kind: str) -> None:
    arr = _gradient()
    path = tmp_path / f"grey{suffix}"
    Image.fromarray(arr).save(path)
    xray = load_image(path)
    assert xray.kind == kind
    np.testing.assert_array_equal(xray.pixels, arr)
    assert xray.meta["rows"] == 64 and xray.meta["cols"] == 96


def test_16_bit_grey_is_scaled_by_its_range(tmp_path: Path) -> None:
    arr = (1000 + _gradient().astype(np.uint16) * 16).astype(np.uint16)
    path = tmp_path / "sixteen.png"
    Image.fromarray(arr).save(path)
    xray = load_image(path)
    assert xray.pixels.min() == 0 and xray.pixels.max() == 255
    expected = np.rint((arr.astype(float) - arr.min()) * 255 / (arr.max() - arr.min())).astype(np.uint8)
    np.testing.assert_array_equal(xray.pixels, expected)


def test_rgba_drops_alpha(tmp_path: Path) -> None:
    grey = _gradient()
    alpha = np.full_like(grey, 0)
    alpha[:, ::2] = 255
    path = tmp_path / "rgba.png"
    Image.fromarray(np.dstack([grey, grey, grey, alpha]), "RGBA").save(path)
    xray = load_image(path)
    np.testing.assert_array_equal(xray.pixels, grey)
    assert xray.meta["color"] is False


def test_colour_rgb_becomes_luminance_and_is_flagged(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(200, 200, 3), dtype=np.uint8)
    path = tmp_path / "colour.png"
    Image.fromarray(rgb, "RGB").save(path)
    xray = load_image(path)
    expected = np.asarray(Image.fromarray(rgb, "RGB").convert("L"))
    np.testing.assert_array_equal(xray.pixels, expected)
    assert xray.meta["color"] is True
    assert "colour" in (chest_warning(xray) or "")


def test_palette_and_la_images(tmp_path: Path) -> None:
    grey = _gradient()
    pal = Image.fromarray(grey).convert("P")
    pal.save(tmp_path / "pal.png")
    np.testing.assert_array_equal(load_image(tmp_path / "pal.png").pixels, np.asarray(pal.convert("L")))
    la = Image.fromarray(np.dstack([grey, np.full_like(grey, 7)]), "LA")
    la.save(tmp_path / "la.png")
    np.testing.assert_array_equal(load_image(tmp_path / "la.png").pixels, grey)


def test_cmyk_jpeg_loads(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(_gradient()).convert("CMYK").save(path, quality=95)
    with Image.open(path) as im:
        assert im.mode == "CMYK"
    xray = load_image(path)
    assert xray.pixels.shape == (64, 96) and xray.pixels.dtype == np.uint8
    assert xray.meta["photometric"] == "CMYK"


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    arr = _gradient(40, 100)
    arr[:5, :10] = 255  # marker in the stored top-left corner
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    path = tmp_path / "rotated.png"
    im.save(path, exif=exif)
    xray = load_image(path)
    assert xray.pixels.shape == (100, 40)
    np.testing.assert_array_equal(xray.pixels, np.rot90(arr, k=-1))
    assert xray.pixels[:10, -5:].min() == 255  # marker now at the top-right
    assert xray.meta["exif_orientation"] == 6


def test_multipage_tiff_shows_first_page(tmp_path: Path) -> None:
    first, second = _gradient(), 255 - _gradient()
    path = tmp_path / "pages.tiff"
    Image.fromarray(first).save(path, save_all=True, append_images=[Image.fromarray(second)])
    xray = load_image(path)
    np.testing.assert_array_equal(xray.pixels, first)
    assert xray.meta["frames"] == 2 and "page 1 of 2" in xray.meta["frame_note"]


def test_decompression_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bomb.png"
    Image.fromarray(np.zeros((300, 400), dtype=np.uint8)).save(path)
    monkeypatch.setattr(imaging.xray, "MAX_PIXELS", 100_000)
    with pytest.raises(ImageLoadError, match=r"image is too large \(0 megapixels\)"):
        load_image(path)
    # Pillow's own guard (its limit lower than ours) is turned into the same message.
    monkeypatch.setattr(imaging.xray, "MAX_PIXELS", 10**9)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ImageLoadError, match="image is too large"):
        load_image(path)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_pictures_are_refused(tmp_path: Path, fmt: str) -> None:
    rng = np.random.default_rng(1)
    noisy = rng.integers(0, 256, size=(256, 256), dtype=np.uint8)
    full = tmp_path / f"full.{fmt.lower()}"
    Image.fromarray(noisy).save(full, format=fmt)
    data = full.read_bytes()
    cut = tmp_path / f"cut.{fmt.lower()}"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError) as info:
        load_image(cut)
    _assert_clear_error(info.value, cut.name)
    assert "truncated" in str(info.value)


def test_content_decides_not_the_name(tmp_path: Path) -> None:
    arr = _gradient()
    disguised = tmp_path / "picture.tiff"
    Image.fromarray(arr).save(disguised, format="PNG")
    xray = load_image(disguised)
    assert xray.kind == "png"
    np.testing.assert_array_equal(xray.pixels, arr)


def test_png_named_dcm_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "scan.dcm"
    Image.fromarray(_gradient()).save(path, format="PNG")
    with pytest.raises(ImageLoadError, match=r"PNG picture named \.dcm"):
        load_image(path)


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("notes.txt", b"hello, this is not an image at all" * 10, "not an image Pneumoscope can read"),
        ("fake.png", b"\x00" * 300, "not a PNG image"),
        ("fake.dcm", b"\x01\x02\x03" * 100, "DICOM"),
        ("empty.png", b"", "empty"),
    ],
)
def test_non_images_get_plain_errors(tmp_path: Path, name: str, content: bytes, words: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageLoadError) as info:
        load_image(path)
    _assert_clear_error(info.value, name)
    assert words in str(info.value)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match="does not exist"):
        load_image(tmp_path / "gone.png")
    with pytest.raises(ImageLoadError, match="folder"):
        load_image(tmp_path)


def test_is_candidate_file(tmp_path: Path) -> None:
    Image.fromarray(_gradient()).save(tmp_path / "a.PNG", format="PNG")
    (tmp_path / "b.txt").write_text("x")
    (tmp_path / ".hidden.png").write_bytes(b"x")
    (tmp_path / "noext").write_bytes(b"\x00" * 128 + b"DICM" + b"\x00" * 10)
    (tmp_path / "1.2.840.113619.2.55.3").write_bytes(b"\x00" * 128 + b"DICM" + b"\x00" * 10)
    (tmp_path / "README").write_text("plain text, not an image, long enough to be read" * 4)
    (tmp_path / "DICOMDIR").write_bytes(b"\x00" * 128 + b"DICM" + b"\x00" * 10)
    (tmp_path / "folder.png").mkdir()
    found = sorted(p.name for p in tmp_path.iterdir() if is_candidate_file(p))
    assert found == ["1.2.840.113619.2.55.3", "a.PNG", "noext"]
    assert ".jpeg" in imaging.IMAGE_SUFFIXES and "" in imaging.IMAGE_SUFFIXES

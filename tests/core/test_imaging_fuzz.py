"""Property tests: whatever bytes a file holds, load_image returns a 2-D uint8 image or raises
ImageLoadError (never another exception type, never a malformed message)."""

from __future__ import annotations

import io
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from core.imaging import ImageLoadError, load_image
from tests.conftest import SHARED_DATA

DICOM_SEED_FILES = [
    SHARED_DATA / "dicom" / "chest" / "rsna_00436515-870c-4b36-a041-de91049b9ab4.dcm",
    SHARED_DATA / "dicom" / "edge" / "fod_CR-MONO1-10-chest",
    SHARED_DATA / "dicom" / "edge" / "pdd_emri_small_RLE.dcm",
    SHARED_DATA / "dicom" / "edge" / "pyd_MR_small_bigendian.dcm",
]
FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                database=None)
SLOW = settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                database=None)


def _picture_seeds() -> dict[str, bytes]:
    y, x = np.mgrid[0:48, 0:64]
    grey = ((x * 3 + y) % 256).astype(np.uint8)
    seeds = {}
    for suffix, fmt, image in [
        (".png", "PNG", Image.fromarray(grey)),
        (".jpg", "JPEG", Image.fromarray(grey)),
        (".png", "PNG", Image.fromarray(grey.astype(np.uint16) * 250)),
        (".tif", "TIFF", Image.fromarray(np.dstack([grey, grey, 255 - grey]))),
    ]:
        buf = io.BytesIO()
        image.save(buf, format=fmt)
        seeds[f"{fmt.lower()}-{len(seeds)}{suffix}"] = buf.getvalue()
    return seeds


def _seeds() -> dict[str, bytes]:
    seeds = _picture_seeds()
    for path in DICOM_SEED_FILES:
        if path.exists():
            seeds[path.name if path.suffix else path.name + ".dcm"] = path.read_bytes()
    return seeds


SEEDS = _seeds()


def _check(data: bytes, name: str) -> None:
    with tempfile.TemporaryDirectory(prefix="pneumoscope-fuzz-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                xray = load_image(path)
            except ImageLoadError as exc:
                message = str(exc)
                assert message.startswith(f"{name}: ")
                assert "Traceback" not in message
                return
    assert xray.pixels.ndim == 2
    assert xray.pixels.dtype == np.uint8
    assert xray.pixels.size > 0


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(SEEDS)))
    buf = bytearray(SEEDS[name])
    for _ in range(draw(st.integers(1, 4))):
        if not buf:
            break
        # Half the edits land in the first 2 KB, where the headers live.
        limit = len(buf) - 1 if draw(st.booleans()) else min(len(buf) - 1, 2047)
        pos = draw(st.integers(0, limit))
        op = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "boundary"]))
        if op == "flip":
            buf[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del buf[pos:]
        elif op == "insert":
            buf[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del buf[pos : pos + draw(st.integers(1, 64))]
        else:
            value = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80]))
            buf[pos : pos + 4] = bytes([value]) * 4
    return name, bytes(buf)


@FAST
@given(data=st.binary(max_size=2048), suffix=st.sampled_from([".dcm", ".png", ".jpg", "", ".tif", ".bin"]))
def test_random_bytes_never_escape(data: bytes, suffix: str) -> None:
    _check(data, f"random{suffix}")


@FAST
@given(data=st.binary(max_size=512), kind=st.sampled_from(["dicm", "png", "jpeg"]))
def test_random_bodies_behind_real_magic(data: bytes, kind: str) -> None:
    head = {
        "dicm": b"\x00" * 128 + b"DICM",
        "png": b"\x89PNG\r\n\x1a\n",
        "jpeg": b"\xff\xd8\xff\xe0",
    }[kind]
    _check(head + data, f"magic.{'dcm' if kind == 'dicm' else kind}")


@FAST
@given(case=mutated())
def test_mutated_real_files_never_escape(case: tuple[str, bytes]) -> None:
    name, data = case
    _check(data, name)


@pytest.mark.slow
@SLOW
@given(case=mutated())
def test_mutated_real_files_never_escape_long(case: tuple[str, bytes]) -> None:
    name, data = case
    _check(data, name)


def test_seeds_themselves_load() -> None:
    # Unmutated seeds must load, so the mutation tests start from working files.
    for name, data in SEEDS.items():
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_bytes(data)
            xray = load_image(path)
            assert xray.pixels.ndim == 2 and xray.pixels.dtype == np.uint8
